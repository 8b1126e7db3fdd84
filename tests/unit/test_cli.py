"""The ``tempi`` command line."""

from __future__ import annotations

import subprocess
import sys

from tempi import cli


def test_info_prints_versions_and_canonical_forms(capsys):
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    for needle in (
        "tempi",
        "MPI library",
        "MPI ABI",
        "CUDA-aware MPI",
        "GPU",
        "StridedBlock(start=520",
    ):
        assert needle in out, needle


def test_help_lists_subcommands():
    result = subprocess.run(
        [sys.executable, "-m", "tempi.cli", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0
    assert "info" in result.stdout and "subcommand" in result.stdout


def test_bench_lists_every_benchmark(capsys):
    assert cli.main(["bench"]) == 0
    out = capsys.readouterr().out
    for name in cli.BENCHMARKS:
        assert name in out, name
    assert "What does the interposer add" in out  # the script's own first sentence


def test_bench_runs_a_script_and_writes_its_csv(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "tempi.cli", "bench", "shim-overhead"]
        + ["--calls", "2000", "--repeat", "1", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "overhead_ns" in result.stdout
    assert list(tmp_path.glob("shim_overhead_*.csv"))


def test_bench_launches_two_rank_scripts_with_mpiexec():
    result = subprocess.run(
        [sys.executable, "-m", "tempi.cli", "bench", "pingpong", "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("usage:") == 2  # one per rank


def test_bench_rejects_unknown_names():
    result = subprocess.run(
        [sys.executable, "-m", "tempi.cli", "bench", "nonsense"], capture_output=True, text=True
    )
    assert result.returncode == 2 and "invalid choice" in result.stderr
