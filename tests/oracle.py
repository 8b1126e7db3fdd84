"""The reference for every packed byte: the system MPI's own MPI_Pack / MPI_Unpack.

Called through ctypes with an explicit pointer and count (mpi4py's ``Datatype.Pack``
derives the count from the buffer length, which cannot express an origin inside the
buffer, zero or negative extents).
"""

from __future__ import annotations

import numpy as np
from mpi4py import MPI

from tempi.datatype import _mpilib
from tempi.datatype._mpilib import footprint


def mpi_pack(data: np.ndarray, origin: int, count: int, datatype: MPI.Datatype) -> bytes:
    """MPI_Pack of ``count`` elements whose origin is byte ``origin`` of ``data``."""
    size = datatype.Get_size() * count
    out = np.zeros(max(size, 1), np.uint8)
    position = _mpilib.pack(
        data.ctypes.data + origin, count, datatype, out.ctypes.data, out.size, 0
    )
    assert position == size, (position, size)
    return out[:size].tobytes()


def mpi_unpack(
    packed: bytes, data: np.ndarray, origin: int, count: int, datatype: MPI.Datatype
) -> None:
    """MPI_Unpack of ``packed`` into ``data`` (modified in place) at byte ``origin``."""
    src = np.frombuffer(packed, np.uint8) if packed else np.zeros(1, np.uint8)
    position = _mpilib.unpack(
        src.ctypes.data, len(packed), 0, data.ctypes.data + origin, count, datatype
    )
    assert position == len(packed)


def typed_buffer(
    datatype: MPI.Datatype, count: int, rng: np.random.Generator, pad: int = 16
) -> tuple[np.ndarray, int]:
    """Random bytes covering ``count`` elements, with ``pad`` bytes around; returns
    (buffer, origin)."""
    lo, hi = footprint(datatype, count)
    lo, hi = min(lo, 0), max(hi, 0)
    data = rng.integers(0, 256, hi - lo + 2 * pad, dtype=np.uint8)
    return data, pad - lo


def typemap_offsets(datatype: MPI.Datatype, count: int) -> np.ndarray:
    """Byte offset (from the origin) of every packed byte, learned from MPI_Pack alone:
    three packs of buffers whose bytes hold the bits 0-7, 8-15, 16-23 of their index."""
    lo, hi = footprint(datatype, count)
    lo, hi = min(lo, 0), max(hi, 0)
    index = np.arange(hi - lo, dtype=np.int64)
    offsets = np.zeros(datatype.Get_size() * count, np.int64)
    for shift in (0, 8, 16):
        probe = ((index >> shift) & 0xFF).astype(np.uint8)
        packed = np.frombuffer(mpi_pack(probe, -lo, count, datatype), np.uint8)
        offsets |= packed.astype(np.int64) << shift
    return offsets + lo
