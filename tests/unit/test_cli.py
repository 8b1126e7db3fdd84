"""The ``tempi`` command line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tempi import cli, launch


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


def test_model_explain_refuses_a_shape_it_would_change():
    """--bytes 100 --block 8 --stride 4 used to run as 96 B with stride 8, silently."""
    for extra, says in (
        (["--bytes", "100", "--block", "8"], "not a whole number of 8 B blocks (say 96 or 104)"),
        (["--bytes", "96", "--block", "8", "--stride", "4"], "shorter than the block"),
    ):
        result = subprocess.run(
            [sys.executable, "-m", "tempi.cli", "model", "explain", *extra],
            capture_output=True,
            text=True,
        )
        assert result.returncode == 2 and says in result.stderr, result.stderr


def test_byte_units_say_what_they_mean(capsys):
    from tempi.model.features import parse_bytes

    assert parse_bytes("1MB") == 10**6 and parse_bytes("1 kB") == 1000
    assert parse_bytes("1MiB") == parse_bytes("1M") == 1 << 20
    assert cli.main(["model", "explain", "--bytes", "1MB", "--block", "8"]) == 0
    assert "(1,000,000 B)" in capsys.readouterr().out


def test_model_plot_caption_explains_a_cpu_map():
    import numpy as np

    from tempi.model import choose, plot, predict

    profile = choose.current()
    win = np.array([[-1, predict.STRATEGIES.index("oneshot")]])
    text = plot.caption(profile, win, cuda_aware=False, gpu=False)
    assert "White: the block would be longer than the whole message" in text
    assert "One colour: oneshot" in text and "device is not a candidate" in text
    if profile.source.startswith("built-in"):
        assert "no GPU" in text and "tempi measure" in text


def test_demo_says_what_it_does_and_how_to_read_it(tmp_path):
    png = tmp_path / "demo.png"
    cli_ = [sys.executable, "-m", "tempi.cli", "demo", "-n", "2", "--n", "6", "--iters", "2"]
    result = subprocess.run(
        [*cli_, "--host", "--out", str(png)],
        env=launch.environment(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "tempi: demo: starting 2 ranks" in result.stderr
    assert "tempi demo: tempi-alltoallw: first exchange" in out  # where packers compile
    assert "What this measured" in out and "correctness run" in out
    assert out.index("What this measured") < out.index("method ")  # above the table
    assert "matplotlib not installed" in out or png.stat().st_size > 0


def test_demo_plot_keeps_title_and_caption_inside(tmp_path):
    pytest.importorskip("matplotlib")
    from tempi import halo

    rows = [
        {"method": m, "n": 32, "radius": 1, "quantities": 2, "seconds": s}
        for m, s in (("tempi-alltoallw", 3e-3), ("tempi-isend", 4e-3), ("baseline", 1e-3))
    ]
    title = "3-D halo exchange, 4 ranks, host (NumPy, TEMPI_HOST=1): time per route " * 2
    caption = "vm (2 CPU cores), no GPU: a correctness run; MPICH Version: 5.0.2; " * 3
    captured = {}
    import matplotlib.figure

    save = matplotlib.figure.Figure.savefig

    def keep(fig, *args, **kwargs):
        result = save(fig, *args, **kwargs)
        renderer = fig.canvas.get_renderer()
        axes = fig.axes[0]
        texts = [axes.title, *fig.texts, axes.yaxis.label]
        captured["boxes"] = [(t.get_text(), t.get_window_extent(renderer)) for t in texts]
        captured["figure"] = fig.bbox
        return result

    matplotlib.figure.Figure.savefig = keep
    try:
        assert halo.plot(rows, str(tmp_path / "p.png"), title, caption)
    finally:
        matplotlib.figure.Figure.savefig = save
    box = captured["figure"]
    assert len(captured["boxes"]) == 3
    for text, extent in captured["boxes"]:
        assert box.x0 <= extent.x0 and extent.x1 <= box.x1, text
        assert box.y0 <= extent.y0 and extent.y1 <= box.y1, text
