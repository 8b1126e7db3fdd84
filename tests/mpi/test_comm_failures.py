"""A failure inside tempi midway through a collective never leaves a peer waiting (issue 13,
item 4): one rank's packing or unpacking kernel raises (monkeypatched, a real exception in
the real call path), every rank returns from the call, the failing one with the error, and
the next collective on the same communicator delivers the system MPI's bytes (nothing of
the failed one is left in flight to match it)."""

from __future__ import annotations

import numpy as np
import pytest
from mpi4py import MPI

import tempi
from tempi.pack import select


class Injected(RuntimeError):
    """The failure injected into one rank's kernel."""


class Failing:
    """``kernel`` ('pack' or 'unpack') of :mod:`tempi.pack.select` raises on the last rank
    until :meth:`heal`."""

    def __init__(self, monkeypatch, kernel: str) -> None:
        world = MPI.COMM_WORLD
        self.rank, self.on = world.size - 1, True
        if world.rank == self.rank:
            real = getattr(select, kernel)

            def broken(*args, **kwargs):
                if self.on:
                    raise Injected(f"{kernel} kernel failed")
                return real(*args, **kwargs)

            monkeypatch.setattr(select, kernel, broken)

    def heal(self) -> None:
        self.on = False


def _outcome(call) -> str:
    """'ok', or the name of the exception ``call`` raised; the same list on every rank."""
    try:
        call()
        outcome = "ok"
    except Exception as exc:  # noqa: BLE001 - the outcome is the test's subject
        outcome = type(exc).__name__
    return MPI.COMM_WORLD.allgather(outcome)


def _expect(outcomes: list[str], failing: int) -> None:
    assert outcomes == ["Injected" if r == failing else "ok" for r in range(len(outcomes))]


VECTOR = (4, 1, 3)  # 4 doubles, every third


