"""Runs tests/mpi under mpiexec, so the plain ``pytest`` command covers multi-rank tests.

Each rank count is one test here; a failure shows the ranks' output.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tempi import launch

MPI_TESTS = Path(__file__).parent / "mpi"


@pytest.mark.parametrize("nranks", [1, 2, 4])
def test_mpi_suite(nranks):
    program = [
        sys.executable,
        "-m",
        "mpi4py",
        "-m",
        "pytest",
        "--with-mpi",
        "-q",
        "-p",
        "no:cacheprovider",
        str(MPI_TESTS),
    ]
    result = subprocess.run(
        launch.command(nranks, program),
        env=launch.environment(),
        cwd=MPI_TESTS.parent.parent,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert " passed" in output, output


def test_placement_on_8_ranks():
    """tests/mpi/test_placement.py on 8 ranks: 2 and 3 simulated nodes of several ranks each."""
    program = [sys.executable, "-m", "mpi4py", "-m", "pytest", "--with-mpi", "-q"]
    program += ["-p", "no:cacheprovider", str(MPI_TESTS / "test_placement.py")]
    result = subprocess.run(
        launch.command(8, program),
        env=launch.environment(),
        cwd=MPI_TESTS.parent.parent,
        capture_output=True,
        text=True,
        timeout=600,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert " passed" in output, output
