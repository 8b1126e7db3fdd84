"""An mpi4py program (no tempi import) that looks up an attribute of a PyCapsule before its
first MPI_Type_commit: before Python 3.12 that left cffi's embedding start-up spinning
forever under the shim. Then a vector type is packed and sent around the ring."""

import datetime

import numpy as np
from mpi4py import MPI

getattr(datetime.datetime_CAPI, "x", None)  # any attribute lookup on any capsule
comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()
vector = MPI.DOUBLE.Create_vector(4, 2, 3).Commit()
data = np.arange(12.0) + 100 * rank
packed = bytearray(vector.Pack_size(1, comm))
vector.Pack(data, packed, 0, comm)
received = np.zeros(12)
comm.Sendrecv([data, 1, vector], (rank + 1) % size, 0, [received, 1, vector], (rank - 1) % size)
print(f"rank {rank} packed {bytes(packed).hex()} received {received.tolist()}", flush=True)
vector.Free()
