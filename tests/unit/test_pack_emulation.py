"""The CUDA kernels' arithmetic on the CPU: ``native/pack.cu`` built as C++ (``TEMPI_EMULATE``)
with a C++ compiler, every kernel body run over every thread of its launch grid.

The plans come from ``tempi.pack.cuda.plan`` (the code that picks the kernel, word size
and grid on the device) and the bytes are compared with the host packer's. Each load and
store goes through the emulator's check: inside the descriptor's bytes or the packed
range, aligned to its own size (a misaligned access faults on the device), and every
destination byte written exactly once (a byte written by two threads is a race there).
Grids smaller than planned exercise the grid-stride loops. Random shapes take a seed
shown in the test id.
"""

from __future__ import annotations

import ctypes
import math
import shutil
import subprocess

import numpy as np
import pytest

from tempi._native import native_dir
from tempi.datatype.descriptor import BlockList, Descriptor, StridedBlock
from tempi.pack import cuda, host
from tempi.pack.buffers import as_buffer

_COMPILER = shutil.which("c++") or shutil.which("g++") or shutil.which("clang++")
pytestmark = pytest.mark.skipif(_COMPILER is None, reason="no C++ compiler on PATH")

_HARNESS = r"""
#define TEMPI_EMULATE 1
#include <cstdint>
#include "pack.cu"

namespace {
struct Region {
    uintptr_t lo, n;
    unsigned char *writes;
};
Region regions[2];
long long misaligned, outside;
}

void tempi_emu_access(const void *ptr, unsigned long long nbytes, int write)
{
    uintptr_t at = (uintptr_t)ptr;
    if (at % nbytes)
        ++misaligned;
    for (Region &r : regions) {
        if (at >= r.lo && at + nbytes <= r.lo + r.n) {
            for (unsigned long long k = 0; write && k < nbytes; ++k)
                if (r.writes[at - r.lo + k] < 255)
                    ++r.writes[at - r.lo + k];
            return;
        }
    }
    ++outside;
}

extern "C" void tempi_emu_region(int k, uintptr_t lo, uintptr_t n, unsigned char *writes)
{
    regions[k] = Region{lo, n, writes};
}

extern "C" void tempi_emu_errors(long long *out)
{
    out[0] = misaligned;
    out[1] = outside;
    misaligned = outside = 0;
}

extern "C" void tempi_emu_cut(tempi_u64 dst, tempi_u64 len, tempi_u64 unit, tempi_u64 word,
                              tempi_u64 *out)
{
    tempi_i_split s = tempi_i_cut(dst, len, unit);
    out[0] = s.head;
    out[1] = s.units;
    out[2] = s.body_end;
    tempi_u64 edges = tempi_i_edge_words(s, len, word);
    out[3] = edges;
    for (tempi_u64 e = 0; e < edges; ++e)
        out[4 + e] = tempi_i_edge(e, word, s);
}

template <typename A>
static void emulate(void (*body)(const tempi_i_thread &, tempi_u64, tempi_u64, int, const A &),
                    tempi_u64 typed, tempi_u64 packed, int unpack, const void *args,
                    const tempi_u64 *shape)
{
    const A &a = *static_cast<const A *>(args);
    tempi_u64 gx = shape[0], gy = shape[1], bx = shape[2], by = shape[3];
    tempi_i_thread th;
    th.xstep = gx * bx;
    th.ystep = gy * by;
    for (tempi_u64 y = 0; y < gy * by; ++y)
        for (tempi_u64 x = 0; x < gx * bx; ++x) {
            th.x0 = x;
            th.y0 = y;
            body(th, typed, packed, unpack, a);
        }
}

extern "C" int tempi_emu_run(int kernel, tempi_u64 typed, tempi_u64 packed, int unpack,
                             const void *args, const tempi_u64 *shape)
{
    switch (kernel) {
@CASES@
    }
    return -1;
}
"""


