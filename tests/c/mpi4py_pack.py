"""An mpi4py program (no tempi import) whose MPI_Pack/MPI_Unpack and all-to-alls the shim
intercepts."""

import numpy as np
from mpi4py import MPI

rank = MPI.COMM_WORLD.Get_rank()
vector = MPI.DOUBLE.Create_vector(4, 2, 3).Commit()
data = np.arange(12.0) + 100 * rank
packed = bytearray(vector.Pack_size(1, MPI.COMM_SELF))
vector.Pack(data, packed, 0, MPI.COMM_SELF)
back = np.zeros(12)
vector.Unpack(packed, 0, back, MPI.COMM_SELF)
print(
    f"rank {rank} packed {np.frombuffer(packed, np.float64).tolist()} back {back.tolist()}",
    flush=True,
)
vector.Free()

# Alltoallv and Neighbor_alltoallw with a vector type: mpi4py calls the MPI-4 _c forms
# where the library has them, so the shim must intercept those too.
comm = MPI.COMM_WORLD
size = comm.Get_size()
column = MPI.DOUBLE.Create_vector(2, 1, 3).Create_resized(0, 6 * 8).Commit()
outgoing = np.arange(6.0 * size) + 1000 * rank
incoming = np.zeros(6 * size)
ones, displs = [1] * size, list(range(size))
comm.Alltoallv([outgoing, (ones, displs), column], [incoming, (ones, displs), column])
print(f"rank {rank} alltoallv {incoming.tolist()}", flush=True)
ring = comm.Create_dist_graph_adjacent([(rank - 1) % size], [(rank + 1) % size])
incoming[:] = 0
ring.Neighbor_alltoallw([outgoing, ([1], [0]), [column]], [incoming, ([1], [8]), [column]])
print(f"rank {rank} neighbor_alltoallw {incoming.tolist()}", flush=True)
ring.Free()
column.Free()
