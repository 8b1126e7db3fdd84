"""Persistent requests of tempi.Comm (Send_init, Ssend_init, Recv_init) on host memory
(TEMPI_HOST=1, every strategy): started again and again on the same buffers, whose contents
change between starts; completed by every completion call; mixed with mpi4py's own
persistent requests; inactive requests treated as MPI treats them. Each rank sends right
and receives from the left (itself at one rank)."""

from __future__ import annotations

import time

import numpy as np
import pytest
from mpi4py import MPI

import tempi

ROUNDS = 3
TAG = 500
DEADLINE_S = 60.0


def _comm(kind: str):
    return tempi.Comm(MPI.COMM_WORLD) if kind == "tempi" else MPI.COMM_WORLD


def _complete(how: str, requests: list, statuses: list) -> None:
    """Complete every request of ``requests`` with one kind of completion call; the
    statuses end up in ``statuses`` in request order."""
    deadline = time.monotonic() + DEADLINE_S
    if how == "waitall":
        tempi.Request.Waitall(requests, statuses)
    elif how == "wait":
        for request, status in zip(requests, statuses):
            request.Wait(status)
    elif how == "testall":
        while not tempi.Request.Testall(requests, statuses):
            assert time.monotonic() < deadline
    elif how in ("testany", "waitany"):
        done: set[int] = set()
        while len(done) < len(requests):
            assert time.monotonic() < deadline
            status = MPI.Status()
            if how == "waitany":
                index, flag = tempi.Request.Waitany(requests, status), True
            else:
                index, flag = tempi.Request.Testany(requests, status)
            if flag:
                assert index not in done and 0 <= index < len(requests), index
                done.add(index)
                statuses[index] = status
        assert tuple(tempi.Request.Testany(requests)) == (MPI.UNDEFINED, True)
    else:
        done = set()
        while len(done) < len(requests):
            assert time.monotonic() < deadline
            found = [MPI.Status() for _ in requests]
            indices = tempi.Request.Testsome(requests, found)
            assert indices is not None, "active requests reported as none"
            for k, index in enumerate(indices):
                assert index not in done, index
                done.add(index)
                statuses[index] = found[k]
        assert tempi.Request.Testsome(requests) is None


@pytest.mark.mpi(min_size=1)
@pytest.mark.parametrize(
    "completion", ["waitall", "wait", "testall", "testany", "waitany", "testsome"]
)
@pytest.mark.parametrize(
    ("sender", "receiver"),
    [("tempi", "tempi"), ("tempi", "plain"), ("plain", "tempi")],
    ids=["tempi-to-tempi", "tempi-to-plain", "plain-to-tempi"],
)
def test_persistent_rounds(
    strategy, usertype, sender, receiver, completion, wire, neighbours, counters
):
    dest, source = neighbours
    rank, count = MPI.COMM_WORLD.rank, 2
    mine = wire.payload(usertype, count, rank, 0)
    target = wire.payload(usertype, count, rank, -1)
    recv = _comm(receiver).Recv_init([target, count, usertype], source, TAG)
    send = _comm(sender).Send_init([mine, count, usertype], dest, TAG)
    for round_ in range(ROUNDS):
        mine[:] = wire.payload(usertype, count, rank, round_)  # new contents, same buffer
        sent = wire.payload(usertype, count, source, round_)
        expected = wire.delivered(sent, count, usertype, target)
        tempi.Prequest.Startall([recv, send])
        statuses = [MPI.Status(), MPI.Status()]
        _complete(completion, [recv, send], statuses)
        assert np.array_equal(target, expected), f"round {round_}"
        assert statuses[0].Get_source() == source and statuses[0].Get_tag() == TAG
        assert statuses[0].Get_count(usertype) == count
    for request in (recv, send):
        request.Free()
    ours = (sender == "tempi") + (receiver == "tempi")
    delta = counters()
    paths = ("oneshot", "device", "staged", "engine")  # engine: tempi.Comm's C engine
    assert sum(delta.get(p, 0) for p in paths) == ours * ROUNDS, delta


@pytest.mark.mpi(min_size=1)
def test_persistent_ssend_and_wildcards(strategy, usertype, wire, neighbours):
    dest, source = neighbours
    rank, count = MPI.COMM_WORLD.rank, 3
    comm = tempi.Comm(MPI.COMM_WORLD)
    mine = wire.payload(usertype, count, rank, 7)
    target = wire.payload(usertype, count, rank, -7)
    expected = wire.delivered(wire.payload(usertype, count, source, 7), count, usertype, target)
    recv = comm.Recv_init([target, count, usertype])
    send = comm.Ssend_init([mine, count, usertype], dest, TAG + 1)
    assert isinstance(recv, tempi.Prequest) and isinstance(send, tempi.Prequest)
    recv.Start()
    send.Start()
    status = MPI.Status()
    tempi.Request.Waitall([send])
    recv.Wait(status)
    assert np.array_equal(target, expected)
    assert (status.Get_source(), status.Get_tag()) == (source, TAG + 1)
    assert status.Get_count(usertype) == count