def _alltoallw_specs(send_packed: bool, recv_packed: bool, rank: int, size: int, salt: int):
    """Alltoallw arguments: per peer 4 doubles, sent as a vector type or as MPI_DOUBLE x 4
    (contiguous, which tempi passes to MPI), received likewise."""
    vector = MPI.DOUBLE.Create_vector(*VECTOR).Commit()
    extent = vector.Get_extent()[1]
    send = np.arange(size * extent // 8, dtype=np.float64) + 1000 * rank + salt
    recv = np.full(size * extent // 8, -1.0)
    counts = [1 if send_packed else 4] * size
    rcounts = [1 if recv_packed else 4] * size
    displs = [j * extent for j in range(size)]
    stype = [vector if send_packed else MPI.DOUBLE] * size
    rtype = [vector if recv_packed else MPI.DOUBLE] * size
    return vector, send, recv, [send, counts, displs, stype], [recv, rcounts, displs, rtype]


def _alltoall_again_matches(comm: tempi.Comm, salt: int) -> None:
    """A correct Alltoallw on the same communicator after the failed one: tempi's result
    equals mpi4py's (a message of the failed call left in flight would be taken here)."""
    world = MPI.COMM_WORLD
    vector, _, recv, sspec, rspec = _alltoallw_specs(True, True, world.rank, world.size, salt)
    reference = recv.copy()
    world.Alltoallw(sspec, [reference, *rspec[1:]])
    comm.Alltoallw(sspec, rspec)
    assert np.array_equal(recv, reference)
    vector.Free()


@pytest.mark.mpi(min_size=1)
@pytest.mark.parametrize("strategy", ["oneshot", "staged"])
def test_fused_alltoall_whose_pack_fails(tempi_env, monkeypatch, strategy):
    """Every part on tempi's path: one fused pack, which fails after the receives are
    posted."""
    tempi_env(TEMPI_HOST="1", TEMPI_DATATYPE=strategy)
    world = MPI.COMM_WORLD
    comm = tempi.Comm(world)
    vector, _, _, sspec, rspec = _alltoallw_specs(True, True, world.rank, world.size, 1)
    before = tempi.comm.engine.paths().get("batched", 0)
    failing = Failing(monkeypatch, "pack")
    _expect(_outcome(lambda: comm.Alltoallw(sspec, rspec)), failing.rank)
    assert tempi.comm.engine.paths().get("batched", 0) == before + 1, "not the fused path"
    if world.rank != failing.rank:  # what the failing rank sent: zeros
        got = rspec[0].reshape(world.size, -1)[failing.rank, :: VECTOR[2]][: VECTOR[0]]
        assert np.all(got == 0)
    failing.heal()
    _alltoall_again_matches(comm, 2)
    vector.Free()


@pytest.mark.mpi(min_size=1)
@pytest.mark.parametrize("kernel", ["pack", "unpack"])
def test_alltoall_failing_between_its_messages(tempi_env, monkeypatch, kernel):
    """One message per part (plain MPI parts on one side keep the exchange off the fused
    path): a pack that fails after the receives reached MPI, or an unpack that fails while
    this rank's sends may not have reached MPI yet."""
    tempi_env(TEMPI_HOST="1", TEMPI_DATATYPE="oneshot")
    world = MPI.COMM_WORLD
    comm = tempi.Comm(world)
    packed_sends = kernel == "pack"
    vector, send, recv, sspec, rspec = _alltoallw_specs(
        packed_sends, not packed_sends, world.rank, world.size, 3
    )
    failing = Failing(monkeypatch, kernel)
    _expect(_outcome(lambda: comm.Alltoallw(sspec, rspec)), failing.rank)
    failing.heal()
    _alltoall_again_matches(comm, 4)
    vector.Free()


@pytest.mark.mpi(min_size=1)
def test_alltoall_whose_route_fails_on_one_rank(tempi_env, monkeypatch):
    """tempi refuses one rank's messages before any reached MPI (its route raises): that
    rank still gives and takes every message, then raises."""
    from tempi.comm import engine

    tempi_env(TEMPI_HOST="1", TEMPI_DATATYPE="oneshot")
    world = MPI.COMM_WORLD
    comm = tempi.Comm(world)
    vector, _, _, sspec, rspec = _alltoallw_specs(True, True, world.rank, world.size, 5)
    failing, real = world.size - 1, engine.route_to
    if world.rank == failing:

        def refused(*args, **kwargs):
            raise Injected("route failed")

        monkeypatch.setattr(engine, "route_to", refused)
    _expect(_outcome(lambda: comm.Alltoallw(sspec, rspec)), failing)
    monkeypatch.setattr(engine, "route_to", real)
    _alltoall_again_matches(comm, 6)
    vector.Free()


@pytest.mark.mpi(min_size=1)
@pytest.mark.parametrize("name", ["Bcast", "Gather", "Scatter", "Allgather"])
def test_rooted_collective_whose_pack_fails(tempi_env, monkeypatch, name):
    """Bcast, Gather, Scatter, Allgather: the failing rank (the root) takes part in the
    system MPI's collective with zeros and raises after it."""
    tempi_env(TEMPI_HOST="1", TEMPI_DATATYPE="oneshot")
    world = MPI.COMM_WORLD
    comm = tempi.Comm(world)
    vector = MPI.DOUBLE.Create_vector(*VECTOR).Commit()
    extent = vector.Get_extent()[1] // 8
    failing = Failing(monkeypatch, "pack")
    root = failing.rank  # the rank that packs in each of them
    one = np.arange(extent, dtype=np.float64) + 10 * world.rank
    many = np.zeros(extent * world.size)
    calls = {
        "Bcast": lambda: comm.Bcast([one, 1, vector], root),
        "Gather": lambda: comm.Gather([one, 1, vector], [many, 1, vector], root),
        "Scatter": lambda: comm.Scatter([many, 1, vector], [one, 1, vector], root),
        "Allgather": lambda: comm.Allgather([one, 1, vector], [many, 1, vector]),
    }
    _expect(_outcome(calls[name]), failing.rank)
    failing.heal()
    again = np.zeros(extent * world.size)
    comm.Allgather([one, 1, vector], [again, 1, vector])
    reference = np.zeros(extent * world.size)
    world.Allgather([one, 1, vector], [reference, 1, vector])
    assert np.array_equal(again, reference)
    vector.Free()


@pytest.mark.mpi(min_size=1)
def test_each_failure_stays_with_its_request(tempi_env, monkeypatch):
    """Completing tempi's requests together (what the interposer's MPI_Waitall does): the
    unpack of one receive fails, the other completes, and each outcome is its own
    request's (MPI_ERR_IN_STATUS), not the first failure for all."""
    from tempi.comm import engine
    from tempi.comm.requests import complete_each

    tempi_env(TEMPI_HOST="1", TEMPI_DATATYPE="oneshot")
    world, me = MPI.COMM_WORLD, MPI.COMM_WORLD.rank
    vector = MPI.DOUBLE.Create_vector(*VECTOR).Commit()
    extent = vector.Get_extent()[1] // 8
    data = [np.arange(extent, dtype=np.float64) + k for k in range(2)]
    got = [np.zeros(extent) for _ in range(2)]
    receives = [engine.irecv(world, [got[k], 1, vector], me, 40 + k) for k in range(2)]
    real, calls = select.unpack, []

    def first_fails(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise Injected("unpack kernel failed")
        return real(*args, **kwargs)

    monkeypatch.setattr(select, "unpack", first_fails)
    for k in (0, 1):
        engine.isend(world, [data[k], 1, vector], me, 40 + k).Wait()
    failures = complete_each(receives)  # the first unpack (of the first receive) fails
    assert [type(f).__name__ for f in failures] == ["Injected", "NoneType"]
    assert np.array_equal(got[1][:: VECTOR[2]], data[1][:: VECTOR[2]])
    receives[0].Wait()  # completed: nothing more to raise
    vector.Free()
