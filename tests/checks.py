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
        theirs, their_guards = guarded(rng.integers(0, 256, data.size, dtype=np.uint8))
        ours, our_guards = guarded(theirs.copy())
        mpi_unpack(expected, theirs, origin, count, datatype)
        assert intact(their_guards), "MPI_Unpack wrote outside the footprint"
        assert tempi.unpack(out, position, ours, count, datatype, origin=origin) == end
        assert intact(our_guards), "tempi.unpack wrote outside the buffer"
        assert np.array_equal(ours, theirs), "unpacked bytes differ from MPI_Unpack"
    return expected


GUARD = 4096
"""Bytes of poison on each side of an unpack target: a write beyond the buffer lands there
and fails the test where it happened, instead of corrupting the heap for a later one."""


def guarded(data: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """``data`` copied into the middle of a poisoned allocation; (the copy, its guards)."""
    storage = np.full(data.size + 2 * GUARD, POISON, np.uint8)
    middle = storage[GUARD : GUARD + data.size]
    middle[:] = data
    return middle, (storage[:GUARD], storage[GUARD + data.size :])


def intact(guards: tuple[np.ndarray, np.ndarray]) -> bool:
    """Whether both guards still hold only poison."""
    return all(bool(np.all(g == POISON)) for g in guards)
