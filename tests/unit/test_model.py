"""The performance model: tables, profiles, defaults, the choice, the commands, a smoke
measurement under mpiexec. Synthetic profiles make every expectation exact."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import warnings

import numpy as np
import pytest
from mpi4py import MPI

import tempi
from tempi import launch
from tempi.comm.memory import HostSpace
from tempi.comm.strategy import choose_strategy
from tempi.datatype.descriptor import BlockList, StridedBlock
from tempi.model import choose, commands, defaults, features, host, predict, profile
from tempi.model.features import Shape, parse_bytes, reference_stride
from tempi.model.grid import QUICK
from tempi.model.profile import SHAPE_COMPONENTS, Profile, ProfileWarning
from tempi.model.table import Table, fill, log_points, monotone
from tempi.model.timing import Progress

BYTES = (1 << 10, 1 << 16, 1 << 22)
BLOCKS = (1, 64, 4096)
VECTOR = StridedBlock(0, 8, (64,), (512,), 512, 0, 32768)

# (latency s, rate B/s) of each piece, a plausible GPU machine
BASE = {
    "pack_device": (5e-6, 200e9),
    "unpack_device": (5e-6, 150e9),
    "pack_oneshot": (7e-6, 40e9),
    "unpack_oneshot": (7e-6, 20e9),
    "d2h": (6e-6, 40e9),
    "h2d": (6e-6, 40e9),
    "mpi_cpu.local": (2e-6, 8e9),
    "mpi_gpu.local": (10e-6, 20e9),
}


def _time(piece: tuple[float, float], nbytes: float, block: float = 4096) -> float:
    latency, rate = piece
    return latency + nbytes / rate * (1 + 4 / block)


def synthetic(**changes: tuple[float, float]) -> Profile:
    """A profile of BASE (with ``changes``) on a 3 x 3 grid, no factor tables."""
    pieces = {**BASE, **changes}
    tables = {}
    for name, piece in pieces.items():
        if name in SHAPE_COMPONENTS:
            values = [[_time(piece, n, b) for b in BLOCKS] for n in BYTES]
            tables[name] = Table(("bytes", "block"), (BYTES, BLOCKS), np.array(values))
        else:
            tables[name] = Table(("bytes",), (BYTES,), np.array([_time(piece, n) for n in BYTES]))
    return Profile(tables, {"gpu": "synthetic"}, "synthetic")


@pytest.fixture(autouse=True)
def model_state(tempi_env, tmp_path):
    """A private cache directory, no remembered profile or warning."""
    tempi_env(TEMPI_CACHE_DIR=str(tmp_path / "cache"))
    choose.reset()
    profile._warned.clear()
    yield tmp_path / "cache"
    choose.reset()
    profile._warned.clear()


# ---------------------------------------------------------------- tables


def test_exact_at_grid_points():
    p = synthetic()
    table = p.tables["pack_oneshot"]
    for i, n in enumerate(BYTES):
        for j, b in enumerate(BLOCKS):
            assert table(bytes=n, block=b) == pytest.approx(table.time_s[i, j], rel=1e-12)


@pytest.mark.parametrize("block", [1, 8, 64, 300, 4096])
def test_monotone_between_grid_points(block):
    table = synthetic().tables["unpack_device"]
    times = [table(bytes=n, block=block) for n in log_points(BYTES[0], BYTES[-1], 200)]
    assert all(b >= a * (1 - 1e-12) for a, b in zip(times, times[1:]))
    # between two neighbouring grid points: inside their range
    lo, hi = table(bytes=BYTES[0], block=block), table(bytes=BYTES[1], block=block)
    mid = table(bytes=8192, block=block)
    assert min(lo, hi) <= mid <= max(lo, hi)


def test_interpolates_in_log_space():
    table = Table(("bytes",), ((1024, 4096),), np.array([1e-6, 4e-6]))
    assert table(bytes=2048) == pytest.approx(2e-6)  # geometric, not arithmetic, mean


def test_extrapolation_is_sane():
    table = synthetic().tables["pack_device"]
    sizes = [2.0**k for k in range(0, 45)]
    for block in (1, 64, 4096, 1 << 20):
        times = [table(bytes=n, block=block) for n in sizes]
        assert all(np.isfinite(times)) and min(times) > 0
        assert all(b >= a for a, b in zip(times, times[1:]))
        # below the table: the smallest size's time; above: at most proportional to size
        assert times[0] == pytest.approx(table(bytes=BYTES[0], block=block))
        top = table(bytes=BYTES[-1], block=block)
        assert table(bytes=BYTES[-1] * 1024, block=block) <= top * 1024 * (1 + 1e-9)


def test_extrapolation_never_decreases():
    shrinking = Table(("bytes",), ((1024, 4096),), np.array([4e-6, 1e-6]))
    assert shrinking(bytes=1 << 20) == pytest.approx(1e-6)


def test_table_refuses_bad_values():
    with pytest.raises(ValueError):
        Table(("bytes",), ((1024, 4096),), np.array([1e-6, np.nan]))
    with pytest.raises(ValueError):
        Table(("bytes",), ((4096, 1024),), np.array([1e-6, 2e-6]))
    with pytest.raises(ValueError):
        Table(("bytes",), ((1024, 4096),), np.array([1e-6, 0.0]))


def test_fill_scales_defaults_by_nearest_measurement():
    measured = np.array([True, True, False, False])
    values = np.array([2.0, 4.0, np.nan, np.nan])
    fallback = np.array([1.0, 2.0, 4.0, 8.0])
    assert fill(values, measured, fallback).tolist() == [2.0, 4.0, 8.0, 16.0]
    assert fill(values, np.zeros(4, bool), fallback).tolist() == fallback.tolist()
    assert monotone(np.array([[1.0, 5.0], [0.5, 6.0]])).tolist() == [[1.0, 5.0], [1.0, 6.0]]


# ---------------------------------------------------------------- features


def test_shape_of_descriptors(commit):
    dt = commit(MPI.DOUBLE.Create_subarray([16, 16, 16], [16, 14, 2], [0, 1, 3]))
    shape = features.of(tempi.describe(dt))
    assert (shape.nbytes, shape.block_b, shape.stride_b, shape.levels) == (16 * 14 * 16, 16, 128, 2)
    blocks = BlockList(np.array([0, 100, 200]), np.array([8, 16, 24]), (4,), (1000,), 192, 0, 4000)
    shape = features.of(blocks)
    assert (shape.block_b, shape.stride_b, shape.levels) == (16, 100, 2)
    assert features.of(VECTOR, 4096).nbytes == 4096
    assert Shape(100, 1000, 10).block_b == 100  # a block never exceeds the message


def test_parse_bytes():
    assert parse_bytes("1MiB") == 1 << 20
    assert parse_bytes("64 KiB") == 65536
    assert parse_bytes("4k") == 4096
    assert parse_bytes("1.5M") == 3 << 19
    assert parse_bytes("512") == 512
    with pytest.raises(ValueError):
        parse_bytes("lots")


# ---------------------------------------------------------------- predictions and choice


def test_strategy_sums_its_pieces():
    p = synthetic()
    shape = Shape(1 << 20, 64, reference_stride(64))
    found = predict.predict(p, shape)
    t = {name: p.tables[name](bytes=shape.nbytes) for name in ("d2h", "h2d")}
    staged = found["staged"]
    assert [name for name, _ in staged.parts] == list(predict.PIECES["staged"])
    assert staged.parts[1][1] == pytest.approx(t["d2h"])
    assert staged.time_s == pytest.approx(sum(v for _, v in staged.parts))


def test_oneshot_dominates():
    fast = (1e-7, 1e12)
    same_mpi = {"mpi_gpu.local": BASE["mpi_cpu.local"]}
    choose.use(synthetic(pack_oneshot=fast, unpack_oneshot=fast, **same_mpi))
    for nbytes in (1 << 10, 1 << 20, 1 << 26):
        shape = Shape(nbytes, 8, 512)
        assert choose.pick_shape(shape, cuda_aware=False) == "oneshot"
        assert choose.pick_shape(shape, cuda_aware=True) == "oneshot"


def test_never_device_without_cuda_aware_mpi():
    p = synthetic(**{"mpi_gpu.local": (1e-9, 1e15)})
    choose.use(p)
    for nbytes in (1 << 10, 1 << 20, 1 << 26):
        assert choose.pick(VECTOR, nbytes, cuda_aware=True) == "device"
        assert choose.pick(VECTOR, nbytes, cuda_aware=False) != "device"
    assert "device" not in choose.predict_shape(Shape(1024, 8, 512), cuda_aware=False)


def test_staged_when_the_link_is_slow_for_kernels():
    choose.use(synthetic(pack_oneshot=(7e-6, 1e9), unpack_oneshot=(7e-6, 1e9)))
    assert choose.pick_shape(Shape(1 << 22, 64, 128), cuda_aware=False) == "staged"


def _e2e(p: Profile, strategy: str, factor: float) -> Table:
    """An end-to-end table of ``strategy``: ``factor`` x the model's own sum."""
    sizes, blocks = (1 << 12, 1 << 20, 1 << 24), (8, 512)
    values = [
        [
            factor * predict.predict(p, Shape(n, b, reference_stride(b)))[strategy].time_s
            for b in blocks
        ]
        for n in sizes
    ]
    return Table(("bytes", "block"), (sizes, blocks), np.array(values))


