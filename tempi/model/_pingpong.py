"""MPI ping-pong between two ranks for ``tempi measure``: half round trips per size.

Rank 0 keeps the clock and decides when a size is done -- 16 round trips whose median
agrees within 5 %, 400 of them, or the size's share of the budget spent -- and tells
rank 1 after every round of 8, so both ranks always run the same number.
"""

from __future__ import annotations

import time
from typing import Any

from mpi4py import MPI

from tempi.model.timing import Progress, Sample, summarize


def pingpong(
    pair: MPI.Comm, buf: Any, sizes: tuple[int, ...], budget_s: float, progress: Progress
) -> dict[int, Sample] | None:
    """{index into ``sizes``: half round trip} between the two ranks of ``pair`` (on rank
    0; None on rank 1). Sizes the budget leaves no time for are missing."""
    rank, peer = pair.rank, 1 - pair.rank
    found: dict[int, Sample] = {}
    deadline = time.perf_counter() + budget_s
    for i, nbytes in enumerate(sizes):
        view = buf[:nbytes]
        per_size = max(deadline - time.perf_counter(), 0.0) / (len(sizes) - i)
        if not pair.bcast(per_size > 0.002 if rank == 0 else None, root=0):
            break
        stop = time.perf_counter() + per_size
        times: list[float] = []
        for warm in (True, False):
            while True:
                for _ in range(2 if warm else 8):
                    t0 = time.perf_counter()
                    if rank == 0:
                        pair.Send(view, peer, 7)
                        pair.Recv(view, peer, 7)
                        if not warm:
                            times.append((time.perf_counter() - t0) / 2)
                    else:
                        pair.Recv(view, peer, 7)
                        pair.Send(view, peer, 7)
                if warm:
                    break
                done = None
                if rank == 0:
                    sample = summarize(times)
                    done = (
                        (len(times) >= 16 and sample.relative_spread <= 0.05)
                        or len(times) >= 400
                        or time.perf_counter() > stop
                    )
                if pair.bcast(done, root=0):
                    break
        if rank == 0:
            found[i] = summarize(times)
            progress.step(f"mpi {nbytes} B")
    return found if rank == 0 else None
