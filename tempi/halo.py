"""A 3-D halo exchange: what ``tempi demo`` runs and ``benchmarks/halo`` measures.

A periodic global grid is split over the ranks (``MPI.Compute_dims``); each rank holds a
block of ``n^3`` cells with ``radius`` ghost layers and ``quantities`` float64 values per
cell, and exchanges all 26 faces, edges and corners with its neighbours, one subarray
datatype each:

* ``tempi-alltoallw`` -- ``tempi.Comm.Neighbor_alltoallw`` on a distributed-graph
  communicator of the 26 neighbours;
* ``tempi-isend``     -- 26 ``Irecv`` + 26 ``Isend`` of ``[grid, 1, subarray]`` and
  ``tempi.Request.Waitall``;
* ``baseline``        -- what a Python user does today: slice each face, copy it
  contiguous (``ascontiguousarray``), bring it to the host, send it with mpi4py, and copy
  the received faces back into the ghost cells.

Every cell of a rank's block holds a value computed from its global coordinates, so each
rank checks its ghosts after every method (after its first exchange, and after the last
timed one, which starts from poisoned ghosts again). Times are the slowest rank's per
exchange, each between barriers, median over ``--iters`` after ``--warmup``. Run under MPI::

    mpiexec -n 4 python -m tempi.halo [--n 32 64] [--radius 1 2] [--quantities 2]
        [--iters 20] [--warmup 2] [--records] [--png halo.png]

Several values of ``--n``, ``--radius``, ``--quantities`` run every combination in one
launch. Rank 0 prints a table per configuration; ``--records`` adds one machine-readable
``halo-py key=value ...`` line per method (the format of ``benchmarks/halo/halo.c``), and
``--png`` writes a bar chart (when matplotlib is installed).

Without a GPU (or with ``--host``) the arrays are NumPy arrays and ``TEMPI_HOST=1`` routes
them through tempi's engine.
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

DIRECTIONS = [d for d in itertools.product((-1, 0, 1), repeat=3) if d != (0, 0, 0)]


@dataclass
class Block:
    """One rank's share of the grid and the datatypes of its 26 exchanges."""

    n: int
    radius: int
    quantities: int
    dims: tuple[int, int, int]
    coords: tuple[int, int, int]
    sources: list[int]
    destinations: list[int]

    @property
    def shape(self) -> tuple[int, int, int, int]:
        side = self.n + 2 * self.radius
        return (side, side, side, self.quantities)

    def region(self, direction: tuple[int, int, int], ghost: bool) -> tuple[slice, ...]:
        """Cells sent toward ``direction`` (ghost=False) or received from the neighbour
        on the opposite side into the ghost layer (ghost=True, direction negated)."""
        n, r = self.n, self.radius
        spans = []
        for d in direction:
            if d == 0:
                spans.append(slice(r, r + n))
            elif ghost:
                spans.append(slice(0, r) if d < 0 else slice(n + r, n + 2 * r))
            else:
                spans.append(slice(r, 2 * r) if d < 0 else slice(n, n + r))
        return (*spans, slice(None))

    def expected(self, xp: Any) -> Any:
        """Every cell's value, ghosts included: a function of its global coordinates."""
        side = self.n + 2 * self.radius
        axes = []
        for axis in range(3):
            local = np.arange(side) - self.radius + self.coords[axis] * self.n
            axes.append(local % (self.dims[axis] * self.n))
        extent = [d * self.n for d in self.dims]
        gz, gy, gx = axes[0][:, None, None], axes[1][None, :, None], axes[2][None, None, :]
        cell = (gz * extent[1] + gy) * extent[2] + gx
        values = cell[..., None] * self.quantities + np.arange(self.quantities)
        return xp.asarray(values.astype(np.float64))

    @property
    def nbytes(self) -> int:
        """Bytes received (and sent) per exchange."""
        cells = sum(
            int(np.prod([self.n if d == 0 else self.radius for d in v])) for v in DIRECTIONS
        )
        return cells * self.quantities * 8


