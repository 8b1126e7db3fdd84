"""One device pack/unpack case checked against the system MPI.

A case puts random typed bytes (covering ``count`` elements plus padding) on the device
at a chosen misalignment, packs them with the CUDA packer at a chosen position, and
compares with ``MPI_Pack`` of the same host bytes; then unpacks into a buffer of other
random bytes and compares with ``MPI_Unpack`` of the same, so holes must stay untouched.
"""

from __future__ import annotations

import ctypes
import math
from dataclasses import dataclass

import numpy as np
from mpi4py import MPI

import tempi
from tempi.datatype.descriptor import BlockList, Descriptor, StridedBlock
from tempi.pack import cuda
from tests.oracle import mpi_pack, mpi_unpack, typed_buffer

GUARD = 16  # bytes after the packed stream that must stay untouched


def byte_offsets(desc: Descriptor) -> np.ndarray:
    """Typed byte offset of every packed byte, in packed order (the definition)."""
    if isinstance(desc, StridedBlock):
        index = desc.start + np.arange(desc.block if desc.nbytes else 0, dtype=np.int64)
    else:
        parts = [
            o + np.arange(n, dtype=np.int64)
            for o, n in zip(desc.offsets, desc.lengths, strict=True)
        ]
        index = np.concatenate(parts) if parts else np.zeros(0, np.int64)
    for count, stride in zip(desc.counts, desc.strides, strict=True):
        index = (np.arange(count, dtype=np.int64)[:, None] * stride + index[None, :]).ravel()
    return index


def overlaps(desc: Descriptor) -> bool:
    """Whether some typed byte is packed twice (unpacking such a type is erroneous in MPI)."""
    index = byte_offsets(desc)
    return len(np.unique(index)) != len(index)


@dataclass
class DeviceCase:
    datatype: MPI.Datatype
    count: int
    rng: np.random.Generator
    misalign: int = 0
    position: int = 0

    def __post_init__(self) -> None:
        import cupy

        self.desc = tempi.describe(self.datatype).repeat(self.count)
        self.host, self.origin = typed_buffer(self.datatype, self.count, self.rng)
        self.expected = mpi_pack(self.host, self.origin, self.count, self.datatype)
        base = cupy.zeros(len(self.host) + self.misalign + 16, np.uint8)
        self.typed = base[self.misalign : self.misalign + len(self.host)]
        self.typed.set(self.host)
        self.packed = cupy.zeros(self.position + len(self.expected) + GUARD + 16, np.uint8)

    @property
    def typed_ptr(self) -> int:
        """Address of the MPI origin on the device."""
        return self.typed.data.ptr + self.origin

    def packed_view(self, buf) -> bytes:
        return bytes(buf[self.position : self.position + len(self.expected)].get())

    def check_packed(self, buf) -> None:
        """``buf`` holds the expected stream at ``position`` and zeros elsewhere."""
        assert self.packed_view(buf) == self.expected, self.desc
        head = buf[: self.position].get()
        tail = buf[self.position + len(self.expected) :].get()
        assert not head.any() and not tail.any(), "bytes written outside the packed range"

    def pack_direct(self) -> None:
        cuda.pack(self.desc, self.typed_ptr, self.packed.data.ptr + self.position)
        self.check_packed(self.packed)

    def pack_public(self) -> None:
        import cupy

        out = cupy.zeros_like(self.packed)
        end = tempi.pack(
            self.typed, self.count, self.datatype, out, self.position, origin=self.origin
        )
        assert end == self.position + len(self.expected)
        self.check_packed(out)

    def unpack_direct(self) -> None:
        """Unpack the expected stream into other random bytes; compare with MPI_Unpack."""
        import cupy

        if overlaps(self.desc):
            return
        target_host = self.rng.integers(0, 256, len(self.host), dtype=np.uint8)
        target = cupy.asarray(target_host)
        stream = cupy.zeros(self.position + len(self.expected) + 1, np.uint8)
        stream[self.position : self.position + len(self.expected)].set(
            np.frombuffer(self.expected, np.uint8)
        )
        cuda.unpack(self.desc, stream.data.ptr + self.position, target.data.ptr + self.origin)
        mpi_unpack(self.expected, target_host, self.origin, self.count, self.datatype)
        assert np.array_equal(target.get(), target_host), self.desc

    def unpack_public(self) -> None:
        import cupy

        if overlaps(self.desc):
            return
        target_host = self.rng.integers(0, 256, len(self.host), dtype=np.uint8)
        target = cupy.asarray(target_host)
        stream = cupy.zeros(self.position + len(self.expected), np.uint8)
        stream[self.position :].set(np.frombuffer(self.expected, np.uint8))
        end = tempi.unpack(
            stream, self.position, target, self.count, self.datatype, origin=self.origin
        )
        assert end == self.position + len(self.expected)
        mpi_unpack(self.expected, target_host, self.origin, self.count, self.datatype)
        assert np.array_equal(target.get(), target_host), self.desc

    def run(self) -> None:
        self.pack_direct()
        self.pack_public()
        self.unpack_direct()
        self.unpack_public()


def host_view(ptr: int, nbytes: int) -> np.ndarray:
    """A NumPy view of host memory at ``ptr`` (pinned allocations)."""
    return (
        np.ctypeslib.as_array((ctypes.c_uint8 * nbytes).from_address(ptr))
        if nbytes
        else np.zeros(0, np.uint8)
    )


def blocklist(offsets, lengths, counts=(), strides=()) -> BlockList:
    """A hand-made block list (for kernel paths the canonicalizer reaches rarely)."""
    offsets, lengths = np.asarray(offsets), np.asarray(lengths)
    size = int(lengths.sum()) * math.prod(counts)
    return BlockList(offsets, lengths, tuple(counts), tuple(strides), size, 0, 0)
