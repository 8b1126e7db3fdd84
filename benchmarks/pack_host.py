"""How fast does tempi pack derived datatypes in host memory, next to the system MPI_Pack and
a NumPy copy of the equivalent strided view, on the same machine in the same run?

Cases: the faces of a 512^3 float64 grid (C order (z, y, x), MPI subarrays of MPI_DOUBLE,
depth 1-4, starting one cell in from the edge): yz = A[:, :, 1:1+d] (8d-byte blocks),
xz = A[:, 1:1+d, :] (4d KiB blocks), xy = A[1:1+d, :, :] (contiguous); and TEMPI's 2-D
grid: MPI_BYTE hvectors of total/b blocks of b = 1-512 B at a 512 B stride, totals 1 KiB,
1 MiB and 4 MiB.

Launch (one process)::

    python benchmarks/pack_host.py [--quick] [--warmup 2] [--iters 10] [--out results]

The three methods run interleaved (rotating order) in one loop, so machine noise hits them
alike; each is timed per call with time.perf_counter and the median is reported. Small
cases repeat until every method has --min-time seconds of samples. GB/s = packed bytes /
median time. Before timing, tempi's packed bytes are asserted equal to MPI_Pack's and
NumPy's.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from _common import output_stem, provenance, pyplot, table, write_csv
from mpi4py import MPI

import tempi

KiB, MiB = 1 << 10, 1 << 20
N = 512  # grid edge
MAX_ITERS = 5000


@dataclass
class Case:
    group: str  # "face" or "grid"
    name: str
    datatype: MPI.Datatype  # committed; one element is packed
    typed: memoryview  # exactly one extent of the typed buffer
    view: np.ndarray  # the equivalent strided NumPy view
    block: int  # contiguous block, bytes


def face_cases(A: np.ndarray, depths: tuple[int, ...]) -> list[Case]:
    cases = []
    whole = memoryview(A.reshape(-1).view(np.uint8))
    for face, axis in (("yz", 2), ("xz", 1), ("xy", 0)):
        for d in depths:
            sub, start = [N] * 3, [0] * 3
            sub[axis], start[axis] = d, 1
            datatype = MPI.DOUBLE.Create_subarray([N] * 3, sub, start).Commit()
            view = A[tuple(slice(s, s + n) for s, n in zip(start, sub, strict=True))]
            block = 8 * math.prod(sub[axis:])
            cases.append(Case("face", f"{face} d={d}", datatype, whole, view, block))
    return cases


def grid_cases(totals: tuple[int, ...]) -> list[Case]:
    cases = []
    for total in totals:
        # b = 1 needs `total` rows of 512 B (2 GiB for 4 MiB); a byte pattern of period 251
        buf = np.tile(np.arange(251, dtype=np.uint8), total * 512 // 251 + 1)[: total * 512]
        for b in (1 << k for k in range(10)):
            rows = total // b
            datatype = MPI.BYTE.Create_hvector(rows, b, 512).Commit()
            extent = datatype.Get_extent()[1]
            view = np.lib.stride_tricks.as_strided(buf, shape=(rows, b), strides=(512, 1))
            name = f"grid {total // KiB} KiB" if total < MiB else f"grid {total // MiB} MiB"
            cases.append(Case("grid", name, datatype, memoryview(buf)[:extent], view, b))
    return cases


def run_case(case: Case, args: argparse.Namespace) -> dict:
    nbytes = case.datatype.Get_size()
    outs = {m: np.empty(nbytes, np.uint8) for m in ("tempi", "mpi")}
    np_out = np.empty(case.view.shape, case.view.dtype)
    methods = {
        "tempi": lambda: tempi.pack(case.typed, 1, case.datatype, outs["tempi"]),
        "mpi": lambda: case.datatype.Pack(case.typed, outs["mpi"], 0, MPI.COMM_SELF),
        "numpy": lambda: np.copyto(np_out, case.view),
    }
    for _ in range(max(args.warmup, 1)):
        rounds = {}
        for name, fn in methods.items():
            t0 = time.perf_counter()
            fn()
            rounds[name] = time.perf_counter() - t0
    assert methods["tempi"]() == nbytes
    assert np.array_equal(outs["tempi"], outs["mpi"]), f"{case.name}: tempi != MPI_Pack"
    assert np.array_equal(outs["tempi"], np_out.reshape(-1).view(np.uint8)), case.name
    iters = max(args.iters, min(MAX_ITERS, math.ceil(args.min_time / min(rounds.values()))))
    times = {name: [] for name in methods}
    order = list(methods)
    for i in range(iters):
        for name in order[i % 3 :] + order[: i % 3]:
            t0 = time.perf_counter()
            methods[name]()
            times[name].append(time.perf_counter() - t0)
    med = {name: statistics.median(ts) for name, ts in times.items()}
    row = {"group": case.group, "case": case.name, "bytes": nbytes, "block_B": case.block}
    row["iters"] = iters
    for name in methods:
        row[f"{name}_us"] = 1e6 * med[name]
        row[f"{name}_GBps"] = nbytes / med[name] / 1e9
    row["tempi/mpi"] = med["mpi"] / med["tempi"]
    row["tempi/numpy"] = med["numpy"] / med["tempi"]
    return row


COLUMNS = (
    ("case", "{:<13}", 13),
    ("bytes", "{:>9}", 9),
    ("block_B", "{:>8}", 8),
    ("tempi_GBps", "{:>10.2f}", 10),
    ("mpi_GBps", "{:>9.2f}", 9),
    ("numpy_GBps", "{:>10.2f}", 10),
    ("tempi/mpi", "{:>9.2f}", 9),
    ("tempi/numpy", "{:>11.2f}", 11),
)
NOTE = "GB/s = packed bytes / median time; ratios > 1: tempi faster"


def host_lines() -> list[str]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import mpi4py
    import numba

    return [
        f"CPU: {cpu} ({len(os.sched_getaffinity(0))} cores usable)",
        f"numpy {np.__version__}, numba {numba.__version__}, mpi4py {mpi4py.__version__}, "
        f"python {sys.version.split()[0]}",
    ]


def plot(path: Path, rows: list[dict], title: str) -> None:
    plt = pyplot()
    if plt is None:
        return
    grids = list(dict.fromkeys(r["case"] for r in rows if r["group"] == "grid"))
    fig, axes = plt.subplots(1, len(grids), figsize=(4.5 * len(grids), 4), squeeze=False)
    for ax, grid in zip(axes[0], grids, strict=True):
        sel = [r for r in rows if r["case"] == grid]
        blocks = [r["block_B"] for r in sel]
        for method, style in (("tempi", "o-"), ("mpi", "x:"), ("numpy", "s--")):
            label = "MPI_Pack" if method == "mpi" else method
            ax.plot(blocks, [r[f"{method}_GBps"] for r in sel], style, label=label)
        ax.set(yscale="log", xlabel="block (B), stride 512 B", title=grid)
        ax.set_xscale("log", base=2)
    axes[0][0].set_ylabel("GB/s (packed bytes)")
    axes[0][0].legend(fontsize=8)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--iters", type=int, default=10, help="minimum iterations per case")
    parser.add_argument("--min-time", type=float, default=0.1, help="seconds per method")
    parser.add_argument("--quick", action="store_true", help="depths 1, 4; totals 1 KiB, 1 MiB")
    parser.add_argument("--out", "--out-dir", type=Path, default=Path("results"))
    args = parser.parse_args(argv)

    depths = (1, 4) if args.quick else (1, 2, 3, 4)
    totals = (KiB, MiB) if args.quick else (KiB, MiB, 4 * MiB)
    start = time.perf_counter()
    A = np.arange(N**3, dtype=np.float64).reshape(N, N, N)  # 1 GiB, every page touched
    cases = face_cases(A, depths) + grid_cases(totals)
    rows = []
    for i, case in enumerate(cases, 1):
        rows.append(run_case(case, args))
        case.datatype.Free()
        r = rows[-1]
        print(
            f"[{i:2}/{len(cases)}] {r['case']:<12} b={r['block_B']:<8} tempi "
            f"{r['tempi_GBps']:7.2f}  MPI_Pack {r['mpi_GBps']:7.2f}  numpy "
            f"{r['numpy_GBps']:7.2f} GB/s  ({r['iters']} iters)",
            flush=True,
        )
    comments = provenance(host_lines())
    print("\n".join(comments))
    print(table(COLUMNS, rows, NOTE))
    stem = output_stem("pack_host", args.out)
    write_csv(Path(f"{stem}.csv"), rows, comments)
    print(f"wrote {stem}.csv")
    plot(Path(f"{stem}.png"), rows, f"{comments[4]}; {comments[3]}")
    print(f"total {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
