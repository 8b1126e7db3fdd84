"""The layouts the measurement times, built as committed MPI datatypes of bytes.

A grid shape (bytes, block, stride, levels) becomes nested ``MPI_Type_create_hvector``
types: the innermost has ``count0`` blocks at ``stride``; each outer level repeats the one
inside at a stride one inner stride longer than the inner span, so that tempi's
canonicalizer keeps the levels apart (it merges a level whose stride equals the inner
count times the inner stride) and the alignment stays that of the innermost level.
"""

from __future__ import annotations

from mpi4py import MPI

import tempi
from tempi.datatype.descriptor import Descriptor


def split(nblocks: int, levels: int) -> list[int]:
    """Counts per level, innermost first, multiplying to ``nblocks`` (a power of two: the
    exponent is shared out, the innermost level getting the remainder)."""
    if nblocks & (nblocks - 1) or levels <= 1:
        return [nblocks]
    exponent = nblocks.bit_length() - 1
    share, rest = divmod(exponent, levels)
    return [1 << (share + (1 if i < rest else 0)) for i in range(levels)]


def strided_type(nbytes: int, block: int, stride: int, levels: int = 1) -> MPI.Datatype:
    """A committed datatype of ``nbytes`` in blocks of ``block`` bytes (``stride`` apart
    in the innermost level)."""
    counts = split(max(nbytes // block, 1), levels)
    datatype = MPI.BYTE.Create_hvector(counts[0], block, stride)
    outer = (counts[0] + 1) * stride
    for count in counts[1:]:
        wider = datatype.Create_hvector(count, 1, outer)
        datatype.Free()
        datatype = wider
        outer = (count + 1) * outer
    return datatype.Commit()


def descriptor(nbytes: int, block: int, stride: int, levels: int = 1) -> Descriptor:
    """tempi's descriptor of :func:`strided_type` (the datatype is freed again)."""
    datatype = strided_type(nbytes, block, stride, levels)
    try:
        return tempi.describe(datatype)
    finally:
        datatype.Free()
