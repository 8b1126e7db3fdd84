"""Measure this machine for the performance model and write its profile.

Launch with two ranks (``tempi measure`` does it)::

    mpiexec -n 2 python -m tempi.model.measure [--quick] [--time-limit 150] [--out PATH]

Ranks 0 and 1 first time MPI ping-pongs of host buffers over the size axis (and of
device buffers when the MPI is CUDA-aware), recording half the round trip, for the
locality they have (same node or not), and a host vector sent with its datatype against
tempi's packed route for it (:mod:`tempi.model.host`). Then rank 0 alone times, with the engine's own
memory space and calls (pack/unpack then wait for the stream, as a send or receive
does): pack and unpack into device memory and into mapped pinned memory over (bytes,
block) at the reference stride, the same at ``factor_bytes`` over (block, density) and
over the number of levels, device-to-host and host-to-device copies, and the launch
cost. Before that, both ranks time whole sends and receives through ``tempi.Comm`` per
strategy at a few layouts (:mod:`tempi.model.endtoend`), which calibrate the sums of the
pieces. Each sample repeats until its median is stable (or its share of the time limit is
spent). Cells that cannot be timed -- a span over 256 MiB, the time limit, an error --
are filled from their measured neighbours and the first-principles defaults, and noted.

Without a GPU only what exists is timed: the MPI ping-pong and host memory copies (the
copies of the host emulation); the device tables are the defaults. ``--emulate`` times
them with the host emulation's packers instead (what ``TEMPI_HOST=1`` runs).
"""

from __future__ import annotations

import argparse
import datetime
import socket
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from mpi4py import MPI

from tempi import system
from tempi.comm.locality import node_ranks
from tempi.log import get_logger
from tempi.model import defaults, endtoend, host, predict, profile
from tempi.model._pingpong import pingpong
from tempi.model.features import Shape, reference_stride
from tempi.model.grid import FULL, QUICK, SPAN_CAP_B, Grid
from tempi.model.profile import SHAPE_COMPONENTS, Profile
from tempi.model.shapes import descriptor
from tempi.model.table import Table, fill, monotone
from tempi.model.timing import Progress, Sample, until_stable

log = get_logger("model")

MPI_SHARE = 0.25
"""Share of the time limit the ping-pongs may use."""

HOST_SHARE = 0.1
"""Share of the time limit for the host comparison of the MPI's typed path against
tempi's packed route (:mod:`tempi.model.host`)."""

E2E_SHARE = 0.2
"""Share of the time limit for end-to-end exchanges per strategy; the device tables get
the rest."""


class Cells:
    """One table being measured: times, spreads and a mask of what was timed."""

    def __init__(self, names: tuple[str, ...], coords: tuple[tuple[float, ...], ...]):
        self.names, self.coords = names, coords
        shape = tuple(len(c) for c in coords)
        self.time_s = np.full(shape, np.nan)
        self.spread_s = np.full(shape, np.nan)
        self.measured = np.zeros(shape, bool)

    def record(self, index: tuple[int, ...], sample: Sample) -> None:
        self.time_s[index] = sample.median_s
        self.spread_s[index] = sample.spread_s
        self.measured[index] = True

    def table(self, fallback: Table, bytes_monotone: bool) -> Table:
        """Filled from ``fallback`` (same axes) where not measured."""
        values = fill(self.time_s, self.measured, fallback.time_s)
        if self.names == ("bytes", "block"):  # no block is longer than its message:
            for i, nbytes in enumerate(self.coords[0]):  # those cells repeat block = bytes
                fits = [j for j, b in enumerate(self.coords[1]) if b <= nbytes]
                if fits:
                    values[i, fits[-1] + 1 :] = values[i, fits[-1]]
        if bytes_monotone:
            values = monotone(values)
        spread = np.where(self.measured, self.spread_s, 0.0)
        return Table(self.names, self.coords, values, spread, self.measured)


# ---------------------------------------------------------------- device tables


