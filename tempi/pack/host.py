"""Host packers: numba loops over 1-, 2-, 4- or 8-byte words.

numba does not vectorise loops over bytes (0.15-0.9 GB/s measured) but reaches 5-9 GB/s
over 8-byte words, so every call picks the widest word dividing all addresses, offsets,
strides and block lengths. One kernel per descriptor kind serves both directions
(``to_packed`` chooses which side is written).
"""

from __future__ import annotations

import numba
import numpy as np

from tempi.datatype.descriptor import BlockList, Descriptor, StridedBlock, remembered
from tempi.pack.buffers import Buffer

_WORDS = {8: np.uint64, 4: np.uint32, 2: np.uint16, 1: np.uint8}


_SLICE_WORDS = 32  # from this block length on, a slice copy beats the word loop


@numba.njit(cache=True, nogil=True, inline="always")
def _copy(typed, packed, t, p, n, to_packed):
    if n >= _SLICE_WORDS:
        if to_packed:
            packed[p : p + n] = typed[t : t + n]
        else:
            typed[t : t + n] = packed[p : p + n]
    elif to_packed:
        for k in range(n):
            packed[p + k] = typed[t + k]
    else:
        for k in range(n):
            typed[t + k] = packed[p + k]


@numba.njit(cache=True, nogil=True)
def _strided(typed, packed, start, block, counts, strides, to_packed):
    """Copy blocks of ``block`` words between ``typed`` (at start + Σ i_k strides_k) and the
    dense ``packed`` array, innermost level fastest. The outer levels' indices come from
    the outer counter (no index array: numba would allocate it at every call, a malloc and
    a free per message in the C engine's steady state)."""
    ndim = counts.shape[0]
    if ndim == 0:
        _copy(typed, packed, start, 0, block, to_packed)
        return
    c0, s0 = counts[0], strides[0]
    c1, s1 = (counts[1], strides[1]) if ndim > 1 else (1, 0)
    outer = 1
    for k in range(2, ndim):
        outer *= counts[k]
    p = 0
    for o in range(outer):
        base, rest = start, o
        for k in range(2, ndim):
            base += (rest % counts[k]) * strides[k]
            rest //= counts[k]
        for i1 in range(c1):
            t = base + i1 * s1
            for _i0 in range(c0):
                _copy(typed, packed, t, p, block, to_packed)
                t += s0
                p += block


@numba.njit(cache=True, nogil=True)
def _blocklist(typed, packed, offsets, lengths, counts, strides, to_packed):
    """Copy the pieces (offsets, lengths) in order, the list repeated by strided levels
    (their indices from the outer counter, as in _strided)."""
    ndim = counts.shape[0]
    outer = 1
    for k in range(ndim):
        outer *= counts[k]
    p = 0
    for o in range(outer):
        base, rest = 0, o
        for k in range(ndim):
            base += (rest % counts[k]) * strides[k]
            rest //= counts[k]
        for j in range(offsets.shape[0]):
            _copy(typed, packed, base + offsets[j], p, lengths[j], to_packed)
            p += lengths[j]


def word_size(desc: Descriptor, *addresses: int) -> int:
    """Widest word (8, 4, 2 or 1 bytes) dividing the descriptor and every address: the
    lowest set bit of them all (powers of two divide a gcd exactly when they divide each)."""
    bits = desc.alignment()
    for address in addresses:
        bits |= address
    bits &= 7
    return 8 if bits == 0 else bits & -bits


def _transfer(
    desc: Descriptor,
    typed_buf: Buffer,
    origin: int,
    packed_buf: Buffer,
    position: int,
    to_packed: bool,
) -> None:
    nbytes = desc.nbytes
    if nbytes == 0:
        return
    typed, packed = typed_buf.host, packed_buf.host
    lo = origin + desc.data_lb
    if desc.is_contiguous:
        run, dense = typed[lo : lo + nbytes], packed[position : position + nbytes]
        np.copyto(*((dense, run) if to_packed else (run, dense)))
        return
    w = word_size(desc, typed_buf.ptr + lo, packed_buf.ptr + position)
    typed_w = typed[lo : origin + desc.data_ub].view(_WORDS[w])
    packed_w = packed[position : position + nbytes].view(_WORDS[w])
    kernel, args = remembered(desc, "_host_plans", w, lambda w: _plan(desc, w))
    kernel(typed_w, packed_w, *args, to_packed)


def _plan(desc: Descriptor, w: int) -> tuple:
    """The kernel and its word-unit arguments (offsets relative to ``data_lb``)."""
    counts = np.asarray(desc.counts, np.int64)
    strides = np.asarray(desc.strides, np.int64) // w
    if isinstance(desc, StridedBlock):
        return _strided, ((desc.start - desc.data_lb) // w, desc.block // w, counts, strides)
    if isinstance(desc, BlockList):
        offsets = (desc.offsets - desc.data_lb) // w
        return _blocklist, (offsets, desc.lengths // w, counts, strides)
    raise TypeError(f"not a descriptor: {desc!r}")


def pack(desc: Descriptor, typed: Buffer, origin: int, packed: Buffer, position: int) -> None:
    """Gather ``desc`` (already repeated for the count) from the host buffer ``typed``,
    whose byte ``origin`` is the MPI origin, into ``packed`` at ``position``. Bounds are
    the caller's to check."""
    _transfer(desc, typed, origin, packed, position, True)


def unpack(desc: Descriptor, packed: Buffer, position: int, typed: Buffer, origin: int) -> None:
    """Scatter ``packed`` from ``position`` into ``typed`` laid out as ``desc``."""
    _transfer(desc, typed, origin, packed, position, False)


def warm_up() -> None:
    """Compile (or load from numba's cache) every kernel signature that :func:`pack` and
    :func:`unpack` use, so that no later call compiles: compiling imports numba's modules,
    which a host program may have hidden by then (``sys.modules["numba"] = None``)."""
    levels = np.ones(1, np.int64)
    for word in _WORDS.values():
        typed, packed = np.zeros(2, word), np.zeros(2, word)
        for to_packed in (True, False):
            _strided(typed, packed, 0, 1, levels, levels, to_packed)
            _blocklist(typed, packed, levels * 0, levels, levels, levels, to_packed)
