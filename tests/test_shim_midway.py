"""A collective that fails inside tempi midway on one rank, from C through the interposer
(issue 13, item 4): tests/c/midway.c's MPI_Alltoallw of a vector type with the last rank's
pack kernel raising (tests/c/faults/sitecustomize.py on PYTHONPATH, MIDWAY_FAULTS=1). The
documented rule (docs/comm.md, tempi.comm.settle): no rank hangs; the failing rank's call
returns MPI_ERR_INTERN through the communicator's handler (MPI_ERRORS_RETURN here) after
handing its peers what they wait for; every other rank returns MPI_SUCCESS with the data
of every rank but the failing one, whose part is zeros; the next collective on the same
communicator gives the plain run's results."""

from __future__ import annotations

import pytest

from tests.test_shim import HERE, _lines, _plain, _tempi_run

MIDWAY = HERE / "c" / "midway.c"
FAULTS = HERE / "c" / "faults"


@pytest.mark.parametrize("nranks", [2, 3])
def test_a_collective_failing_midway_on_one_rank_ends_on_every_rank(program, nranks):
    plain = _plain(nranks, [program(MIDWAY)])
    assert plain.returncode == 0, plain.stdout + plain.stderr
    every = " ".join(["ok"] * nranks)
    assert _lines(plain.stdout, "rank") == sorted(
        f"rank {r} round{n} MPI_SUCCESS {every}" for r in range(nranks) for n in (1, 2)
    )
    # (a hang fails here: _tempi_run's timeout)
    shim = _tempi_run(
        nranks, [program(MIDWAY)], TEMPI_HOST="1", PYTHONPATH=str(FAULTS), MIDWAY_FAULTS="1"
    )
    assert shim.returncode == 0, shim.stdout + shim.stderr
    got = _lines(shim.stdout, "rank")
    failing = nranks - 1
    peers = " ".join(["ok"] * failing + ["zero"])
    want = [f"rank {r} round1 MPI_SUCCESS {peers}" for r in range(failing)]
    want += [f"rank {r} round2 MPI_SUCCESS {every}" for r in range(nranks)]
    assert [g for g in got if not g.startswith(f"rank {failing} round1")] == sorted(want), got
    assert (
        [g for g in got if g.startswith(f"rank {failing} round1 ")]
        == [g for g in got if g.startswith(f"rank {failing} round1 MPI_ERR_INTERN ")]
        != []
    ), got
    assert "injected: the pack kernel failed" in shim.stderr, shim.stderr


def test_without_the_fault_the_shim_run_is_the_plain_one(program):
    """The same program and environment with no fault injected: the plain run's lines
    (so the zeros above come from the fault, not from the shim)."""
    plain = _plain(2, [program(MIDWAY)])
    shim = _tempi_run(2, [program(MIDWAY)], TEMPI_HOST="1", PYTHONPATH=str(FAULTS))
    assert shim.returncode == 0, shim.stdout + shim.stderr
    assert _lines(shim.stdout, "rank") == _lines(plain.stdout, "rank")
