"""Tables of times and their interpolation in log space.

A table holds one time per grid point over named axes (``bytes``, ``block``,
``density`` on log2 scales, ``levels`` linear). Between grid points it interpolates
log2(time) multilinearly in the axes' scales -- exact at the points, and along any axis
between two neighbouring points it moves monotonically from one value to the other.
Outside the grid: below the smallest size, and beyond the ends of every other axis, the
edge value is kept; above the largest size, time grows along the last segment's slope
in log-log, clamped to [0, 1] (never shrinking, never faster than proportional to size:
what lies past the table is bandwidth-bound at best). So a prediction is always finite
and positive, and non-decreasing in bytes past the table.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

LINEAR_AXES = frozenset({"levels"})
EXTEND_AXIS = "bytes"
MAX_SLOPE = 1.0


def _scale(name: str, value: float | np.ndarray) -> Any:
    return value if name in LINEAR_AXES else np.log2(value)


@dataclass(frozen=True, eq=False)
class Table:
    """Times ``time_s`` (shape = axis lengths) over axes ``names`` at ``coords``.
    ``spread_s`` (half the interquartile range) and ``measured`` (False where a cell was
    filled rather than timed) are kept for the record."""

    names: tuple[str, ...]
    coords: tuple[np.ndarray, ...]
    time_s: np.ndarray
    spread_s: np.ndarray | None = None
    measured: np.ndarray | None = None

    def __post_init__(self) -> None:
        coords = tuple(np.asarray(c, dtype=float) for c in self.coords)
        time_s = np.asarray(self.time_s, dtype=float)
        if len(self.names) != len(coords) or not self.names:
            raise ValueError("one coordinate list per axis name")
        if time_s.shape != tuple(len(c) for c in coords):
            raise ValueError(f"time_s has shape {time_s.shape}, axes {[len(c) for c in coords]}")
        for name, c in zip(self.names, coords):
            if len(c) == 0 or not np.all(np.isfinite(c)) or np.any(np.diff(c) <= 0):
                raise ValueError(f"axis {name!r} must be finite and strictly increasing")
            if name not in LINEAR_AXES and c[0] <= 0:
                raise ValueError(f"axis {name!r} is on a log scale: values must be positive")
        if not np.all(np.isfinite(time_s)) or np.any(time_s <= 0):
            raise ValueError("times must be finite and positive")
        object.__setattr__(self, "coords", coords)
        object.__setattr__(self, "time_s", time_s)
        for name in ("spread_s", "measured"):
            value = getattr(self, name)
            if value is not None:
                value = np.asarray(value, dtype=float if name == "spread_s" else bool)
                if value.shape != time_s.shape:
                    raise ValueError(f"{name} must have the shape of time_s")
                object.__setattr__(self, name, value)
        object.__setattr__(
            self, "_x", tuple(_scale(n, c) for n, c in zip(self.names, coords, strict=True))
        )
        object.__setattr__(self, "_y", np.log2(time_s))

    def __call__(self, **point: float) -> float:
        """The interpolated time (seconds) at ``point`` (one value per axis name)."""
        cells: list[tuple[int, float]] = []
        beyond = None
        for k, name in enumerate(self.names):
            c = self._x[k]
            x = float(_scale(name, max(float(point[name]), 1e-300)))
            if len(c) == 1:
                cells.append((0, 0.0))
                continue
            i = int(min(max(np.searchsorted(c, x, side="right") - 1, 0), len(c) - 2))
            t = (x - c[i]) / (c[i + 1] - c[i])
            if name == EXTEND_AXIS and t > 1.0:
                beyond = (k, x - c[i + 1], c[i + 1] - c[i])
            cells.append((i, min(max(t, 0.0), 1.0)))
        y = self._blend(cells)
        if beyond is not None:
            k, dx, width = beyond
            lower = list(cells)
            lower[k] = (cells[k][0], 0.0)
            slope = min(max((y - self._blend(lower)) / width, 0.0), MAX_SLOPE)
            y += slope * dx
        return float(2.0**y)

    def _blend(self, cells: list[tuple[int, float]]) -> float:
        total = 0.0
        for corner in itertools.product((0, 1), repeat=len(cells)):
            weight = 1.0
            index = []
            for (i, t), bit in zip(cells, corner):
                weight *= t if bit else 1.0 - t
                index.append(i + bit)
            if weight:
                total += weight * self._y[tuple(index)]
        return total

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "axes": [
                {"name": n, "values": [_plain(v) for v in c]}
                for n, c in zip(self.names, self.coords)
            ],
            "time_s": self.time_s.tolist(),
        }
        if self.spread_s is not None:
            out["spread_s"] = self.spread_s.tolist()
        if self.measured is not None:
            out["measured"] = self.measured.tolist()
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Table:
        axes = data["axes"]
        return cls(
            tuple(str(a["name"]) for a in axes),
            tuple(np.asarray(a["values"], dtype=float) for a in axes),
            np.asarray(data["time_s"], dtype=float),
            None if data.get("spread_s") is None else np.asarray(data["spread_s"], dtype=float),
            None if data.get("measured") is None else np.asarray(data["measured"], dtype=bool),
        )


def _plain(value: float) -> float | int:
    return int(value) if float(value).is_integer() else float(value)


def fill(values: np.ndarray, measured: np.ndarray, fallback: np.ndarray) -> np.ndarray:
    """Complete a partly measured grid: each missing cell takes the first-principles
    ``fallback`` value scaled by measured/fallback at its nearest measured cell (nearest
    along the first axis, bytes, first), so the shape of the fallback and the level of
    the measurements both carry over. Nothing measured: the fallback."""
    values = np.asarray(values, dtype=float)
    fallback = np.asarray(fallback, dtype=float)
    measured = np.asarray(measured, dtype=bool) & np.isfinite(values) & (values > 0)
    out = np.where(measured, values, fallback)
    if not measured.any():
        return out
    known = np.argwhere(measured)
    ratios = values[measured] / fallback[measured]
    weights = np.ones(values.ndim)
    weights[1:] = 1.01  # ties: prefer the neighbour of the same block along bytes
    for cell in np.argwhere(~measured):
        nearest = int(np.argmin((np.abs(known - cell) * weights).sum(axis=1)))
        out[tuple(cell)] = fallback[tuple(cell)] * ratios[nearest]
    return out


def monotone(values: np.ndarray, axis: int = 0) -> np.ndarray:
    """Running maximum along ``axis`` (bytes): more data never takes less time, whatever
    the noise of two neighbouring samples said."""
    return np.maximum.accumulate(np.asarray(values, dtype=float), axis=axis)


def log_points(lo: float, hi: float, n: int) -> np.ndarray:
    """``n`` points evenly spaced in log2 between ``lo`` and ``hi``."""
    return np.exp2(np.linspace(math.log2(lo), math.log2(hi), n))