@pytest.mark.mpi(min_size=1)
def test_inactive_persistent_requests(strategy, usertype, wire, neighbours):
    """Before its first Start and after each completion a persistent request is inactive:
    Wait and Test return at once with an empty status; Testany, Waitany and Testsome skip
    it, as they skip null requests; starting an active request is an error."""
    dest, source = neighbours
    rank, count = MPI.COMM_WORLD.rank, 1
    comm = tempi.Comm(MPI.COMM_WORLD)
    target = wire.payload(usertype, count, rank, -3)
    mine = wire.payload(usertype, count, rank, 3)
    recv = comm.Recv_init([target, count, usertype], source, TAG + 2)
    plain = MPI.COMM_WORLD.Recv_init(np.zeros(1), source, TAG + 3)  # mpi4py's own, never started
    send = comm.Send_init([mine, count, usertype], dest, TAG + 2)
    status = MPI.Status()
    status.Set_source(77)
    recv.Wait(status)
    assert (status.Get_source(), status.Get_tag()) == (MPI.ANY_SOURCE, MPI.ANY_TAG)
    assert status.Get_count(MPI.BYTE) == 0
    assert recv.Test() is True
    assert tuple(tempi.Request.Testany([recv, plain, send])) == (MPI.UNDEFINED, True)
    assert tempi.Request.Waitany([recv, plain, send]) == MPI.UNDEFINED
    assert tempi.Request.Testsome([recv, plain, send]) is None
    recv.Start()
    with pytest.raises(MPI.Exception) as error:
        recv.Start()
    assert error.value.Get_error_class() == MPI.ERR_REQUEST
    send.Start()
    # the inactive plain request is skipped: only tempi's two complete
    done = set()
    deadline = time.monotonic() + DEADLINE_S
    while len(done) < 2:
        assert time.monotonic() < deadline
        index, flag = tempi.Request.Testany([recv, plain, send])
        if flag:
            assert index in (0, 2) and index not in done, index
            done.add(index)
    assert tuple(tempi.Request.Testany([recv, plain, send])) == (MPI.UNDEFINED, True)
    for request in (recv, plain, send):
        request.Free()


@pytest.mark.mpi(min_size=1)
def test_persistent_passthrough_without_tempi_host(tempi_env, wire, neighbours):
    """Host memory without TEMPI_HOST: the system MPI's own persistent requests."""
    tempi_env(TEMPI_HOST="0")
    dest, source = neighbours
    rank, count = MPI.COMM_WORLD.rank, 2
    datatype = MPI.DOUBLE.Create_vector(4, 1, 3).Commit()
    try:
        comm = tempi.Comm(MPI.COMM_WORLD)
        mine = wire.payload(datatype, count, rank, 9)
        target = wire.payload(datatype, count, rank, -9)
        expected = wire.delivered(wire.payload(datatype, count, source, 9), count, datatype, target)
        recv = comm.Recv_init([target, count, datatype], source, TAG + 4)
        send = comm.Send_init([mine, count, datatype], dest, TAG + 4)
        assert isinstance(recv, MPI.Prequest) and isinstance(send, MPI.Prequest)
        tempi.Prequest.Startall([recv, send])
        tempi.Request.Waitall([recv, send])
        recv.Free()
        send.Free()
    finally:
        datatype.Free()
    assert np.array_equal(target, expected)


@pytest.mark.mpi(min_size=1)
def test_cancelled_receives(strategy, usertype, wire, neighbours):
    """A receive nobody sends to is cancelled (one-shot and persistent): it completes with
    a cancelled status and writes nothing; the persistent one then receives normally."""
    dest, source = neighbours
    rank, count = MPI.COMM_WORLD.rank, 2
    comm = tempi.Comm(MPI.COMM_WORLD)
    never = wire.payload(usertype, count, rank, -5)
    initial = never.copy()
    target = wire.payload(usertype, count, rank, -6)
    one_shot = comm.Irecv([never, count, usertype], source, TAG + 5)
    persistent = comm.Recv_init([target, count, usertype], source, TAG + 6)
    persistent.Start()
    one_shot.Cancel()
    persistent.Cancel()
    statuses = [MPI.Status(), MPI.Status()]
    tempi.Request.Waitall([one_shot, persistent], statuses)
    assert all(status.Is_cancelled() for status in statuses)
    assert np.array_equal(never, initial)
    MPI.COMM_WORLD.Barrier()  # every rank has cancelled before anyone sends
    expected = wire.delivered(wire.payload(usertype, count, source, 6), count, usertype, target)
    persistent.Start()
    send = comm.Isend([wire.payload(usertype, count, rank, 6), count, usertype], dest, TAG + 6)
    status = MPI.Status()
    persistent.Wait(status)
    send.Wait()
    assert not status.Is_cancelled() and status.Get_source() == source
    assert np.array_equal(target, expected)
    persistent.Free()
