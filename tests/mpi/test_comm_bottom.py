"""tempi.Comm with ``MPI.BOTTOM`` (MPI-4.1 §5.1.12): datatypes whose displacements are
``MPI.Get_address`` results. Each call is made once through tempi.Comm and once through
plain mpi4py on fresh arrays; the received bytes, counts and sources must agree, and with
TEMPI_HOST=1 tempi's engine must have moved the derived types."""

from __future__ import annotations

import numpy as np
import pytest
from mpi4py import MPI

import tempi

KINDS = ("struct", "vector", "contiguous")
LEN = 64


def _address(array: np.ndarray, index: int) -> int:
    return MPI.Get_address(array[index:])


def _absolute(kind: str, a: np.ndarray, b: np.ndarray) -> MPI.Datatype:
    """struct: {3 doubles at a[1]; vector(4, 1, 3) at b[3]}; vector: vector(5, 2, 4) at
    a[2]; contiguous: 10 doubles at b[5]."""
    if kind == "struct":
        inner = MPI.DOUBLE.Create_vector(4, 1, 3)
        made = MPI.Datatype.Create_struct(
            [3, 1], [_address(a, 1), _address(b, 3)], [MPI.DOUBLE, inner]
        )
    else:
        inner = (
            MPI.DOUBLE.Create_vector(5, 2, 4)
            if kind == "vector"
            else MPI.DOUBLE.Create_contiguous(10)
        )
        where = _address(a, 2) if kind == "vector" else _address(b, 5)
        made = MPI.Datatype.Create_struct([1], [where], [inner])
    inner.Free()
    return made.Commit()


def _arrays(rank: int) -> tuple[np.ndarray, ...]:
    sa = np.arange(LEN, dtype=np.float64) + 1000 * rank
    sb = np.arange(LEN, dtype=np.float64) + 1000 * rank + 500
    return sa, sb, np.full(LEN, -1.0), np.full(LEN, -2.0)


def _both(run) -> dict[str, tuple]:
    """``run(comm)`` through tempi.Comm and through plain mpi4py."""
    return {
        name: run(comm)
        for name, comm in (("tempi", tempi.Comm(MPI.COMM_WORLD)), ("plain", MPI.COMM_WORLD))
    }


def _same(results: dict[str, tuple]) -> None:
    for got, want in zip(results["tempi"], results["plain"]):
        if isinstance(want, np.ndarray):
            assert np.array_equal(got, want)
        else:
            assert got == want


@pytest.fixture(params=["0", "1"], ids=["plain-host", "TEMPI_HOST"])
def host(request, tempi_env) -> bool:
    tempi_env(TEMPI_HOST=request.param)
    return request.param == "1"


@pytest.mark.mpi(min_size=1)
@pytest.mark.parametrize("kind", KINDS)
def test_sendrecv_and_isend_irecv(kind, host, neighbours, counters):
    dest, source = neighbours
    rank = MPI.COMM_WORLD.rank

    def run(comm) -> tuple:
        sa, sb, ra, rb = _arrays(rank)
        st, rt = _absolute(kind, sa, sb), _absolute(kind, ra, rb)
        status = MPI.Status()
        comm.Sendrecv([MPI.BOTTOM, 1, st], dest, 5, [MPI.BOTTOM, 1, rt], source, 5, status)
        first = (ra.copy(), rb.copy(), status.Get_count(rt), status.Get_source())
        ra[:], rb[:] = -3.0, -4.0
        receive = comm.Irecv([MPI.BOTTOM, 1, rt], source, 6)
        send = comm.Isend([MPI.BOTTOM, 1, st], dest, 6)
        statuses = [MPI.Status(), MPI.Status()]
        (tempi.Request if comm is not MPI.COMM_WORLD else MPI.Request).Waitall(
            [receive, send], statuses
        )
        second = (ra, rb, statuses[0].Get_count(rt), statuses[0].Get_tag())
        st.Free()
        rt.Free()
        return first + second

    results = _both(run)
    _same(results)
    assert results["plain"][2] == 1
    moved = {k: v for k, v in counters().items() if "pass" not in k and v > 0}
    assert bool(moved) == (host and kind != "contiguous"), moved


@pytest.mark.mpi(min_size=1)
@pytest.mark.parametrize("kind", KINDS)
def test_bcast(kind, host):
    rank = MPI.COMM_WORLD.rank

    def run(comm) -> tuple:
        sa, sb, ra, rb = _arrays(rank)
        datatype = _absolute(kind, sa, sb) if rank == 0 else _absolute(kind, ra, rb)
        comm.Bcast([MPI.BOTTOM, 1, datatype], root=0)
        datatype.Free()
        return (ra, rb) if rank else (sa, sb)

    _same(_both(run))


@pytest.mark.mpi(min_size=1)
def test_alltoallw(host):
    """To peer p: a struct {1 double at a[4p], 2 doubles at b[4p + 1]} of absolute addresses."""
    rank, size = MPI.COMM_WORLD.rank, MPI.COMM_WORLD.size

    def types(a: np.ndarray, b: np.ndarray) -> list[MPI.Datatype]:
        return [
            MPI.Datatype.Create_struct(
                [1, 2], [_address(a, 4 * p), _address(b, 4 * p + 1)], [MPI.DOUBLE] * 2
            ).Commit()
            for p in range(size)
        ]

    def run(comm) -> tuple:
        n = 4 * size + 4
        ta = np.arange(n, dtype=np.float64) + 1000 * rank
        tb = np.arange(n, dtype=np.float64) + 1000 * rank + 7
        ua, ub = np.full(n, -1.0), np.full(n, -2.0)
        sends, recvs = types(ta, tb), types(ua, ub)
        ones, zeros = [1] * size, [0] * size
        comm.Alltoallw([MPI.BOTTOM, ones, zeros, sends], [MPI.BOTTOM, ones, zeros, recvs])
        for datatype in sends + recvs:
            datatype.Free()
        return ua, ub

    results = _both(run)
    _same(results)
    assert (results["plain"][0] != -1.0).sum() == size


def test_bottom_needs_count_and_type():
    with pytest.raises(tempi.InvalidBuffer, match="MPI.BOTTOM"):
        tempi.Comm(MPI.COMM_WORLD).Isend(MPI.BOTTOM, 0)
