"""End-to-end ping-pongs of tempi's own sends, per strategy, for ``tempi measure``.

The component sums of :mod:`tempi.model.predict` miss what only a real exchange shows:
two processes taking turns on one GPU, MPI reading memory a kernel has just written
through the link, the receiver's wait. On the H200 they put one-shot ahead of staged for
1-16 MiB messages where staged was 10-20 % faster. So ``tempi measure`` also times
complete sends and receives through ``tempi.Comm`` at a few layouts (size x block, at
the reference stride), and the prediction scales each strategy's sum by measured /
modelled at those points.
"""

from __future__ import annotations

import os
import time
from typing import Any

from mpi4py import MPI

from tempi.model.features import reference_stride
from tempi.model.shapes import strided_type
from tempi.model.timing import Progress, Sample, summarize

KiB, MiB = 1 << 10, 1 << 20

SIZES = (4 * KiB, 64 * KiB, 1 * MiB, 16 * MiB)
QUICK_SIZES = (16 * KiB, 1 * MiB)
BLOCKS = (8, 512)


def points(sizes: tuple[int, ...], blocks: tuple[int, ...] = BLOCKS) -> list[tuple[int, int]]:
    """(size index, block index) of every layout timed: blocks no longer than the size."""
    return [(i, j) for i, n in enumerate(sizes) for j, b in enumerate(blocks) if b <= n]


def _round_trips(
    comm: Any, pair: MPI.Comm, send: list, recv: list, budget_s: float
) -> Sample | None:
    """Half round trips through ``comm`` until the median is stable or the budget is spent
    (rank 0 decides, after every round of 4, and tells rank 1)."""
    from tempi.model._pingpong import half_round_trips

    stop = time.perf_counter() + budget_s
    times = half_round_trips(
        pair, send, stop, recv=recv, via=comm, batch=4, warm=2, enough=12, most=200
    )
    return summarize(times) if pair.rank == 0 else None


def measure(
    pair: MPI.Comm,
    xp: Any,
    strategies: tuple[str, ...],
    sizes: tuple[int, ...],
    budget_s: float,
    progress: Progress,
) -> dict[str, dict[tuple[int, int], Sample]]:
    """{strategy: {(size index, block index): one-way time}} on rank 0 (empty on rank 1),
    through ``tempi.Comm`` with ``TEMPI_DATATYPE`` forced to each strategy in turn.
    ``xp`` is ``cupy`` (device buffers) or ``numpy`` (host emulation, ``TEMPI_HOST=1``)."""
    import tempi
    from tempi import config

    comm = tempi.Comm(pair)
    cells = points(sizes)
    share = budget_s / max(len(cells) * len(strategies), 1)
    found: dict[str, dict[tuple[int, int], Sample]] = {s: {} for s in strategies}
    saved = {name: os.environ.get(name) for name in ("TEMPI_DATATYPE", "TEMPI_HOST")}
    if xp.__name__ == "numpy":
        os.environ["TEMPI_HOST"] = "1"
    try:
        for i, j in cells:
            nbytes, block = sizes[i], BLOCKS[j]
            datatype = strided_type(nbytes, block, int(reference_stride(block)))
            lb, extent = datatype.Get_true_extent()
            src, dst = xp.ones(lb + extent, xp.uint8), xp.zeros(lb + extent, xp.uint8)
            try:
                for strategy in strategies:
                    os.environ["TEMPI_DATATYPE"] = strategy
                    config.reload()
                    sample = _round_trips(comm, pair, [src, 1, datatype], [dst, 1, datatype], share)
                    if sample is not None:
                        found[strategy][(i, j)] = sample
                        progress.step(f"end-to-end {strategy} {nbytes} {block}")
            finally:
                datatype.Free()
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        config.reload()
    return found if pair.rank == 0 else {}