@pytest.fixture(scope="module")
def emu(tmp_path_factory) -> ctypes.CDLL:
    """The emulator library, built once per module."""
    names = cuda.kernel_names()
    cases = "\n".join(
        f"    case {k}: emulate(&{name.replace('tempi_', 'tempi_i_', 1)}, typed, packed, "
        "unpack, args, shape); return 0;"
        for k, name in enumerate(names)
    )
    folder = tmp_path_factory.mktemp("emu")
    source = folder / "emu.cpp"
    source.write_text(_HARNESS.replace("@CASES@", cases))
    library = folder / "libemu.so"
    command = [_COMPILER, "-std=c++17", "-O1", "-fPIC", "-shared", "-fno-strict-aliasing"]
    command += ["-Wall", "-Werror", f"-I{native_dir()}", "-o", str(library), str(source)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lib = ctypes.CDLL(str(library))
    lib.tempi_emu_run.restype = ctypes.c_int
    lib.tempi_emu_run.argtypes = [
        ctypes.c_int,
        ctypes.c_uint64,
        ctypes.c_uint64,
        ctypes.c_int,
        ctypes.c_void_p,
        ctypes.c_void_p,
    ]
    lib.tempi_emu_region.argtypes = [
        ctypes.c_int,
        ctypes.c_size_t,
        ctypes.c_size_t,
        ctypes.c_void_p,
    ]
    lib.tempi_emu_cut.argtypes = [ctypes.c_uint64] * 4 + [ctypes.c_void_p]
    return lib


def byte_offsets(desc: Descriptor) -> np.ndarray:
    """Typed byte offset of every packed byte, in packed order (the definition)."""
    if isinstance(desc, StridedBlock):
        index = desc.start + np.arange(desc.block, dtype=np.int64)
    else:
        parts = [o + np.arange(n, dtype=np.int64) for o, n in zip(desc.offsets, desc.lengths)]
        index = np.concatenate(parts)
    for count, stride in zip(desc.counts, desc.strides, strict=True):
        index = (np.arange(count, dtype=np.int64)[:, None] * stride + index[None, :]).ravel()
    return index


def _at(size: int, misalign: int) -> tuple[np.ndarray, int]:
    """A zeroed buffer and the first index whose address is ``misalign`` mod 16."""
    buf = np.zeros(size + 32, np.uint8)
    return buf, (misalign - buf.ctypes.data) % 16


class Emulation:
    """One descriptor at chosen misalignments of the typed origin and the packed stream."""

    def __init__(self, lib, desc: Descriptor, typed_mis: int, packed_mis: int, rng) -> None:
        self.lib, self.desc, self.rng = lib, desc, rng
        span = desc.data_ub - desc.data_lb
        self.buf, first = _at(span, typed_mis + desc.data_lb)
        self.origin = first - desc.data_lb  # index of the MPI origin in self.buf
        self.buf[:] = rng.integers(0, 256, len(self.buf), dtype=np.uint8)
        self.out, self.pos = _at(desc.nbytes, packed_mis)
        self.typed_ptr = self.buf.ctypes.data + self.origin
        self.packed_ptr = self.out.ctypes.data + self.pos
        self.ws = cuda.word_size(desc, self.typed_ptr, self.packed_ptr)
        self.index = self.origin + byte_offsets(desc)

    def plan(self, sms: int) -> tuple[cuda.Plan, object]:
        pieces, table = (0, 0), None
        if isinstance(self.desc, BlockList):
            table = np.ascontiguousarray(cuda.piece_table(self.desc).ravel())
            pieces = (table.ctypes.data, len(table) // 3)
        return cuda.plan(self.desc, self.ws, sms, pieces), table

    def run(self, plan: cuda.Plan, unpack: int, shape: tuple[int, int, int, int]) -> tuple:
        """Run the plan's kernel body; (misaligned, outside) counts and the write counts of
        the typed and packed ranges."""
        desc, lib = self.desc, self.lib
        writes = [np.zeros(desc.data_ub - desc.data_lb, np.uint8), np.zeros(desc.nbytes, np.uint8)]
        lo = self.typed_ptr + desc.data_lb
        lib.tempi_emu_region(0, lo, len(writes[0]), writes[0].ctypes.data)
        lib.tempi_emu_region(1, self.packed_ptr, desc.nbytes, writes[1].ctypes.data)
        args = np.array(plan.args)
        grid = np.array(shape, np.uint64)
        kernel = cuda.kernel_names().index(plan.name)
        done = lib.tempi_emu_run(
            kernel, self.typed_ptr, self.packed_ptr, unpack, args.ctypes.data, grid.ctypes.data
        )
        assert done == 0
        errors = np.zeros(2, np.int64)
        lib.tempi_emu_errors(errors.ctypes.data_as(ctypes.c_void_p))
        return tuple(errors), writes

    def check(self, sms: int, shapes: int = 2) -> str:
        """Pack and unpack with the planned grid and ``shapes - 1`` smaller ones; returns
        the kernel's name."""
        desc = self.desc
        plan, _table = self.plan(sms)
        if plan.name is None:
            assert not desc.counts and plan.args == desc.start
            return "memcpy"
        (gx, gy, _), (bx, by, _) = plan.grid, plan.block
        grids = [(gx, gy, bx, by)]
        for _ in range(shapes - 1):
            grids.append(tuple(int(self.rng.integers(1, v + 1)) for v in (gx, gy, min(bx, 8), by)))
        expected = np.zeros(desc.nbytes, np.uint8)
        host.pack(desc, as_buffer(self.buf, writable=False), self.origin,
                  as_buffer(expected, writable=True), 0)  # fmt: skip
        assert np.array_equal(expected, self.buf[self.index])
        holes = np.ones(len(self.buf), bool)
        holes[self.index] = False
        dense = np.unique(self.index).size == self.index.size
        for shape in grids:
            where = f"{plan.name} grid {shape} ws {self.ws} {desc}"
            self.out[:] = 0
            errors, (typed_w, packed_w) = self.run(plan, 0, shape)
            assert errors == (0, 0), f"(misaligned, outside) accesses: {errors}, {where}"
            assert np.array_equal(self.out[self.pos : self.pos + desc.nbytes], expected), where
            assert (packed_w == 1).all() and not typed_w.any(), where
            if not dense:  # a byte packed twice: unpacking is erroneous in MPI
                continue
            before = self.buf.copy()
            self.buf[self.index] = 0
            errors, (typed_w, packed_w) = self.run(plan, 1, shape)
            assert errors == (0, 0), f"(misaligned, outside) accesses: {errors}, {where}"
            assert np.array_equal(self.buf, before), where
            counts = np.zeros(len(self.buf), np.int64)
            lo = self.origin + desc.data_lb
            counts[lo : lo + len(typed_w)] = typed_w
            assert (counts[self.index] == 1).all() and not counts[holes].any(), where
            assert not packed_w.any(), where
        return plan.name


def _strided(rng, word: int, block_words: int, levels: int) -> StridedBlock:
    counts = tuple(int(c) for c in rng.integers(2, 5, levels))
    strides, span = [], block_words * word
    for c in counts:
        stride = (span // word + int(rng.integers(0, 4))) * word
        strides.append(stride * int(rng.choice([1, 1, -1])))
        span = abs(stride) * c
    start = int(rng.integers(-4, 9)) * word
    return StridedBlock(start, block_words * word, counts, tuple(strides))


def _blocklist(rng, word: int, levels: int) -> BlockList:
    n = int(rng.integers(1, 6))
    lengths = rng.integers(0, 40, n) * word
    offsets = np.cumsum(rng.integers(0, 6, n) * word + lengths) - lengths
    offsets = rng.permutation(offsets)
    extent = int(offsets.max() + lengths.max()) + word
    counts = tuple(int(c) for c in rng.integers(2, 4, levels))
    strides, span = [], extent
    for c in counts:
        strides.append(span * int(rng.choice([1, -1])))
        span *= c
    size = int(lengths.sum()) * math.prod(counts)
    return BlockList(
        offsets.astype(np.int64), lengths.astype(np.int64), counts, tuple(strides), size
    )


@pytest.mark.parametrize("seed", range(60))
def test_random_strided_layouts(emu, seed: int) -> None:
    rng = np.random.default_rng(seed)
    word = int(rng.choice([1, 2, 4, 8, 16]))
    block_words = int(rng.choice([1, 2, 3, 5, 7, 15, 16, 33, 100, 300]))
    desc = _strided(rng, word, block_words, int(rng.integers(1, 6)))
    mis = [int(x) for x in rng.integers(0, 16, 2) // word * word]
    Emulation(emu, desc, mis[0], mis[1], rng).check(sms=int(rng.integers(1, 4)))


@pytest.mark.parametrize("seed", range(20))
def test_random_block_lists(emu, seed: int) -> None:
    rng = np.random.default_rng(1000 + seed)
    word = int(rng.choice([1, 2, 4, 8]))
    desc = _blocklist(rng, word, int(rng.integers(0, 4)))
    if desc.nbytes == 0:
        pytest.skip("empty list drawn")
    mis = [int(x) for x in rng.integers(0, 16, 2) // word * word]
    Emulation(emu, desc, mis[0], mis[1], rng).check(sms=2)


@pytest.mark.parametrize("seed", range(40))
def test_wide_rows(emu, seed: int) -> None:
    """8-byte-aligned rows of 128 B and more: every combination of source and destination
    16-byte phase, odd and even numbers of words, 1-3 levels."""
    rng = np.random.default_rng(2000 + seed)
    block_words = int(rng.integers(16, 140))
    desc = _strided(rng, 8, block_words, int(rng.integers(1, 4)))
    mis = [int(x) for x in rng.choice([0, 8], 2)]
    if desc.alignment() % 16 == 0 and mis == [0, 0]:
        mis[int(rng.integers(0, 2))] = 8  # else 16-byte words: the plain row kernel
    case = Emulation(emu, desc, mis[0], mis[1], rng)
    assert case.ws == 8
    assert case.check(sms=int(rng.integers(1, 4)), shapes=3).startswith("tempi_strided_wide<")


@pytest.mark.parametrize("incount", [1, 2, 3])
def test_interior_of_a_float64_grid(emu, incount: int, rng) -> None:
    """The layout of the interior of an n^3 float64 grid (rows 8 bytes off 16) at n = 20."""
    n = 20
    row = (n - 2) * 8
    desc = StridedBlock((n * n + n + 1) * 8, row, (n - 2, n - 2), (n * 8, n * n * 8))
    desc = desc if incount == 1 else StridedBlock(desc.start, row, (n - 2, n - 2, incount),
                                                  (n * 8, n * n * 8, n**3 * 8))  # fmt: skip
    for packed_mis in (0, 8):
        name = Emulation(emu, desc, 0, packed_mis, rng).check(sms=2, shapes=3)
        assert name == f"tempi_strided_wide<{len(desc.counts)}>"


@pytest.mark.parametrize("seed", range(40))
def test_tiny_blocks(emu, seed: int) -> None:
    """Blocks of 1-15 bytes moved in 1- or 2-byte words, at every packed phase."""
    rng = np.random.default_rng(3000 + seed)
    word = int(rng.choice([1, 2]))
    block_words = int(rng.integers(1, 16 // word))
    desc = _strided(rng, word, block_words, int(rng.integers(1, 4)))
    mis = [int(x) for x in rng.integers(0, 16, 2) // word * word]
    if (desc.alignment() | mis[0] | mis[1]) % (2 * word) == 0:
        mis[seed % 2] += word  # else a wider word
    case = Emulation(emu, desc, mis[0], mis[1], rng)
    assert case.ws == word
    assert case.check(sms=int(rng.integers(1, 4)), shapes=3).startswith("tempi_strided_tiny<")


@pytest.mark.parametrize("packed_mis", [0, 1, 2, 3])
def test_three_byte_halo(emu, packed_mis: int, rng) -> None:
    """The z-face of a byte grid (3-byte blocks, two levels), scaled down."""
    n = 24
    desc = StridedBlock(4 * n * n + 4 * n + 4, 3, (12, 12), (n, n * n))
    name = Emulation(emu, desc, 0, packed_mis, rng).check(sms=2, shapes=3)
    assert name == "tempi_strided_tiny<unsigned char, 2>"


@pytest.mark.parametrize("block", [1, 2])
@pytest.mark.parametrize("misalign", [0, 1, 2, 3])
def test_one_and_two_byte_blocks(emu, block: int, misalign: int, rng) -> None:
    """TEMPI's grid (blocks at a 512-byte stride) with short incounts, scaled down."""
    desc = StridedBlock(0, block, (37, 2), (512, 37 * 512))
    name = Emulation(emu, desc, misalign, 3 - misalign, rng).check(sms=1, shapes=3)
    assert name.startswith("tempi_strided_tiny<unsigned char")


def test_paths_are_chosen_by_word_and_block() -> None:
    """The word size alone decides alignment; the block length picks wide or tiny."""
    sms = 132
    long8 = StridedBlock(8, 4080, (4,), (4096,))
    assert cuda.plan(long8, 8, sms).name == "tempi_strided_wide<1>"
    assert cuda.plan(long8, 4, sms).name == "tempi_strided<unsigned int, 1>"
    short8 = StridedBlock(8, 120, (4,), (4096,))
    assert cuda.plan(short8, 8, sms).name == "tempi_strided<unsigned long long, 1>"
    four_levels = StridedBlock(8, 4080, (2, 2, 2, 2), (4096, 9000 * 8, 10**5 * 8, 10**6 * 8))
    assert cuda.plan(four_levels, 8, sms).name == "tempi_strided_n<unsigned long long>"
    halo = StridedBlock(4, 3, (512, 512), (1024, 1 << 20))
    plan = cuda.plan(halo, 1, sms)
    assert plan.name == "tempi_strided_tiny<unsigned char, 2>"
    assert plan.grid[1] == plan.block[1] == 1  # one row: the packed stream
    assert plan.grid[0] * plan.block[0] >= min(halo.nbytes // 4, 32 * sms * 256)
    assert cuda.plan(StridedBlock(0, 2, (9,), (6,)), 2, sms).name.startswith(
        "tempi_strided_tiny<unsigned short"
    )
    assert (
        cuda.plan(StridedBlock(0, 16, (9,), (24,)), 1, sms).name
        == "tempi_strided<unsigned char, 1>"
    )
    assert (
        cuda.plan(StridedBlock(0, 4, (9,), (8,)), 4, sms).name == "tempi_strided<unsigned int, 1>"
    )


@pytest.mark.parametrize("seed", range(200))
def test_head_body_tail_cut(emu, seed: int) -> None:
    """tempi_i_cut / tempi_i_edge against a reference on random addresses, units, words and
    lengths: the units start aligned, and the edges are exactly the bytes outside them."""
    rng = np.random.default_rng(4000 + seed)
    unit = int(rng.choice([4, 16]))
    word = int(rng.choice([w for w in (1, 2, 4, 8) if w <= unit]))
    dst = int(rng.integers(0, 1 << 40)) // word * word
    length = int(rng.choice([0, 1, 2, 3, 5, 17, 100, 4080, 1 << 33])) // word * word
    length = max(length, word * int(rng.integers(0, 3)))
    out = np.zeros(4 + 2 * unit, np.uint64)
    emu.tempi_emu_cut(dst, length, unit, word, out.ctypes.data)
    head, units, body_end, edges = (int(x) for x in out[:4])
    expected_head = min(length, next(h for h in range(unit) if (dst + h) % unit == 0))
    assert head == expected_head
    assert units == (length - head) // unit and body_end == head + units * unit
    assert units == 0 or (dst + head) % unit == 0
    outside = [b for b in range(0, head, word)] + list(range(body_end, length, word))
    assert edges == len(outside) and [int(x) for x in out[4 : 4 + edges]] == outside
