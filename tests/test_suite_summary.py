"""The suite's own report: on a machine without a GPU, ``pytest -ra`` lists the GPU tests'
skips as one line, so that the other skips stay readable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tempi.pack import cuda

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(cuda.cuda_available(), reason="a GPU machine runs the GPU tests")
def test_gpu_skips_are_one_summary_line():
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-ra", "-p", "no:cacheprovider", "tests/gpu"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("SKIPPED")]
    assert len(lines) == 1 and "no CUDA device" in lines[0], result.stdout[-3000:]
    assert result.returncode == 0, result.stdout[-3000:]
