"""tempi: fast, byte-exact MPI derived datatypes for GPU and host memory.

``describe`` a committed mpi4py datatype to see its canonical form; ``pack``/``unpack``
it like ``MPI_Pack``/``MPI_Unpack`` on host or device buffers; send it with ``Comm``.
"""

from tempi.api import describe, pack, pack_size, unpack
from tempi.comm import Comm, Prequest, Request
from tempi.datatype.descriptor import BlockList, StridedBlock
from tempi.errors import (
    ConfigError,
    InvalidBuffer,
    KernelCompileError,
    NotCommitted,
    TempiError,
    UnsupportedDatatype,
)

__version__ = "0.1.0"

__all__ = [
    "BlockList",
    "Comm",
    "Prequest",
    "Request",
    "ConfigError",
    "InvalidBuffer",
    "KernelCompileError",
    "NotCommitted",
    "StridedBlock",
    "TempiError",
    "UnsupportedDatatype",
    "__version__",
    "describe",
    "pack",
    "pack_size",
    "unpack",
]
