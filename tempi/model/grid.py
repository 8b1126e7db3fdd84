"""Where the model samples: the axes of its tables, full and ``--quick``.

Sizes are powers of two (a factor 4 apart), so every grid shape splits into whole
counts per level. The main tables are measured at the reference stride; the stride
factor tables at ``factor_bytes``, over (block, density); the levels tables at
``factor_bytes``, block ``levels_block``, over the number of levels.
"""

from __future__ import annotations

from dataclasses import dataclass

KiB, MiB = 1 << 10, 1 << 20

SPAN_CAP_B = 256 * MiB
"""Largest typed buffer the measurement allocates: a 64 MiB message of 1-byte blocks at a
64-byte stride would span 4 GiB, so such cells are filled from their measured neighbours."""


@dataclass(frozen=True)
class Grid:
    bytes: tuple[int, ...]
    blocks: tuple[int, ...]
    factor_blocks: tuple[int, ...]
    densities: tuple[float, ...]
    levels: tuple[int, ...]
    factor_bytes: int
    levels_block: int

    def points(self) -> int:
        """How many samples a measurement of every table takes (for the progress bar)."""
        main = sum(1 for n in self.bytes for b in self.blocks if b <= n)
        factors = len(self.factor_blocks) * len(self.densities) + len(self.levels)
        return 4 * (main + factors) + 2 * len(self.bytes)


FULL = Grid(
    bytes=tuple(1 << k for k in range(10, 27, 2)),  # 1 KiB .. 64 MiB
    blocks=tuple(1 << k for k in range(0, 17, 2)),  # 1 B .. 64 KiB
    factor_blocks=(1, 4, 16, 64, 512, 4096),
    densities=(1 / 64, 1 / 16, 1 / 4, 1 / 2),
    levels=(1, 2, 3),
    factor_bytes=1 * MiB,
    levels_block=8,
)

QUICK = Grid(
    bytes=(1 * KiB, 16 * KiB, 256 * KiB, 4 * MiB),
    blocks=(1, 16, 256, 4096),
    factor_blocks=(1, 64),
    densities=(1 / 64, 1 / 2),
    levels=(1, 2),
    factor_bytes=256 * KiB,
    levels_block=8,
)
