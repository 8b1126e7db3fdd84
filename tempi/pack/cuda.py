"""CUDA packer: pack and unpack canonical descriptors with the kernels of ``native/pack.cu``.

The kernels are compiled once per process and device by CuPy (NVRTC), one template per
word size. Each call picks the widest word (16, 8, 4, 2 or 1 bytes) that divides both
addresses and every offset, length and stride of the descriptor, so misaligned bases
stay correct and aligned ones move 16 bytes per access. That word is the only alignment
rule; :func:`plan` then picks the kernel: strided rows of at least 128 bytes in 8-byte
words go to ``tempi_strided_wide`` (a 16-byte body between 8-byte edges, cut per row
where the destination is 16-aligned), blocks of at most 15 bytes in 1- or 2-byte words to
``tempi_strided_tiny`` (threads walk the packed stream in aligned 4-byte units), the rest
to the row kernels.

Everything that depends only on the descriptor (word-unit arguments, grid, the device
copy of a block list's pieces) is computed on first use and cached by the descriptor's
identity (the piece table by its arrays', which ``repeat`` shares), so a steady-state
call is a dictionary lookup, one kernel launch and, unless ``sync=False``, a stream
synchronize. A single contiguous block is a ``cudaMemcpyAsync`` instead (the
copy engine, and less launch cost). Addresses are plain integers that the device can
dereference: device or managed memory, or mapped pinned host memory (one-shot packing
writes through the mapping). The caller has already checked bounds and folded the
position and ``incount`` in.

This is the only module that imports CuPy, and only inside functions, so importing it
on a machine without CuPy works.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np

from tempi._native import native_dir
from tempi.datatype.descriptor import BlockList, Descriptor, StridedBlock, evict_oldest
from tempi.errors import KernelCompileError, UnsupportedDatatype

WORD_TYPES: dict[int, str] = {
    1: "unsigned char",
    2: "unsigned short",
    4: "unsigned int",
    8: "unsigned long long",
    16: "uint4",
}
"""CUDA type moved per access, by word size in bytes."""

MAX_LEVELS = 16
"""Strided levels the kernels take by value (``TEMPI_MAX_LEVELS`` in ``pack.cuh``)."""

_LEVELS_DTYPE = np.dtype(
    [("n", "<i8"), ("count", "<i8", (MAX_LEVELS,)), ("stride", "<i8", (MAX_LEVELS,))],
    align=True,
)
# The argument structs of pack.cuh, field for field (all 8 bytes: no padding).
_STRIDED_HEAD = [("start", "<i8"), ("block", "<u8"), ("nblocks", "<u8")]
_BLOCKLIST_HEAD = [("pieces", "<u8"), ("npieces", "<u8"), ("list", "<u8"), ("nrows", "<u8")]
_STRIDED = np.dtype(
    _STRIDED_HEAD + [("c0", "<u8"), ("c1", "<u8"), ("s0", "<i8"), ("s1", "<i8"), ("s2", "<i8")],
    align=True,
)
_STRIDED_N = np.dtype(_STRIDED_HEAD + [("lv", _LEVELS_DTYPE)], align=True)
_BLOCKLIST = np.dtype(_BLOCKLIST_HEAD + [("s0", "<i8")], align=True)
_BLOCKLIST_N = np.dtype(_BLOCKLIST_HEAD + [("lv", _LEVELS_DTYPE)], align=True)
_CHUNK_B = 8192  # block-list pieces are split to at most this many bytes (a multiple of 16)
_WIDE_WORD = 8  # rows moved in words of this size go through tempi_strided_wide ...
_WIDE_MIN_B = 128  # ... when they are at least this long
_TINY_WORDS = (1, 2)  # blocks moved in words of these sizes go through tempi_strided_tiny ...
_TINY_MAX_B = 15  # ... when they are at most this long
_THREADS = 256  # threads per CUDA block
_BLOCKS_PER_SM = 32  # cap on resident-ish CUDA blocks: grid-stride loops do the rest
_CACHE_SIZE = 512
_KINDS = {0: "pageable", 1: "pinned", 2: "device", 3: "managed"}
_UNPACK = (np.int32(0), np.int32(1))
_MEMCPY_DEFAULT = 4  # cudaMemcpyDefault: direction inferred from the addresses (UVA)


def kernel_names() -> tuple[str, ...]:
    """Every template instantiation of ``pack.cu`` (CuPy name expressions)."""
    names = []
    for word in WORD_TYPES.values():
        names += [f"tempi_strided<{word}, {n}>" for n in range(4)]
        names += [f"tempi_strided_n<{word}>"]
        names += [f"tempi_blocklist<{word}, {n}>" for n in range(2)]
        names += [f"tempi_blocklist_n<{word}>"]
    names += [f"tempi_strided_wide<{n}>" for n in range(1, 4)]
    for ws in _TINY_WORDS:
        names += [f"tempi_strided_tiny<{WORD_TYPES[ws]}, {n}>" for n in range(1, 4)]
    return tuple(names)


def source() -> tuple[str, tuple[str, ...]]:
    """The kernel source and NVRTC options.

    The header's hash goes into the options because CuPy's disk cache keys on source
    and options only, not on included files.
    """
    folder = native_dir()
    text = (folder / "pack.cu").read_text()
    header = hashlib.sha1((folder / "pack.cuh").read_bytes()).hexdigest()[:16]
    return text, ("-std=c++17", f"-I{folder}", f"-DTEMPI_PACK_CUH_SHA=0x{header}")


@cache
def cuda_available() -> bool:
    """True when CuPy imports and sees at least one device; never raises."""
    try:
        import cupy

        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


@cache
def get_module(code: str, options: tuple[str, ...], device: int) -> Any:
    """The compiled ``cupy.RawModule`` for ``code`` on ``device`` (memoized).

    Raises :class:`KernelCompileError` with the source and options when NVRTC fails.
    """
    import cupy

    with cupy.cuda.Device(device):
        module = cupy.RawModule(code=code, options=options, name_expressions=kernel_names())
        try:
            module.compile()
        except cupy.cuda.compiler.CompileException as exc:
            raise KernelCompileError(f"pack.cu failed to compile: {exc}", code, options) from exc
    return module


@cache
def _kernel(name: str, device: int) -> Any:
    code, options = source()
    return get_module(code, options, device).get_function(name)


@cache
def _sm_count(device: int) -> int:
    import cupy

    return int(cupy.cuda.runtime.getDeviceProperties(device)["multiProcessorCount"])


def memory_kind(ptr: int) -> str:
    """'device', 'managed', 'pinned' or 'pageable': where ``ptr`` points, per CUDA."""
    import cupy

    try:
        attrs = cupy.cuda.runtime.pointerGetAttributes(ptr)
    except cupy.cuda.runtime.CUDARuntimeError:
        return "pageable"
    return _KINDS.get(int(attrs.type), "pageable")


def word_size(desc: Descriptor, *ptrs: int) -> int:
    """Largest of 16, 8, 4, 2, 1 dividing every address in ``ptrs`` and the descriptor."""
    return _word(_entry(desc).align, *ptrs)


def pack(
    desc: Descriptor, src_ptr: int, dst_ptr: int, *, stream: Any = None, sync: bool = True
) -> None:
    """Pack ``desc`` from the typed data whose MPI origin is ``src_ptr`` to ``dst_ptr``.

    ``dst_ptr`` may be device memory or mapped pinned host memory (one-shot).
    ``stream``: a ``cupy.cuda.Stream``, default the current one; it is synchronized
    before returning unless ``sync`` is false.
    """
    _run(desc, src_ptr, dst_ptr, 0, stream, sync)


def unpack(
    desc: Descriptor, src_ptr: int, dst_ptr: int, *, stream: Any = None, sync: bool = True
) -> None:
    """Unpack the packed bytes at ``src_ptr`` into typed data whose origin is ``dst_ptr``."""
    _run(desc, dst_ptr, src_ptr, 1, stream, sync)


def copy(dst_ptr: int, src_ptr: int, nbytes: int, *, stream: Any = None) -> None:
    """Copy ``nbytes`` between any two addresses CUDA knows (cudaMemcpyDefault), synchronously."""
    import cupy

    if nbytes == 0:
        return
    if stream is None:
        stream = cupy.cuda.get_current_stream()
    cupy.cuda.runtime.memcpyAsync(dst_ptr, src_ptr, nbytes, _MEMCPY_DEFAULT, stream.ptr)
    stream.synchronize()


def device_empty(nbytes: int) -> Any:
    """An uninitialised ``cupy`` uint8 array of ``nbytes`` on the current device."""
    import cupy

    return cupy.empty(nbytes, dtype=cupy.uint8)


@dataclass
class _Entry:
    """What a descriptor needs on the device, computed once."""

    desc: Descriptor
    nbytes: int
    align: int
    launches: dict[tuple[int, int], _Launch] = field(default_factory=dict)


@dataclass(frozen=True)
class _Launch:
    kernel: Any  # None: one contiguous block, copied with cudaMemcpyAsync
    grid: tuple[int, int, int]
    block: tuple[int, int, int]
    args: Any  # the kernel's args struct; for a memcpy, the block's start offset
    keep: Any = None  # device data the arguments point to


_entries: dict[Any, _Entry] = {}
_pieces: dict[tuple[int, int, int], tuple[BlockList, Any]] = {}


def _word(align: int, *ptrs: int) -> int:
    bits = align
    for ptr in ptrs:
        bits |= ptr
    bits &= 15
    return 16 if bits == 0 else bits & -bits


def _entry(desc: Descriptor) -> _Entry:
    """The cached plan of ``desc``, keyed by identity: descriptors come from the datatype
    cache and ``repeat`` memoizes, so a steady stream of calls sees the same object (and
    the entry keeps it alive, so the id cannot be reused while cached)."""
    key = id(desc)
    entry = _entries.get(key)
    if entry is not None:
        return entry
    _bounded(_entries)
    entry = _entries[key] = _Entry(desc, desc.nbytes, desc.alignment())
    return entry


def _bounded(cache: dict) -> None:
    if len(cache) >= _CACHE_SIZE:
        evict_oldest(cache)


def _run(desc: Descriptor, typed: int, packed: int, unpack: int, stream: Any, sync: bool) -> None:
    entry = _entry(desc)
    if entry.nbytes == 0:
        return
    import cupy

    device = cupy.cuda.runtime.getDevice()
    ws = _word(entry.align, typed, packed)
    launch = entry.launches.get((ws, device))
    if launch is None:
        launch = entry.launches[(ws, device)] = _plan(entry, ws, device)
    if stream is None:
        stream = cupy.cuda.get_current_stream()
    if launch.kernel is None:  # one contiguous block: the copy engine's memcpy
        start = typed + launch.args
        dst, src = (start, packed) if unpack else (packed, start)
        cupy.cuda.runtime.memcpyAsync(dst, src, entry.nbytes, _MEMCPY_DEFAULT, stream.ptr)
        if sync:
            stream.synchronize()
        return
    args = (np.uint64(typed), np.uint64(packed), _UNPACK[unpack], launch.args)
    launch.kernel(launch.grid, launch.block, args, stream=stream)
    if sync:
        stream.synchronize()


def _plan(entry: _Entry, ws: int, device: int) -> _Launch:
    desc, keep, pieces = entry.desc, None, (0, 0)
    if isinstance(desc, BlockList):
        keep = _device_pieces(desc, device)
        pieces = (keep.data.ptr, len(keep) // 3)
    chosen = plan(desc, ws, _sm_count(device), pieces)
    kernel = _kernel(chosen.name, device) if chosen.name else None
    return _Launch(kernel, chosen.grid, chosen.block, chosen.args, keep)


@dataclass(frozen=True)
class Plan:
    """One launch, decided without a device: the kernel's name expression (None: one
    contiguous block, copied with ``cudaMemcpyAsync``; ``args`` is then its start offset),
    the grid and block shapes, and the argument struct."""

    name: str | None
    grid: tuple[int, int, int]
    block: tuple[int, int, int]
    args: Any


def plan(desc: Descriptor, ws: int, sms: int, pieces: tuple[int, int] = (0, 0)) -> Plan:
    """How ``desc`` moves in words of ``ws`` bytes (``ws`` from :func:`word_size`, the one
    rule on alignment) on a device with ``sms`` multiprocessors. ``pieces``: address and
    row count of a block list's :func:`piece_table` where the kernel will read it."""
    if isinstance(desc, StridedBlock):
        return _plan_strided(desc, ws, sms)
    return _plan_blocklist(desc, ws, sms, pieces)