def decompose(comm: Any, n: int, radius: int, quantities: int) -> Block:
    from mpi4py import MPI

    dims = MPI.Compute_dims(comm.Get_size(), 3)
    cart = comm.Create_cart(dims, periods=[True] * 3)
    coords = tuple(cart.Get_coords(cart.Get_rank()))

    def rank_at(offset: tuple[int, int, int]) -> int:
        return cart.Get_cart_rank([(c + o) % d for c, o, d in zip(coords, offset, dims)])

    destinations = [rank_at(d) for d in DIRECTIONS]
    sources = [rank_at(tuple(-x for x in d)) for d in DIRECTIONS]
    cart.Free()
    return Block(n, radius, quantities, tuple(dims), coords, sources, destinations)


def subarrays(block: Block) -> tuple[list[Any], list[Any]]:
    """Committed send and receive subarray types, one per direction (source i sends
    toward +d_i what lands in my ghost layer on side -d_i)."""
    from mpi4py import MPI

    def subarray(region: tuple[slice, ...]) -> Any:
        shape = block.shape
        sub = [s.stop - s.start if s.start is not None else n for s, n in zip(region, shape)]
        starts = [s.start or 0 for s in region]
        return MPI.DOUBLE.Create_subarray(list(shape), sub, starts).Commit()

    sends = [subarray(block.region(d, ghost=False)) for d in DIRECTIONS]
    recvs = [subarray(block.region(tuple(-x for x in d), ghost=True)) for d in DIRECTIONS]
    return sends, recvs


def _ghost_error(grid: Any, expected: Any, xp: Any) -> float:
    return float(xp.abs(grid - expected).max())


def _fresh(block: Block, expected: Any, xp: Any) -> Any:
    """A copy of the ``expected`` values with the ghost layers poisoned (-1)."""
    r, n = block.radius, block.n
    poisoned = xp.full(block.shape, -1.0)
    inner = slice(r, r + n)
    poisoned[inner, inner, inner] = expected[inner, inner, inner]
    return poisoned


def run(
    comm: Any,
    n: int,
    radius: int,
    quantities: int,
    iters: int,
    xp: Any,
    warmup: int = 2,
    progress: Any = None,
) -> list[dict]:
    """Time each method (median seconds per exchange, the slowest rank's) and check the ghosts.

    Each method starts from poisoned ghosts (checked after its first exchange), runs
    ``warmup`` exchanges in all before ``iters`` timed ones, and starts the last timed
    exchange from poisoned ghosts again (checked at the end), so every exchange it times
    must really move the data. ``progress(method, step, seconds)``, if given, hears of each
    method's first exchange (where tempi compiles its packers on a first run) and of its
    timed ones."""
    from mpi4py import MPI

    import tempi

    block = decompose(comm, n, radius, quantities)
    sends, recvs = subarrays(block)
    graph = comm.Create_dist_graph_adjacent(block.sources, block.destinations, reorder=False)
    tcomm, tgraph = tempi.Comm(comm), tempi.Comm(graph)
    ones = [1] * len(DIRECTIONS)
    zeros = [0] * len(DIRECTIONS)
    views = [(block.region(d, False), block.region(tuple(-x for x in d), True)) for d in DIRECTIONS]
    host = xp is np

    def alltoallw(grid: Any) -> None:
        tgraph.Neighbor_alltoallw([grid, ones, zeros, sends], [grid, ones, zeros, recvs])

    def isend(grid: Any) -> None:
        requests = [
            tcomm.Irecv([grid, 1, t], s, i) for i, (t, s) in enumerate(zip(recvs, block.sources))
        ]
        requests += [
            tcomm.Isend([grid, 1, t], d, i)
            for i, (t, d) in enumerate(zip(sends, block.destinations))
        ]
        tempi.Request.Waitall(requests)

    def baseline(grid: Any) -> None:
        outgoing = [
            np.ascontiguousarray(grid[s]) if host else xp.ascontiguousarray(grid[s]).get()
            for s, _ in views
        ]
        incoming = [np.empty_like(o) for o in outgoing]
        requests = [
            comm.Irecv(buf, src, i) for i, (buf, src) in enumerate(zip(incoming, block.sources))
        ]
        requests += [
            comm.Isend(buf, dst, i)
            for i, (buf, dst) in enumerate(zip(outgoing, block.destinations))
        ]
        MPI.Request.Waitall(requests)
        for (_, ghost), buf in zip(views, incoming):
            grid[ghost] = buf if host else xp.asarray(buf)

    def sync() -> None:
        if not host:
            xp.cuda.get_current_stream().synchronize()

    expected = block.expected(xp)
    fresh = _fresh(block, expected, xp)
    rows = []
    for name, method in (
        ("tempi-alltoallw", alltoallw),
        ("tempi-isend", isend),
        ("baseline", baseline),
    ):
        grid = fresh.copy()
        if progress is not None:
            progress(name, "begin", 0.0)
        began = time.perf_counter()
        method(grid)
        sync()
        if progress is not None:
            progress(name, "first", time.perf_counter() - began)
        error = _ghost_error(grid, expected, xp)
        for _ in range(warmup - 1):
            method(grid)
        times = []
        for i in range(iters):
            if i == iters - 1:
                grid[...] = fresh
                sync()
            comm.Barrier()
            start = time.perf_counter()
            method(grid)
            sync()
            times.append(comm.allreduce(time.perf_counter() - start, op=MPI.MAX))
        error = comm.allreduce(max(error, _ghost_error(grid, expected, xp)), op=MPI.MAX)
        if progress is not None:
            progress(name, "timed", sum(times))
        rows.append(
            {
                "method": name,
                "ranks": comm.Get_size(),
                "dims": "x".join(map(str, block.dims)),
                "n": n,
                "radius": radius,
                "quantities": quantities,
                "memory": "host" if host else "device",
                "iters": iters,
                "seconds": statistics.median(times),
                "min_seconds": min(times),
                "bytes": block.nbytes,
                "max_error": error,
            }
        )
        del grid
    del expected, fresh
    for t in sends + recvs:
        t.Free()
    graph.Free()
    return rows


