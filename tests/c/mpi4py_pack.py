"""An mpi4py program (no tempi import) whose MPI_Pack/MPI_Unpack the shim intercepts."""

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
