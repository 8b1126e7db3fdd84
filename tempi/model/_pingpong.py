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
    rank = pair.rank
    found: dict[int, Sample] = {}
    deadline = time.perf_counter() + budget_s
    for i, nbytes in enumerate(sizes):
        view = buf[:nbytes]
        per_size = max(deadline - time.perf_counter(), 0.0) / (len(sizes) - i)
        if not pair.bcast(per_size > 0.002 if rank == 0 else None, root=0):
            break
        times = half_round_trips(pair, view, time.perf_counter() + per_size)
        if rank == 0:
            found[i] = summarize(times)
            progress.step(f"mpi {nbytes} B")
    return found if rank == 0 else None


def half_round_trips(
    pair: MPI.Comm,
    send: Any,
    stop: float,
    *,
    recv: Any = None,
    via: Any = None,
    batch: int = 8,
    warm: int | None = None,
    enough: int = 16,
    most: int = 400,
) -> list[float]:
    """Half round trips between the two ranks of ``pair``: rank 0 sends ``send`` and
    receives ``recv`` (default: the same buffer spec), rank 1 receives and sends ``recv``
    back, through ``via`` (a ``tempi.Comm``; default ``pair`` itself). Rank 0's times
    (rank 1's list stays empty), after ``warm`` round trips (default a quarter batch):
    rounds of ``batch`` until ``enough`` agree within 5 %, ``most`` are taken or the clock
    passes ``stop``, rank 0 deciding for both over ``pair`` after every round."""
    rank, peer = pair.rank, 1 - pair.rank
    via = pair if via is None else via
    recv = send if recv is None else recv
    warm_trips = max(batch // 4, 1) if warm is None else warm
    times: list[float] = []
    for warming in (True, False):
        while True:
            for _ in range(warm_trips if warming else batch):
                t0 = time.perf_counter()
                if rank == 0:
                    via.Send(send, peer, 7)
                    via.Recv(recv, peer, 7)
                    if not warming:
                        times.append((time.perf_counter() - t0) / 2)
                else:
                    via.Recv(recv, peer, 7)
                    via.Send(recv, peer, 7)
            if warming:
                break
            done = None
            if rank == 0:
                sample = summarize(times)
                done = (
                    (len(times) >= enough and sample.relative_spread <= 0.05)
                    or len(times) >= most
                    or time.perf_counter() > stop
                )
            if pair.bcast(done, root=0):
                break
    return times