def record(row: dict) -> str:
    """One machine-readable line (the format of benchmarks/halo/halo.c's output)."""
    keys = ("method", "ranks", "dims", "n", "radius", "quantities", "memory", "iters")
    fields = " ".join(f"{k}={row[k]}" for k in keys)
    ghosts = "ok" if row["max_error"] == 0 else "WRONG"
    return (
        f"halo-py {fields} median_s={row['seconds']:.9g} min_s={row['min_seconds']:.9g} "
        f"bytes={row['bytes']} ghosts={ghosts}"
    )


def print_table(rows: list[dict], memory: str) -> None:
    """The human table of one configuration; speedup = baseline time / time."""
    first = rows[0]
    base = next(r["seconds"] for r in rows if r["method"] == "baseline")
    print(
        f"halo exchange: {first['ranks']} ranks [{first['dims'].replace('x', ', ')}], "
        f"{first['n']}^3 cells each, radius {first['radius']}, {first['quantities']} "
        f"quantities, {memory}"
    )
    print(f"{'method':<16} {'ms/exchange':>12} {'MB moved':>9} {'speedup':>8} {'ghosts':>7}")
    for r in rows:
        ok = "ok" if r["max_error"] == 0 else "WRONG"
        print(
            f"{r['method']:<16} {r['seconds'] * 1e3:>12.3f} {r['bytes'] / 1e6:>9.2f} "
            f"{base / r['seconds']:>8.2f} {ok:>7}"
        )


ROUTES = {
    "tempi-alltoallw": "tempi Neighbor_alltoallw",
    "tempi-isend": "tempi Isend/Irecv",
    "baseline": "baseline: slice, copy, mpi4py",
}
"""The legend of each method in the chart."""


