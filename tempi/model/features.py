"""The four numbers the model knows a message by: total bytes, block length, stride and
number of levels.

A :class:`~tempi.datatype.descriptor.StridedBlock` gives them directly (its innermost
contiguous block, the stride of its first level, its level count). A
:class:`~tempi.datatype.descriptor.BlockList` is summarised: block = mean piece length,
stride = mean distance between consecutive pieces, levels = 1 + its strided levels. The
stride enters the model as the *density* ``block / stride`` (1 = contiguous): what
matters to a GPU is how much of each 32-byte DRAM sector a block uses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tempi.datatype.descriptor import BlockList, Descriptor, StridedBlock, remembered

SECTOR_B = 32
"""Bytes of one DRAM sector: the unit a GPU reads, however few bytes a block needs."""


def reference_stride(block_b: float) -> float:
    """The stride the main tables are measured at: sparse enough that no two blocks
    share a sector (2 x block, at least 64 B), as in a halo face or a matrix column."""
    return max(2.0 * block_b, 2.0 * SECTOR_B)


@dataclass(frozen=True)
class Shape:
    """What the model predicts from. ``block_b`` and ``stride_b`` may be means."""

    nbytes: int
    block_b: float
    stride_b: float
    levels: int = 1

    def __post_init__(self) -> None:
        nbytes = max(int(self.nbytes), 1)
        block = min(max(float(self.block_b), 1.0), float(nbytes))
        object.__setattr__(self, "nbytes", nbytes)
        object.__setattr__(self, "block_b", block)
        object.__setattr__(self, "stride_b", max(abs(float(self.stride_b)), block))
        object.__setattr__(self, "levels", max(int(self.levels), 1))

    @property
    def density(self) -> float:
        """block / stride, in (0, 1]."""
        return self.block_b / self.stride_b

    @property
    def reference_density(self) -> float:
        return self.block_b / reference_stride(self.block_b)

    def bucket(self) -> tuple[int, int, int, int]:
        """A coarse key (quarter octaves of bytes, half octaves of block and stride, levels)
        under which one choice serves every message of nearly this shape."""
        return (
            round(4 * math.log2(self.nbytes)),
            round(2 * math.log2(self.block_b)),
            round(2 * math.log2(self.stride_b)),
            self.levels,
        )

    def describe(self) -> str:
        nblocks = self.nbytes / self.block_b
        return (
            f"{format_bytes(self.nbytes)} in {nblocks:,.0f} blocks of {self.block_b:,.0f} B, "
            f"stride {self.stride_b:,.0f} B, {self.levels} level{'s' if self.levels > 1 else ''}"
        )


def _features(desc: Descriptor) -> tuple[float, float, int]:
    if isinstance(desc, StridedBlock):
        if not desc.counts:
            return float(desc.block), float(desc.block), 1
        return float(desc.block), float(abs(desc.strides[0]) or desc.block), len(desc.counts)
    assert isinstance(desc, BlockList)
    keep = desc.lengths > 0
    pieces = int(keep.sum())
    if pieces == 0:
        return 1.0, 1.0, 1
    block = float(desc.lengths.sum()) / pieces
    if pieces > 1:
        offsets = desc.offsets[keep]
        stride = float(offsets.max() - offsets.min()) / (pieces - 1)
    else:
        stride = float(abs(desc.strides[0])) if desc.counts else block
    return block, stride, 1 + len(desc.counts)


def of(desc: Descriptor, nbytes: int | None = None) -> Shape:
    """The shape of a message of layout ``desc`` (``nbytes`` packed bytes, default all of
    it); the per-descriptor part is remembered on the descriptor."""
    block, stride, levels = remembered(desc, "_model_features", None, lambda _: _features(desc))
    return Shape(desc.nbytes if nbytes is None else nbytes, block, stride, levels)


def format_bytes(nbytes: float) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if nbytes >= scale:
            value = nbytes / scale
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.3g} {unit}"
    return f"{nbytes:.0f} B"


def parse_bytes(text: str) -> int:
    """'1MiB', '64 KiB', '4096' -> bytes. Units ending in iB are binary (KiB = 1024), the
    SI ones decimal (kB = 1000, MB = 10^6, GB = 10^9); a bare k, M or G is binary ('4k' =
    4096), as in most tools that take sizes."""
    value = text.strip().lower().replace(" ", "")
    scale = 1
    for suffixes, factor in (
        (("kib", "k"), 1 << 10),
        (("mib", "m"), 1 << 20),
        (("gib", "g"), 1 << 30),
        (("kb",), 10**3),
        (("mb",), 10**6),
        (("gb",), 10**9),
        (("b",), 1),
    ):
        found = next((s for s in suffixes if value.endswith(s)), None)
        if found:
            value, scale = value[: -len(found)], factor
            break
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"not a size: {text!r} (e.g. 4096, 64KiB, 1MiB)") from None
    if number <= 0 or not math.isfinite(number):
        raise ValueError(f"size must be positive: {text!r}")
    return int(round(number * scale))
