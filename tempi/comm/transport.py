"""The transport recipe: how a strategy's packed bytes reach MPI and come back.

One recipe serves every caller -- point-to-point (:mod:`tempi.comm.engine`), the fused
exchanges (:mod:`tempi.comm.batch`) and the packed collectives
(:mod:`tempi.comm.packed_collectives`) -- so a strategy's steps are written once:

* ``device``     -- pack into device memory; MPI (CUDA-aware) reads and writes it there;
* ``oneshot``    -- pack straight into pinned host memory (the kernel writes across the
  link once); unpack on the device from it;
* ``staged``     -- pack into device scratch memory, copy it to pinned host memory; on
  arrival copy back to device scratch and unpack there;
* ``contiguous`` -- contiguous device data copied to and from pinned host memory.

In host memory (``TEMPI_HOST=1``) every space is NumPy memory and every step runs at once
(:mod:`tempi.comm.memory`), so each recipe is exercised on CPU-only machines. Staging
buffers come from bounded pools per memory space, released before MPI finalizes.
"""

from __future__ import annotations

import atexit
from functools import cache
from typing import Any

from mpi4py import MPI

from tempi import system
from tempi.comm.memory import CudaSpace, HostSpace
from tempi.comm.pools import BufferPool
from tempi.datatype.descriptor import Descriptor, prefix_parts
from tempi.pack.buffers import Buffer

POOL_LIMIT_B = 256 << 20
"""Bytes of idle staging buffers kept per pool (device, pinned) and memory space."""


@cache
def space(kind: str) -> Any:
    """The memory space of ``kind`` ('cuda' or 'host')."""
    return CudaSpace() if kind == "cuda" else HostSpace()


_pools: dict[tuple[str, str], BufferPool] = {}


def pool(kind: str, memory: str) -> BufferPool:
    """The pool of ``memory`` ('device' or 'pinned') staging buffers of space ``kind``."""
    found = _pools.get((kind, memory))
    if found is None:
        where = space(kind)
        allocate = where.device if memory == "device" else where.pinned
        # setdefault: two threads starting at once end up with the same pool
        found = _pools.setdefault((kind, memory), BufferPool(allocate, where.free, POOL_LIMIT_B))
    return found


def release() -> None:
    """Free every pooled staging buffer (registered to run before MPI finalizes)."""
    for each in list(_pools.values()):
        each.release()


atexit.register(release)


def cuda_aware() -> bool:
    """Whether the MPI reads and writes device memory (the ``device`` strategy's need)."""
    return system.cuda_aware_mpi()[0]


class Staging:
    """The staging of ``nbytes`` packed bytes on ``path``: the wire buffer MPI reads or
    writes (device memory for ``device``, pinned host memory otherwise) and, for
    ``staged``, device scratch memory the kernels work in. Return the buffers with
    :meth:`release` once MPI and the kernels are done with them."""

    def __init__(self, kind: str, path: str, nbytes: int) -> None:
        self.space, self.path, self.nbytes = space(kind), path, nbytes
        self._device = pool(kind, "device")
        self._wires = self._device if path == "device" else pool(kind, "pinned")
        self.wire: Buffer = self._wires.get(nbytes)
        self._scratch: Buffer | None = None

    def data(self, start: int = 0, nbytes: int | None = None) -> Any:
        """Bytes ``[start, start + nbytes)`` of the wire (default: all), as the buffer
        object mpi4py takes."""
        end = start + (self.nbytes - start if nbytes is None else nbytes)
        wire = self.wire
        return wire.owner[start:end] if wire.on_device else wire.host[start:end]

    def spec(self, start: int = 0, nbytes: int | None = None) -> list[Any]:
        """The mpi4py buffer spec of those bytes as ``MPI_PACKED``."""
        data = self.data(start, nbytes)
        return [data, len(data), MPI.PACKED]

    def _scratch_of(self, nbytes: int) -> Buffer:
        if self._scratch is None:
            self._scratch = self._device.get(nbytes)
        return self._scratch

    def pack(self, desc: Descriptor, typed: Buffer, origin: int) -> None:
        """Enqueue the packing of ``desc`` (from ``typed`` at byte ``origin``) onto the
        wire; the caller waits for :meth:`fence` before MPI reads it."""
        where, wire = self.space, self.wire
        if self.path == "contiguous":
            where.copy(wire.ptr, typed.ptr + origin + desc.start, desc.nbytes)
        elif self.path == "staged":
            scratch = self._scratch_of(self.nbytes)
            where.pack(desc, typed, origin, scratch, 0)
            where.copy(wire.ptr, scratch.ptr, desc.nbytes)
        else:
            where.pack(desc, typed, origin, wire, 0)

    def arrived(self, nbytes: int) -> None:
        """MPI has written ``nbytes`` to the wire: on ``staged``, enqueue their copy to the
        device scratch that :meth:`unpack` reads."""
        if self.path == "staged":
            scratch = self._scratch_of(max(nbytes, 1))
            self.space.copy(scratch.ptr, self.wire.ptr, nbytes)

    def unpack(
        self,
        desc: Descriptor,
        typed: Buffer,
        origin: int,
        position: int = 0,
        nbytes: int | None = None,
    ) -> None:
        """Enqueue the unpacking of the packed bytes at ``position`` (after
        :meth:`arrived`) into ``desc`` over ``typed`` at byte ``origin``; only the first
        ``nbytes`` of ``desc`` when fewer arrived (the rest of the typed buffer stays)."""
        n = desc.nbytes if nbytes is None else nbytes
        where = self.space
        if self.path == "contiguous":
            where.copy(typed.ptr + origin + desc.start, self.wire.ptr + position, n)
            return
        source = self._scratch if self.path == "staged" else self.wire
        for part, skip, shift in prefix_parts(desc, n):
            where.unpack(part, source, position + skip, typed, origin + shift)

    def fence(self) -> Any:
        """A fence after the work enqueued so far."""
        return self.space.fence()

    def wait(self) -> None:
        """Wait for the work enqueued so far."""
        self.space.wait(self.space.fence())

    def release(self) -> None:
        """Return the staging buffers to their pools."""
        self._wires.put(self.wire)
        if self._scratch is not None:
            self._device.put(self._scratch)
            self._scratch = None
