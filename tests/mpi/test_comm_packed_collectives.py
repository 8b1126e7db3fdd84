"""tempi.Comm's Bcast, Gather(v), Scatter(v) and Allgather(v) on host memory (TEMPI_HOST=1,
every strategy) against the system MPI's own collective on copies of the same arrays; and
ranks that decide differently (only the root through tempi, with another type than its
peers) still meeting in the system MPI's collective."""

from __future__ import annotations

import numpy as np
import pytest
from mpi4py import MPI

import tempi

ROOTS = ["first", "last"]


def _root(which: str) -> int:
    return 0 if which == "first" else MPI.COMM_WORLD.size - 1


def _compare(name: str, specs, send, recv, root: int | None, moved: bool = True) -> None:
    """``name`` through mpi4py on copies, then through tempi.Comm: the receive buffers must
    match byte for byte and the send buffers stay as they were."""
    world = MPI.COMM_WORLD
    extra = () if root is None else (root,)
    ref_send, ref_recv = send.copy(), recv.copy()
    initial = recv.copy()
    getattr(world, name)(*specs(ref_send, ref_recv), *extra)
    if moved:
        assert not np.array_equal(ref_recv, initial), "the reference moved nothing"
    getattr(tempi.Comm(world), name)(*specs(send, recv), *extra)
    assert np.array_equal(recv, ref_recv)
    assert np.array_equal(send, ref_send), "send buffer changed"


@pytest.mark.mpi(min_size=1)
@pytest.mark.parametrize("which", ROOTS)
def test_bcast(strategy, usertype, wire, which, engine_ran):
    world, root = MPI.COMM_WORLD, _root(which)
    buf = wire.payload(usertype, 3, world.rank, 1 if world.rank == root else -1)

    def specs(_, b):
        return ([b, 3, usertype],)

    _compare("Bcast", specs, np.zeros(1), buf, root, moved=world.rank != root)
    engine_ran()


@pytest.mark.mpi(min_size=1)
@pytest.mark.parametrize("which", ROOTS)
def test_gather_and_scatter(strategy, usertype, wire, which, engine_ran):
    world, root = MPI.COMM_WORLD, _root(which)
    mine = wire.payload(usertype, 2, world.rank, 2)
    whole = wire.payload(usertype, 2 * world.size, world.rank, -2)

    def gather(s, r):
        return [s, 2, usertype], [r, 2, usertype] if world.rank == root else None

    _compare("Gather", gather, mine, whole, root, moved=world.rank == root)

    def scatter(s, r):
        return [s, 2, usertype] if world.rank == root else None, [r, 2, usertype]

    _compare("Scatter", scatter, wire.payload(usertype, 2 * world.size, world.rank, 3), mine, root)
    engine_ran()


@pytest.mark.mpi(min_size=1)
@pytest.mark.parametrize("order", ["same", "reversed"])
def test_gatherv_scatterv_allgatherv(strategy, usertype, wire, order, engine_ran):
    world = MPI.COMM_WORLD
    counts = [1 + j % 3 for j in range(world.size)]
    displs = wire.displs(counts, order == "reversed")
    total = sum(counts)
    mine = wire.payload(usertype, counts[world.rank], world.rank, 4)
    whole = wire.payload(usertype, total, world.rank, -4)

    def gatherv(s, r):
        return [s, counts[world.rank], usertype], [r, (counts, displs), usertype]

    _compare("Allgatherv", gatherv, mine, whole.copy(), None)
    _compare("Gatherv", gatherv, mine, whole.copy(), 0, moved=world.rank == 0)

    def scatterv(s, r):
        return [s, counts, displs, usertype], [r, counts[world.rank], usertype]

    _compare("Scatterv", scatterv, wire.payload(usertype, total, world.rank, 5), mine, 0)
    engine_ran()


@pytest.mark.mpi(min_size=1)
def test_allgather_default_count(strategy, engine_ran):
    """``[buf, datatype]``: each rank's share is the buffer's extent count / size."""
    world = MPI.COMM_WORLD
    column = MPI.DOUBLE.Create_vector(3, 1, 2).Create_resized(0, 48).Commit()
    try:
        mine = np.arange(12, dtype=np.float64) + 100.0 * world.rank
        whole = np.full(12 * world.size, -1.0)

        def specs(s, r):
            return [s, 2, column], [r, column]

        _compare("Allgather", specs, mine, whole, None)
    finally:
        column.Free()
    engine_ran()


@pytest.mark.mpi(min_size=2)
def test_root_alone_through_tempi_with_another_type(tempi_env):
    """Only the root sees TEMPI_HOST=1 and gathers (then scatters) with a vector type while
    its peers send and receive plain doubles through mpi4py: all meet in the system MPI's
    collective, and the bytes are those of MPI's own run."""
    world = MPI.COMM_WORLD
    tempi_env(TEMPI_HOST="1" if world.rank == 0 else "0")
    column = MPI.DOUBLE.Create_vector(4, 1, 3).Create_resized(0, 12 * 8).Commit()
    try:
        mine = np.arange(4, dtype=np.float64) + 10.0 * world.rank
        whole = np.full(12 * world.size, -1.0)

        def gather(s, r):
            return [s, 4, MPI.DOUBLE], [r, 1, column] if world.rank == 0 else None

        _compare("Gather", gather, mine, whole, 0, moved=world.rank == 0)

        def scatter(s, r):
            return [s, 1, column] if world.rank == 0 else None, [r, 4, MPI.DOUBLE]

        _compare("Scatter", scatter, whole, np.zeros(4), 0)
    finally:
        column.Free()
