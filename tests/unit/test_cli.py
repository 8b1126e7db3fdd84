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