def test_calibration_scales_each_strategy_to_its_end_to_end_time():
    p = synthetic()
    shape = Shape(1 << 20, 8, reference_stride(8))
    plain = predict.predict(p, shape)
    assert predict.calibration(p, "oneshot", shape, peer_local=True) == 1.0
    p.tables["e2e_oneshot"] = _e2e(p, "oneshot", 3.0)
    p.tables["e2e_staged"] = _e2e(p, "staged", 1.0)
    found = predict.predict(p, shape)
    assert found["oneshot"].time_s == pytest.approx(3.0 * plain["oneshot"].time_s)
    assert found["staged"].time_s == pytest.approx(plain["staged"].time_s)
    # beyond the table the factor of its edge holds; a stride off the reference keeps it
    for other in (Shape(1 << 26, 8, 64), Shape(1 << 10, 1, 64), Shape(1 << 20, 8, 4096)):
        assert predict.calibration(p, "oneshot", other, peer_local=True) == pytest.approx(3.0)


def test_end_to_end_times_overrule_the_pieces():
    p = synthetic(pack_oneshot=(1e-7, 1e12), unpack_oneshot=(1e-7, 1e12))
    choose.use(p)
    shape = Shape(1 << 20, 8, reference_stride(8))
    assert choose.pick_shape(shape, cuda_aware=False) == "oneshot"
    p.tables["e2e_oneshot"] = _e2e(p, "oneshot", 1.0)
    p.tables["e2e_staged"] = _e2e(p, "staged", 1.0)
    oneshot = predict.predict(p, shape)["oneshot"].time_s
    p.tables["e2e_staged"] = Table(
        ("bytes", "block"),
        p.tables["e2e_staged"].coords,
        np.full((3, 2), 0.5 * oneshot),
    )
    choose.use(p)
    assert choose.pick_shape(shape, cuda_aware=False) == "staged"


