"""``tempi run``: launcher options pass through (hostfiles, ranks per node, binding,
variables for the ranks), the program is found unambiguously, a program argument ``--``
reaches the program, and a bad environment stops the launch before any rank starts. The
launch tests use this MPI's own spellings (hydra's mpiexec or Open MPI's mpirun) and the
other launcher's everyday spellings, which tempi rewrites."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tempi import cli, launch

HERE = Path(__file__).parent
ARGS = HERE / "c" / "args.c"
VENDOR = launch.mpi_vendor()


def _run(
    arguments: list[str], cwd: Path | None = None, **variables: str
) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k != "TEMPI_RUN_PROBE"}
    env = launch.environment({**base, **variables})
    command = [sys.executable, "-m", "tempi.cli", "run", *arguments]
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


def _ranks(result: subprocess.CompletedProcess) -> list[str]:
    assert result.returncode == 0, result.stdout + result.stderr
    import re

    return sorted(r.strip() for r in re.split(r"(?=rank \d+ of)", result.stdout) if r.strip())


@pytest.fixture(scope="module")
def hostfile(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("hosts") / "hosts"
    path.write_text("localhost\nlocalhost\n")
    return path


# -- finding the program ------------------------------------------------------------------


def test_split_takes_the_first_executable_and_leaves_it_everything_after(tmp_path):
    app = tmp_path / "app"
    app.write_text("#!/bin/sh\n")
    app.chmod(0o755)
    split = cli.split_run
    assert split(["-n", "2", str(app), "--", "x"]) == (2, [], [str(app), "--", "x"])
    assert split(["--bind-to", "core", "-genv", "A", "1", str(app), "-n", "3"]) == (
        None,
        ["--bind-to", "core", "-genv", "A", "1"],
        [str(app), "-n", "3"],
    )
    assert split(["-np=4", "--", "app", "-x"]) == (4, [], ["app", "-x"])
    assert split(["-n", "2", "--some-flag", "value", "python3", "-c", "1"]) == (
        2,
        ["--some-flag", "value"],
        ["python3", "-c", "1"],
    )
    # a launcher value that is also a program on PATH is still the option's
    assert split(["-launcher", "ssh", str(app)])[2] == [str(app)]


@pytest.mark.parametrize(
    "arguments, says",
    [
        (["-n", "2"], "no program given"),
        (["-n", "two", "--", "x"], "number of ranks"),
        (["-n", "2", "notes.txt"], "neither a launcher option nor an executable"),
        (["-genv", "A"], "needs 2 values"),
    ],
)
def test_unreadable_command_lines_say_how_to_write_them(arguments, says, tmp_path):
    (tmp_path / "notes.txt").write_text("")
    result = _run(arguments, cwd=tmp_path)
    assert result.returncode == 2 and says in result.stderr, result.stderr
    assert "usage: tempi run" in result.stderr and "unrecognized" not in result.stderr


def test_portable_rewrites_only_what_the_launcher_would_reject():
    hydra = ["-ppn", "2", "-bind-to", "core", "-genv", "A", "1", "-f", "h", "--foo"]
    assert cli.portable(hydra, "mpich") == hydra
    assert cli.portable(hydra, "openmpi") == [
        *("--map-by", "ppr:2:node", "--bind-to", "core", "-x", "A=1", "--hostfile", "h"),
        "--foo",
    ]
    ompi = ["-x", "A=1", "-x", "B", "--bind-to", "core", "--hostfile", "h"]
    assert cli.portable(ompi, "openmpi") == ompi
    assert cli.portable(ompi, "mpich") == [
        *("-genv", "A", "1", "-genvlist", "B", "--bind-to", "core", "--hostfile", "h")
    ]


# -- launching ------------------------------------------------------------------------------


def test_a_program_argument_dashdash_reaches_the_program(program):
    ranks = _ranks(_run(["-n", "2", program(ARGS), "--", "x"]))
    assert ranks == [f"rank {r} of 2 preload=yes probe=- args: [--] [x]" for r in (0, 1)]


def test_dashdash_before_the_program(program):
    ranks = _ranks(_run(["-n", "2", "--", program(ARGS), "a", "--", "b"]))
    assert ranks == [f"rank {r} of 2 preload=yes probe=- args: [a] [--] [b]" for r in (0, 1)]


OWN = {
    "mpich": {
        "ranks per node": ["-ppn", "2"],
        "binding, one dash": ["-bind-to", "core"],
        "binding, two dashes": ["--bind-to", "core"],
        "mapping": ["-map-by", "core"],
        "variable": ["-genv", "TEMPI_RUN_PROBE", "from-option"],
        "hostfile": ["-f", "{hostfile}"],
        "hostfile, long": ["--hostfile", "{hostfile}"],
        "hosts and ranks per node": ["-hosts", "localhost,localhost", "-ppn", "1"],
    },
    "openmpi": {
        "ranks per node": ["--map-by", "ppr:2:node"],
        "binding": ["--bind-to", "core"],
        "variable": ["-x", "TEMPI_RUN_PROBE=from-option"],
        "hostfile": ["--hostfile", "{hostfile}"],
        "hosts": ["--host", "localhost:2"],
        "ranks per node, -N": ["-N", "2"],
    },
}
"""Each launcher's own spellings of the option families a real job needs."""

