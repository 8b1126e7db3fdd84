"""The interposer's memory-kind check with a CUDA driver loaded (issue 14, item 6): host
memory the shim can tell without the driver -- the thread's stack, the brk heap -- costs
no ``cuPointerGetAttribute``; any other memory (an mmap'd block) is still asked of the
driver every time. The stand-in driver (tests/fake_cuda/libcuda.c, built as
``libcuda.so.1``) counts the queries; the real driver's figure comes from the GPU machine
(benchmarks/shim_overhead.py's CUDA-loaded case in scripts/gpu-check)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .test_shim import _plain, _tempi_run

HERE = Path(__file__).parent
CALLS = 500


@pytest.fixture(scope="module")
def fake_cuda(tmp_path_factory) -> str:
    from tests.fake_cuda import build_driver

    return str(build_driver(tmp_path_factory.mktemp("cuda")))


def _counts(output: str) -> dict[str, dict[str, int]]:
    found = {}
    for line in output.splitlines():
        name, _, rest = line.partition(": ")
        if name in ("stack", "heap", "mmap"):
            found[name] = {k: int(v) for k, v in (p.split("=") for p in rest.split() if "=" in p)}
    return found


def test_host_ranges_skip_the_driver(program, fake_cuda):
    binary = program(HERE / "c" / "memkind.c")
    plain = _plain(1, [binary, fake_cuda, str(CALLS)])
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert all(c["driver"] == 0 for c in _counts(plain.stdout).values()), plain.stdout
    shim = _tempi_run(1, [binary, fake_cuda, str(CALLS)])
    assert shim.returncode == 0, shim.stdout + shim.stderr
    counts = _counts(shim.stdout)
    assert set(counts) == {"stack", "heap", "mmap"}, shim.stdout
    for name in ("stack", "heap"):  # recognised: no query
        assert counts[name] == {"queries": 0, "known": CALLS, "driver": 0}, counts
    # elsewhere the driver is asked, every call (nothing is remembered for such memory)
    assert counts["mmap"] == {"queries": CALLS, "known": 0, "driver": CALLS}, counts
