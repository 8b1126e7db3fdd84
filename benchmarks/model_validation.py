"""Does the performance model pick the fastest strategy?

For each of 36 layouts -- vectors and subarrays of 1 KiB to 64 MiB, blocks of 1 B to
64 KiB, 1 to 3 strided levels -- every strategy the engine may run (oneshot, staged,
and device on a CUDA-aware MPI) is timed for real as a ping-pong between two ranks
through ``tempi.Comm`` (forced with TEMPI_DATATYPE and ``tempi.config.reload()``, both
ranks alike), and the model (``tempi.model``: this machine's profile from ``tempi
measure``, or ``--profile``, else built-in defaults) is asked for its pick. A *hit* is a
pick whose measured time is within 10 % of the fastest. The target is a hit rate of at
least 90 % on the GPU machine. Without a GPU the run is host-emulated (NumPy buffers,
TEMPI_HOST=1, every strategy's steps in host memory): a test of the script, not of the
model.

Launch (two ranks; rank 0 reports)::

    mpiexec -n 2 python benchmarks/model_validation.py [--quick] [--out-dir results]
                                                        [--profile PATH]

Times are one-way (half the median round trip after warm-up, the GPU synchronized
before the clock stops); each strategy's first echo is checked against the data sent.
The CSV gets the measured and predicted time of every strategy per layout.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from _common import output_stem, provenance, table, write_csv
from mpi4py import MPI

import tempi
from tempi import system
from tempi.comm.locality import node_ranks
from tempi.model import choose, features, predict
from tempi.model import profile as profiles

KiB, MiB = 1 << 10, 1 << 20
TOLERANCE = 0.10
TARGET = 0.90


@dataclass(frozen=True)
class Case:
    name: str
    make: Callable[[], MPI.Datatype]


def _vector(count: int, block: int, stride: int) -> Case:
    total = count * block
    size = f"{total // MiB}MiB" if total >= MiB else f"{total // KiB}KiB"
    return Case(
        f"vec {size} b{block} s{stride}", lambda: MPI.BYTE.Create_vector(count, block, stride)
    )


def _subarray(label: str, base: MPI.Datatype, sizes, subsizes, starts) -> Case:
    return Case(label, lambda: base.Create_subarray(sizes, subsizes, starts))


D, F, B = MPI.DOUBLE, MPI.FLOAT, MPI.BYTE
CASES = [
    _vector(1024, 1, 64),
    _vector(128, 8, 512),
    _vector(64, 64, 96),
    _vector(4096, 4, 12),
    _vector(8192, 8, 16),
    _vector(4, 16384, 32768),
    _vector(262144, 1, 2),
    _vector(1024, 256, 4096),
    _vector(131072, 8, 1024),
    _vector(16384, 64, 128),
    _vector(2048, 512, 1024),
    _vector(31775, 33, 100),
    _vector(2 * MiB, 1, 64),
    _vector(MiB, 4, 64),
    _vector(1024, 4096, 8192),
    _vector(4 * MiB, 2, 8),
    _vector(MiB, 16, 64),
    _vector(131072, 128, 192),
    _vector(1024, 65536, 131072),
    _vector(65536, 1024, 1536),
    _vector(MiB, 32, 64),
    _vector(8192, 1, 64),
    _subarray("column 4096^2 f64", D, [4096, 4096], [4096, 1], [0, 7]),
    _subarray("half rows 2048^2 f64", D, [2048, 2048], [2048, 1024], [0, 512]),
    _subarray("interior 1024^2 f64", D, [1024, 1024], [1022, 1022], [1, 1]),
    _subarray("z-plane 64^3 f64", D, [64, 64, 64], [64, 62, 1], [0, 1, 5]),
    _subarray("z-face 256^3 f64 x3", D, [256, 256, 256], [256, 254, 3], [0, 1, 1]),
    _subarray("y-face 256^3 f64 x3", D, [256, 256, 256], [254, 3, 254], [1, 1, 1]),
    _subarray("interior 128^3 f64", D, [128, 128, 128], [126, 126, 126], [1, 1, 1]),
    _subarray("halo 512^3 B", B, [512, 512, 512], [512, 510, 32], [0, 1, 8]),
    _subarray("4-D f64 b8", D, [16, 32, 32, 64], [16, 30, 30, 1], [0, 1, 1, 3]),
    _subarray("4-D f64 b512", D, [8, 64, 64, 128], [8, 62, 62, 64], [0, 1, 1, 32]),
    _subarray("4-D B b3", B, [4, 128, 128, 256], [4, 126, 126, 3], [0, 1, 1, 5]),
    _subarray("4-D f32 b64", F, [32, 64, 64, 64], [32, 62, 62, 16], [0, 1, 1, 8]),
    _subarray("4-D B b1024", B, [64, 32, 32, 2048], [64, 30, 30, 1024], [0, 1, 1, 512]),
    _subarray("4-D f64 b24", D, [8, 16, 16, 32], [8, 14, 14, 3], [0, 1, 1, 2]),
]


def _cupy() -> Any:
    try:
        import cupy

        return cupy if cupy.cuda.runtime.getDeviceCount() > 0 else None
    except Exception:
        return None


def _set_strategy(name: str) -> None:
    os.environ["TEMPI_DATATYPE"] = name
    tempi.config.reload()


class Buffers:
    """The typed buffers of one layout on one rank and the packed view that checks them."""

    def __init__(self, cp: Any, datatype: MPI.Datatype) -> None:
        self.cp, self.datatype = cp, datatype
        span = datatype.Get_true_extent()[0] + datatype.Get_true_extent()[1]
        pattern = np.resize(np.arange(251, dtype=np.uint8), span)
        self.src = cp.asarray(pattern) if cp else pattern
        self.dst = cp.zeros(span, np.uint8) if cp else np.zeros(span, np.uint8)
        self.packed = self._packed(self.src)

    def _packed(self, buf: Any) -> np.ndarray:
        xp = self.cp or np
        out = xp.empty(self.datatype.Get_size(), np.uint8)
        tempi.pack(buf, 1, self.datatype, out)
        return self.cp.asnumpy(out) if self.cp else out

    def echo_ok(self) -> bool:
        return bool(np.array_equal(self._packed(self.dst), self.packed))

    def sync(self) -> None:
        if self.cp is not None:
            self.cp.cuda.get_current_stream().synchronize()


def time_strategy(
    comm: tempi.Comm, world: MPI.Comm, bufs: Buffers, strategy: str, args: argparse.Namespace
) -> float:
    """One-way time (half the median round trip) on rank 0; NaN elsewhere."""
    _set_strategy(strategy)
    peer = 1 - world.rank
    spec_src = [bufs.src, 1, bufs.datatype]
    spec_dst = [bufs.dst, 1, bufs.datatype]
    bufs.dst[...] = 0
    bufs.sync()
    world.Barrier()

    def round_trip() -> float:
        t0 = time.perf_counter()
        if world.rank == 0:
            comm.Send(spec_src, peer, 3)
            comm.Recv(spec_dst, peer, 3)
            bufs.sync()
        else:
            comm.Recv(spec_dst, peer, 3)
            comm.Send(spec_dst, peer, 3)
        return time.perf_counter() - t0

    first = round_trip()
    if world.rank == 0 and not bufs.echo_ok():
        raise AssertionError(f"{strategy}: the echo differs from the data sent")
    # as many round trips as fit the per-layout budget (both ranks agree on the count)
    iters = world.bcast(
        max(3, min(args.iters, int(args.budget / max(first, 1e-6)))) if world.rank == 0 else None
    )
    for _ in range(args.warmup):
        round_trip()
    times = [round_trip() for _ in range(iters)]
    return statistics.median(times) / 2 if world.rank == 0 else math.nan


def run_case(
    case: Case, cp: Any, comm: tempi.Comm, world: MPI.Comm, strategies, args, local: bool
) -> dict | None:
    datatype = case.make().Commit()
    try:
        desc = tempi.describe(datatype)
        bufs = Buffers(cp, datatype)
        measured = {s: time_strategy(comm, world, bufs, s, args) for s in strategies}
        del bufs
        if world.rank != 0:
            return None
        shape = features.of(desc)
        aware = "device" in strategies
        pick = choose.pick(desc, shape.nbytes, cuda_aware=aware, peer_local=local)
        found = choose.predict_shape(shape, cuda_aware=aware, peer_local=local)
        fastest = min(measured, key=measured.get)
        hit = measured[pick] <= (1 + TOLERANCE) * measured[fastest]
        row = {
            "layout": case.name,
            "bytes": shape.nbytes,
            "block_B": round(shape.block_b),
            "stride_B": round(shape.stride_b),
            "levels": shape.levels,
        }
        for s in predict.STRATEGIES:
            row[f"{s}_us"] = 1e6 * measured[s] if s in measured else math.nan
        for s in predict.STRATEGIES:
            row[f"{s}_pred_us"] = 1e6 * found[s].time_s if s in found else math.nan
        row |= {
            "fastest": fastest,
            "pick": pick,
            "loss_pct": 100 * (measured[pick] / measured[fastest] - 1),
            "hit": "yes" if hit else "NO",
        }
        return row
    finally:
        datatype.Free()
        if cp is not None:
            cp.get_default_memory_pool().free_all_blocks()


COLUMNS = (
    ("layout", "{:<24}", 24),
    ("bytes", "{:>10}", 10),
    ("block_B", "{:>7}", 7),
    ("levels", "{:>6}", 6),
    ("oneshot_us", "{:>10.1f}", 10),
    ("staged_us", "{:>10.1f}", 10),
    ("device_us", "{:>10.1f}", 10),
    ("oneshot_pred_us", "{:>15.1f}", 15),
    ("staged_pred_us", "{:>14.1f}", 14),
    ("fastest", "{:<8}", 8),
    ("pick", "{:<8}", 8),
    ("loss_pct", "{:>8.1f}", 8),
    ("hit", "{:<3}", 3),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer round trips per layout")
    parser.add_argument("--warmup", type=int, default=None, help="round trips before timing")
    parser.add_argument("--iters", type=int, default=None, help="timed round trips (at most)")
    parser.add_argument("--profile", type=Path, help="the model's profile (default: cached)")
    parser.add_argument("--out-dir", type=Path, default=Path("results"))
    args = parser.parse_args(argv)
    args.warmup = args.warmup if args.warmup is not None else (1 if args.quick else 3)
    args.iters = args.iters if args.iters is not None else (7 if args.quick else 25)
    args.budget = 0.25 if args.quick else 1.0  # seconds of round trips per strategy
    world = MPI.COMM_WORLD
    if world.size != 2:
        if world.rank == 0:
            print("run with exactly 2 ranks: mpiexec -n 2 python benchmarks/model_validation.py")
        return 2
    started = time.perf_counter()
    cp = _cupy()
    mode = "cuda" if cp is not None else "host-emulated"
    if cp is None:
        os.environ["TEMPI_HOST"] = "1"
        tempi.config.reload()
    if args.profile is not None:
        loaded = profiles.load(args.profile)
        if loaded is None:
            if world.rank == 0:
                print(f"no usable profile at {args.profile}")
            return 2
        choose.use(loaded)
    aware = system.cuda_aware_mpi()[0] or cp is None
    strategies = predict.allowed(cuda_aware=aware)
    local = 1 in node_ranks(world)
    comm = tempi.Comm(world)
    rows = []
    for case in CASES:
        row = run_case(case, cp, comm, world, strategies, args, local)
        if row is not None:
            rows.append(row)
            times = "  ".join(f"{s} {row[f'{s}_us']:.1f}" for s in strategies)
            print(f"{case.name:<24} {times} us  pick {row['pick']} {row['hit']}", flush=True)
    _set_strategy("auto")
    if world.rank == 0:
        hits = sum(r["hit"] == "yes" for r in rows)
        rate = hits / len(rows)
        source = choose.current().source
        summary = (
            f"hit rate {hits}/{len(rows)} = {100 * rate:.0f} % (pick within "
            f"{100 * TOLERANCE:.0f} % of the fastest; target {100 * TARGET:.0f} % on the GPU)"
        )
        lines = [
            f"mode: {mode}",
            f"GPU: {', '.join(system.gpus()) or 'none'}",
            f"CUDA-aware MPI: {system.cuda_aware_mpi()}",
            f"peer: {'same node' if local else 'other node'}",
            f"model: {source}",
            summary,
        ]
        comments = provenance(lines)
        print("\n".join(comments))
        columns = COLUMNS if "device" in strategies else [c for c in COLUMNS if c[0] != "device_us"]
        print(table(columns, rows, "times: one way (half the median round trip), microseconds"))
        print(summary)
        stem = output_stem("model_validation", args.out_dir)
        write_csv(Path(f"{stem}.csv"), rows, comments)
        print(f"wrote {stem}.csv; total {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
