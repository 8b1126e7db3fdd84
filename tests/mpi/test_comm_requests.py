"""Many outstanding requests, tempi's mixed with plain mpi4py ones, completed in a random
order by every completion call of tempi.Request. Each rank posts 16 receives from its left
neighbour and 16 sends to its right one, with distinct tags; message i goes tempi or plain
on each side by i % 4 (tempi to tempi, tempi to plain, plain to tempi, plain to plain)."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import pytest
from mpi4py import MPI

import tempi
from tempi.model import choose

N = 16
COUNT = 3
TAG = 400
DEADLINE_S = 60.0


def _wait_each(requests: list, statuses: list) -> None:
    for request, status in zip(requests, statuses):
        assert request.Wait(status) in (None, True)


def _test_each(requests: list, statuses: list) -> None:
    pending = set(range(len(requests)))
    deadline = time.monotonic() + DEADLINE_S
    while pending:
        assert time.monotonic() < deadline, f"requests {sorted(pending)} never completed"
        for i in sorted(pending):
            if requests[i].Test(statuses[i]):
                pending.discard(i)


def _waitall(requests: list, statuses: list) -> None:
    assert tempi.Request.Waitall(requests, statuses) in (None, True)


def _testall(requests: list, statuses: list) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not tempi.Request.Testall(requests, statuses):
        assert time.monotonic() < deadline, "Testall never returned True"
    assert tempi.Request.Testall(requests) is True


def _collect(done: dict[int, MPI.Status], index: int, status: MPI.Status, n: int) -> None:
    assert 0 <= index < n, index
    assert index not in done, f"request {index} completed twice"
    done[index] = MPI.Status(status)


def _waitany(requests: list, statuses: list) -> None:
    done: dict[int, MPI.Status] = {}
    status = MPI.Status()
    while len(done) < len(requests):
        _collect(done, tempi.Request.Waitany(requests, status), status, len(requests))
    assert tempi.Request.Waitany(requests) == MPI.UNDEFINED
    statuses[:] = [done[i] for i in range(len(requests))]


def _testany(requests: list, statuses: list) -> None:
    done: dict[int, MPI.Status] = {}
    status = MPI.Status()
    deadline = time.monotonic() + DEADLINE_S
    while len(done) < len(requests):
        assert time.monotonic() < deadline, f"only {sorted(done)} completed"
        index, flag = tempi.Request.Testany(requests, status)
        if flag:
            _collect(done, index, status, len(requests))
        else:
            assert index == MPI.UNDEFINED
    assert tuple(tempi.Request.Testany(requests)) == (MPI.UNDEFINED, True)
    statuses[:] = [done[i] for i in range(len(requests))]


def _waitsome(requests: list, statuses: list) -> None:
    done: dict[int, MPI.Status] = {}
    some = [MPI.Status() for _ in requests]
    while len(done) < len(requests):
        indices = tempi.Request.Waitsome(requests, some)
        assert indices, "Waitsome returned nothing while requests were pending"
        for k, index in enumerate(indices):
            _collect(done, index, some[k], len(requests))
    assert tempi.Request.Waitsome(requests) is None
    statuses[:] = [done[i] for i in range(len(requests))]


def _testsome(requests: list, statuses: list) -> None:
    done: dict[int, MPI.Status] = {}
    some = [MPI.Status() for _ in requests]
    deadline = time.monotonic() + DEADLINE_S
    while len(done) < len(requests):
        assert time.monotonic() < deadline, f"only {sorted(done)} completed"
        indices = tempi.Request.Testsome(requests, some)
        assert indices is not None, "Testsome: no active request while some were pending"
        for k, index in enumerate(indices):
            _collect(done, index, some[k], len(requests))
    assert tempi.Request.Testsome(requests) is None
    statuses[:] = [done[i] for i in range(len(requests))]


COMPLETIONS: dict[str, Callable[[list, list], None]] = {
    "wait-each": _wait_each,
    "test-each": _test_each,
    "waitall": _waitall,
    "testall": _testall,
    "waitany": _waitany,
    "testany": _testany,
    "waitsome": _waitsome,
    "testsome": _testsome,
}


@pytest.mark.mpi(min_size=1)
@pytest.mark.parametrize("completion", sorted(COMPLETIONS))
def test_many_mixed_requests(strategy, usertype, completion, rng, wire, neighbours, engine_ran):
    world = MPI.COMM_WORLD
    comm = tempi.Comm(world)
    dest, source = neighbours
    targets = [wire.payload(usertype, COUNT, world.rank, -1 - i) for i in range(N)]
    expected = [
        wire.delivered(wire.payload(usertype, COUNT, source, i), COUNT, usertype, t)
        for i, t in enumerate(targets)
    ]
    recvs = [
        (comm if i % 2 == 0 else world).Irecv([targets[i], COUNT, usertype], source, TAG + i)
        for i in range(N)
    ]
    sends = [
        (comm if i % 4 < 2 else world).Isend(
            [wire.payload(usertype, COUNT, world.rank, i), COUNT, usertype], dest, TAG + i
        )
        for i in range(N)
    ]
    kinds = {type(r) for r in recvs + sends}  # tempi's: the C engine's or Python's
    # auto: tempi packs, or the host model measured the MPI's typed path faster for this
    # size and tempi.Comm hands the message to mpi4py's own call (strategy ``system``)
    packed = strategy != "auto" or choose.pick_host(usertype.Get_size() * COUNT) == "packed"
    ours = any(issubclass(k, tempi.Request) for k in kinds)
    assert ours == packed and MPI.Request in kinds, (kinds, packed)
    order = rng.permutation(2 * N)
    requests = [(recvs + sends)[j] for j in order]
    statuses = [MPI.Status() for _ in requests]
    COMPLETIONS[completion](requests, statuses)
    for j, status in zip(order, statuses):
        if j < N:  # a receive
            assert status.Get_source() == source, (j, status.Get_source())
            assert status.Get_tag() == TAG + j
            assert status.Get_count(usertype) == COUNT
    for i in range(N):
        assert np.array_equal(targets[i], expected[i]), f"message {i}"
    if packed:
        engine_ran()


@pytest.mark.mpi(min_size=1)
@pytest.mark.parametrize("completion", sorted(COMPLETIONS))
def test_completion_of_views_and_wildcards(strategy, completion, rng, neighbours):
    """Receives into bare views with wildcard source and tag: each status says which
    message arrived, and the view it landed in holds that message."""
    world = MPI.COMM_WORLD
    comm = tempi.Comm(world)
    dest, source = neighbours
    n, shape = 8, (3, 5, 4)
    grids = [np.zeros(shape) for _ in range(n)]
    recvs = [comm.Irecv(g[:, 1:-1, 0]) for g in grids]
    sends = [
        comm.Isend(np.full(shape, 100.0 * world.rank + i)[:, 1:-1, 0], dest, TAG + i)
        for i in range(n)
    ]
    order = rng.permutation(2 * n)
    requests = [(recvs + sends)[j] for j in order]
    statuses = [MPI.Status() for _ in requests]
    COMPLETIONS[completion](requests, statuses)
    arrived = set()
    for j, status in zip(order, statuses):
        if j >= n:
            continue
        i = status.Get_tag() - TAG
        assert status.Get_source() == source and 0 <= i < n
        assert status.Get_count(MPI.DOUBLE) == shape[0] * (shape[1] - 2)
        grid = grids[j]
        assert np.all(grid[:, 1:-1, 0] == 100 * source + i), (j, i)
        grid[:, 1:-1, 0] = 0
        assert not grid.any(), "bytes outside the view were written"
        arrived.add(i)
    assert arrived == set(range(n))


@pytest.mark.mpi(min_size=1)
def test_plain_requests_only(strategy, rng, neighbours):
    """tempi.Request's class methods on a list of plain MPI requests alone."""
    world = MPI.COMM_WORLD
    dest, source = neighbours
    got = [np.zeros(4) for _ in range(4)]
    requests = [world.Irecv(g, source, TAG + i) for i, g in enumerate(got)]
    requests += [world.Isend(np.full(4, 10.0 * world.rank + i), dest, TAG + i) for i in range(4)]
    statuses = [MPI.Status() for _ in requests]
    tempi.Request.Waitall(requests, statuses)
    assert [s.Get_tag() for s in statuses[:4]] == [TAG + i for i in range(4)]
    for i, g in enumerate(got):
        assert np.all(g == 10.0 * source + i)
