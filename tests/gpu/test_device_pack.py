"""CUDA packer against the system MPI's MPI_Pack/MPI_Unpack: TEMPI's failure cases,
misaligned bases, non-zero positions, incount > 65535, every kernel variant on
hand-made descriptors (against the descriptor's definition), and the wide and tiny
kernels on random shapes (against the host packer)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import numpy as np
import pytest
from mpi4py import MPI

import tempi
from tempi.datatype.descriptor import Descriptor, StridedBlock
from tempi.pack import cuda, host
from tempi.pack.buffers import as_buffer
from tests.gpu.devicecase import DeviceCase, blocklist, byte_offsets, overlaps


@contextlib.contextmanager
def built(make: Callable[[], list[MPI.Datatype]]) -> Iterator[MPI.Datatype]:
    """Commit the last of the types ``make`` returns; free them all afterwards."""
    made = make()
    top = made[-1]
    top.Commit()
    try:
        yield top
    finally:
        for t in made:
            t.Free()


def _chain(first: MPI.Datatype, *steps: Callable[[MPI.Datatype], MPI.Datatype]) -> list:
    made = [first]
    for step in steps:
        made.append(step(made[-1]))
    return made


def _struct_vectors() -> list:
    s = MPI.Datatype.Create_struct([1, 2], [0, 8], [MPI.INT, MPI.DOUBLE])
    return _chain(s, lambda t: t.Create_vector(3, 1, 5), lambda t: t.Create_vector(2, 1, 7))


TEMPI_CASES: dict[str, tuple[Callable[[], list], tuple[int, ...]]] = {
    # count-1 elision must keep the offset of the size-1 dimension (start 5)
    "subarray_1x4x4_at_5_2_2": (
        lambda: [MPI.INT.Create_subarray([8, 8, 8], [1, 4, 4], [5, 2, 2])],
        (1, 2),
    ),
    # sorting dimensions by stride would reorder the bytes
    "hvector_outer_stride_lt_inner": (
        lambda: _chain(MPI.BYTE.Create_hvector(4, 2, 16), lambda t: t.Create_hvector(3, 1, 8)),
        (1, 3),
    ),
    "resized_negative_lb_count3": (
        lambda: _chain(MPI.INT.Create_vector(3, 1, 2), lambda t: t.Create_resized(-8, 40)),
        (3,),
    ),
    # word size must follow the 12-byte stride, not the 8-byte block
    "vector_8B_blocks_12B_stride": (lambda: [MPI.FLOAT.Create_vector(100, 2, 3)], (1, 2)),
    # 1-D types repeat at the extent for incount > 1
    "contiguous_resized_count5": (
        lambda: _chain(MPI.INT.Create_contiguous(3), lambda t: t.Create_resized(0, 16)),
        (5,),
    ),
    "double_int_holes": (lambda: [MPI.DOUBLE_INT.Dup()], (7,)),
    "indexed": (lambda: [MPI.INT.Create_indexed([2, 1, 3], [5, 0, 9])], (1, 4)),
    "struct_in_two_vectors": (_struct_vectors, (1, 2)),
    "negative_stride_vector": (lambda: [MPI.DOUBLE.Create_vector(4, 1, -3)], (2,)),
    "subarray_fortran": (
        lambda: [
            MPI.FLOAT.Create_subarray([6, 5, 4], [2, 3, 2], [1, 1, 1], order=MPI.ORDER_FORTRAN)
        ],
        (1, 2),
    ),
    "four_level_hvector": (
        lambda: _chain(
            MPI.BYTE.Create_hvector(3, 2, 5),
            lambda t: t.Create_hvector(3, 1, 17),
            lambda t: t.Create_hvector(2, 1, 61),
            lambda t: t.Create_hvector(2, 1, 203),
        ),
        (1, 2),
    ),
}


@pytest.mark.parametrize("position", [0, 3])
@pytest.mark.parametrize("misalign", [0, 1, 2, 4])
@pytest.mark.parametrize("name", sorted(TEMPI_CASES))
def test_tempi_failure_cases(name: str, misalign: int, position: int, rng) -> None:
    make, counts = TEMPI_CASES[name]
    with built(make) as datatype:
        for count in counts:
            DeviceCase(datatype, count, rng, misalign, position).run()


@pytest.mark.parametrize(
    "make",
    [
        lambda: _chain(MPI.FLOAT.Create_vector(2, 1, 3), lambda t: t.Create_resized(0, 20)),
        lambda: _chain(MPI.INT.Create_indexed([2, 1], [0, 5]), lambda t: t.Create_resized(0, 32)),
        lambda: [MPI.BYTE.Create_hvector(3, 1, 2)],
    ],
    ids=["strided", "blocklist", "bytes"],
)
def test_incount_beyond_grid_limit(make, rng) -> None:
    with built(make) as datatype:
        DeviceCase(datatype, 70_001, rng, misalign=1, position=5).run()


def _strided(levels: int, block: int, rng: np.random.Generator) -> StridedBlock:
    counts = tuple(int(c) for c in rng.integers(2, 4, levels))
    strides, span = [], block
    for c in counts:
        stride = int(span + rng.integers(0, 5)) * int(rng.choice([1, -1]))
        strides.append(stride)
        span = abs(stride) * c
    return StridedBlock(int(rng.integers(-3, 9)), block, counts, tuple(strides))


HAND_MADE: dict[str, Callable[[np.random.Generator], Descriptor]] = {
    **{
        f"strided_{n}_levels": (lambda rng, n=n: _strided(n, int(rng.integers(1, 34)), rng))
        for n in range(7)
    },
    "strided_aligned_16": lambda rng: StridedBlock(32, 48, (5, 3), (64, 400)),
    "blocklist_flat": lambda rng: blocklist([40, 0, 7, 100], [8, 5, 0, 30]),
    "blocklist_1_level": lambda rng: blocklist([3, 0], [5, 2], (4,), (-50,)),
    "blocklist_2_levels": lambda rng: blocklist([0, 16], [16, 8], (3, 2), (40, 200)),
    "blocklist_3_levels": lambda rng: blocklist([1, 9], [3, 1], (2, 3, 2), (12, 30, -100)),
    "blocklist_long_piece": lambda rng: blocklist(
        [0, 30_000, 20_001], [20_000, 24, 9_000], (2,), (40_000,)
    ),
}


@pytest.mark.parametrize("misalign", [0, 1, 2, 4, 8])
@pytest.mark.parametrize("name", sorted(HAND_MADE))
def test_kernel_variants_match_definition(name: str, misalign: int, cp, rng) -> None:
    desc = HAND_MADE[name](rng)
    index = byte_offsets(desc)
    assert len(index) == desc.nbytes
    origin = 16 - desc.data_lb
    host = rng.integers(0, 256, origin + desc.data_ub + 16, dtype=np.uint8)
    base = cp.zeros(len(host) + misalign, np.uint8)
    typed = base[misalign:]
    typed.set(host)
    packed = cp.zeros(desc.nbytes + 3 + misalign, np.uint8)
    cuda.pack(desc, typed.data.ptr + origin, packed.data.ptr + misalign)
    assert np.array_equal(packed[misalign : misalign + desc.nbytes].get(), host[origin + index])
    if not overlaps(desc):
        target_host = rng.integers(0, 256, len(host), dtype=np.uint8)
        target = cp.asarray(target_host)
        cuda.unpack(desc, packed.data.ptr + misalign, target.data.ptr + origin)
        target_host[origin + index] = host[origin + index]
        assert np.array_equal(target.get(), target_host)


def test_zero_byte_descriptor_touches_nothing(cp) -> None:
    buf = cp.zeros(8, np.uint8)
    cuda.pack(StridedBlock(0, 0), buf.data.ptr, buf.data.ptr + 4)
    cuda.pack(blocklist([0, 4], [0, 0], (3,), (8,)), 0, 0)
    assert not buf.get().any()


def test_stream_argument_and_async(cp, rng) -> None:
    desc = StridedBlock(0, 4, (1000,), (12,))
    host = rng.integers(0, 256, 12_000, dtype=np.uint8)
    typed = cp.asarray(host)
    packed = cp.zeros(desc.nbytes, np.uint8)
    stream = cp.cuda.Stream(non_blocking=True)
    cuda.pack(desc, typed.data.ptr, packed.data.ptr, stream=stream, sync=False)
    stream.synchronize()
    assert np.array_equal(packed.get(), host.reshape(1000, 12)[:, :4].ravel())


def test_word_size_follows_alignment(cp) -> None:
    desc = StridedBlock(0, 16, (4,), (32,))
    buf = cp.zeros(256, np.uint8)
    assert cuda.word_size(desc, buf.data.ptr, buf.data.ptr + 128) == 16
    assert cuda.word_size(desc, buf.data.ptr + 4, buf.data.ptr) == 4
    assert cuda.word_size(StridedBlock(0, 8, (100,), (12,)), buf.data.ptr, buf.data.ptr) == 4


# The wide (8-byte-aligned long rows) and tiny (blocks under 16 bytes in 1-2 byte words)
# kernels of issue 16, against the host packer byte for byte; the plan is checked too, so
# each test runs the kernel it is named for.


def _random_strided(rng: np.random.Generator, word: int, block_words: int) -> StridedBlock:
    levels = int(rng.integers(1, 4))
    counts = tuple(int(c) for c in rng.integers(2, 40 if levels == 1 else 9, levels))
    strides, span = [], block_words * word
    for c in counts:
        stride = (span // word + int(rng.integers(0, 5))) * word
        strides.append(stride * int(rng.choice([1, 1, -1])))
        span = stride * c
    return StridedBlock(int(rng.integers(-5, 9)) * word, block_words * word, counts, tuple(strides))


def _against_host(desc: StridedBlock, typed_mis: int, packed_mis: int, kernel: str, cp, rng):
    """Pack and unpack ``desc`` on the device with the origin ``typed_mis`` and the stream
    ``packed_mis`` bytes off 16; compare with the host packer and check the plan's kernel."""
    origin = 16 * -(-(32 - desc.data_lb) // 16)
    host_typed = rng.integers(0, 256, origin + desc.data_ub + 32, dtype=np.uint8)
    base = cp.zeros(len(host_typed) + 16, np.uint8)
    typed = base[typed_mis : typed_mis + len(host_typed)]
    typed.set(host_typed)
    stream = cp.zeros(desc.nbytes + 48, np.uint8)
    typed_ptr, packed_ptr = typed.data.ptr + origin, stream.data.ptr + packed_mis
    ws = cuda.word_size(desc, typed_ptr, packed_ptr)
    assert cuda.plan(desc, ws, 132).name.startswith(kernel), (ws, desc)
    expected = np.zeros(desc.nbytes, np.uint8)
    host.pack(desc, as_buffer(host_typed, writable=False), origin,
              as_buffer(expected, writable=True), 0)  # fmt: skip
    cuda.pack(desc, typed_ptr, packed_ptr)
    got = stream.get()
    assert np.array_equal(got[packed_mis : packed_mis + desc.nbytes], expected), desc
    assert not got[:packed_mis].any() and not got[packed_mis + desc.nbytes :].any()
    if overlaps(desc):
        return
    target_host = rng.integers(0, 256, len(host_typed), dtype=np.uint8)
    target_base = cp.zeros(len(host_typed) + 16, np.uint8)
    target = target_base[typed_mis : typed_mis + len(host_typed)]
    target.set(target_host)
    cuda.unpack(desc, packed_ptr, target.data.ptr + origin)
    host.unpack(desc, as_buffer(expected, writable=False), 0,
                as_buffer(target_host, writable=True), origin)  # fmt: skip
    assert np.array_equal(target.get(), target_host), desc


@pytest.mark.parametrize("seed", range(40))
def test_wide_rows_match_host_packer(seed: int, cp) -> None:
    rng = np.random.default_rng(16_000 + seed)
    desc = _random_strided(rng, 8, int(rng.integers(16, 700)))
    mis = [int(x) for x in rng.choice([0, 8], 2)]
    if desc.alignment() % 16 == 0 and mis == [0, 0]:
        mis[seed % 2] = 8
    _against_host(desc, mis[0], mis[1], "tempi_strided_wide<", cp, rng)


@pytest.mark.parametrize("incount", [1, 2])
@pytest.mark.parametrize("packed_mis", [0, 8])
def test_wide_interior_of_a_float64_grid(incount: int, packed_mis: int, cp, rng) -> None:
    """The interior of a 96^3 float64 grid (rows 8 bytes off 16), as MPI describes it."""
    with built(lambda: [MPI.DOUBLE.Create_subarray([96] * 3, [94] * 3, [1] * 3)]) as datatype:
        desc = tempi.describe(datatype).repeat(incount)
        _against_host(desc, 0, packed_mis, "tempi_strided_wide<", cp, rng)


@pytest.mark.parametrize("seed", range(40))
def test_tiny_blocks_match_host_packer(seed: int, cp) -> None:
    rng = np.random.default_rng(17_000 + seed)
    word = int(rng.choice([1, 2]))
    desc = _random_strided(rng, word, int(rng.integers(1, 16 // word)))
    mis = [int(x) for x in rng.integers(0, 4, 2) // word * word]
    if desc.alignment() % 4 == 0 and mis == [0, 0]:
        mis[seed % 2] = word
    _against_host(desc, mis[0], mis[1], "tempi_strided_tiny<", cp, rng)


@pytest.mark.parametrize("packed_mis", [0, 1, 2, 3])
def test_tiny_three_byte_halo(packed_mis: int, cp, rng) -> None:
    """The z-face of a 256^3 byte grid (3-byte blocks), the shape of the benchmark's halo."""
    make = lambda: [MPI.BYTE.Create_subarray([256] * 3, [128, 128, 3], [4, 4, 4])]  # noqa: E731
    with built(make) as datatype:
        _against_host(tempi.describe(datatype), 0, packed_mis, "tempi_strided_tiny<", cp, rng)


@pytest.mark.parametrize("incount", [1, 2])
@pytest.mark.parametrize("block", [1, 2])
def test_tiny_one_and_two_byte_unpack(block: int, incount: int, cp, rng) -> None:
    """TEMPI's grid (blocks at a 512-byte stride, 16 KiB of data): unpack leaves the holes."""
    with built(lambda: [MPI.BYTE.Create_hvector(16384 // block, block, 512)]) as datatype:
        desc = tempi.describe(datatype).repeat(incount)
        _against_host(desc, 0, 0, "tempi_strided_tiny<", cp, rng)
