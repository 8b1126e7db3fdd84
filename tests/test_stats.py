"""TEMPI_STATS under the interposer: one line per rank of message counts by what happened
to the messages (tempi.comm.engine.MESSAGE_COUNTERS), the same unit whichever path a
message takes; and the interposer's C side reading every spelling of its switches as
Python does (tempi/config.py's table, generated into C)."""

from __future__ import annotations

import pytest

from tempi.comm.engine import MESSAGE_COUNTERS
from tests.test_shim import COLLECTIVES, ROOTED, ROUNDTRIP, _records, _stats_by_rank, _tempi_run


def test_the_line_names_every_counter_in_order(program):
    shim = _tempi_run(2, [program(ROUNDTRIP)], TEMPI_HOST="1")
    assert shim.returncode == 0, shim.stderr
    lines = _records(shim.stdout, "tempi[")
    assert len(lines) == 2, shim.stdout
    for line in lines:
        counters = line.split(": ", 1)[1].split("rank ")[0]  # (a rank's output may follow)
        names = [item.split("=")[0] for item in counters.split()]
        assert names == list(MESSAGE_COUNTERS), line


@pytest.mark.parametrize("source, nranks", [(COLLECTIVES, 2), (ROOTED, 3)])
def test_passed_collectives_count_messages_as_packed_ones_do(program, source, nranks):
    """The same program with host types packed by tempi (TEMPI_HOST=1) and passed to the
    system MPI (TEMPI_HOST=false): each rank counts the same number of messages."""
    packed = _tempi_run(nranks, [program(source)], TEMPI_HOST="1")
    passed = _tempi_run(nranks, [program(source)], TEMPI_HOST="false")
    assert packed.returncode == 0 and passed.returncode == 0, packed.stderr + passed.stderr
    by_packed, by_passed = _stats_by_rank(packed.stdout), _stats_by_rank(passed.stdout)
    assert sorted(by_packed) == sorted(by_passed) == list(range(nranks))
    for rank in range(nranks):
        total = by_packed[rank]["packed_host"] + by_packed[rank]["passed_through"]
        assert by_passed[rank]["packed_host"] == 0, by_passed
        assert by_passed[rank]["passed_through"] == total, (by_packed, by_passed)


@pytest.mark.parametrize(
    "spelling, on",
    [
        ("false", False),
        ("Off", False),
        ("no", False),
        ("0", False),
        ("TRUE", True),
        (" on ", True),
        ("yes", True),
        ("1", True),
    ],
)
def test_interposer_reads_spellings_as_python(program, spelling, on):
    """TEMPI_DISABLE=false used to disable the shim (C took any value but 0 as true)."""
    shim = _tempi_run(2, [program(ROUNDTRIP)], TEMPI_HOST="1", TEMPI_DISABLE=spelling)
    assert shim.returncode == 0, shim.stderr
    stats = _stats_by_rank(shim.stdout)
    if on:  # disabled: Python never starts, no counters
        assert stats == {}, shim.stdout
    else:
        assert [s["packed_host"] for s in stats.values()] == [24, 24], stats
