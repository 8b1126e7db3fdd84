"""Waitany and Waitsome over tempi's requests block in MPI (or on local device work)
instead of spinning through Python: while the peer holds its message back, the number of
Testany/Testsome rounds stays small. Size-agnostic: each rank receives from its left
neighbour (itself at one rank), which sends only after a pause."""

from __future__ import annotations

import time

import numpy as np
import pytest
from mpi4py import MPI

import tempi

PAUSE_S = 0.3


@pytest.fixture
def rounds(monkeypatch):
    """How often each tempi.Request class method named here ran."""
    counted: dict[str, int] = {}
    for name in ("Testany", "Testsome"):
        original = getattr(tempi.Request, name).__func__

        def counting(cls, *args, _original=original, _name=name, **kwargs):
            counted[_name] = counted.get(_name, 0) + 1
            return _original(cls, *args, **kwargs)

        monkeypatch.setattr(tempi.Request, name, classmethod(counting))
    return counted


@pytest.mark.mpi(min_size=1)
@pytest.mark.parametrize("call", ["Waitany", "Waitsome"])
@pytest.mark.parametrize("plain_too", [False, True], ids=["tempi-only", "with-plain"])
def test_wait_blocks_while_peer_is_late(
    strategy, usertype, wire, neighbours, rounds, call, plain_too
):
    dest, source = neighbours
    comm, rank, count, tag = tempi.Comm(MPI.COMM_WORLD), MPI.COMM_WORLD.rank, 2, 41
    target = wire.payload(usertype, count, rank, -tag)
    expected = wire.delivered(wire.payload(usertype, count, source, tag), count, usertype, target)
    requests = [comm.Irecv([target, count, usertype], source, tag)]
    if plain_too:
        requests.append(MPI.COMM_WORLD.Irecv(np.zeros(1), source, tag + 1))
    MPI.COMM_WORLD.Barrier()
    if dest != rank:
        time.sleep(PAUSE_S)  # the peer waits meanwhile
    send = comm.Isend([wire.payload(usertype, count, rank, tag), count, usertype], dest, tag)
    extra = MPI.COMM_WORLD.Isend(np.ones(1), dest, tag + 1) if plain_too else None
    pending = list(requests)
    while any(
        r != MPI.REQUEST_NULL if not isinstance(r, tempi.Request) else r.active for r in pending
    ):
        status = MPI.Status()
        if call == "Waitany":
            if tempi.Request.Waitany(pending, status) == MPI.UNDEFINED:
                break
        elif tempi.Request.Waitsome(pending, [status]) is None:
            break
    send.Wait()
    if extra is not None:
        extra.Wait()
    assert np.array_equal(target, expected)
    tests = rounds.get("Testany", 0) + rounds.get("Testsome", 0)
    assert tests < 50, f"{tests} test rounds: the wait spun instead of blocking"