def test_choices_are_remembered_per_bucket():
    choose.use(synthetic())
    first = choose.pick_shape(Shape(1 << 20, 8, 512), cuda_aware=False)
    assert len(choose._choices) == 1
    assert choose.pick_shape(Shape((1 << 20) + 8, 8, 512), cuda_aware=False) == first
    assert len(choose._choices) == 1
    choose.pick_shape(Shape(1 << 20, 8, 512), cuda_aware=False, peer_local=False)
    assert len(choose._choices) == 2
    choose.use(synthetic())
    assert not choose._choices


def test_stride_and_levels_factors():
    p = synthetic()
    base = predict.shape_piece(p, "pack_device", Shape(1 << 22, 4, 64))
    p.tables["pack_device.stride"] = Table(
        ("block", "density"), ((4,), (1 / 16, 1 / 2)), np.array([[2e-3, 1e-3]])
    )
    p.tables["pack_device.levels"] = Table(("levels",), ((1, 2, 3),), np.array([1.0, 1.5, 2.0]))
    floor = predict.shape_piece(p, "pack_device", Shape(1024, 4, 64))
    assert predict.shape_piece(p, "pack_device", Shape(1 << 22, 4, 64)) == pytest.approx(base)
    dense = predict.shape_piece(p, "pack_device", Shape(1 << 22, 4, 8))
    assert dense == pytest.approx(floor + (base - floor) * 0.5)
    three = predict.shape_piece(p, "pack_device", Shape(1 << 22, 4, 64, 3))
    assert three == pytest.approx(floor + (base - floor) * 2.0)


