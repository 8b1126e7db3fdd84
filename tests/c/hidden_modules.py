"""An mpi4py program (no tempi import) that hides numba and CuPy after tempi has started
(its first MPI_Type_commit), as a test runner may, then makes calls that tempi takes with
TEMPI_HOST=1: Bcast, Sendrecv, Allgather and Alltoallw of a vector type. tempi must do
them or step aside; before, the root of the Bcast failed with MPI_ERR_INTERN while its
peer waited forever."""

import sys

import numpy as np
from mpi4py import MPI

comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()
vector = MPI.DOUBLE.Create_vector(4, 1, 2).Commit()  # tempi starts here
sys.modules["numba"] = None
sys.modules["cupy"] = None
data = np.arange(8.0) if rank == 0 else np.zeros(8)
comm.Bcast([data, 1, vector], root=0)
received = np.zeros(8)
comm.Sendrecv(
    [np.arange(8.0) + rank, 1, vector],
    (rank + 1) % size,
    0,
    [received, 1, vector],
    (rank - 1) % size,
)
gathered = np.zeros(4 * size)
comm.Allgather([np.arange(8.0) + rank, 1, vector], [gathered, 4, MPI.DOUBLE])
ones, displs = [1] * size, [64 * p for p in range(size)]
exchanged = np.zeros(8 * size)
comm.Alltoallw(
    [np.arange(8.0 * size) + 100 * rank, ones, displs, [vector] * size],
    [exchanged, ones, displs, [vector] * size],
)
print(
    f"rank {rank} {data.tolist()} {received.tolist()} {gathered.tolist()} {exchanged.tolist()}",
    flush=True,
)
vector.Free()
