"""The 3-D halo exchange: ``tempi demo`` (Python, tempi.Comm against hand-packed mpi4py),
the C program ``benchmarks/halo/halo.c`` plain and under ``tempi run``, and the benchmark
driver ``benchmarks/halo/run.py``. Every rank checks its ghost cells in every run (periodic
wrap-around to the same rank included); host memory with TEMPI_HOST=1 here."""

from __future__ import annotations

import csv
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from tempi import launch
from tempi._native import native_dir
from tempi.model import choose
from tempi.shim import build
from tests.test_shim import _plain, _stats, _tempi_run

ROOT = Path(__file__).resolve().parent.parent
HALO_C = ROOT / "benchmarks" / "halo" / "halo.c"
DRIVER = ROOT / "benchmarks" / "halo" / "run.py"
HAVE_MATPLOTLIB = importlib.util.find_spec("matplotlib") is not None


@pytest.mark.parametrize("nranks", [1, 2, 4])
def test_demo_checks_every_ghost(nranks, tmp_path):
    png = tmp_path / "demo.png"
    cli = [sys.executable, "-m", "tempi.cli", "demo", "-n", str(nranks), "--n", "8"]
    cli += ["--iters", "2", "--host", "--out", str(png)]
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
    if HAVE_MATPLOTLIB:
        assert f"plot: {png}" in result.stdout and png.stat().st_size > 0, output
    else:
        assert "matplotlib not installed" in result.stdout, output


@pytest.fixture(scope="module")
def halo(tmp_path_factory) -> str:
    build.build()
    binary = tmp_path_factory.mktemp("halo") / "halo"
    compile_ = [build.mpicc(), "-std=c99", "-O2", "-I", str(native_dir()), "-o", str(binary)]
    subprocess.run([*compile_, str(HALO_C)], check=True)
    return str(binary)


def _results(output: str) -> list[dict[str, str]]:
    """The ``halo-c`` lines, without their timings."""
    found = []
    for line in output.splitlines():
        if line.startswith("halo-c ") and "median_s=" in line:
            fields = dict(item.split("=", 1) for item in line.split()[1:])
            found.append({k: v for k, v in fields.items() if not k.endswith("_s")})
    return found


@pytest.mark.parametrize("nranks", [2, 4])
def test_c_halo_plain_and_under_tempi(halo, nranks):
    """Isend/Irecv and Neighbor_alltoallw of 26 subarray types (radius 2, 2 quantities):
    the same ghosts and bytes plain and under the shim, every part through tempi."""
    program = [halo, "host", "--n", "6", "--radius", "2", "--quantities", "2", "--iters", "3"]
    plain = _plain(nranks, program)
    shim = _tempi_run(nranks, program, TEMPI_HOST="1")
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert shim.returncode == 0, shim.stdout + shim.stderr
    results = _results(plain.stdout)
    assert [r["method"] for r in results] == ["isend", "alltoallw"], plain.stdout
    # faces 6*6*2 x 6, edges 6*2*2 x 12, corners 2*2*2 x 8 cells; 2 doubles each
    cells = 6 * 6 * 6 * 2 + 12 * 6 * 2 * 2 + 8 * 2 * 2 * 2
    assert all(r["ghosts"] == "ok" and r["bytes"] == str(cells * 2 * 8) for r in results)
    assert _results(shim.stdout) == results
    stats = _stats("\n".join(x for x in shim.stdout.splitlines() if x.startswith("tempi[")))
    assert len(stats) == nranks, shim.stdout + shim.stderr
    # per exchange 6 faces, 12 edges, 8 corners, each sent and received; each part packed
    # by tempi or, where the host model measured the MPI's typed path faster for its size,
    # handed to the MPI with its datatype (strategy ``system``)
    sizes = {6: 6 * 6 * 2, 12: 6 * 2 * 2, 8: 2 * 2 * 2}  # parts: cells per part
    rounds = 2 * (2 + 3) * 2  # methods x (warm-up + timed) x (send + receive)
    packed = sum(rounds * n for n, c in sizes.items() if choose.pick_host(c * 2 * 8) == "packed")
    system = rounds * 26 - packed
    assert packed > 0, "no part of the halo was packed by tempi"
    assert all(c["packed_host"] == packed and c["passed_through"] == system for c in stats), (
        stats,
        packed,
    )


def test_benchmark_driver_quick(tmp_path):
    cli = [sys.executable, str(DRIVER), "--quick", "--np", "2", "--host"]
    result = subprocess.run(
        [*cli, "--out-dir", str(tmp_path)],
        env=launch.environment(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    (table,) = tmp_path.glob("halo_*.csv")
    with table.open() as f:
        rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
    assert {(r["implementation"], r["method"]) for r in rows} == {
        ("python", "tempi-alltoallw"),
        ("python", "tempi-isend"),
        ("python", "baseline"),
        ("c-plain", "isend"),
        ("c-plain", "alltoallw"),
        ("c-tempi", "isend"),
        ("c-tempi", "alltoallw"),
    }, output
    assert len(rows) == 2 * 7 and all(r["ghosts"] == "ok" for r in rows), output
    assert all(float(r["median_s"]) > 0 and int(r["bytes"]) > 0 for r in rows), output
    # the same configuration moves the same bytes in every implementation
    assert len({(r["radius"], r["bytes"]) for r in rows}) == 2, output
    assert all(float(r["speedup_vs_py_baseline"]) > 0 for r in rows), output
    assert list(tmp_path.glob("halo_*.png")) or not HAVE_MATPLOTLIB, output


@pytest.mark.parametrize("nranks", [2, 4])
def test_c_halo_alltoallw_makes_no_python_entry_after_warm_up(halo, nranks):
    """The interposer's MPI_Neighbor_alltoallw after its first call runs in C
    (native/engine_exchange.c): TEMPI_STATS' in_python counts the first call's parts only,
    however many calls follow, and the ghosts and bytes are the plain run's."""
    base = [halo, "host", "--n", "6", "--radius", "2", "--quantities", "2"]
    base += ["--method", "alltoallw", "--warmup", "1"]
    plain = _plain(nranks, [*base, "--iters", "2"])
    assert plain.returncode == 0, plain.stdout + plain.stderr
    entries = {}
    for iters in (2, 5):
        shim = _tempi_run(nranks, [*base, "--iters", str(iters)], TEMPI_HOST="1")
        assert shim.returncode == 0, shim.stdout + shim.stderr
        (result,) = _results(shim.stdout)
        assert result["ghosts"] == "ok" and result["bytes"] == _results(plain.stdout)[0]["bytes"]
        stats = _stats("\n".join(x for x in shim.stdout.splitlines() if x.startswith("tempi[")))
        assert len(stats) == nranks, shim.stdout + shim.stderr
        # every call's 26 sends and 26 receives ran, packed by tempi or handed to the MPI
        calls = 1 + iters
        assert all(c["packed_host"] + c["passed_through"] >= calls * 52 for c in stats), stats
        entries[iters] = [c["in_python"] for c in stats]
    # the first call's 52 parts went through Python, no later one
    assert entries[2] == entries[5] == [52] * nranks, entries
