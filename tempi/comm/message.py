"""mpi4py buffer specifications resolved into what the engine moves.

Accepted, as in mpi4py: ``[buf, count, datatype]``, ``[buf, datatype]`` (count = bytes //
extent), ``[buf, count]`` and a bare array (datatype from its dtype). Beyond mpi4py, a
bare non-contiguous NumPy or CuPy view: its elements travel in C order, described by a
StridedBlock built from its shape and strides. ``[MPI.BOTTOM, count, datatype]`` takes the
datatype's displacements as addresses (MPI_Get_address), in host or device memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from mpi4py import MPI
from mpi4py.util.dtlib import from_numpy_dtype

from tempi.datatype import describe
from tempi.datatype.canonicalize import strided
from tempi.datatype.descriptor import Descriptor
from tempi.errors import InvalidBuffer, UnsupportedDatatype
from tempi.pack.buffers import Buffer, as_buffer, host_range, spanning


@dataclass
class Message:
    """A resolved buffer spec. ``desc`` is None when tempi cannot describe the datatype
    (the message then goes to mpi4py unchanged)."""

    spec: Any
    buffer: Buffer
    origin: int
    count: int
    datatype: MPI.Datatype
    desc: Descriptor | None
    is_view: bool = False

    @cached_property
    def nbytes(self) -> int:
        """Packed bytes (asked of MPI once: the engine reads it at every step)."""
        return self.count * self.datatype.Get_size()

    @property
    def on_device(self) -> bool:
        return self.buffer.on_device


def _array_info(obj: Any) -> tuple[int, tuple[int, ...], tuple[int, ...], Any, bool] | None:
    """(address, shape, byte strides, dtype, on_device) of a NumPy/CuPy-like array."""
    if hasattr(obj, "__cuda_array_interface__"):
        cai = obj.__cuda_array_interface__
        return cai["data"][0], tuple(obj.shape), tuple(obj.strides), obj.dtype, True
    if hasattr(obj, "__array_interface__") and hasattr(obj, "strides"):
        return obj.__array_interface__["data"][0], obj.shape, obj.strides, obj.dtype, False
    return None


def _is_contiguous(obj: Any) -> bool:
    flags = getattr(obj, "flags", None)
    return flags is None or bool(
        flags["C_CONTIGUOUS"] if not hasattr(flags, "c_contiguous") else flags.c_contiguous
    )


def _view(obj: Any, writable: bool) -> Message:
    ptr, shape, strides, dtype, on_device = _array_info(obj)
    if writable and not on_device and not obj.flags.writeable:
        raise InvalidBuffer("receive view is read-only")
    itemsize = dtype.itemsize
    levels = [(n, s) for n, s in zip(reversed(shape), reversed(strides)) if n != 1]
    count = 1
    for n in shape:
        count *= n
    desc = strided(0, itemsize, levels, count * itemsize, 0, count * itemsize)
    buffer, origin = spanning(ptr, desc, obj, on_device)
    return Message(obj, buffer, origin, count, from_numpy_dtype(dtype), desc, is_view=True)


def at_address(address: int, count: int, datatype: MPI.Datatype) -> Message:
    """The message of ``count`` x ``datatype`` at a bare address: ``MPI.BOTTOM`` is address
    0, whose datatype's displacements are addresses (MPI_Get_address)."""
    where = MPI.BOTTOM if address == 0 else MPI.buffer.fromaddress(address, 0)
    spec = [where, count, datatype]
    try:
        desc = describe(datatype).repeat(count)
    except UnsupportedDatatype:
        return Message(spec, host_range(0, 0, None), 0, count, datatype, None)
    buffer, origin = spanning(address, desc, None)
    return Message(spec, buffer, origin, count, datatype, desc)


def resolve(spec: Any, *, writable: bool) -> Message:
    """The message of an mpi4py buffer spec (``writable`` for receive buffers)."""
    if isinstance(spec, (list, tuple)):
        buf, *rest = spec
        datatype = rest.pop() if rest and isinstance(rest[-1], MPI.Datatype) else None
        count = rest[0] if rest else None
    else:
        buf, count, datatype = spec, None, None
        if _array_info(spec) is not None and not _is_contiguous(spec):
            return _view(spec, writable)
    if buf is MPI.BOTTOM:
        if count is None or datatype is None:
            raise InvalidBuffer("MPI.BOTTOM needs a count and a datatype: [MPI.BOTTOM, n, type]")
        return at_address(0, count, datatype)
    if datatype is None:
        dtype = getattr(buf, "dtype", None)
        if dtype is None:
            raise InvalidBuffer(f"cannot infer an MPI datatype for {type(buf).__name__}")
        datatype = from_numpy_dtype(dtype)
    buffer = as_buffer(buf, writable=writable)
    if count is None:
        extent = datatype.Get_extent()[1]
        count = buffer.nbytes // extent if extent > 0 else 0
    try:
        desc = describe(datatype).repeat(count)
    except UnsupportedDatatype:
        desc = None
    else:
        if desc.nbytes and (desc.data_lb < 0 or desc.data_ub > buffer.nbytes):
            raise InvalidBuffer(
                f"{count} x datatype touches bytes [{desc.data_lb}, {desc.data_ub}) of a "
                f"{buffer.nbytes}-byte buffer"
            )
    return Message(spec, buffer, 0, count, datatype, desc)


def as_message(spec: Any, *, writable: bool) -> Message:
    """``spec`` if it is already a :class:`Message`, else the message of the buffer spec."""
    return spec if isinstance(spec, Message) else resolve(spec, writable=writable)