def plot(rows: list[dict], path: str, title: str, caption: str = "") -> bool:
    """A bar chart of ms per exchange for each configuration and method (bar labels: the
    speedup over the baseline), the machine in ``caption`` under it; False (with a note)
    when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed (pip install tempi[bench]): no plot")
        return False
    import textwrap

    configs = list(dict.fromkeys((r["n"], r["radius"], r["quantities"]) for r in rows))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    width = 0.8 / len(methods)
    fig, ax = plt.subplots(figsize=(max(6.4, 1.8 * len(configs) + 2.5), 4.8))
    for m, method in enumerate(methods):
        for c, config in enumerate(configs):
            row = next(r for r in rows if r["method"] == method and config == _config(r))
            base = next(r for r in rows if r["method"] == "baseline" and config == _config(r))
            x = c + (m - (len(methods) - 1) / 2) * width
            label = ROUTES.get(method, method) if not c else None
            bar = ax.bar(x, row["seconds"] * 1e3, width, color=f"C{m}", label=label)
            ax.bar_label(bar, [f"{base['seconds'] / row['seconds']:.2f}x"], fontsize=7)
    ax.set_xticks(range(len(configs)), [f"n={n} r={r} q={q}" for n, r, q in configs])
    ax.set_ylabel("ms per exchange")
    ax.margins(y=0.45)  # room for the bar labels and the legend above the bars
    ax.set_title("\n".join(textwrap.wrap(title, 70)), fontsize=9)
    ax.legend(
        fontsize=8,
        title="route (bar label: speedup over baseline)",
        title_fontsize=7,
        loc="upper left",
        ncols=min(len(methods), 2),
    )
    lines = textwrap.wrap(caption, 100) if caption else []
    fig.text(0.01, 0.01, "\n".join(lines), fontsize=7, va="bottom", ha="left")
    fig.tight_layout(rect=(0, 0.03 * len(lines) + 0.01, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _kernel_cache(use_gpu: bool) -> tuple[str, bool]:
    """Where tempi's compiled packers are cached, and whether that cache has any yet."""
    from pathlib import Path

    if use_gpu:
        where = Path(os.environ.get("CUPY_CACHE_DIR", Path.home() / ".cupy" / "kernel_cache"))
        return str(where), where.is_dir() and any(where.iterdir())
    import importlib

    import numba

    source = Path(importlib.import_module("tempi.pack.host").__file__)
    where = Path(numba.config.CACHE_DIR) if numba.config.CACHE_DIR else source.parent
    where = where if numba.config.CACHE_DIR else where / "__pycache__"
    return str(where), any(where.rglob(f"{source.stem}.*.nbi")) if where.is_dir() else False


class _Progress:
    """Rank 0's progress lines: each method's first exchange (where a first run compiles
    tempi's packers) and its timed exchanges."""

    def __init__(self, use_gpu: bool) -> None:
        try:
            self.where, self.cached = _kernel_cache(use_gpu)
        except Exception:  # noqa: BLE001 - a progress line must never stop the ranks
            self.where, self.cached = "tempi's cache", False
        self.kind = "CUDA kernels (CuPy)" if use_gpu else "host packers (numba)"
        self.said = False

    def __call__(self, method: str, step: str, seconds: float) -> None:
        first_of_tempi = method.startswith("tempi") and not self.said
        if step == "begin":
            if first_of_tempi and not self.cached:  # said before the wait, not after
                print(
                    f"tempi demo: {method}: first exchange: compiling tempi's {self.kind} "
                    f"(first run only, cached in {self.where}) ...",
                    end="",
                    flush=True,
                )
        elif step == "first" and first_of_tempi:
            self.said = True
            if self.cached:
                print(
                    f"tempi demo: {method}: first exchange {seconds:.1f} s (tempi's "
                    f"{self.kind} loaded from {self.where})",
                    flush=True,
                )
            else:
                print(f" {seconds:.1f} s", flush=True)
        elif step != "begin" and seconds >= 1.0:
            what = "timed exchanges" if step == "timed" else "first exchange"
            print(f"tempi demo: {method}: {what} {seconds:.1f} s", flush=True)


def explanation(row: dict, use_gpu: bool) -> str:
    """What the demo measured and how to read it on this machine."""
    import textwrap

    what = (
        f"What this measured: each of {row['ranks']} ranks exchanged the 26 faces, edges and "
        f"corners of its {row['n']}^3-cell block ({row['bytes'] / 1e6:.2f} MB per exchange "
        f"per rank) with its neighbours by three routes, and checked every ghost cell "
        f"(column 'ghosts': ok = the right bytes arrived). ms/exchange is the slowest rank's "
        f"median; speedup = baseline time / route time."
    )
    if use_gpu:
        how = (
            "The arrays are CuPy arrays on the GPU: tempi packs each message with one kernel "
            "and sends it by the strategy its model picks, where the baseline slices each "
            "face, copies it contiguous, brings it to the host and sends it with mpi4py. "
            "Above 1 is tempi's gain on this machine."
        )
    else:
        how = (
            "This machine has no GPU (or --host was given), so this is a correctness run: "
            "the arrays are NumPy arrays and tempi's engine runs every step on the CPU "
            "(TEMPI_HOST=1). Both tempi routes run each face in tempi's C engine (planned "
            "once, packed by the numba packer in C), which on a CPU costs about what slicing "
            "and copying with NumPy does, so expect speedups around 1 here, lower on an idle "
            "machine where a message's Python call dominates. tempi's speed shows on a GPU: "
            "one kernel per message instead of a copy per face and a trip through host memory."
        )
    return "\n".join(textwrap.wrap(what, 96) + [""] + textwrap.wrap(how, 96))