def test_mpi_falls_back_to_other_locality_and_to_staging():
    p = synthetic()
    local = p.tables["mpi_cpu.local"](bytes=4096)
    assert predict.mpi_piece(p, "mpi_cpu", 4096, peer_local=False) == local
    del p.tables["mpi_gpu.local"]
    staged = p.tables["d2h"](bytes=4096) + local + p.tables["h2d"](bytes=4096)
    assert predict.mpi_piece(p, "mpi_gpu", 4096, peer_local=True) == pytest.approx(staged)


def test_defaults_are_finite_everywhere():
    for m in (defaults.CPU_ONLY, defaults.GPU_FALLBACK):
        p = defaults.profile(m)
        for nbytes in (1, 1000, 1 << 20, 1 << 34):
            for block in (1, 3, 64, 1 << 16, 1 << 30):
                for stride_factor in (1, 1.5, 100):
                    shape = Shape(nbytes, block, block * stride_factor, 2)
                    found = predict.predict(p, shape)
                    times = [found[s].time_s for s in predict.STRATEGIES]
                    assert all(np.isfinite(times)) and min(times) > 0


def test_strategy_hook_asks_the_model():
    choose.use(synthetic(pack_oneshot=(7e-6, 1e9), unpack_oneshot=(7e-6, 1e9)))
    assert choose_strategy(VECTOR, 1 << 22, cuda_aware=False) == "staged"
    choose.use(Profile({}, {}, "broken"))  # a model that fails: the fixed rule
    assert choose_strategy(VECTOR, 512, cuda_aware=False) == "oneshot"
    assert choose_strategy(VECTOR, 512, cuda_aware=True) == "device"


# ---------------------------------------------------------------- profiles on disk


def test_cache_key_and_path(model_state):
    key = profile.cache_key("NVIDIA H200", "Open MPI v4.1.6, package: Debian", "0.1.0")
    assert key.startswith("nvidia-h200_open-mpi-v4.1.6_tempi-0.1.0_")
    assert key == profile.cache_key("NVIDIA H200", "Open MPI v4.1.6, package: Debian", "0.1.0")
    others = {
        profile.cache_key("NVIDIA H100 80GB HBM3", "Open MPI v4.1.6, package: Debian", "0.1.0"),
        profile.cache_key("NVIDIA H200", "MPICH Version: 5.0.2", "0.1.0"),
        profile.cache_key("NVIDIA H200", "Open MPI v4.1.6, package: Debian", "0.2.0"),
        profile.cache_key("NVIDIA H200", "Open MPI v4.1.6, package: Ubuntu", "0.1.0"),
    }
    assert len(others) == 4 and key not in others
    path = profile.profile_path()
    assert path.parent == model_state / "profiles" and path.suffix == ".json"
    assert profile.cache_key(*profile.identity()) == path.stem


def test_save_load_round_trip(tmp_path):
    p = synthetic()
    path = profile.save(p, tmp_path / "p.json")
    back = profile.load(path)
    assert back is not None and back.source == str(path)
    shape = Shape(300_000, 24, 700, 2)
    assert predict.predict(back, shape)["staged"].time_s == pytest.approx(
        predict.predict(p, shape)["staged"].time_s
    )
    assert json.loads(path.read_text())["schema"] == profile.SCHEMA_VERSION