OTHER = {
    "mpich": {"variable": ["-x", "TEMPI_RUN_PROBE=from-option"]},
    "openmpi": {
        "ranks per node": ["-ppn", "2"],
        "binding, one dash": ["-bind-to", "core"],
        "variable": ["-genv", "TEMPI_RUN_PROBE", "from-option"],
        "hostfile": ["-f", "{hostfile}"],
        "hosts": ["-hosts", "localhost,localhost"],
    },
}
"""The other launcher's spellings, which tempi rewrites for this one."""


@pytest.mark.parametrize(
    "family, options",
    [
        *OWN.get(VENDOR, {}).items(),
        *((f"{k} (rewritten)", v) for k, v in OTHER.get(VENDOR, {}).items()),
    ],
    ids=lambda x: x if isinstance(x, str) else None,
)
def test_launcher_options_pass_through(program, hostfile, family, options):
    options = [o.format(hostfile=hostfile) for o in options]
    result = _run(["-n", "2", *options, program(ARGS), "arg"])
    probe = "from-option" if "variable" in family else "-"
    expected = [f"rank {r} of 2 preload=yes probe={probe} args: [arg]" for r in (0, 1)]
    assert _ranks(result) == expected, result.stderr


def test_tempi_variables_reach_the_ranks(program):
    result = _run(["-n", "2", program(ARGS)], TEMPI_RUN_PROBE="from-environment")
    # TEMPI_RUN_PROBE is not one of tempi's variables: one warning, from the launcher only
    assert result.stderr.count("TEMPI_RUN_PROBE is not a tempi variable") == 1, result.stderr
    assert _ranks(result) == [
        f"rank {r} of 2 preload=yes probe=from-environment args:" for r in (0, 1)
    ]


def test_a_bad_value_stops_the_launch_with_one_error(program):
    result = _run(["-n", "2", program(ARGS)], TEMPI_DATATYPE="oneshto", TEMPI_HOTS="1")
    assert result.returncode == 2 and "rank" not in result.stdout, result.stdout
    err = result.stderr
    assert err.count("TEMPI_DATATYPE='oneshto'") == 1 and "did you mean oneshot?" in err, err
    assert err.count("TEMPI_HOTS is not a tempi variable") == 1 and "TEMPI_HOST?" in err, err
    assert "nothing launched" in err


def test_first_build_of_the_shim_says_so(program, tmp_path):
    result = _run(["-n", "1", program(ARGS)], TEMPI_CACHE_DIR=str(tmp_path))
    assert "building the interposer" in result.stderr and str(tmp_path) in result.stderr
    assert _ranks(result) == ["rank 0 of 1 preload=yes probe=- args:"]
    again = _run(["-n", "1", program(ARGS)], TEMPI_CACHE_DIR=str(tmp_path))
    assert "building" not in again.stderr and again.returncode == 0