def caption(row: dict, use_gpu: bool, library: str) -> str:
    """The machine and run, under the chart."""
    import platform

    from tempi import system

    gpus = system.gpus() if use_gpu else []
    device = ", ".join(gpus) if gpus else "no GPU: a correctness run, tempi's speed is on the GPU"
    return (
        f"{platform.node()} ({os.cpu_count()} CPU cores), {device}; {library}; "
        f"{row['ranks']} ranks [{row['dims'].replace('x', ', ')}], {row['n']}^3 cells per "
        f"rank, {row['quantities']} float64 per cell, median of {row['iters']} exchanges."
    )


def _config(row: dict) -> tuple[int, int, int]:
    return row["n"], row["radius"], row["quantities"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--n",
        type=int,
        nargs="+",
        help="local block edge(s) in cells (default 128 on a GPU, 32 in host memory)",
    )
    parser.add_argument("--radius", type=int, nargs="+", default=[1], help="ghost layers")
    parser.add_argument(
        "--quantities", type=int, nargs="+", default=[2], help="float64 values per cell"
    )
    parser.add_argument("--iters", type=int, default=20, help="timed exchanges per method")
    parser.add_argument("--warmup", type=int, default=2, help="untimed exchanges first (>= 1)")
    parser.add_argument("--host", action="store_true", help="NumPy arrays even with a GPU")
    parser.add_argument(
        "--records", action="store_true", help="also print one halo-py line per method"
    )
    parser.add_argument("--png", help="write a bar chart of the results to this file")
    parser.add_argument(
        "--explain",
        action="store_true",
        help="say what each step does and how to read the results (tempi demo)",
    )
    args = parser.parse_args(argv)
    if args.iters < 1 or args.warmup < 1 or min(args.quantities) < 1:
        parser.error("need iters, warmup and quantities >= 1")

    from mpi4py import MPI

    from tempi import system
    from tempi.pack import cuda

    use_gpu = not args.host and cuda.cuda_available()
    sizes = args.n or [128 if use_gpu else 32]
    if min(sizes) < 1 or min(args.radius) < 1 or max(args.radius) > min(sizes):
        parser.error("need n >= 1 and 1 <= radius <= n")
    if not use_gpu:
        os.environ["TEMPI_HOST"] = "1"
        from tempi import config

        config.reload()
    xp = __import__("cupy") if use_gpu else np
    comm = MPI.COMM_WORLD
    memory = "GPU (CuPy)" if use_gpu else "host (NumPy, TEMPI_HOST=1)"
    progress = _Progress(use_gpu) if comm.Get_rank() == 0 and args.explain else None
    everything = []
    for n, radius, quantities in itertools.product(sizes, args.radius, args.quantities):
        rows = run(comm, n, radius, quantities, args.iters, xp, args.warmup, progress)
        everything += rows
        if comm.Get_rank() == 0:
            if args.explain:
                print("\n" + explanation(rows[0], use_gpu) + "\n")
            print_table(rows, memory)
            if args.records:
                print("\n".join(record(r) for r in rows))
            sys.stdout.flush()
    if comm.Get_rank() == 0 and args.png:
        first = everything[0]
        library = " ".join(system.mpi_library().split(",")[0].split())
        title = f"3-D halo exchange, {first['ranks']} ranks, {memory}: time per route"
        if plot(everything, args.png, title, caption(first, use_gpu, library)):
            print(f"plot: {os.path.abspath(args.png)}")
    return 0 if all(r["max_error"] == 0 for r in everything) else 1


if __name__ == "__main__":
    sys.exit(main())