def test_missing_profile_means_defaults_silently():
    with warnings.catch_warnings():
        warnings.simplefilter("error", ProfileWarning)
        assert choose.current().source.startswith("built-in defaults")


@pytest.mark.parametrize(
    "text",
    [
        "{not json",
        json.dumps({"kind": "tempi-profile", "schema": 0, "tables": {}}),
        json.dumps({"kind": "tempi-profile", "schema": profile.SCHEMA_VERSION, "tables": {}}),
    ],
    ids=["corrupt", "old-schema", "tables-missing"],
)
def test_bad_profile_means_defaults_and_one_warning(text):
    path = profile.profile_path()
    path.parent.mkdir(parents=True)
    path.write_text(text)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert choose.current().source.startswith("built-in defaults")
        choose.reset()
        choose.current()
        assert choose_strategy(VECTOR, 512, cuda_aware=False) in ("oneshot", "staged")
    mine = [w for w in caught if issubclass(w.category, ProfileWarning)]
    assert len(mine) == 1, [str(w.message) for w in caught]
    assert str(path) in str(mine[0].message)


def test_nan_in_a_table_is_refused(tmp_path):
    data = synthetic().to_json()
    data["tables"]["d2h"]["time_s"][1] = float("nan")
    path = tmp_path / "nan.json"
    path.write_text(json.dumps(data))
    with pytest.warns(ProfileWarning):
        assert profile.load(path) is None


# ---------------------------------------------------------------- commands


def _cli(*argv: str) -> int:
    top = argparse.ArgumentParser(prog="tempi")
    commands.add_parsers(top.add_subparsers(dest="command"))
    args = top.parse_args(list(argv))
    return args.run(args)


def test_explain(capsys, tmp_path):
    assert _cli("model", "explain", "--bytes", "1MiB", "--block", "8", "--no-cuda-aware") == 0
    out = capsys.readouterr().out
    assert "built-in defaults" in out and "pick:" in out
    assert "not allowed" in out and "1 MiB in 131,072 blocks of 8 B" in out
    path = profile.save(synthetic(pack_oneshot=(7e-6, 1e9)), tmp_path / "p.json")
    argv = ["model", "explain", "--bytes", "4MiB", "--block", "64", "--stride", "128"]
    assert _cli(*argv, "--levels", "2", "--cuda-aware", "--profile", str(path)) == 0
    out = capsys.readouterr().out
    assert str(path) in out
    for name in predict.STRATEGIES:
        assert f"\n{name} " in out
    assert _cli("model", "explain", "--bytes", "huge", "--block", "8") == 2


