"""Where staging buffers live and how work on them is ordered: the CUDA memory space, or
its host emulation (the engine is written once against their common methods).

On a GPU, scratch "device" memory is CuPy memory, "pinned" memory is mapped pinned host
memory (MPI sends from it and kernels address it), and packing, unpacking and copies are
enqueued on CuPy's current stream, ordered by events. The host emulation (``TEMPI_HOST=1``,
CPU-only machines and CI) has both kinds be NumPy memory and runs everything at once, so
every strategy's sequence of steps is exercised without a GPU.
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

from tempi.datatype.descriptor import Descriptor
from tempi.pack import select
from tempi.pack.buffers import Buffer, as_buffer, host_range


class HostSpace:
    """Every buffer in host memory, every operation done at once."""

    name = "host"

    def device(self, nbytes: int) -> Buffer:
        return as_buffer(np.empty(nbytes, np.uint8), writable=True)

    pinned = device

    def free(self, buf: Buffer) -> None:
        """Host buffers are garbage collected."""

    def pack(self, desc: Descriptor, src: Buffer, origin: int, dst: Buffer, position: int) -> None:
        select.pack(desc, src, origin, dst, position)

    def unpack(
        self, desc: Descriptor, src: Buffer, position: int, dst: Buffer, origin: int
    ) -> None:
        select.unpack(desc, src, position, dst, origin)

    def copy(self, dst: int, src: int, nbytes: int) -> None:
        ctypes.memmove(dst, src, nbytes)

    def fence(self) -> None:
        return None

    def wait(self, fence: Any) -> None:
        """Nothing is ever pending."""

    def ready(self, fence: Any) -> bool:
        return True


class CudaSpace:
    """CuPy device memory, mapped pinned host memory; work goes on CuPy's current stream,
    so it is ordered after whatever the application queued there for its data."""

    name = "cuda"

    def __init__(self) -> None:
        import cupy

        self._cupy = cupy

    @property
    def stream(self) -> Any:
        return self._cupy.cuda.get_current_stream()

    def device(self, nbytes: int) -> Buffer:
        array = self._cupy.empty(nbytes, dtype=self._cupy.uint8)
        return Buffer(array.data.ptr, nbytes, True, None, array)

    def pinned(self, nbytes: int) -> Buffer:
        runtime = self._cupy.cuda.runtime
        ptr = runtime.hostAlloc(max(nbytes, 1), runtime.hostAllocMapped)
        return host_range(ptr, nbytes, ptr)

    def free(self, buf: Buffer) -> None:
        if not buf.on_device:
            self._cupy.cuda.runtime.freeHost(buf.owner)

    def pack(self, desc: Descriptor, src: Buffer, origin: int, dst: Buffer, position: int) -> None:
        select.pack(desc, src, origin, dst, position, stream=self.stream, sync=False)

    def unpack(
        self, desc: Descriptor, src: Buffer, position: int, dst: Buffer, origin: int
    ) -> None:
        select.unpack(desc, src, position, dst, origin, stream=self.stream, sync=False)

    def copy(self, dst: int, src: int, nbytes: int) -> None:
        if nbytes:
            self._cupy.cuda.runtime.memcpyAsync(dst, src, nbytes, 4, self.stream.ptr)

    def fence(self) -> Any:
        event = self._cupy.cuda.Event(block=False, disable_timing=True)
        event.record(self.stream)
        return event

    def wait(self, fence: Any) -> None:
        fence.synchronize()

    def ready(self, fence: Any) -> bool:
        return fence.done
