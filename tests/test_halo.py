"""``tempi demo``: the 3-D halo exchange runs under mpiexec and every rank's ghost cells
are right for each method (periodic wrap-around to the same rank included)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tempi import launch


@pytest.mark.parametrize("nranks", [1, 2, 4])
def test_demo_checks_every_ghost(nranks):
    cli = [
        sys.executable,
        "-m",
        "tempi.cli",
        "demo",
        "-n",
        str(nranks),
        "--n",
        "8",
        "--iters",
        "2",
        "--host",
    ]
    result = subprocess.run(
        cli, env=launch.environment(), capture_output=True, text=True, timeout=300
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    rows = [
        line.split()
        for line in result.stdout.splitlines()
        if line.startswith(("tempi-", "baseline"))
    ]
    assert [r[0] for r in rows] == ["tempi-alltoallw", "tempi-isend", "baseline"], output
    assert all(r[-1] == "ok" for r in rows), output
