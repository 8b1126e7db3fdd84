"""The Python entry point: mpi4py-style ``pack`` / ``unpack`` / ``pack_size`` / ``describe``.

Buffers are what MPI would be given: ``inbuf``/``outbuf`` of ``pack`` are the typed and
packed buffers, both anything with the buffer protocol or ``__cuda_array_interface__``.
The MPI origin is the typed buffer's first byte, or ``origin`` bytes into it for types
whose data starts before their origin (negative strides or lower bounds). Packed bytes
are identical to the system MPI's ``MPI_Pack`` (typemap order, native representation).
"""

from __future__ import annotations

from typing import Any

from mpi4py import MPI

from tempi.datatype import Descriptor
from tempi.datatype import describe as _describe
from tempi.errors import InvalidBuffer, UnsupportedDatatype
from tempi.pack import select
from tempi.pack.buffers import Buffer, as_buffer


def describe(datatype: MPI.Datatype) -> Descriptor:
    """Canonical descriptor of one element of a committed ``datatype``.

    >>> tempi.describe(MPI.DOUBLE.Create_vector(3, 2, 5).Commit())
    StridedBlock(start=0, block=16, counts=(3,), strides=(40,), size=48, lb=0, extent=96)
    """
    desc = _describe(datatype)
    if desc.nbytes != datatype.Get_size():
        raise UnsupportedDatatype(
            f"descriptor holds {desc.nbytes} bytes but MPI says {datatype.Get_size()}"
        )
    return desc


def pack_size(count: int, datatype: MPI.Datatype) -> int:
    """Bytes that ``pack`` writes for ``count`` elements of ``datatype``."""
    _check_count(count)
    return count * describe(datatype).size


def _check_count(count: int) -> None:
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")


def _typed_layout(count: int, datatype: MPI.Datatype, typed: Buffer, origin: int) -> Descriptor:
    _check_count(count)
    desc = describe(datatype).repeat(count)
    if desc.nbytes and (origin + desc.data_lb < 0 or origin + desc.data_ub > typed.nbytes):
        raise InvalidBuffer(
            f"{count} x datatype at origin {origin} touches bytes "
            f"[{origin + desc.data_lb}, {origin + desc.data_ub}) of a {typed.nbytes}-byte buffer"
        )
    return desc


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
    desc = _typed_layout(count, datatype, typed, origin)
    _check_packed(position, desc.nbytes, packed, "pack")
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
    desc = _typed_layout(count, datatype, typed, origin)
    _check_packed(position, desc.nbytes, packed, "unpack")
    select.unpack(desc, packed, position, typed, origin, stream=stream, sync=sync)
    return position + desc.nbytes
