"""An mpi4py program (run plainly and under ``TEMPI_HOST=1 tempi run``) in which tempi fails
inside rooted collectives before anything reached MPI (tempi.errors.Declined): after
tempi has started (the first MPI_Type_commit), a failure is injected where tempi places
a collective's parts in its staging memory, on every rank. Bcast and Gather of a vector
type must then pass through to the system MPI on every rank, with the same results as
the plain run and one warning per rank; once the failure is gone, tempi takes them again.
In the plain run (no shim) the injection touches nothing that runs."""

import numpy as np
from mpi4py import MPI

comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()
vector = MPI.DOUBLE.Create_vector(4, 1, 2).Commit()  # tempi starts here (under the shim)

from tempi.comm import packed_collectives  # noqa: E402 - after tempi started

placed = packed_collectives._Side.__init__


def fail(self, msgs):
    raise RuntimeError("injected: no staging memory")


def rounds(tag):
    data = np.arange(8.0) + 10 * tag if rank == 0 else np.zeros(8)
    comm.Bcast([data, 1, vector], root=0)
    gathered = np.zeros(4 * size)
    comm.Gather([np.arange(8.0) + rank + tag, 1, vector], [gathered, 4, MPI.DOUBLE], root=0)
    print(f"rank {rank} {tag} {data.tolist()} {gathered.tolist()}", flush=True)


packed_collectives._Side.__init__ = fail
rounds(1)
rounds(2)  # still failing: no second warning
packed_collectives._Side.__init__ = placed
rounds(3)
vector.Free()
