"""The rules of the multi-completion calls live once, in C (native/requests.c; issue 13,
item 5): the same mix of plain and tempi's requests -- MPI_REQUEST_NULL and inactive
persistent requests of both kinds among them -- through the interposer
(tests/c/completion_rules.c under ``tempi run``) and through tempi.Comm
(tests/c/completion_rules.py, tempi's requests run by the C engine and, with
TEMPI_PLANS=0, by Python) gives the same indices, flags, outcounts, statuses and error
classes, line for line; against the plain run, every request has the same outcome (the
system MPI completes them in its own order, and MPICH leaves the requests after a failed
one pending where tempi completes them)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tempi import launch
from tests.test_shim import HERE, _plain, _stats, _tempi_run

RULES_C = HERE / "c" / "completion_rules.c"
RULES_PY = HERE / "c" / "completion_rules.py"
LINES = 20  # per rank, at the least


def _by_rank(folder: Path) -> dict[int, list[str]]:
    """Each rank's lines (``rank R NNN text``, in DIR/rules.R) in the order it wrote them."""
    ranks: dict[int, list[tuple[int, str]]] = {}
    for path in sorted(folder.glob("rules.*")):
        for record in path.read_text().splitlines():
            rank, seq, text = record.split(" ", 3)[1:]
            ranks.setdefault(int(rank), []).append((int(seq), text.strip()))
    return {rank: [text for _, text in sorted(lines)] for rank, lines in ranks.items()}


def _outcomes(lines: list[str]) -> set[str]:
    """What became of each request, whatever the order: ``call index status``."""
    found = set()
    for line in lines:
        call, rest = line.split(" ", 1)
        if call in ("testany", "waitany") and rest.startswith("index="):
            index, status = rest[len("index=") :].split(" ", 1)
            found.add(f"{call} {index} {status}")
        elif call in ("testsome", "waitsome") and rest.startswith("outcount="):
            found.update(f"{call} {part}" for part in rest.split(" | ")[1:])
        elif call == "waitall":  # the class and the truncated receive's own error
            found.add(" | ".join(line.split(" | ")[:2]))
        else:
            found.add(line)
    return found


def _python(plans: str, folder: Path) -> subprocess.CompletedProcess:
    env = launch.environment({**os.environ, "TEMPI_HOST": "1", "TEMPI_PLANS": plans})
    cmd = launch.command(2, [sys.executable, str(RULES_PY), str(folder)])
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)


def test_interposer_and_tempi_comm_answer_alike(program, tmp_path):
    binary = program(RULES_C)
    folders = {name: tmp_path / name for name in ("plain", "shim", "engine", "python")}
    for folder in folders.values():
        folder.mkdir()
    plain = _plain(2, [binary, str(folders["plain"])])
    shim = _tempi_run(2, [binary, str(folders["shim"])], TEMPI_HOST="1")
    runs = {
        "plain": plain,
        "shim": shim,
        "engine": _python("1", folders["engine"]),
        "python": _python("0", folders["python"]),
    }
    for name, run in runs.items():
        assert run.returncode == 0, f"{name}: {run.stdout}{run.stderr}"
    lines = {name: _by_rank(folder) for name, folder in folders.items()}
    ours = lines["shim"]
    assert sorted(ours) == [0, 1] and all(len(v) >= LINES for v in ours.values()), shim.stdout
    assert all(c["packed_host"] > 0 for c in _stats(shim.stdout)), shim.stdout  # tempi's
    assert lines["engine"] == ours, (ours, lines["engine"])
    assert lines["python"] == ours, (ours, lines["python"])
    for rank in (0, 1):
        assert _outcomes(lines["plain"][rank]) == _outcomes(ours[rank]), rank
    truncated = [line for line in ours[0] if line.startswith("waitall truncated")]
    assert truncated == [
        "waitall truncated class=in_status | truncate | success | success | success"
    ], truncated
