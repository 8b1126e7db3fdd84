"""MPI's error semantics under the shim (issue 13, item 2): tests/c/errors.c, whose errors
tempi finds or returns (truncated receives through Recv, Wait and Waitall, truncated
Pack/Unpack, MPI_Start of an active request), run plainly and under ``TEMPI_HOST=1 tempi
run`` on a communicator with MPI_ERRORS_RETURN and one with a user handler: the same
classes returned, the same handler calls with the same classes, MPI_ERR_IN_STATUS with
per-status errors; under MPI_ERRORS_ARE_FATAL the program aborts in both runs."""

from __future__ import annotations

import re
import sys

import pytest
from mpi4py import MPI

from tests.test_shim import HERE, _lines, _plain, _stats, _tempi_run

ERRORS = HERE / "c" / "errors.c"
OPEN_MPI = "Open MPI" in MPI.Get_library_version()


def _results(output: str) -> dict[tuple[str, str, str], str]:
    found = re.findall(
        r"rank (\d+) (return|handler) ([\w-]+)[: ]+([^\n]*?)(?=rank \d|\n|$)", output
    )
    return {(rank, mode, what): value.strip() for rank, mode, what, value in found}


def _allowed_difference(key: tuple[str, str, str], plain: str, shim: str) -> bool:
    """Where MPICH itself does not say an error, tempi still does: MPICH's MPI_Pack and
    MPI_Unpack do not check the packed buffer's size (tempi returns MPI_ERR_TRUNCATE,
    raised on the handler); an MPI's Waitall may leave a request after the failed one
    pending (MPI_ERR_PENDING; MPICH always, Open MPI at times), tempi completes it
    (MPI_SUCCESS)."""
    what = key[2]
    truncate = MPI.ERR_TRUNCATE
    if OPEN_MPI and what != "waitall":  # (Open MPI too may leave the other one pending)
        return False
    if what in ("pack-truncate", "unpack-truncate") and plain == "class 0 handler 0 class -1":
        return shim in (
            f"class {truncate} handler 0 class -1",
            f"class 0 handler 1 class {truncate}",
        )
    if what == "waitall":  # "statuses: <failed> <other>"
        p, s = plain.split(), shim.split()
        return p[:2] == s[:2] and p[2] == str(MPI.ERR_PENDING) and s[2] == "0"
    return False


@pytest.mark.parametrize("threads", ["single", "multiple"])
@pytest.mark.parametrize("nranks", [2, 3])
def test_errors_keep_mpi_semantics(program, nranks, threads):
    """Under MPI_THREAD_MULTIPLE tempi leaves the handler in place while it works, so an
    error the system MPI finds inside tempi reaches the application's handler from the
    MPI: tempi must not raise it a second time."""
    plain = _plain(nranks, [program(ERRORS), threads])
    shim = _tempi_run(nranks, [program(ERRORS), threads], TEMPI_HOST="1")
    assert plain.returncode == 0 and shim.returncode == 0, shim.stdout + shim.stderr
    expected, got = _results(plain.stdout), _results(shim.stdout)
    assert len(expected) >= nranks * 2 * 6, plain.stdout  # + Waitall's statuses
    assert set(got) == set(expected), shim.stdout
    differences = {k: (expected[k], got[k]) for k in expected if expected[k] != got[k]}
    unexplained = {k: v for k, v in differences.items() if not _allowed_difference(k, *v)}
    assert not unexplained, unexplained
    # the errors tempi itself finds reach the handler, once
    for key, value in got.items():
        if key[1] == "handler" and key[2] in (
            "start-active",
            "recv-truncate",
            "waitall-truncate",
            "sendrecv-bad-rank",
        ):
            assert " handler 1 " in f" {value} ", (key, value)


def test_errors_are_fatal_under_the_default_handler(program):
    plain = _plain(2, [program(ERRORS), "fatal"])
    shim = _tempi_run(2, [program(ERRORS), "fatal"], TEMPI_HOST="1")
    assert plain.returncode != 0 and "survived" not in plain.stdout, plain.stdout
    assert shim.returncode != 0 and "survived" not in shim.stdout, shim.stdout + shim.stderr


DECLINED = HERE / "c" / "declined.py"


@pytest.mark.parametrize("nranks", [1, 2, 3])
def test_a_failure_inside_tempi_before_mpi_passes_the_call_through(nranks):
    """tempi.errors.Declined: a rooted collective whose parts tempi cannot place passes
    through to the system MPI on every rank (the same results as the plain run, counted
    as passed through), with one warning per rank however many calls it hits; tempi takes
    the next call again once it can."""
    command = [sys.executable, str(DECLINED)]
    plain = _plain(nranks, command)
    shim = _tempi_run(nranks, command, TEMPI_HOST="1")
    assert plain.returncode == 0 and shim.returncode == 0, shim.stdout + shim.stderr
    assert _lines(shim.stdout, "rank") == _lines(plain.stdout, "rank")
    assert len(_lines(shim.stdout, "rank")) == 3 * nranks, shim.stdout
    warnings = shim.stderr.count("tempi failed inside a call")
    assert warnings == nranks, shim.stderr
    assert "injected: no staging memory" in shim.stderr
    stats = _stats(shim.stdout)
    assert len(stats) == nranks, shim.stdout
    # 2 rounds of Bcast + Gather passed (the root's Gather counted per part), 1 taken
    assert all(c["passed_through"] >= 4 and c["packed_host"] >= 2 for c in stats), stats


LARGE_COUNT = HERE / "c" / "large_count.c"


@pytest.mark.skipif(MPI.Get_version()[0] < 4, reason="no MPI-4 large-count (_c) forms")
def test_large_count_receive_beyond_int_max(program):
    """MPI_Irecv_c and MPI_Recv_c of 2^31 elements (INT_MAX + 1) of an accelerated type
    with 5 sent: the buffer is 8 GiB of address space of which only the message's bytes
    are written (untouched pages are not memory), so the test needs no large memory. The
    same class, count and bytes as the plain run."""
    plain = _plain(2, [program(LARGE_COUNT)])
    shim = _tempi_run(2, [program(LARGE_COUNT)], TEMPI_HOST="1")
    assert plain.returncode == 0, plain.stdout + plain.stderr
    expected = _lines(plain.stdout, "rank")
    assert len(expected) == 4 and all(" class 0 count 5 " in r for r in expected), expected
    assert shim.returncode == 0, shim.stdout + shim.stderr
    assert _lines(shim.stdout, "rank") == expected, shim.stdout + shim.stderr
