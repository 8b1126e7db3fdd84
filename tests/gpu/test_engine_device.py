"""The C engine on device buffers (issue 14, native/engine_device.c): C programs allocate
with cuMemAlloc ("device" argument, native/devmem.h) and run under ``tempi run``; their
output must equal the same programs' on host buffers without the shim (the host oracle,
byte for byte through the printed checksums), and TEMPI_STATS must show that the device
engine ran the non-contiguous messages without Python (``in_python`` bounded by the
contiguous messages only, the vector's never).

The progress rules of tests/c/progress.c (Isend then a blocking plain MPI_Recv, Isend then
MPI_Barrier, Isend then MPI_Waitall on other requests, MPI_Ssend pairs, Isend then
MPI_Request_free, one side Isend then MPI_Barrier, MPI_Probe or MPI_Comm_dup, a persistent
ring) must hold on device buffers, on both thread levels,
for each forced strategy and the model's pick."""

from __future__ import annotations

import pytest

from tests.test_engine import ENGINE_MESSAGES, PACK, PACK_CALLS, PROGRESS, ROUNDS
from tests.test_shim import _lines, _plain, _stats_by_rank, _tempi_run

DEVICE_PATHS = ("device_direct", "oneshot", "staged", "staged_contiguous")
CONTIGUOUS_PER_RANK = 3 * ROUNDS
"""progress.c's plain-double messages of one rank (a receive per round, a receive and a
send per round): device memory the engine has no plan for (contiguous)."""


@pytest.mark.parametrize("thread_level", ["single", "multiple"])
@pytest.mark.parametrize("strategy", ["auto", "oneshot", "staged"])
@pytest.mark.parametrize("nranks", [2, 3])
def test_progress_rules_hold_on_device_buffers(program, nranks, strategy, thread_level):
    plain = _plain(nranks, [program(PROGRESS), thread_level])
    shim = _tempi_run(nranks, [program(PROGRESS), "device", thread_level], TEMPI_DATATYPE=strategy)
    assert plain.returncode == 0 and shim.returncode == 0, shim.stdout + shim.stderr
    assert _lines(shim.stdout, "rank") == _lines(plain.stdout, "rank")
    stats = _stats_by_rank(shim.stdout)
    assert sorted(stats) == list(range(nranks)), shim.stdout + shim.stderr
    for rank, counts in stats.items():
        device = sum(counts.get(path, 0) for path in DEVICE_PATHS)
        assert device >= ENGINE_MESSAGES, (rank, counts)
        # the vector messages never entered Python: only the contiguous ones may have
        assert counts["in_python"] <= CONTIGUOUS_PER_RANK, (rank, counts)
        if strategy != "auto":
            assert counts[strategy] >= ENGINE_MESSAGES, (rank, counts)


def test_plans_off_on_device_buffers_takes_the_python_path(program):
    """TEMPI_PLANS=0: the same bytes, every device message through Python (the baseline the
    engine is measured against)."""
    plain = _plain(2, [program(PROGRESS)])
    shim = _tempi_run(2, [program(PROGRESS), "device"], TEMPI_PLANS="0")
    assert plain.returncode == 0 and shim.returncode == 0, shim.stdout + shim.stderr
    assert _lines(shim.stdout, "rank") == _lines(plain.stdout, "rank")
    for counts in _stats_by_rank(shim.stdout).values():
        assert counts["plan_misses"] == 0, counts
        assert counts["in_python"] >= ENGINE_MESSAGES, counts


def test_device_pack_and_unpack_run_in_c(program):
    """tests/c/pack_engine.c on device buffers: MPI_Pack/MPI_Unpack of a vector run by
    native/engine_device.c (the plan's kernel into device packed bytes, or through device
    scratch and a copy for a pageable host buffer at an odd position), byte for byte the
    plain host run, none through Python."""
    plain = _plain(2, [program(PACK)])
    shim = _tempi_run(2, [program(PACK), "device"])
    assert plain.returncode == 0 and shim.returncode == 0, shim.stdout + shim.stderr
    assert _lines(shim.stdout, "rank") == _lines(plain.stdout, "rank")
    stats = _stats_by_rank(shim.stdout)
    assert sorted(stats) == [0, 1], shim.stdout + shim.stderr
    for rank, counts in stats.items():
        assert counts["packed_device"] == PACK_CALLS, (rank, counts)
        assert counts["in_python"] == 0, (rank, counts)


def test_device_exchanges_run_in_c_after_their_first_call(program):
    """tests/c/exchange.c on cuMemAlloc'd buffers (issue 14, Deliver 2): Neighbor_alltoallw,
    re-made types, a re-made communicator, Alltoallw and Alltoallv byte for byte the plain
    host run; calls whose every part has a device plan run in C after the first (the
    program's phase lines count them), so some do on every rank and the exchanges that
    ran in C add nothing to in_python."""
    from tests.test_engine import EXCHANGE, EXCHANGE_ROUNDS, _data, _phases

    args = ["--rounds", str(EXCHANGE_ROUNDS)]
    plain = _plain(2, [program(EXCHANGE), *args])
    shim = _tempi_run(2, [program(EXCHANGE), "device", *args])
    assert plain.returncode == 0 and shim.returncode == 0, shim.stdout + shim.stderr
    assert _data(shim.stdout) == _lines(plain.stdout, "rank")
    phases = _phases(shim.stdout)
    for rank in (0, 1):
        assert sum(calls for (r, _), (calls, _) in phases.items() if r == rank) > 0, phases
