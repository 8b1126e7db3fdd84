"""Under the shim: the world ranks tempi takes to share this node, which the interposer
learnt inside MPI_Init (its Python side starts at the first type commit)."""

from mpi4py import MPI

from tempi.comm import locality

MPI.DOUBLE.Create_vector(2, 1, 2).Commit().Free()
print(f"rank {MPI.COMM_WORLD.Get_rank()} node {sorted(locality._world or [])}", flush=True)
