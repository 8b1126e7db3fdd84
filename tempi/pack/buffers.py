"""Turn user buffers into (address, size, memory kind) without copying.

Host memory: anything with the buffer protocol (C-contiguous). Device memory: anything
with ``__cuda_array_interface__`` (CuPy arrays, numba/PyTorch tensors), contiguous. A bare
address with a layout (a C buffer under the interposer, ``MPI.BOTTOM`` = address 0 with
absolute displacements) becomes the memory the layout touches: :func:`spanning`.
"""

from __future__ import annotations

import ctypes
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from tempi.errors import InvalidBuffer

if TYPE_CHECKING:
    from tempi.datatype.descriptor import Descriptor


class Buffer(NamedTuple):
    """A resolved buffer. ``host`` is a uint8 view for host memory, else None."""

    ptr: int
    nbytes: int
    on_device: bool
    host: np.ndarray | None
    owner: Any


def _cupy(obj: Any) -> Buffer:
    """CuPy arrays without building ``__cuda_array_interface__`` (a dict per call)."""
    if not obj.flags.c_contiguous:
        raise InvalidBuffer(
            "device buffer is not C-contiguous: pass the whole array and a datatype "
            "(or its base allocation) rather than a strided view"
        )
    return Buffer(obj.data.ptr, obj.nbytes, True, None, obj)


def _device(obj: Any, writable: bool) -> Buffer:
    cai = obj.__cuda_array_interface__
    ptr, readonly = cai["data"]
    if writable and readonly:
        raise InvalidBuffer("device buffer is read-only")
    itemsize = np.dtype(cai["typestr"]).itemsize
    shape = tuple(cai["shape"])
    strides = cai.get("strides")
    if strides is not None:
        expected = itemsize
        for extent, stride in zip(reversed(shape), reversed(strides)):
            if extent > 1 and stride != expected:
                raise InvalidBuffer("device buffer is not C-contiguous")
            expected *= extent
    nbytes = itemsize
    for extent in shape:
        nbytes *= extent
    return Buffer(int(ptr or 0), nbytes, True, None, obj)


def as_buffer(obj: Any, *, writable: bool) -> Buffer:
    """Resolve ``obj``; raise :class:`InvalidBuffer` with the reason when it cannot be used."""
    cls = type(obj)
    if cls is np.ndarray:
        return _numpy(obj, writable)
    if cls.__name__ == "ndarray" and cls.__module__.startswith("cupy"):
        return _cupy(obj)
    if hasattr(obj, "__cuda_array_interface__"):
        return _device(obj, writable)
    try:
        view = memoryview(obj)
    except TypeError as exc:
        raise InvalidBuffer(f"{type(obj).__name__} is not a buffer: {exc}") from None
    if writable and view.readonly:
        raise InvalidBuffer("output buffer is read-only")
    if not view.c_contiguous:
        raise InvalidBuffer("host buffer is not C-contiguous")
    host = np.frombuffer(view.cast("B") if view.ndim != 1 or view.format != "B" else view, np.uint8)
    return Buffer(address(host), host.size, False, host, obj)


def address(array: np.ndarray) -> int:
    """Address of a host array's first byte (``ndarray.ctypes`` costs microseconds)."""
    return array.__array_interface__["data"][0]


def _numpy(array: np.ndarray, writable: bool) -> Buffer:
    """NumPy arrays without a memoryview round trip (the common host case)."""
    if writable and not array.flags.writeable:
        raise InvalidBuffer("output buffer is read-only")
    if not array.flags.c_contiguous:
        raise InvalidBuffer("host buffer is not C-contiguous")
    host = array.reshape(-1).view(np.uint8)
    return Buffer(address(host), host.size, False, host, array)


def host_range(ptr: int, nbytes: int, owner: Any) -> Buffer:
    """Host memory [ptr, ptr + nbytes) owned by ``owner`` (kept alive by the Buffer)."""
    array = (
        np.frombuffer((ctypes.c_uint8 * nbytes).from_address(ptr), np.uint8)
        if nbytes
        else np.empty(0, np.uint8)
    )
    return Buffer(ptr, nbytes, False, array, owner)


_cuda: Any = None


def address_on_device(ptr: int) -> bool:
    """Whether ``ptr`` is device (or managed) memory; False without CuPy or a GPU."""
    global _cuda
    if _cuda is None:
        from tempi.pack import cuda

        _cuda = cuda if cuda.cuda_available() else False
    return bool(_cuda) and _cuda.memory_kind(ptr) in ("device", "managed")


def spanning(
    ptr: int, desc: Descriptor, owner: Any, on_device: bool | None = None
) -> tuple[Buffer, int]:
    """The memory ``desc`` touches around address ``ptr``, and ``ptr``'s offset in it (the
    origin). Its kind is asked of the first byte touched unless given: for ``MPI_BOTTOM``
    (``ptr`` 0) the displacements are the addresses."""
    lo, hi = desc.data_lb, desc.data_ub
    if on_device is None:
        on_device = address_on_device(ptr + lo)
    if on_device:
        return Buffer(ptr + lo, hi - lo, True, None, owner), -lo
    return host_range(ptr + lo, hi - lo, owner), -lo
