"""The Python entry point: mpi4py-style ``pack`` / ``unpack`` / ``pack_size`` / ``describe``.

Buffers are what MPI would be given: ``inbuf``/``outbuf`` of ``pack`` are the typed and
packed buffers, both anything with the buffer protocol or ``__cuda_array_interface__``.
The MPI origin is the typed buffer's first byte, or ``origin`` bytes into it for types
whose data starts before their origin (negative strides or lower bounds). Packed bytes
are identical to the system MPI's ``MPI_Pack`` (typemap order, native representation).
Host buffers with a type tempi cannot describe go to the system MPI_Pack unchanged.
"""

from __future__ import annotations

from typing import Any

from mpi4py import MPI

from tempi.datatype import Descriptor, _mpilib
from tempi.datatype import describe as _describe
from tempi.errors import InvalidBuffer, UnsupportedDatatype
from tempi.log import get_logger
from tempi.pack import select
from tempi.pack.buffers import Buffer, as_buffer

log = get_logger("api")


def describe(datatype: MPI.Datatype) -> Descriptor:
    """Canonical descriptor of one element of a committed ``datatype``.

    >>> tempi.describe(MPI.DOUBLE.Create_vector(3, 2, 5).Commit())
    StridedBlock(start=0, block=16, counts=(3,), strides=(40,), size=48, lb=0, extent=96)
    """
    return _describe(datatype)


def pack_size(count: int, datatype: MPI.Datatype) -> int:
    """Bytes that ``pack`` writes for ``count`` elements of ``datatype``."""
    _check_count(count)
    return count * datatype.Get_size()


def _check_count(count: int) -> None:
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")


def _check_typed(lo: int, hi: int, count: int, typed: Buffer, origin: int) -> None:
    if hi > lo and (origin + lo < 0 or origin + hi > typed.nbytes):
        raise InvalidBuffer(
            f"{count} x datatype at origin {origin} touches bytes "
            f"[{origin + lo}, {origin + hi}) of a {typed.nbytes}-byte buffer"
        )


def _layout(count: int, datatype: MPI.Datatype, typed: Buffer, origin: int) -> Descriptor | None:
    """The repeated descriptor, bounds-checked; None when the type must go to MPI itself."""
    _check_count(count)
    try:
        desc = describe(datatype).repeat(count)
    except UnsupportedDatatype as exc:
        if typed.on_device:
            raise UnsupportedDatatype(f"{exc}; device buffers need a type tempi supports") from None
        log.debug("passing MPI_Pack through: %s", exc)
        _check_typed(*_mpilib.footprint(datatype, count), count, typed, origin)
        return None
    _check_typed(desc.data_lb, desc.data_ub, count, typed, origin)
    return desc


def _nbytes(desc: Descriptor | None, count: int, datatype: MPI.Datatype) -> int:
    return desc.nbytes if desc is not None else count * datatype.Get_size()


def _check_packed(position: int, nbytes: int, packed: Buffer, what: str) -> None:
    if position < 0 or position + nbytes > packed.nbytes:
        raise InvalidBuffer(
            f"{what} needs bytes [{position}, {position + nbytes}) but the packed buffer has "
            f"{packed.nbytes} (MPI_ERR_TRUNCATE)"
        )


def pack(
    inbuf: Any,
    count: int,
    datatype: MPI.Datatype,
    outbuf: Any,
    position: int = 0,
    *,
    origin: int = 0,
    stream: Any = None,
    sync: bool = True,
) -> int:
    """Pack ``count`` elements of ``datatype`` from ``inbuf`` into ``outbuf`` at ``position``.

    Returns the new position, like ``MPI_Pack``. Device buffers are packed on the GPU on
    ``stream`` (default: CuPy's current stream), synchronised unless ``sync=False``.
    Nothing is written when an argument is invalid.
    """
    typed = as_buffer(inbuf, writable=False)
    packed = as_buffer(outbuf, writable=True)
    desc = _layout(count, datatype, typed, origin)
    _check_packed(position, _nbytes(desc, count, datatype), packed, "pack")
    if desc is None:
        return _mpilib.pack(
            typed.ptr + origin, count, datatype, packed.ptr, packed.nbytes, position
        )
    select.pack(desc, typed, origin, packed, position, stream=stream, sync=sync)
    return position + desc.nbytes


def unpack(
    inbuf: Any,
    position: int,
    outbuf: Any,
    count: int,
    datatype: MPI.Datatype,
    *,
    origin: int = 0,
    stream: Any = None,
    sync: bool = True,
) -> int:
    """Unpack ``count`` elements of ``datatype`` from ``inbuf[position:]`` into ``outbuf``.

    Returns the new position, like ``MPI_Unpack``; bytes of ``outbuf`` outside the
    typemap are left untouched.
    """
    packed = as_buffer(inbuf, writable=False)
    typed = as_buffer(outbuf, writable=True)
    desc = _layout(count, datatype, typed, origin)
    _check_packed(position, _nbytes(desc, count, datatype), packed, "unpack")
    if desc is None:
        return _mpilib.unpack(
            packed.ptr, packed.nbytes, position, typed.ptr + origin, count, datatype
        )
    select.unpack(desc, packed, position, typed, origin, stream=stream, sync=sync)
    return position + desc.nbytes
