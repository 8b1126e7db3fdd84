"""Assertions shared by the host and device suites: tempi's bytes against MPI's."""

from __future__ import annotations

import numpy as np
from mpi4py import MPI

import tempi
from tests.oracle import mpi_pack, mpi_unpack, typed_buffer, typemap_offsets

POISON = 0xA5


def overlaps(datatype: MPI.Datatype, count: int) -> bool:
    """Whether some byte is named twice in the typemap (unpack order would then matter)."""
    offsets = typemap_offsets(datatype, count)
    return len(np.unique(offsets)) != len(offsets)


def check_pack_unpack(
    datatype: MPI.Datatype,
    count: int,
    rng: np.random.Generator,
    position: int = 0,
    misalign: int = 0,
) -> bytes:
    """Pack and unpack ``count`` elements with tempi and with MPI; assert identical results.

    ``misalign`` shifts the typed buffer's base address by that many bytes.
    """
    data, origin = typed_buffer(datatype, count, rng)
    storage = np.zeros(data.size + misalign, np.uint8)
    data = storage[misalign:]
    data[:] = rng.integers(0, 256, data.size, dtype=np.uint8)
    expected = mpi_pack(data, origin, count, datatype)

    out = np.full(position + len(expected) + 8, POISON, np.uint8)
    end = tempi.pack(data, count, datatype, out, position, origin=origin)
    assert end == position + len(expected)
    assert out[position:end].tobytes() == expected, "packed bytes differ from MPI_Pack"
    assert np.all(out[:position] == POISON) and np.all(out[end:] == POISON), "wrote outside"

    if not overlaps(datatype, count):
        theirs = rng.integers(0, 256, data.size, dtype=np.uint8)
        ours = theirs.copy()
        mpi_unpack(expected, theirs, origin, count, datatype)
        assert tempi.unpack(out, position, ours, count, datatype, origin=origin) == end
        assert np.array_equal(ours, theirs), "unpacked bytes differ from MPI_Unpack"
    return expected
