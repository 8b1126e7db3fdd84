"""Completing an exchange that failed inside tempi midway, so that no peer waits forever.

In an all-to-all or neighbour exchange every rank waits for messages from its peers and
sends them theirs. When tempi fails on one rank after some messages reached MPI (a packing
kernel raising, staging memory refused), its peers are blocked in MPI on the messages it
has not sent yet, and their sends to it may never complete. Before the failure is
raised, :func:`settle` gives each peer what it waits for: the bytes of every message that
never reached MPI, as zeros (the size a success would have sent), a receive for every
message the peers send, and the end of every transfer already posted. The failing rank
then raises; its peers return normally (with zeros where its data should be). The
success path pays nothing for this: it runs only on the way out of a failure.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from mpi4py import MPI

from tempi.comm.requests import Request
from tempi.log import get_logger

log = get_logger("comm")


def settle(
    comm: MPI.Comm,
    unsent: list[tuple[int, int, int]],
    unposted: list[tuple[int, int, int]],
    started: list[Any],
) -> None:
    """``unsent``: (bytes, destination, tag) of the sends that never reached MPI, sent now
    as that many zero bytes; ``unposted``: (bytes, source, tag) of the receives never
    posted, received now into scratch memory; ``started``: the requests, tempi's or
    MPI's, that did start, whose transfers are completed (a tempi operation's remaining
    steps are dropped). Errors met here are logged, not raised: the caller raises the
    failure that brought it here."""
    pending = []
    for nbytes, dest, tag in unsent:
        pending.append(
            _attempt(comm.Isend, [np.zeros(nbytes, np.uint8), nbytes, MPI.PACKED], dest, tag)
        )
    for nbytes, source, tag in unposted:
        pending.append(
            _attempt(comm.Irecv, [np.empty(nbytes, np.uint8), nbytes, MPI.BYTE], source, tag)
        )
    for request in started + pending:
        if request is None:
            continue
        try:
            if isinstance(request, Request):
                request.abandon()
            else:
                request.Wait()
        except Exception as exc:  # noqa: BLE001 - the first failure is the one raised
            log.debug("while settling a failed exchange: %r", exc)


def _attempt(post: Any, spec: list[Any], peer: int, tag: int) -> Any:
    try:
        return post(spec, peer, tag)
    except Exception as exc:  # noqa: BLE001
        log.debug("while settling a failed exchange: %r", exc)
        return None


def settle_operations(
    comm: MPI.Comm,
    sends: list[tuple[int, int, int]],
    send_requests: list[Any],
    recvs: list[tuple[int, int, int]],
    recv_requests: list[Any],
) -> None:
    """:func:`settle` of an exchange run as one operation per message: ``sends`` and
    ``recvs`` list (bytes, peer, tag) of every message in order, ``send_requests`` and
    ``recv_requests`` the operations started for the first of them. A tempi send whose
    pack had not finished never reached MPI: its peer gets zeros."""
    unsent = list(sends[len(send_requests) :])
    started = list(recv_requests)
    for message, request in zip(sends, send_requests):
        if isinstance(request, Request) and not request.reached_mpi:
            request.abandon()
            unsent.append(message)
        else:
            started.append(request)
    settle(comm, unsent, list(recvs[len(recv_requests) :]), started)