class Bench:
    """Buffers and timed operations in one memory space (CUDA, or the host emulation)."""

    def __init__(self, space: Any, max_bytes: int) -> None:
        self.space = space
        self.packed = space.device(max_bytes)
        self.pinned = space.pinned(max_bytes)
        self.typed = space.device(1 << 20)

    def typed_for(self, span: int) -> Any:
        if span > self.typed.nbytes:
            self.typed = None  # let the old one go first
            self.typed = self.space.device(span)
        return self.typed

    def shape_op(self, component: str, desc: Any) -> Any:
        space = self.space
        typed = self.typed_for(desc.data_ub)
        packed = self.packed if component.endswith("device") else self.pinned
        if component.startswith("pack"):

            def run() -> None:
                space.pack(desc, typed, 0, packed, 0)
                space.wait(space.fence())
        else:

            def run() -> None:
                space.unpack(desc, packed, 0, typed, 0)
                space.wait(space.fence())

        return run

    def copy_op(self, direction: str, nbytes: int) -> Any:
        space = self.space
        dst, src = (self.pinned, self.packed) if direction == "d2h" else (self.packed, self.pinned)

        def run() -> None:
            space.copy(dst.ptr, src.ptr, nbytes)
            space.wait(space.fence())

        return run

    def close(self) -> None:
        self.space.free(self.pinned)


def _plan(g: Grid, copies: bool, shapes: bool) -> list[tuple[str, tuple[int, ...], tuple]]:
    """(table, cell index, (nbytes, block, stride, levels)) in the order they are timed:
    copies, factor tables, then the main grid from small to large (what the time limit
    cuts off is filled from neighbours)."""
    plan: list[tuple[str, tuple[int, ...], tuple]] = []
    if copies:
        for i, n in enumerate(g.bytes):
            plan += [("d2h", (i,), (n,)), ("h2d", (i,), (n,))]
    if not shapes:
        return plan
    for c in SHAPE_COMPONENTS:
        for i, b in enumerate(g.factor_blocks):
            for j, d in enumerate(g.densities):
                stride = max(int(round(b / d)), b + 1)
                plan.append((f"{c}.stride", (i, j), (g.factor_bytes, b, stride, 1)))
        b = g.levels_block
        for i, levels in enumerate(g.levels):
            shape = (g.factor_bytes, b, int(reference_stride(b)), levels)
            plan.append((f"{c}.levels", (i,), shape))
    for i, n in enumerate(g.bytes):
        for j, b in enumerate(g.blocks):
            if b <= n:
                for c in SHAPE_COMPONENTS:
                    plan.append((c, (i, j), (n, b, int(reference_stride(b)), 1)))
    return plan


def _cells_for(name: str, g: Grid) -> Cells:
    if name.endswith(".stride"):
        return Cells(("block", "density"), (g.factor_blocks, g.densities))
    if name.endswith(".levels"):
        return Cells(("levels",), (g.levels,))
    if name in SHAPE_COMPONENTS:
        return Cells(("bytes", "block"), (g.bytes, g.blocks))
    return Cells(("bytes",), (g.bytes,))


def device_tables(
    space: Any,
    g: Grid,
    budget_s: float,
    progress: Progress,
    notes: list[str],
    *,
    shapes: bool = True,
) -> tuple[dict[str, Cells], float | None]:
    """Time every cell of the plan that fits the span cap and the time; returns the
    cells by table name and the launch cost (or None)."""
    start = time.perf_counter()
    try:
        bench = Bench(space, max(max(g.bytes), g.factor_bytes))
    except Exception as exc:  # e.g. no pinned memory: the defaults stand in
        notes.append(f"no buffers in {space.name} memory ({type(exc).__name__}: {exc})")
        return {}, None
    if shapes:  # the first pack and unpack compile the kernels: not part of any sample
        try:
            warm = descriptor(4096, 8, 64, 1)
            for component in SHAPE_COMPONENTS:
                bench.shape_op(component, warm)()
        except Exception as exc:
            notes.append(f"kernel warm-up failed ({type(exc).__name__}: {exc})")
    deadline = start + budget_s
    tables: dict[str, Cells] = {}
    plan = _plan(g, copies=True, shapes=shapes)
    launch = None
    try:
        launch = until_stable(bench.copy_op("d2h", 1), budget_s=0.05, min_reps=10).median_s
        for k, (name, index, shape) in enumerate(plan):
            cells = tables.setdefault(name, _cells_for(name, g))
            left = deadline - time.perf_counter()
            label = f"{name} {' '.join(map(str, shape))}"
            progress.step(label)
            if left <= 0:
                continue
            share = min(max(left / (len(plan) - k), 0.005), 1.0)
            try:
                if len(shape) == 1:
                    op = bench.copy_op(name, shape[0])
                else:
                    desc = descriptor(*shape)
                    if desc.data_ub > SPAN_CAP_B:
                        continue
                    op = bench.shape_op(name.split(".")[0], desc)
                cells.record(index, until_stable(op, budget_s=share))
            except Exception as exc:  # one failed cell must not lose the others
                notes.append(f"{label}: not timed ({type(exc).__name__}: {exc})")
                log.debug("%s", notes[-1])
        if time.perf_counter() > deadline:
            notes.append(f"time limit reached: {progress.total - progress.done} samples left")
    finally:
        bench.close()
    return tables, launch


