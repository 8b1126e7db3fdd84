"""Canonical descriptors: what every packer consumes.

A descriptor lists the bytes of one element of a datatype, relative to the MPI origin
(the address the application passes to MPI), in MPI typemap order:

* :class:`StridedBlock` -- ``block`` contiguous bytes at ``start``, repeated by levels
  ``(counts[i], strides[i])``, innermost first. Block ``(i0, i1, ...)`` sits at
  ``start + i0*strides[0] + i1*strides[1] + ...`` and the packed stream visits ``i0``
  fastest.
* :class:`BlockList` -- irregular pieces ``(offsets[j], lengths[j])`` visited in order,
  the whole list repeated by the same kind of strided levels.

``size``, ``lb`` and ``extent`` are those of the MPI datatype (``size`` = packed bytes).
:meth:`repeat` gives the layout of ``count`` consecutive elements (spaced by the extent),
which is what MPI_Pack with ``incount = count`` reads.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from functools import cached_property, reduce
from typing import Any

import numpy as np


def _span(counts: tuple[int, ...], strides: tuple[int, ...]) -> tuple[int, int]:
    """Lowest and highest displacement reached by the strided levels."""
    lo = hi = 0
    for count, stride in zip(counts, strides):
        reach = (count - 1) * stride
        lo += min(0, reach)
        hi += max(0, reach)
    return lo, hi


def add_level(
    counts: tuple[int, ...], strides: tuple[int, ...], count: int, stride: int, inner_b: int
) -> tuple[int, tuple[int, ...], tuple[int, ...]]:
    """Append an outer level ``(count, stride)`` and simplify.

    ``inner_b`` is the contiguous block length when ``counts`` is empty (so a repetition
    whose stride equals the block folds into a longer block), else 0. Returns
    ``(block_factor, counts, strides)``: the block is multiplied by ``block_factor``.
    Rules (never reordering): count 1 vanishes; stride == block with no levels folds;
    outer stride == inner count * inner stride merges the two levels.
    """
    if count == 1:
        return 1, counts, strides
    if not counts and inner_b and stride == inner_b:
        return count, counts, strides
    if counts and stride == counts[-1] * strides[-1]:
        return 1, counts[:-1] + (counts[-1] * count,), strides
    return 1, counts + (count,), strides + (stride,)


_REMEMBERED = 8


def remembered(desc: Any, table: str, key: Any, make: Any) -> Any:
    """``make(key)``, memoized in the descriptor's small table ``table`` (oldest entry
    dropped): what a backend derives from an immutable descriptor is derived once."""
    entries = desc.__dict__.setdefault(table, {})
    found = entries.get(key)
    if found is None:
        if len(entries) >= _REMEMBERED:
            evict_oldest(entries)
        found = entries[key] = make(key)
    return found


def evict_oldest(entries: dict) -> None:
    """Drop the first-inserted entry; another thread may be evicting at the same time."""
    try:
        entries.pop(next(iter(entries)), None)
    except StopIteration:
        pass


@dataclass(frozen=True, repr=False)
class StridedBlock:
    """``block`` bytes at ``start``, repeated by ``(count, stride)`` levels, innermost first."""

    start: int
    block: int
    counts: tuple[int, ...] = ()
    strides: tuple[int, ...] = ()
    size: int = 0
    lb: int = 0
    extent: int = 0

    @property
    def ndim(self) -> int:
        return len(self.counts)

    @cached_property
    def num_blocks(self) -> int:
        return math.prod(self.counts) if self.block else 0

    @cached_property
    def nbytes(self) -> int:
        """Bytes of data (= packed bytes) in this layout."""
        return self.block * math.prod(self.counts)

    @property
    def is_contiguous(self) -> bool:
        return not self.counts

    @cached_property
    def data_lb(self) -> int:
        """Lowest byte offset read or written, relative to the origin."""
        return self.start + _span(self.counts, self.strides)[0] if self.nbytes else 0

    @cached_property
    def data_ub(self) -> int:
        """One past the highest byte offset read or written, relative to the origin."""
        return self.start + _span(self.counts, self.strides)[1] + self.block if self.nbytes else 0

    def alignment(self) -> int:
        """gcd of start, block and strides: every block address is a multiple of it."""
        return remembered(
            self,
            "_alignments",
            None,
            lambda _: reduce(math.gcd, (self.start, self.block, *self.strides), 0),
        )

    def repeat(self, count: int) -> StridedBlock:
        """Layout of ``count`` elements spaced by the extent (MPI's incount); the last few
        are remembered, so a steady stream of calls reuses one object."""
        if count == 1:
            return self
        return remembered(self, "_repeats", count, self._repeat)

    def _repeat(self, count: int) -> StridedBlock:
        if count == 0 or self.nbytes == 0:
            return StridedBlock(0, 0, size=0, lb=self.lb, extent=self.extent * count)
        factor, counts, strides = add_level(
            self.counts, self.strides, count, self.extent, 0 if self.counts else self.block
        )
        return StridedBlock(
            self.start,
            self.block * factor,
            counts,
            strides,
            self.size * count,
            self.lb,
            self.extent * count,
        )

    def __repr__(self) -> str:
        return (
            f"StridedBlock(start={self.start}, block={self.block}, counts={self.counts}, "
            f"strides={self.strides}, size={self.size}, lb={self.lb}, extent={self.extent})"
        )


@dataclass(frozen=True, repr=False, eq=False)
class BlockList:
    """Irregular pieces ``(offsets[j], lengths[j])`` in order, repeated by strided levels."""

    offsets: np.ndarray
    lengths: np.ndarray
    counts: tuple[int, ...] = ()
    strides: tuple[int, ...] = ()
    size: int = 0
    lb: int = 0
    extent: int = 0
    _bounds: tuple[int, int] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        offsets = np.ascontiguousarray(self.offsets, dtype=np.int64)
        lengths = np.ascontiguousarray(self.lengths, dtype=np.int64)
        offsets.flags.writeable = False
        lengths.flags.writeable = False
        object.__setattr__(self, "offsets", offsets)
        object.__setattr__(self, "lengths", lengths)
        lo, hi = _span(self.counts, self.strides)
        if lengths.sum() and math.prod(self.counts):
            bounds = (int(offsets.min()) + lo, int((offsets + lengths).max()) + hi)
        else:
            bounds = (0, 0)
        object.__setattr__(self, "_bounds", bounds)

    @property
    def ndim(self) -> int:
        return len(self.counts)

    @cached_property
    def num_blocks(self) -> int:
        return len(self.offsets) * math.prod(self.counts)

    @cached_property
    def nbytes(self) -> int:
        return int(self.lengths.sum()) * math.prod(self.counts)

    @property
    def is_contiguous(self) -> bool:
        return False

    @property
    def data_lb(self) -> int:
        return self._bounds[0]

    @property
    def data_ub(self) -> int:
        return self._bounds[1]

    def alignment(self) -> int:
        """gcd of every offset, length and stride."""
        return remembered(self, "_alignments", None, lambda _: self._alignment())

    def _alignment(self) -> int:
        pieces = (
            np.gcd.reduce(np.concatenate([self.offsets, self.lengths])) if len(self.offsets) else 0
        )
        return reduce(math.gcd, self.strides, int(pieces))

    def repeat(self, count: int) -> BlockList:
        """As :meth:`StridedBlock.repeat`; the piece arrays are shared."""
        if count == 1:
            return self
        return remembered(self, "_repeats", count, self._repeat)

    def _repeat(self, count: int) -> BlockList:
        _, counts, strides = add_level(self.counts, self.strides, count, self.extent, 0)
        return BlockList(
            self.offsets,
            self.lengths,
            counts,
            strides,
            self.size * count,
            self.lb,
            self.extent * count,
        )

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, BlockList)
            and np.array_equal(self.offsets, other.offsets)
            and np.array_equal(self.lengths, other.lengths)
            and (self.counts, self.strides, self.size, self.lb, self.extent)
            == (other.counts, other.strides, other.size, other.lb, other.extent)
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        def show(a: np.ndarray) -> str:
            items = a[:6].tolist()
            return f"({', '.join(map(str, items))}{', ...' if len(a) > 6 else ''})"

        return (
            f"BlockList(pieces={len(self.offsets)}, offsets={show(self.offsets)}, "
            f"lengths={show(self.lengths)}, counts={self.counts}, strides={self.strides}, "
            f"size={self.size}, lb={self.lb}, extent={self.extent})"
        )


Descriptor = StridedBlock | BlockList


def blocks(desc: Descriptor) -> tuple[np.ndarray, np.ndarray]:
    """Every contiguous block as (offsets, lengths), in packed order (flattens the levels)."""
    if isinstance(desc, StridedBlock):
        offsets, lengths = np.array([desc.start], np.int64), np.array([desc.block], np.int64)
    else:
        offsets, lengths = desc.offsets, desc.lengths
    for count, stride in zip(desc.counts, desc.strides):
        shifts = np.arange(count, dtype=np.int64) * stride
        offsets = (shifts[:, None] + offsets[None, :]).ravel()
        lengths = np.tile(lengths, count)
    return offsets, lengths


def prefix_parts(desc: Descriptor, nbytes: int) -> list[tuple[Descriptor, int, int]]:
    """The layout of the first ``nbytes`` packed bytes of ``desc`` (a short receive fills
    only those) as parts ``(descriptor, packed offset, typed shift)``. The whole
    repetitions of the outermost level stay one strided part and only the partial one
    recurses, so a receive of 2^31 elements that gets 5 costs its levels, not 2^31 blocks."""
    if nbytes >= desc.nbytes:
        return [(desc, 0, 0)]
    if nbytes <= 0:
        return []
    if not desc.counts:
        return [(prefix(desc, nbytes), 0, 0)]
    inner = replace(desc, counts=desc.counts[:-1], strides=desc.strides[:-1])
    full, rest = divmod(nbytes, inner.nbytes)
    parts = []
    if full:
        parts.append((replace(desc, counts=desc.counts[:-1] + (full,)), 0, 0))
    shift = full * desc.strides[-1]
    skip = full * inner.nbytes
    parts += [(d, p + skip, t + shift) for d, p, t in prefix_parts(inner, rest)]
    return parts


def prefix(desc: Descriptor, nbytes: int) -> Descriptor:
    """The layout of the first ``nbytes`` packed bytes of ``desc`` (a short receive fills
    only those; the rest of the typed buffer stays untouched)."""
    if nbytes >= desc.nbytes:
        return desc
    offsets, lengths = blocks(desc)
    ends = np.cumsum(lengths)
    keep = int(np.searchsorted(ends, nbytes, side="left")) + 1
    offsets, lengths = offsets[:keep].copy(), lengths[:keep].copy()
    if keep:
        lengths[-1] -= int(ends[keep - 1]) - nbytes
    return BlockList(offsets, lengths, size=nbytes, lb=desc.lb, extent=desc.extent)
