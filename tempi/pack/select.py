"""Choose the packer for a pair of buffers: host (numba) or CUDA, and how to bridge them.

* host typed data, host packed bytes: the numba packer;
* device typed data: the CUDA packer, writing (or reading) the packed bytes in place when
  the GPU can address them -- device, managed, or pinned host memory (mapped: "one-shot")
  -- and through a device temporary plus one copy when they are pageable host memory;
* host typed data, device packed bytes: the numba packer into a host temporary plus one
  copy.
"""

from __future__ import annotations

import numpy as np

from tempi.datatype.descriptor import Descriptor
from tempi.pack import host
from tempi.pack.buffers import Buffer, as_buffer


def _cuda():
    from tempi.pack import cuda

    return cuda


def _gpu_addressable(buf: Buffer) -> bool:
    return buf.on_device or _cuda().memory_kind(buf.ptr) in ("device", "managed", "pinned")


def pack(
    desc: Descriptor,
    src: Buffer,
    origin: int,
    dst: Buffer,
    position: int,
    *,
    stream=None,
    sync: bool = True,
) -> None:
    """Pack ``desc`` from ``src`` (MPI origin at byte ``origin``) into ``dst`` at ``position``."""
    if not src.on_device and not dst.on_device:
        host.pack(desc, src, origin, dst, position)
        return
    cuda = _cuda()
    nbytes = desc.nbytes
    if not src.on_device:
        staging = as_buffer(np.empty(nbytes, np.uint8), writable=True)
        host.pack(desc, src, origin, staging, 0)
        cuda.copy(dst.ptr + position, staging.ptr, nbytes)
    elif _gpu_addressable(dst):
        cuda.pack(desc, src.ptr + origin, dst.ptr + position, stream=stream, sync=sync)
    else:
        temp = cuda.device_empty(nbytes)
        cuda.pack(desc, src.ptr + origin, temp.data.ptr, stream=stream, sync=True)
        cuda.copy(dst.ptr + position, temp.data.ptr, nbytes)


def unpack(
    desc: Descriptor,
    src: Buffer,
    position: int,
    dst: Buffer,
    origin: int,
    *,
    stream=None,
    sync: bool = True,
) -> None:
    """Unpack ``src[position:]`` into ``dst`` laid out as ``desc`` from byte ``origin``."""
    if not src.on_device and not dst.on_device:
        host.unpack(desc, src, position, dst, origin)
        return
    cuda = _cuda()
    nbytes = desc.nbytes
    if not dst.on_device:
        staging = as_buffer(np.empty(nbytes, np.uint8), writable=True)
        cuda.copy(staging.ptr, src.ptr + position, nbytes)
        host.unpack(desc, staging, 0, dst, origin)
    elif _gpu_addressable(src):
        cuda.unpack(desc, src.ptr + position, dst.ptr + origin, stream=stream, sync=sync)
    else:
        temp = cuda.device_empty(nbytes)
        cuda.copy(temp.data.ptr, src.ptr + position, nbytes)
        cuda.unpack(desc, temp.data.ptr, dst.ptr + origin, stream=stream, sync=True)
