"""Placement under the interposer: tests/c/placement.c (a Cartesian grid and a weighted
ring made both ways, with reorder) checks its own communicators and messages; here, on 4
ranks, simulated nodes make tempi move ranks and TEMPI_STATS reports the cut before and
after, while reorder=0, one node, TEMPI_PLACEMENT=none and TEMPI_DISABLE give what the
system MPI gives without the shim."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tempi import launch

PLACEMENT = Path(__file__).parent / "c" / "placement.c"


def _run(program: list[str], shim: bool, **variables: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEMPI_")}
    env = launch.environment({**env, **variables})
    if shim:
        command = [sys.executable, "-m", "tempi.cli", "run", "-n", "4", "--", *program]
    else:
        command = launch.command(4, program)
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    # ranks share one pipe: another rank's record may share rank 0's "ok" line
    assert "ok\n" in result.stdout and "FAIL" not in result.stdout, result.stdout
    return result


def _ranks(output: str) -> dict[int, tuple[int, int, int]]:
    """world rank -> (cart, adjacent, graph) ranks."""
    found = re.findall(r"rank (\d+) cart (\d+) adjacent (\d+) graph (\d+)", output)
    return {int(w): (int(c), int(a), int(g)) for w, c, a, g in found}


def _placements(output: str) -> list[dict[str, str]]:
    lines = re.findall(r"tempi\[\d+\]: placement (\w+) ([^\n]*?)(?=tempi\[|rank |\n|$)", output)
    return [{"kind": kind, **dict(i.split("=") for i in rest.split())} for kind, rest in lines]


@pytest.fixture(scope="module")
def plain(program) -> dict[int, tuple[int, int, int]]:
    return _ranks(_run([program(PLACEMENT)], False).stdout)


def test_simulated_nodes_move_ranks_and_report_the_cut(program, plain):
    result = _run([program(PLACEMENT)], True, TEMPI_NODES="2:cyclic", TEMPI_STATS="1")
    ranks = _ranks(result.stdout)
    assert len(ranks) == 4
    assert any(ranks[w][1] != w for w in ranks), result.stdout  # the ring was placed
    placements = _placements(result.stdout)
    assert len(placements) == 3 * 4, result.stdout  # three topologies, four ranks
    for p in placements:
        assert int(p["cut_after"]) <= int(p["cut_before"])
        if p["kind"] != "cart":
            # heavy edges (0,1) and (2,3) crossed nodes {0,2} and {1,3}; now only light ones
            assert (int(p["cut_before"]), int(p["cut_after"])) == (44, 4)
            assert (int(p["before"]), int(p["after"])) == (22, 2)


@pytest.mark.parametrize(
    "variables",
    [
        {"TEMPI_NODES": "2:cyclic", "REORDER": "0"},
        {},  # one real node
        {"TEMPI_NODES": "1"},
        {"TEMPI_NODES": "2:cyclic", "TEMPI_PLACEMENT": "none"},
        {"TEMPI_NODES": "2:cyclic", "TEMPI_DISABLE": "1"},
    ],
    ids=["reorder0", "one-node", "one-simulated-node", "placement-none", "disabled"],
)
def test_untouched_like_the_system_mpi(program, plain, variables):
    variables = dict(variables, TEMPI_STATS="1")
    reorder = variables.pop("REORDER", "1")
    result = _run([program(PLACEMENT), reorder], True, **variables)
    expected = plain if reorder == "1" else {w: (w, w, w) for w in range(4)}
    assert _ranks(result.stdout) == expected
    assert not _placements(result.stdout)
