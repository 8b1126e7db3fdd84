"""Repeat a timed operation until its median is stable, within a time budget; and the
progress bar of ``tempi measure`` (tqdm when installed, else one line on stderr).

Times are wall-clock around the operation *and* the synchronize after it, because that
is what the engine waits for before it posts the MPI call: launch cost included.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Sample:
    """Median of ``reps`` repetitions and half their interquartile range."""

    median_s: float
    spread_s: float
    reps: int

    @property
    def relative_spread(self) -> float:
        return self.spread_s / self.median_s if self.median_s > 0 else float("inf")


def summarize(times: list[float]) -> Sample:
    if len(times) >= 4:
        q1, _, q3 = statistics.quantiles(times, n=4)
        spread = (q3 - q1) / 2
    else:
        spread = (max(times) - min(times)) / 2
    return Sample(statistics.median(times), spread, len(times))


def until_stable(
    fn: Callable[[], Any],
    *,
    budget_s: float,
    min_reps: int = 5,
    max_reps: int = 200,
    rtol: float = 0.03,
    warmup: int = 1,
) -> Sample:
    """Call ``fn`` (which must return only when its work is done) ``warmup`` times, then
    time it until the median's relative spread is at most ``rtol`` (checked every
    ``min_reps``), ``max_reps`` or ``budget_s`` run out (at least ``min_reps`` calls,
    unless a single call exceeds the budget, then 1)."""
    start = time.perf_counter()
    for _ in range(warmup):
        fn()
    times: list[float] = []
    while len(times) < max_reps:
        t0 = time.perf_counter()
        fn()
        t1 = time.perf_counter()
        times.append(t1 - t0)
        n = len(times)
        if t1 - start > budget_s and n >= min(min_reps, 1 + int(budget_s / times[0])):
            break
        if n >= min_reps and n % min_reps == 0 and summarize(times).relative_spread <= rtol:
            break
    return summarize(times)


class Progress:
    """``step(label)`` after each sample; ``note(text)`` prints above the bar."""

    def __init__(self, total: int, enabled: bool = True, desc: str = "tempi measure") -> None:
        self.total, self.enabled, self.desc, self.done = max(total, 1), enabled, desc, 0
        self.start = time.perf_counter()
        self._bar = None
        self._last_pct = -1
        self._tty = sys.stderr.isatty()
        if enabled:
            try:
                from tqdm import tqdm

                self._bar = tqdm(
                    total=self.total, desc=desc, unit="pt", file=sys.stderr, mininterval=0.5
                )
            except ImportError:
                self._bar = None

    def step(self, label: str = "", n: int = 1) -> None:
        self.done = min(self.done + n, self.total)
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.set_postfix_str(label, refresh=False)
            self._bar.update(n)
            return
        pct = int(100 * self.done / self.total)
        elapsed = time.perf_counter() - self.start
        line = f"{self.desc}: {pct:3d}% ({self.done}/{self.total}) {elapsed:5.1f} s  {label}"
        if self._tty:
            print(f"\r{line[:100]:<100}", end="", file=sys.stderr, flush=True)
        elif pct // 10 != self._last_pct // 10:  # a log file gets a line per 10 %
            print(line, file=sys.stderr, flush=True)
        self._last_pct = pct

    def note(self, text: str) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.write(text, file=sys.stderr)
        else:
            print(("\n" if self._tty else "") + text, file=sys.stderr, flush=True)

    def close(self) -> None:
        if not self.enabled:
            return
        if self._bar is not None:
            self._bar.close()
        elif self._tty:
            print(file=sys.stderr)
