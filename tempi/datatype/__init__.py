"""Decode MPI datatypes, simplify them, describe them canonically.

decode (mpi4py handle -> IR) -> canonicalize (IR -> StridedBlock | BlockList) -> cache.
"""

from tempi.datatype.cache import describe, forget
from tempi.datatype.canonicalize import canonicalize, simplify
from tempi.datatype.decode import decode
from tempi.datatype.descriptor import BlockList, Descriptor, StridedBlock

__all__ = [
    "BlockList",
    "Descriptor",
    "StridedBlock",
    "canonicalize",
    "decode",
    "describe",
    "forget",
    "simplify",
]
