"""The interposer's C engine (issue 14): host messages whose (datatype, count) Python has
planned once run in C. Programs that rely on MPI's progress rules (tests/c/progress.c)
give the same output under the shim as without it, on both thread levels, and TEMPI_STATS
shows the steady state: one plan miss per (datatype, count), no message through Python."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_shim import _lines, _plain, _stats_by_rank, _tempi_run

PROGRESS = Path(__file__).parent / "c" / "progress.c"
ROUNDS = 4
ENGINE_MESSAGES = ROUNDS * (1 + 2 + 2 + 2) + ROUNDS * 2 + 2 * 2 + 2 * 2
"""Vector messages of one rank of progress.c: per round Isend (its peer's packed doubles
are a plain receive), Isend + Recv twice, Ssend + Recv (or Sendrecv); the ring's Send_init
and Recv_init started each round; a shorter message by Sendrecv and by Isend + Recv; two
Sendrecv of re-made types."""


@pytest.mark.parametrize("thread_level", ["single", "multiple"])
@pytest.mark.parametrize("nranks", [2, 3])
def test_progress_rules_hold_through_the_engine(program, nranks, thread_level):
    plain = _plain(nranks, [program(PROGRESS), thread_level])
    shim = _tempi_run(nranks, [program(PROGRESS), thread_level], TEMPI_HOST="1")
    assert plain.returncode == 0 and shim.returncode == 0, shim.stdout + shim.stderr
    assert _lines(shim.stdout, "rank") == _lines(plain.stdout, "rank")
    assert len(_lines(plain.stdout, "rank")) == nranks * (5 * ROUNDS + 2 + 2)
    stats = _stats_by_rank(shim.stdout)
    assert sorted(stats) == list(range(nranks)), shim.stdout
    for rank, counts in stats.items():
        assert counts["packed_host"] == ENGINE_MESSAGES, (rank, counts)
        # the vector, the shorter one, two types made and freed: a plan each, on first sight
        assert counts["plan_misses"] == 4, (rank, counts)
        assert counts["in_python"] == 0, (rank, counts)


def test_without_tempi_host_the_engine_stays_out(program):
    """Host memory without TEMPI_HOST goes to the system MPI: no plans, no engine."""
    shim = _tempi_run(2, [program(PROGRESS)], TEMPI_HOST="0")
    assert shim.returncode == 0, shim.stderr
    for counts in _stats_by_rank(shim.stdout).values():
        assert counts["packed_host"] == counts["plan_misses"] == counts["in_python"] == 0
        assert counts["passed_through"] > 0


def test_plans_off_takes_the_python_path(program):
    """TEMPI_PLANS=0: the same output, every tempi message through Python, no plans."""
    plain = _plain(2, [program(PROGRESS)])
    shim = _tempi_run(2, [program(PROGRESS)], TEMPI_HOST="1", TEMPI_PLANS="0")
    assert shim.returncode == 0, shim.stderr
    assert _lines(shim.stdout, "rank") == _lines(plain.stdout, "rank")
    for counts in _stats_by_rank(shim.stdout).values():
        assert counts["plan_misses"] == 0, counts
        assert counts["in_python"] == counts["packed_host"] == ENGINE_MESSAGES, counts