# ---------------------------------------------------------------- the profile


def assemble(
    measured: dict[str, Cells], g: Grid, m: defaults.Machine, meta: dict[str, Any]
) -> Profile:
    """Every table of a profile: measured cells filled from the defaults of machine ``m``,
    wholly unmeasured tables from the defaults on the full grid."""
    full = defaults.profile(m, FULL).tables
    grid_defaults = defaults.profile(m, g).tables
    tables: dict[str, Table] = {}
    timed, defaulted = [], []
    for name, fallback in full.items():
        cells = measured.get(name)
        if cells is not None and cells.measured.any():
            bytes_first = cells.names[0] == "bytes"
            tables[name] = cells.table(grid_defaults[name], bytes_monotone=bytes_first)
            timed.append(name)
        elif name.startswith(("mpi_", "host_")):
            continue  # only what was measured: predict falls back to the other locality
        else:
            tables[name] = fallback
            defaulted.append(name)
    for name, cells in measured.items():  # host tables: fill gaps from measured neighbours
        if name.startswith("host_") and cells.measured.any():
            ok = cells.measured.astype(bool)
            sizes = np.asarray(cells.coords[0], float)
            known = Table(cells.names, (sizes[ok],), cells.time_s[ok])
            guess = np.array([known(bytes=float(n)) for n in sizes])
            tables[name] = cells.table(Table(cells.names, cells.coords, guess), False)
            timed.append(name)
    if "mpi_cpu.local" not in tables:  # a single rank: MPI from the defaults
        source = "mpi_cpu.remote" if "mpi_cpu.remote" in tables else None
        tables["mpi_cpu.local"] = tables[source] if source else full["mpi_cpu.local"]
        defaulted.append("mpi_cpu.local")
    components = Profile(dict(tables))
    local = meta.get("peer", "local") != "remote"
    for name, cells in measured.items():
        if name.startswith("e2e_") and cells.measured.any():
            modelled = np.array(
                [
                    [
                        predict.predict(
                            components,
                            Shape(int(n), min(b, n), reference_stride(min(b, n))),
                            peer_local=local,
                            strategies=(name.removeprefix("e2e_"),),
                        )[name.removeprefix("e2e_")].time_s
                        for b in cells.coords[1]
                    ]
                    for n in cells.coords[0]
                ]
            )
            fallback = Table(cells.names, cells.coords, modelled)
            tables[name] = cells.table(fallback, bytes_monotone=True)
            timed.append(name)
    meta = {**meta, "measured": sorted(timed), "defaulted": sorted(defaulted)}
    return Profile(tables, meta, "measured")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tempi.model.measure", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="a coarse grid: a smoke run")
    parser.add_argument(
        "--time-limit",
        type=float,
        default=None,
        help="seconds for the measurements (default 150, 30 with --quick)",
    )
    parser.add_argument("--out", type=Path, default=None, help="write here, not the cache")
    parser.add_argument(
        "--emulate",
        action="store_true",
        help="time the device tables with the host emulation (TEMPI_HOST=1's packers)",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    started = time.perf_counter()
    world = MPI.COMM_WORLD
    rank = world.rank
    g = QUICK if args.quick else FULL
    limit = args.time_limit if args.time_limit is not None else (30.0 if args.quick else 150.0)
    from tempi.pack import cuda

    gpu = cuda.cuda_available() and not args.emulate
    aware = bool(world.bcast(system.cuda_aware_mpi()[0] if rank == 0 else None, root=0))
    local = 1 in node_ranks(world) if world.size > 1 else True
    all_gpu = bool(world.allreduce(gpu, op=MPI.LAND))
    pair = world.Split(0 if rank < 2 else MPI.UNDEFINED, rank)
    device_side = gpu or args.emulate
    both = pair != MPI.COMM_NULL and pair.size == 2
    e2e_sizes = (
        (endtoend.QUICK_SIZES if args.quick else endtoend.SIZES)
        if both and (all_gpu or args.emulate)
        else ()
    )
    e2e_points = len(endtoend.points(e2e_sizes)) * len(predict.allowed(cuda_aware=aware))
    total = (
        (len(g.bytes) * (2 if aware and all_gpu else 1) if world.size > 1 else 0)
        + (g.points() if device_side else 2 * len(g.bytes))
        + e2e_points
    )
    progress = Progress(total, enabled=rank == 0)
    measured: dict[str, Cells] = {}
    notes: list[str] = []
    where = "local" if local else "remote"
    if both:
        budget = MPI_SHARE * limit / (2 if aware and all_gpu else 1)
        buffers = {"cpu": np.zeros(max(g.bytes), np.uint8)}
        if aware and all_gpu:
            import cupy

            buffers["gpu"] = cupy.zeros(max(g.bytes), cupy.uint8)
        for kind, buf in buffers.items():
            samples = pingpong(pair, buf, g.bytes, budget, progress)
            if samples:
                cells = measured[f"mpi_{kind}.{where}"] = Cells(("bytes",), (g.bytes,))
                for i, sample in samples.items():
                    cells.record((i,), sample)
        found_host = host.measure(pair, HOST_SHARE * limit)
        if found_host:
            for route, samples in found_host.items():
                cells = measured[f"host_{route}.{where}"] = Cells(("bytes",), (host.SIZES,))
                for i, sample in samples.items():
                    cells.record((i,), sample)
    elif rank == 0:
        notes.append("one rank: MPI times are the defaults")
    if not gpu and f"mpi_cpu.{where}" in measured:  # "device" memory is host memory here
        measured[f"mpi_gpu.{where}"] = measured[f"mpi_cpu.{where}"]
    if e2e_sizes:
        xp = np if args.emulate else __import__("cupy")
        found = endtoend.measure(
            pair, xp, predict.allowed(cuda_aware=aware), e2e_sizes, E2E_SHARE * limit, progress
        )
        for strategy, samples in found.items():
            cells = measured[f"e2e_{strategy}"] = Cells(
                ("bytes", "block"), (e2e_sizes, endtoend.BLOCKS)
            )
            for index, sample in samples.items():
                cells.record(index, sample)
    if rank != 0:  # wait without spinning while rank 0 times the device
        request = world.Ibarrier()
        while not request.Test():
            time.sleep(0.01)
        return 0
    try:
        return _finish(args, g, limit, started, measured, notes, progress, aware, where, world)
    finally:
        world.Ibarrier().Wait()


def _finish(
    args: argparse.Namespace,
    g: Grid,
    limit: float,
    started: float,
    measured: dict[str, Cells],
    notes: list[str],
    progress: Progress,
    aware: bool,
    where: str,
    world: MPI.Comm,
) -> int:
    """Rank 0: the device (or host copy) tables, then the profile."""
    from tempi.comm.memory import CudaSpace, HostSpace
    from tempi.pack import cuda

    launch = None
    if args.emulate or cuda.cuda_available():
        space = HostSpace() if args.emulate else CudaSpace()
        left = limit - (time.perf_counter() - started)
        tables, launch = device_tables(space, g, left, progress, notes)
    else:
        notes.append("no GPU: device tables are the defaults; copies are host memmoves")
        tables, _ = device_tables(HostSpace(), g, 0.2 * limit, progress, notes, shapes=False)
    measured.update(tables)
    progress.close()
    m = defaults.CPU_ONLY if args.emulate else defaults.machine()
    gpu_name, mpi, version = profile.identity()
    meta = {
        "key": profile.cache_key(gpu_name, mpi, version),
        "gpu": gpu_name,
        "mpi": mpi,
        "tempi": version,
        "host": socket.gethostname(),
        "created": datetime.datetime.now().isoformat(timespec="seconds"),
        "cuda_aware": aware,
        "peer": where if world.size > 1 else "none",
        "quick": bool(args.quick),
        "emulated": bool(args.emulate),
        "launch_s": launch if launch is not None else m.launch_s,
        "machine": asdict(m),
        "notes": notes,
        "elapsed_s": round(time.perf_counter() - started, 1),
    }
    result = assemble(measured, g, m, meta)
    path = profile.save(result, args.out or profile.profile_path(meta["key"]))
    for note in notes:
        print(f"note: {note}")
    print(f"measured in {meta['elapsed_s']} s: {', '.join(result.meta['measured'])}")
    print(f"profile written: {path}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
