"""How much faster does a 2-D strided object make a round trip between two ranks through
tempi.Comm, with each strategy, than by the route a Python user has today?

Objects: TEMPI's 2-D grid -- an MPI_BYTE hvector of total/b blocks of b = 1-512 B (powers
of two) at a 512 B stride, totals 1 KiB, 1 MiB and 4 MiB -- sent as one element.

With a GPU (CuPy sees a device) the buffers are device arrays and tempi runs the oneshot
and staged strategies, and device when the MPI is CUDA-aware. The baseline is today's
route: the sender copies the bounding box (the whole strided extent) to the host with
CuPy (``.get()``) and sends it with the mpi4py derived type; the receiver receives with
the derived type into a host mirror of its buffer and copies the bounding box back
(``.set()``). Without a GPU the run is labelled "host-emulated": the buffers are NumPy
arrays, TEMPI_HOST=1 sends them through tempi's engine with every strategy emulated in
host memory, and the baseline is mpi4py with the derived type directly.

Launch (two ranks; rank 0 reports)::

    mpiexec -n 2 python benchmarks/pingpong.py [--quick] [--warmup 3] [--iters 20] [--out results]

Rank 0 times each round trip (send, then receive the echo) with time.perf_counter, the GPU
synchronized before the clock stops, and reports the median over --iters after --warmup
round trips. Before timing, each method's echo is checked against the object sent. The
strategy is set with TEMPI_DATATYPE and tempi.config.reload() on both ranks alike; the
"path" column is the engine counter that moved (passthrough when the object is
contiguous, b = 512). GB/s = 2 x object bytes / round-trip time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from _common import output_stem, provenance, pyplot, table, write_csv
from mpi4py import MPI

import tempi
import tempi.comm
from tempi import system

KiB, MiB = 1 << 10, 1 << 20
STRIDE = 512
PATHS = ("passthrough", "device", "oneshot", "staged")


def _cupy() -> Any:
    """CuPy when it sees a device, else None."""
    try:
        import cupy

        cupy.cuda.runtime.getDeviceCount()
        return cupy
    except Exception:
        return None


class Side:
    """Buffers of one rank for one object: ``src`` (rank 0's object), ``dst`` (receives)."""

    def __init__(self, cp: Any, total: int, block: int) -> None:
        self.cp, self.rows, self.block = cp, total // block, block
        self.datatype = MPI.BYTE.Create_hvector(self.rows, block, STRIDE).Commit()
        extent = self.datatype.Get_extent()[1]
        pattern = np.resize(np.arange(251, dtype=np.uint8), extent)
        self.src = cp.asarray(pattern) if cp else pattern
        self.dst = cp.zeros(extent, np.uint8) if cp else np.zeros(extent, np.uint8)
        self.mirror = np.zeros(extent, np.uint8) if cp else None  # the baseline's host copy

    def sync(self) -> None:
        if self.cp is not None:
            self.cp.cuda.Device().synchronize()

    def blocks(self, buf: Any) -> np.ndarray:
        """The object's bytes of ``buf`` as a (rows, block) host array."""
        host = self.cp.asnumpy(buf) if self.cp is not None else buf
        padded = np.zeros(self.rows * STRIDE, np.uint8)
        padded[: host.size] = host
        return padded.reshape(self.rows, STRIDE)[:, : self.block]

    def free(self) -> None:
        self.datatype.Free()


def _baseline(side: Side, world: MPI.Comm) -> tuple[Callable, Callable]:
    """Today's route: mpi4py with the derived type, on a host copy of device data."""
    if side.cp is None:
        return (
            lambda buf, peer: world.Send([buf, 1, side.datatype], peer, 1),
            lambda buf, peer: world.Recv([buf, 1, side.datatype], peer, 1),
        )

    def send(buf: Any, peer: int) -> None:
        world.Send([buf.get(), 1, side.datatype], peer, 1)

    def recv(buf: Any, peer: int) -> None:
        world.Recv([side.mirror, 1, side.datatype], peer, 1)
        buf.set(side.mirror)

    return send, recv


def _tempi(side: Side, comm: tempi.Comm) -> tuple[Callable, Callable]:
    return (
        lambda buf, peer: comm.Send([buf, 1, side.datatype], peer, 1),
        lambda buf, peer: comm.Recv([buf, 1, side.datatype], peer, 1),
    )


def _set_strategy(name: str) -> None:
    os.environ["TEMPI_DATATYPE"] = "auto" if name == "baseline" else name
    tempi.config.reload()


def _moved(before: dict[str, int]) -> str:
    after = tempi.comm.stats()
    moved = [p for p in PATHS if after.get(p, 0) > before.get(p, 0)]
    return "+".join(moved) or "none"


def pingpong(side: Side, methods: dict, args: argparse.Namespace) -> dict[str, dict]:
    """{method: {"rtt_s": median, "path": ...}}; meaningful on rank 0."""
    world = MPI.COMM_WORLD
    peer = 1 - world.rank
    out = {}
    for name, (send, recv) in methods.items():
        _set_strategy(name)
        before = tempi.comm.stats()
        side.dst[...] = 0
        world.Barrier()
        times = []
        for i in range(args.warmup + args.iters):
            if world.rank == 0:
                t0 = time.perf_counter()
                send(side.src, peer)
                recv(side.dst, peer)
                side.sync()
                times.append(time.perf_counter() - t0)
            else:
                recv(side.dst, peer)
                send(side.dst, peer)
            if i == 0 and world.rank == 0:
                echo, sent = side.blocks(side.dst), side.blocks(side.src)
                assert np.array_equal(echo, sent), f"{name}: the echo differs from the object"
        out[name] = {"rtt_s": statistics.median(times[args.warmup :]) if times else 0.0}
        out[name]["path"] = "mpi4py" if name == "baseline" else _moved(before)
    _set_strategy("auto")
    return out


def methods_for(side: Side, cuda_aware: bool, comm: tempi.Comm) -> dict:
    methods = {"baseline": _baseline(side, MPI.COMM_WORLD)}
    strategies = ["oneshot", "staged"] + (["device"] if cuda_aware or side.cp is None else [])
    for name in strategies:
        methods[name] = _tempi(side, comm)
    return methods


COLUMNS = (
    ("total", "{:>7}", 7),
    ("block_B", "{:>7}", 7),
    ("method", "{:<9}", 9),
    ("path", "{:<11}", 11),
    ("rtt_us", "{:>11.1f}", 11),
    ("GBps", "{:>8.3f}", 8),
    ("speedup", "{:>8.2f}", 8),
)
NOTE = "rtt = median round trip; GB/s = 2 x object bytes / rtt; speedup = baseline rtt / rtt"


def _size(nbytes: int) -> str:
    return f"{nbytes // MiB} MiB" if nbytes >= MiB else f"{nbytes // KiB} KiB"


def run_lines(mode: str, cp: Any) -> list[str]:
    versions = {name: system.package_version(name) for name in ("numpy", "mpi4py", "matplotlib")}
    versions["tempi"] = tempi.__version__
    versions["cupy"] = cp.__version__ if cp is not None else None
    packages = ", ".join(f"{k} {v}" for k, v in versions.items() if v)
    return [
        f"CUDA-aware MPI: {system.cuda_aware_mpi()}",
        f"GPU: {', '.join(system.gpus()) or 'none'}",
        f"mode: {mode}",
        f"{packages}, python {sys.version.split()[0]}",
    ]


def plot(path: Path, rows: list[dict], title: str) -> None:
    plt = pyplot()
    if plt is None:
        return
    totals = list(dict.fromkeys(r["total"] for r in rows))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    fig, axes = plt.subplots(1, len(totals), figsize=(4.5 * len(totals), 4), squeeze=False)
    for ax, total in zip(axes[0], totals, strict=True):
        for method in methods:
            sel = [r for r in rows if r["total"] == total and r["method"] == method]
            style = "x:" if method == "baseline" else "o-"
            ax.plot([r["block_B"] for r in sel], [r["GBps"] for r in sel], style, label=method)
        ax.set(yscale="log", xlabel=f"block (B), stride {STRIDE} B", title=total)
        ax.set_xscale("log", base=2)
    axes[0][0].set_ylabel("GB/s (2 x object bytes / round trip)")
    axes[0][0].legend(fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument(
        "--quick", action="store_true", help="totals 1 KiB, 1 MiB; blocks 1, 16, 512"
    )
    parser.add_argument("--out", type=Path, default=Path("results"))
    args = parser.parse_args(argv)
    world = MPI.COMM_WORLD
    if world.size != 2:
        if world.rank == 0:
            print("run with exactly 2 ranks: mpiexec -n 2 python benchmarks/pingpong.py")
        return 2
    start = time.perf_counter()
    cp = _cupy()
    mode = "cuda" if cp is not None else "host-emulated"
    if cp is None:
        os.environ["TEMPI_HOST"] = "1"
        tempi.config.reload()
    cuda_aware = system.cuda_aware_mpi()[0]
    totals = (KiB, MiB) if args.quick else (KiB, MiB, 4 * MiB)
    blocks = (1, 16, 512) if args.quick else tuple(1 << k for k in range(10))
    comm = tempi.Comm(world)
    rows = []
    for total in totals:
        for block in blocks:
            side = Side(cp, total, block)
            results = pingpong(side, methods_for(side, cuda_aware, comm), args)
            side.free()
            base = results["baseline"]["rtt_s"]
            for method, r in results.items():
                rtt = r["rtt_s"]
                row = {"mode": mode, "total": _size(total), "bytes": total, "block_B": block}
                row |= {"method": method, "path": r["path"], "iters": args.iters}
                row |= {"rtt_us": 1e6 * rtt, "GBps": 2 * total / rtt / 1e9 if rtt else 0.0}
                row["speedup"] = base / rtt if rtt else 0.0
                rows.append(row)
            if world.rank == 0:
                summary = "  ".join(
                    f"{m} {1e6 * r['rtt_s']:.0f} us ({r['path']})" for m, r in results.items()
                )
                print(f"{_size(total):>7} b={block:<4} {summary}", flush=True)
    if world.rank == 0:
        comments = provenance(run_lines(mode, cp))
        print("\n".join(comments))
        print(table(COLUMNS, rows, NOTE))
        stem = output_stem("pingpong", args.out)
        write_csv(Path(f"{stem}.csv"), rows, comments)
        print(f"wrote {stem}.csv")
        plot(Path(f"{stem}.png"), rows, f"{mode}; {comments[3]}; {comments[5]}")
        print(f"total {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