def test_plot(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "map.png"
    assert _cli("model", "plot", "--out", str(out), "--no-cuda-aware") == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_without_matplotlib(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert _cli("model", "plot", "--out", str(tmp_path / "x.png")) == 2
    assert "matplotlib is not installed" in capsys.readouterr().err


# ---------------------------------------------------------------- measurement


def test_device_tables_with_the_host_emulation():
    from tempi.model import measure

    notes: list[str] = []
    progress = Progress(QUICK.points(), enabled=False)
    cells, launch = measure.device_tables(HostSpace(), QUICK, 5.0, progress, notes)
    assert launch is not None and launch > 0
    assert cells["pack_device"].measured.sum() >= 8, notes
    result = measure.assemble(cells, QUICK, defaults.CPU_ONLY, {"notes": notes})
    assert "pack_oneshot" in result.meta["measured"]
    assert Profile.from_json(result.to_json(), "again").tables.keys() == result.tables.keys()
    assert predict.predict(result, Shape(1 << 20, 8, 512))["oneshot"].time_s > 0


def test_measure_emulated_end_to_end_under_mpiexec(model_state, tmp_path):
    """--emulate on two ranks: whole exchanges through tempi.Comm calibrate the sums."""
    out = tmp_path / "emulated.json"
    program = [sys.executable, "-m", "tempi.model.measure", "--quick", "--emulate"]
    program += ["--time-limit", "10", "--out", str(out)]
    result = subprocess.run(
        launch.command(2, program),
        env=launch.environment(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    loaded = profile.load(out)
    for strategy in ("oneshot", "staged"):
        assert f"e2e_{strategy}" in loaded.meta["measured"]
        assert loaded.tables[f"e2e_{strategy}"].measured.all()
    shape = Shape(1 << 20, 8, reference_stride(8))
    assert predict.calibration(loaded, "oneshot", shape, peer_local=True) != 1.0


def test_measure_quick_under_mpiexec(model_state):
    env = launch.environment()
    env["TEMPI_CACHE_DIR"] = str(model_state)
    program = [sys.executable, "-m", "tempi.model.measure", "--quick", "--time-limit", "10"]
    result = subprocess.run(
        launch.command(2, program), env=env, capture_output=True, text=True, timeout=120
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    path = profile.profile_path()
    assert f"profile written: {path}" in result.stdout, output
    loaded = profile.load(path)
    assert loaded is not None and "mpi_cpu.local" in loaded.meta["measured"]
    assert loaded.tables["mpi_cpu.local"].measured.all()
    for name in ("host_typed.local", "host_packed.local"):  # the host comparison
        assert name in loaded.meta["measured"], loaded.meta["measured"]
        assert loaded.tables[name].measured.any()
    choose.reset()
    assert choose.current().source == str(path)


# ---------------------------------------------------------------- host: system or packed


def _host_profile(typed: list[float], packed: list[float], where: str = "local") -> Profile:
    sizes = (1024, 4096, 16384)
    typed_name, packed_name = host.tables_for(where)
    tables = dict(synthetic().tables)
    tables[typed_name] = Table(("bytes",), (sizes,), np.array(typed))
    tables[packed_name] = Table(("bytes",), (sizes,), np.array(packed))
    return Profile(tables, {}, "synthetic host")


def test_host_choice_follows_the_tables():
    """system where the typed path is faster, packed where packing is; interpolated."""
    p = _host_profile([5e-6, 4e-6, 8e-6], [2e-6, 9e-6, 20e-6])
    assert host.pick(p, 1024) == "packed"
    assert host.pick(p, 4096) == "system"
    assert host.pick(p, 1 << 20) == "system"  # past the table: along the last slope
    assert host.pick(p, 64) == "packed"  # below it: the edge value
    assert host.pick(synthetic(), 4096) == "packed"  # no host tables: tempi packs


def test_host_choice_uses_the_other_locality():
    p = _host_profile([1e-6] * 3, [2e-6] * 3, where="remote")
    assert host.pick(p, 4096, peer_local=True) == "system"
    assert host.pick(p, 4096, peer_local=False) == "system"


def test_built_in_host_tables_per_wheel():
    """Measured tables for the two wheels: Open MPI's typed path wins from 4 KiB, where
    its packed bytes leave the eager protocol; MPICH's collapses at 8 KiB. Another MPI
    has none (tempi packs, as before)."""
    assert host.built_in("Some other MPI 1.0") is None
    openmpi = Profile(host.built_in("Open MPI v5.0.11, package: ..."), {}, "built-in")
    mpich = Profile(host.built_in("MPICH Version:      5.0.2"), {}, "built-in")
    assert [host.pick(openmpi, n) for n in (64, 1024, 2048, 8192, 65536)] == [
        "packed",
        "packed",
        "packed",
        "system",
        "system",
    ]
    assert [host.pick(mpich, n) for n in (8192, 65536)] == ["packed", "packed"]
    for data in host.BUILT_IN.values():
        assert "measured" in data["source"]


def test_pick_host_reads_the_current_profile():
    choose.use(_host_profile([1e-6] * 3, [2e-6] * 3))
    assert choose.pick_host(4096) == "system"
    choose.use(_host_profile([3e-6] * 3, [2e-6] * 3))
    assert choose.pick_host(4096) == "packed"


def test_defaults_carry_the_built_in_host_tables():
    """The defaults of this process's MPI (one of the two wheels) have the host tables,
    with a note saying where they were measured."""
    p = defaults.profile()
    assert host.host_tables(p, True) is not None
    assert any("measured" in note for note in p.meta["notes"])
