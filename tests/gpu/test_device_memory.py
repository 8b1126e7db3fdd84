"""Where the bytes live: memory kinds, one-shot packing into mapped pinned host memory,
unpacking from it, and objects over 4 GiB."""

from __future__ import annotations

import numpy as np
import pytest
from mpi4py import MPI

import tempi
from tempi.datatype.descriptor import StridedBlock
from tempi.pack import cuda
from tests.gpu.devicecase import blocklist, byte_offsets, host_view
from tests.oracle import mpi_pack, mpi_unpack, typed_buffer

GiB = 1 << 30
MiB = 1 << 20


@pytest.fixture
def mapped(cp):
    """Allocate mapped pinned host memory: ``mapped(n) -> (ptr, numpy view)``; freed after."""
    ptrs = []

    def alloc(nbytes: int):
        ptr = cp.cuda.runtime.hostAlloc(max(nbytes, 1), cp.cuda.runtime.hostAllocMapped)
        ptrs.append(ptr)
        view = host_view(ptr, nbytes)
        view[:] = 0
        return ptr, view

    yield alloc
    for ptr in ptrs:
        cp.cuda.runtime.freeHost(ptr)


@pytest.fixture
def vector_type():
    t = MPI.DOUBLE.Create_vector(64, 3, 7).Create_resized(-16, 4000)
    t.Commit()
    yield t
    t.Free()


def test_memory_kinds(cp, mapped) -> None:
    dev = cp.zeros(16, np.uint8)
    ptr, _ = mapped(16)
    managed = cp.cuda.malloc_managed(64)
    pageable = np.zeros(16, np.uint8)
    assert cuda.memory_kind(dev.data.ptr) == "device"
    assert cuda.memory_kind(ptr) == "pinned"
    assert cuda.memory_kind(managed.ptr) == "managed"
    assert cuda.memory_kind(pageable.ctypes.data) == "pageable"


@pytest.mark.parametrize("position", [0, 5])
def test_one_shot_pack_into_mapped_host(position: int, cp, mapped, vector_type, rng) -> None:
    host, origin = typed_buffer(vector_type, 3, rng)
    expected = mpi_pack(host, origin, 3, vector_type)
    typed = cp.asarray(host)
    ptr, view = mapped(position + len(expected) + 8)
    desc = tempi.describe(vector_type).repeat(3)
    cuda.pack(desc, typed.data.ptr + origin, ptr + position)
    assert view[position : position + len(expected)].tobytes() == expected
    assert not view[:position].any() and not view[position + len(expected) :].any()


def test_one_shot_through_public_pack(cp, mapped, vector_type, rng) -> None:
    host, origin = typed_buffer(vector_type, 2, rng)
    expected = mpi_pack(host, origin, 2, vector_type)
    _, view = mapped(len(expected) + 3)
    end = tempi.pack(cp.asarray(host), 2, vector_type, view, 3, origin=origin)
    assert end == 3 + len(expected)
    assert view[3:end].tobytes() == expected


def test_pack_into_pageable_host(cp, vector_type, rng) -> None:
    host, origin = typed_buffer(vector_type, 2, rng)
    expected = mpi_pack(host, origin, 2, vector_type)
    out = np.zeros(len(expected), np.uint8)
    tempi.pack(cp.asarray(host), 2, vector_type, out, origin=origin)
    assert out.tobytes() == expected


def test_unpack_from_mapped_host(cp, mapped, vector_type, rng) -> None:
    host, origin = typed_buffer(vector_type, 2, rng)
    expected = mpi_pack(host, origin, 2, vector_type)
    ptr, view = mapped(len(expected))
    view[:] = np.frombuffer(expected, np.uint8)
    target_host = rng.integers(0, 256, len(host), dtype=np.uint8)
    target = cp.asarray(target_host)
    cuda.unpack(tempi.describe(vector_type).repeat(2), ptr, target.data.ptr + origin)
    mpi_unpack(expected, target_host, origin, 2, vector_type)
    assert np.array_equal(target.get(), target_host)


def test_one_shot_block_list(cp, mapped, rng) -> None:
    desc = blocklist([0, 24, 9], [8, 16, 3], (5,), (64,))
    host = rng.integers(0, 256, 400, dtype=np.uint8)
    ptr, view = mapped(desc.nbytes)
    src = cp.asarray(host)  # kept alive: a freed source would be reused by the pool
    cuda.pack(desc, src.data.ptr, ptr)
    assert np.array_equal(view, host[byte_offsets(desc)])


def test_object_over_4_gib(cp) -> None:
    rows, row_b, start, block = 4608, MiB, 8, MiB - 16
    desc = StridedBlock(start, block, (rows,), (row_b,))
    need = 3 * rows * row_b + GiB
    if cp.cuda.runtime.memGetInfo()[0] < need:
        pytest.skip(f"needs {need / GiB:.1f} GiB of free device memory")
    typed = cp.arange(rows * row_b // 4, dtype=cp.uint32).view(cp.uint8)
    packed = cp.empty(desc.nbytes, cp.uint8)
    cuda.pack(desc, typed.data.ptr, packed.data.ptr)
    grid, stream = typed.reshape(rows, row_b), packed.reshape(rows, block)
    for lo in range(0, rows, 512):
        assert bool(
            cp.array_equal(stream[lo : lo + 512], grid[lo : lo + 512, start : start + block])
        )
    del typed
    target = cp.zeros(rows * row_b, cp.uint8)
    cuda.unpack(desc, packed.data.ptr, target.data.ptr)
    rows_back = target.reshape(rows, row_b)
    for lo in range(0, rows, 512):
        assert bool(
            cp.array_equal(rows_back[lo : lo + 512, start : start + block], stream[lo : lo + 512])
        )
        assert not bool(rows_back[lo : lo + 512, :start].any())
        assert not bool(rows_back[lo : lo + 512, start + block :].any())
