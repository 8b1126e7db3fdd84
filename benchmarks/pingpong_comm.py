"""What does a message through tempi.Comm cost against mpi4py's own Send/Recv, for host memory?

A Python ping-pong of an MPI vector type (8-byte blocks at a 64-byte stride, one element
of ``packed/8`` blocks, NumPy buffers) on 2 ranks, with ``TEMPI_HOST=1``: mpi4py's
``Send``/``Recv`` of ``[buf, 1, vector]`` against ``tempi.Comm``'s of the same buffer spec,
alternately in one run, --repeat rounds each. The table gives the medians of the one-way
latencies per packed size and the ratio tempi / mpi4py (target of issue 14: at most 2x
from 64 B to 4 KiB); "engine" is the share of tempi's messages that ran in the C engine
(``tempi.comm.engine.paths()["engine"]``; 0 when it cannot load or ``TEMPI_PLANS=0``;
"-" where the host model sends by the MPI's typed path, which the engine does not count),
"binding" the share of tempi's calls that the compiled binding ran in one C call
(``tempi.comm.native.binding_counts()``: the typed path's included; 0 without it).

Launch (two ranks; rank 0 reports)::

    mpiexec -n 2 python benchmarks/pingpong_comm.py [--iterations 2000] [--repeat 5] [--out results]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TEMPI_HOST", "1")

import numpy as np  # noqa: E402
from _common import output_stem, plot_latency, provenance, table, write_csv  # noqa: E402
from mpi4py import MPI  # noqa: E402

import tempi  # noqa: E402
from tempi.comm import engine, native  # noqa: E402

SIZES = [64, 128, 256, 512, 1024, 2048, 4096, 8192]
STRIDE = 64


def _vector(nbytes: int) -> MPI.Datatype:
    return MPI.DOUBLE.Create_vector(nbytes // 8, 1, STRIDE // 8).Commit()


def _pingpong(comm, spec_out, spec_in, iterations: int) -> float:
    """One-way latency in µs of ``iterations`` round trips (after a few warm-up ones)."""
    rank = comm.Get_rank()
    for i in range(iterations + 20):
        if i == 20:
            comm.Barrier()
            start = time.perf_counter()
        if rank == 0:
            comm.Send(spec_out, 1, 7)
            comm.Recv(spec_in, 1, 7)
        else:
            comm.Recv(spec_in, 0, 7)
            comm.Send(spec_out, 0, 7)
    return (time.perf_counter() - start) / iterations / 2 * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=2000, help="round trips per timing")
    parser.add_argument("--repeat", type=int, default=5, help="timings per method and size")
    parser.add_argument("--sizes", type=int, nargs="+", default=SIZES, help="packed bytes")
    parser.add_argument("--out", type=Path, default=Path("results"))
    args = parser.parse_args(argv)
    world = MPI.COMM_WORLD
    if world.Get_size() != 2:
        sys.exit("run on 2 ranks: mpiexec -n 2 python benchmarks/pingpong_comm.py")
    comm = world.Dup()
    ours = tempi.Comm(comm)
    rank, rows = comm.Get_rank(), []
    for nbytes in args.sizes:
        vector = _vector(nbytes)
        extent = vector.Get_extent()[1]
        src = np.arange(extent // 8, dtype=np.float64) + rank * 1e6
        dst = np.zeros(extent // 8)
        spec_out, spec_in = [src, 1, vector], [dst, 1, vector]
        # correctness first: tempi's echo of the peer's vector elements
        ours.Sendrecv(spec_out, 1 - rank, 3, spec_in, 1 - rank, 3)
        expected = np.arange(extent // 8, dtype=np.float64)[:: STRIDE // 8] + (1 - rank) * 1e6
        if not np.array_equal(dst[:: STRIDE // 8], expected):
            sys.exit(f"rank {rank}: tempi.Comm delivered wrong bytes at {nbytes} B")
        before = dict(engine.paths())
        bound = native.binding_counts()
        plain, through = [], []
        for _ in range(args.repeat):
            plain.append(_pingpong(comm, spec_out, spec_in, args.iterations))
            through.append(_pingpong(ours, spec_out, spec_in, args.iterations))
        after = engine.paths()
        sent = sum(after.get(k, 0) - before.get(k, 0) for k in ("host", "engine"))
        in_c = after.get("engine", 0) - before.get("engine", 0)
        calls = 2 * args.repeat * (args.iterations + 20)  # tempi's Send and Recv calls
        bound = native.binding_counts()["in_c"] - bound["in_c"]
        vector.Free()
        base, mine = statistics.median(plain), statistics.median(through)
        rows.append(
            {
                "packed_B": nbytes,
                "mpi4py_us": base,
                "tempi_us": mine,
                "ratio": mine / base,
                "engine": f"{in_c / sent:.0%}" if sent else "-",
                "binding": f"{bound / calls:.0%}",
                "mpi4py_range_us": f"{min(plain):.2f}-{max(plain):.2f}",
                "tempi_range_us": f"{min(through):.2f}-{max(through):.2f}",
            }
        )
    if rank != 0:
        return 0
    columns = (
        ("packed_B", "{:>8}", 8),
        ("mpi4py_us", "{:>9.2f}", 9),
        ("tempi_us", "{:>9.2f}", 9),
        ("ratio", "{:>6.2f}", 6),
        ("engine", "{:>6}", 6),
        ("binding", "{:>7}", 7),
        ("mpi4py_range_us", "{:>15}", 15),
        ("tempi_range_us", "{:>15}", 15),
    )
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    comments = provenance(
        [
            f"round trips per timing: {args.iterations}, timings: {args.repeat}, 2 ranks, "
            f"TEMPI_HOST={os.environ.get('TEMPI_HOST')}, load average: {load}"
        ]
    )
    print("\n".join(comments))
    print(
        table(
            columns,
            rows,
            "one-way latency (median of the timings); ratio = tempi.Comm / mpi4py; "
            "target <= 2 from 64 B to 4 KiB; engine: tempi's messages run in C; "
            "binding: tempi's calls run by the compiled binding",
        )
    )
    stem = output_stem("pingpong_comm", args.out)
    write_csv(Path(f"{stem}.csv"), rows, comments)
    print(f"wrote {stem}.csv")
    series = [("mpi4py_us", "o-", "mpi4py Send/Recv"), ("tempi_us", "s-", "tempi.Comm Send/Recv")]
    plot_latency(stem, rows, series, f"Vector ping-pong from Python ({comments[3][5:40]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