def _plan_strided(desc: StridedBlock, ws: int, sms: int) -> Plan:
    n = len(desc.counts)
    if n == 0:
        return Plan(None, (1, 1, 1), (1, 1, 1), desc.start)
    strides = [s // ws for s in desc.strides]
    nblocks = math.prod(desc.counts)
    block = desc.block // ws
    head = {"start": desc.start // ws, "block": block, "nblocks": nblocks}
    if n > 3:
        name = f"tempi_strided_n<{WORD_TYPES[ws]}>"
        args = _struct(_STRIDED_N, **head, lv=_levels(desc.counts, strides))
        return Plan(name, *launch_shape(nblocks, block, sms), args)
    counts = list(desc.counts[:2]) + [1] * (2 - min(n, 2))
    strides += [0] * (3 - n)
    args = _struct(
        _STRIDED, **head, c0=counts[0], c1=counts[1], s0=strides[0], s1=strides[1], s2=strides[2]
    )
    if ws == _WIDE_WORD and desc.block >= _WIDE_MIN_B:
        # x over the row's 16-byte units (the 8-byte edges ride on the first threads)
        return Plan(f"tempi_strided_wide<{n}>", *launch_shape(nblocks, desc.block // 16, sms), args)
    if ws in _TINY_WORDS and desc.block <= _TINY_MAX_B:
        # one row: the packed stream, in 4-byte units
        name = f"tempi_strided_tiny<{WORD_TYPES[ws]}, {n}>"
        return Plan(name, *launch_shape(1, max(1, desc.nbytes // 4), sms), args)
    name = f"tempi_strided<{WORD_TYPES[ws]}, {n}>"
    return Plan(name, *launch_shape(nblocks, block, sms), args)


def _plan_blocklist(desc: BlockList, ws: int, sms: int, pieces: tuple[int, int]) -> Plan:
    address, npieces = pieces
    n = len(desc.counts)
    nouter = math.prod(desc.counts)
    list_w = int(desc.lengths.sum()) // ws
    strides = [s // ws for s in desc.strides]
    head = {"pieces": address, "npieces": npieces, "list": list_w, "nrows": nouter * npieces}
    if n <= 1:
        name = f"tempi_blocklist<{WORD_TYPES[ws]}, {n}>"
        args = _struct(_BLOCKLIST, **head, s0=strides[0] if n else 0)
    else:
        name = f"tempi_blocklist_n<{WORD_TYPES[ws]}>"
        args = _struct(_BLOCKLIST_N, **head, lv=_levels(desc.counts, strides))
    shape = launch_shape(nouter * npieces, max(1, list_w // max(1, npieces)), sms)
    return Plan(name, *shape, args)


def _struct(dtype: np.dtype, **fields: Any) -> Any:
    """A NumPy structured scalar that CuPy passes by value as the kernel's args struct."""
    value = np.zeros((), dtype=dtype)
    for name, field_value in fields.items():
        value[name] = field_value
    return value[()]


def _device_pieces(desc: BlockList, device: int) -> Any:
    """The piece table on ``device``, shared by every repetition of the same pieces."""
    import cupy

    key = (id(desc.offsets), id(desc.lengths), device)
    cached = _pieces.get(key)
    if cached is None:
        with cupy.cuda.Device(device):
            table = cupy.asarray(piece_table(desc).ravel())
        _bounded(_pieces)
        cached = _pieces[key] = (desc, table)
    return cached[1]


def piece_table(desc: BlockList, chunk_b: int = _CHUNK_B) -> np.ndarray:
    """Rows (offset, length, packed position) in bytes, pieces split to ``chunk_b``.

    Positions are the prefix sums of the lengths (one list's packed stream). Zero-length
    pieces are dropped; splitting bounds a row's work when piece lengths are skewed.
    ``chunk_b`` must be a multiple of 16 so that splitting keeps every word size valid.
    """
    lengths = desc.lengths
    positions = np.cumsum(lengths) - lengths
    keep = lengths > 0
    offsets, lengths, positions = desc.offsets[keep], lengths[keep], positions[keep]
    chunks = (lengths + chunk_b - 1) // chunk_b
    first = np.repeat(np.cumsum(chunks) - chunks, chunks)
    skip = (np.arange(int(chunks.sum()), dtype=np.int64) - first) * chunk_b
    table = np.empty((len(skip), 3), dtype=np.int64)
    table[:, 0] = np.repeat(offsets, chunks) + skip
    table[:, 1] = np.minimum(np.repeat(lengths, chunks) - skip, chunk_b)
    table[:, 2] = np.repeat(positions, chunks) + skip
    return table


def _levels(counts: tuple[int, ...], strides: list[int]) -> Any:
    if len(counts) > MAX_LEVELS:
        raise UnsupportedDatatype(f"{len(counts)} strided levels; the kernels take {MAX_LEVELS}")
    levels = np.zeros((), dtype=_LEVELS_DTYPE)
    levels["n"] = len(counts)
    levels["count"][: len(counts)] = counts
    levels["stride"][: len(counts)] = strides
    return levels[()]


def launch_shape(
    rows: int, row_words: int, sms: int
) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """(grid, block) for ``rows`` rows of ``row_words`` words: x over words, y over rows.

    x gets the power of two covering a row (≤ 256 threads), y the rest of the block; the
    grid covers the work without over-launching small objects and is capped at
    32 blocks per SM (and 65535 in y); the kernels' grid-stride loops cover the rest.
    """
    bx = min(_THREADS, 1 << max(0, row_words - 1).bit_length())
    by = max(1, min(_THREADS // bx, rows))
    cap = _BLOCKS_PER_SM * sms
    gy = min(-(-rows // by), 65535, cap)
    gx = max(1, min(-(-row_words // bx), cap // gy))
    return (gx, gy, 1), (bx, by, 1)
