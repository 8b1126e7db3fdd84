"""Fixtures of the tempi.Comm tests: the strategy under test (host memory, TEMPI_HOST=1),
user datatypes, payloads that any rank can rebuild, and the engine's path counters.

The oracle is always what the system MPI delivers: ``MPI_Unpack(MPI_Pack(sent))`` into the
receiver's initial bytes (tests/oracle.py), or a plain mpi4py transfer of the same data.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from mpi4py import MPI

from tempi.datatype._mpilib import footprint
from tests.oracle import mpi_pack, mpi_unpack

STRATEGIES = ("auto", "oneshot", "device", "staged")
ENGINE_PATHS = ("oneshot", "device", "staged")
PAD = 24  # bytes past the last element that must stay untouched

TYPES = {
    "vector": lambda: MPI.DOUBLE.Create_vector(16, 3, 7),
    "subarray": lambda: MPI.INT.Create_subarray([6, 8, 10], [4, 1, 5], [1, 3, 2]),
    "struct": lambda: MPI.Datatype.Create_struct([2, 1], [0, 40], [MPI.SHORT, MPI.DOUBLE_INT]),
    "indexed": lambda: MPI.FLOAT.Create_indexed([3, 1, 2], [9, 0, 4]),
}


@pytest.fixture(params=STRATEGIES)
def strategy(request, tempi_env) -> str:
    """Host memory through tempi's engine with TEMPI_DATATYPE forced to each strategy."""
    tempi_env(TEMPI_HOST="1", TEMPI_DATATYPE=request.param)
    return request.param


@pytest.fixture(params=sorted(TYPES))
def usertype(request) -> MPI.Datatype:
    datatype = TYPES[request.param]().Commit()
    yield datatype
    datatype.Free()


class Wire:
    """Payloads and the bytes the system MPI would deliver."""

    @staticmethod
    def payload(datatype: MPI.Datatype, count: int, rank: int, salt: int) -> np.ndarray:
        """Random bytes covering ``count`` elements (origin = byte 0) plus PAD, the same on
        every rank for the same (rank, salt)."""
        lo, hi = footprint(datatype, count)
        assert lo >= 0, "test types start at or after their origin"
        seed = zlib.crc32(f"{rank}/{salt}/{datatype.Get_size()}/{hi}".encode())
        return np.random.default_rng(seed).integers(0, 256, hi + PAD, dtype=np.uint8)

    @staticmethod
    def displs(counts: list[int], reverse: bool) -> list[int]:
        """Back-to-back displacements (in extents), in slot order or reversed."""
        order = list(range(len(counts)))[:: -1 if reverse else 1]
        displs, at = [0] * len(counts), 0
        for k in order:
            displs[k] = at
            at += counts[k]
        return displs

    @staticmethod
    def delivered(
        sent: np.ndarray, count: int, datatype: MPI.Datatype, target: np.ndarray
    ) -> np.ndarray:
        """``target`` after receiving ``count`` elements of ``sent`` with ``datatype``."""
        expected = target.copy()
        mpi_unpack(mpi_pack(sent, 0, count, datatype), expected, 0, count, datatype)
        return expected


@pytest.fixture
def wire() -> type[Wire]:
    return Wire


def stats_delta(before: dict[str, int]) -> dict[str, int]:
    import tempi.comm

    after = tempi.comm.engine.paths()
    return {k: after.get(k, 0) - before.get(k, 0) for k in set(after) | set(before)}


@pytest.fixture
def engine_ran(strategy):
    """Call after the transfers: asserts that tempi's engine counted work on the forced
    strategy's path (any engine path for auto, or the C engine: ``engine``), not only
    passthrough."""
    import tempi.comm

    before = dict(tempi.comm.engine.paths())

    def check(nbytes: int | None = None) -> dict[str, int]:
        """``nbytes``: the message's packed size, for auto: where the host model measured the
        MPI's typed path faster for it, tempi hands the message to the MPI's own call with
        its datatype (strategy ``system``) and no engine path may move."""
        from tempi.model import choose

        delta = stats_delta(before)
        paths = (*ENGINE_PATHS, "engine") if strategy == "auto" else (strategy,)
        if strategy == "auto" and nbytes and choose.pick_host(nbytes) == "system":
            assert not any(delta.get(p, 0) > 0 for p in paths), f"system: packed {delta}"
            return delta
        assert any(delta.get(p, 0) > 0 for p in paths), f"{strategy}: counters moved {delta}"
        return delta

    return check


@pytest.fixture
def counters():
    """``counters()`` -> the change of the engine's path counters since the fixture was set up."""
    import tempi.comm

    before = dict(tempi.comm.engine.paths())
    return lambda: stats_delta(before)


def ring(comm: MPI.Comm) -> tuple[int, int]:
    """(dest, source): the right and left neighbours."""
    return (comm.rank + 1) % comm.size, (comm.rank - 1) % comm.size


@pytest.fixture
def neighbours() -> tuple[int, int]:
    """(dest, source) on COMM_WORLD's ring; both are this rank at one rank."""
    return ring(MPI.COMM_WORLD)
