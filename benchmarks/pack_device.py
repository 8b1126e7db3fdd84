"""How fast does tempi pack and unpack derived datatypes in GPU memory, next to what a user
would otherwise have on the same card?

Baselines, in the same run: ``cupy.ascontiguousarray`` of the equivalent strided view
(for unpack, CuPy's assignment of the packed bytes into that view), one
``cudaMemcpyAsync`` per contiguous block (what Open MPI's datatype engine does for
device memory; timed on at most 4096 blocks and extrapolated, marked ``*``), and a plain
device-to-device copy of the packed byte count (the ceiling). tempi is also timed packing
straight into mapped pinned host memory (one-shot).

Cases: TEMPI's bench-mpi-pack grid (2-D vector / hvector / subarray of bytes; 1 KiB,
1 MiB, 4 MiB; blocks 1-512 B at a 512 B stride; incount 1 and 2), 3-D halo faces of a
1024^3-byte grid, and 64 MiB - 1 GiB objects.

Launch (one process, one GPU)::

    python3 benchmarks/pack_device.py [--quick] [--cases REGEX] [--warmup 3] [--iters 20]
        [--out-dir results]

``--cases`` keeps the cases whose name matches (e.g. ``'interior|halo 512x512x3'``);
``scripts/gpu-check pack`` runs the rows of issue 16 and their neighbours that way.

Times are CUDA-event medians after warm-up; each iteration's clock stops after the
stream is synchronized. GB/s counts read + write bytes (2 x packed bytes), as the copy
ceiling does.
"""

from __future__ import annotations

import argparse
import math
import re
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from _common import output_stem, provenance, pyplot, table, write_csv
from mpi4py import MPI

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
MEMCPY_BLOCK_CAP = 4096


@dataclass
class Case:
    group: str
    name: str
    make: Callable[[], MPI.Datatype]
    count: int
    block_b: int


def grid_cases(quick: bool) -> list[Case]:
    """TEMPI's bench-mpi-pack grid: 2-D layouts of bytes, stride 512 B."""
    totals = (1 * KiB, 1 * MiB) if quick else (1 * KiB, 1 * MiB, 4 * MiB)
    blocks = (1, 8, 64, 512) if quick else (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)
    kinds = ("vector", "subarray") if quick else ("vector", "hvector", "subarray")
    incounts = (1,) if quick else (1, 2)
    cases = []
    for total in totals:
        for block in blocks:
            rows = total // block
            makers = {
                "vector": lambda r=rows, b=block: MPI.BYTE.Create_vector(r, b, 512),
                "hvector": lambda r=rows, b=block: MPI.BYTE.Create_hvector(r, b, 512),
                "subarray": lambda r=rows, b=block: MPI.BYTE.Create_subarray(
                    [r, 512], [r, b], [0, 0]
                ),
            }
            for kind in kinds:
                for incount in incounts:
                    name = f"{kind} {_size(total)} b{block} x{incount}"
                    cases.append(Case("grid", name, makers[kind], incount, block))
    return cases


def halo_cases(quick: bool) -> list[Case]:
    """Faces of a 1024^3-byte grid (x, y, z thickness 12, 3, 3)."""
    shapes = ((12, 512, 512), (512, 3, 512), (512, 512, 3))
    cases = []
    for sub in shapes[:2] if quick else shapes:
        name = "halo " + "x".join(map(str, sub))
        make = lambda s=sub: MPI.BYTE.Create_subarray([1024] * 3, list(s), [4, 4, 4])  # noqa: E731
        cases.append(Case("halo", name, make, 1, sub[2]))
    return cases


def large_cases(quick: bool) -> list[Case]:
    """64 MiB - 1 GiB: half of every 8 KiB row, and the interior of a 512^3 float64 grid."""
    cases = []
    for total in (64 * MiB,) if quick else (64 * MiB, 256 * MiB, 1 * GiB):
        rows = total // 4096
        make = lambda r=rows: MPI.BYTE.Create_subarray([r, 8192], [r, 4096], [0, 1024])  # noqa: E731
        cases.append(Case("large", f"rows {_size(total)} b4096", make, 1, 4096))
    if not quick:
        make = lambda: MPI.DOUBLE.Create_subarray([512] * 3, [512, 510, 510], [0, 1, 1])  # noqa: E731
        cases.append(Case("large", "interior 512^3 f64", make, 1, 510 * 8))
    return cases


def _size(nbytes: int) -> str:
    for unit, scale in (("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if nbytes >= scale:
            return f"{nbytes // scale}{unit}"
    return f"{nbytes}B"


class Timer:
    """CUDA-event timing on one stream: median over ``iters`` samples after ``warmup``
    calls; a sample times ``batch`` back-to-back calls (so a kernel longer than its launch
    hides the Python launch cost, as in a pipelined application) and divides."""

    def __init__(self, cp, warmup: int, iters: int, batch: int):
        self.cp, self.warmup, self.iters, self.batch = cp, warmup, iters, batch
        self.stream = cp.cuda.Stream(non_blocking=True)

    def __call__(
        self, fn: Callable[[], object], iters: int | None = None, batch: int | None = None
    ) -> float:
        cp, stream = self.cp, self.stream
        batch = batch or self.batch
        with stream:
            for _ in range(self.warmup):
                fn()
            stream.synchronize()
            times = []
            for _ in range(iters or self.iters):
                start, end = cp.cuda.Event(), cp.cuda.Event()
                start.record(stream)
                for _ in range(batch):
                    fn()
                end.record(stream)
                end.synchronize()
                times.append(cp.cuda.get_elapsed_time(start, end) * 1e-3 / batch)
        return statistics.median(times)


def block_starts(desc) -> np.ndarray:
    """Typed byte offset of each contiguous block, in packed order (strided blocks)."""
    index = np.array([desc.start], dtype=np.int64)
    for count, stride in zip(desc.counts, desc.strides, strict=True):
        index = (np.arange(count, dtype=np.int64)[:, None] * stride + index[None, :]).ravel()
    return index


def strided_view(cp, buf, origin: int, desc):
    """The CuPy view whose C-order elements are the packed stream, or None."""
    if any(s < 0 for s in desc.strides):
        return None
    first = origin + desc.start
    common = math.gcd(first, desc.block, *desc.strides)
    word = next(w for w in (8, 4, 2, 1) if common % w == 0)
    typed = buf[first : first + (len(buf) - first) // word * word].view(f"u{word}")
    shape = (*reversed(desc.counts), desc.block // word)
    strides = (*reversed(desc.strides), word)
    return cp.lib.stride_tricks.as_strided(typed, shape=shape, strides=strides)


def run_case(case: Case, cp, timer: Timer, cuda, tempi) -> dict:
    datatype = case.make()
    datatype.Commit()
    try:
        desc = tempi.describe(datatype).repeat(case.count)
        span = desc.data_ub - min(desc.data_lb, 0)
        origin = -min(desc.data_lb, 0)
        typed = cp.zeros(span + 256, cp.uint8)
        packed = cp.empty(desc.nbytes, cp.uint8)
        src, dst = typed.data.ptr + origin, packed.data.ptr
        stream = timer.stream
        row = {
            "group": case.group,
            "case": case.name,
            "nbytes": desc.nbytes,
            "block_b": case.block_b,
        }
        row["pack_us"] = 1e6 * timer(lambda: cuda.pack(desc, src, dst, stream=stream, sync=False))
        row["unpack_us"] = 1e6 * timer(
            lambda: cuda.unpack(desc, dst, src, stream=stream, sync=False)
        )
        row["copy_us"] = 1e6 * _copy(cp, timer, dst, desc.nbytes)
        strided = isinstance(desc, tempi.StridedBlock)
        # A contiguous layout needs no packing: ascontiguousarray would return the view.
        view = strided_view(cp, typed, origin, desc) if strided and desc.counts else None
        row["ascontig_us"], row["assign_us"] = math.nan, math.nan
        if view is not None:
            row["ascontig_us"] = 1e6 * timer(lambda: cp.ascontiguousarray(view))
            dense = packed.view(view.dtype).reshape(view.shape)
            row["assign_us"] = 1e6 * timer(lambda: view.__setitem__(Ellipsis, dense))
        row["memcpy_us"], row["memcpy_extrapolated"] = (
            _memcpy_packer(cp, timer, desc, src, dst) if strided else (math.nan, False)
        )
        row["oneshot_us"] = _oneshot(cp, timer, cuda, desc, src)
        return row
    finally:
        datatype.Free()
        cp.get_default_memory_pool().free_all_blocks()


def _copy(cp, timer: Timer, dst: int, nbytes: int) -> float:
    """Device-to-device copy of ``nbytes`` (the ceiling)."""
    src = cp.empty(nbytes, cp.uint8)
    memcpy, stream = cp.cuda.runtime.memcpyAsync, timer.stream.ptr
    return timer(lambda: memcpy(dst, src.data.ptr, nbytes, 3, stream))


def _memcpy_packer(cp, timer: Timer, desc, src: int, dst: int) -> tuple[float, bool]:
    starts = block_starts(desc).tolist()
    timed = starts[:MEMCPY_BLOCK_CAP]
    block, stream, memcpy = desc.block, timer.stream.ptr, cp.cuda.runtime.memcpyAsync

    def per_block() -> None:
        pos = dst
        for off in timed:
            memcpy(pos, src + off, block, 3, stream)
            pos += block

    seconds = timer(per_block, iters=min(timer.iters, 5) if len(timed) > 256 else None, batch=1)
    return 1e6 * seconds * len(starts) / len(timed), len(timed) < len(starts)


def _oneshot(cp, timer: Timer, cuda, desc, src: int) -> float:
    runtime = cp.cuda.runtime
    ptr = runtime.hostAlloc(desc.nbytes, runtime.hostAllocMapped)
    try:
        iters = 3 if desc.nbytes > 64 * MiB else None
        return 1e6 * timer(
            lambda: cuda.pack(desc, src, ptr, stream=timer.stream, sync=False), iters, batch=1
        )
    finally:
        runtime.freeHost(ptr)


def derive(row: dict) -> dict:
    gbs = lambda us: 2 * row["nbytes"] / (us * 1e3) if us and not math.isnan(us) else math.nan  # noqa: E731
    row["pack_GBps"] = gbs(row["pack_us"])
    row["unpack_GBps"] = gbs(row["unpack_us"])
    row["copy_GBps"] = gbs(row["copy_us"])
    row["pct_copy"] = 100 * row["pack_GBps"] / row["copy_GBps"]
    row["x_ascontig"] = row["ascontig_us"] / row["pack_us"]
    row["x_assign"] = row["assign_us"] / row["unpack_us"]
    row["unpack_per_pack"] = row["unpack_us"] / row["pack_us"]
    row["x_memcpy"] = row["memcpy_us"] / row["pack_us"]
    return row


COLUMNS = (
    ("case", "{:<26}", 26),
    ("nbytes", "{:>11}", 11),
    ("pack_us", "{:>10.1f}", 10),
    ("unpack_us", "{:>10.1f}", 10),
    ("pack_GBps", "{:>9.1f}", 9),
    ("pct_copy", "{:>7.1f}", 7),
    ("x_ascontig", "{:>10.2f}", 10),
    ("x_assign", "{:>8.2f}", 8),
    ("unpack_per_pack", "{:>15.2f}", 15),
    ("x_memcpy", "{:>10.1f}", 10),
    ("oneshot_us", "{:>10.1f}", 10),
    ("copy_us", "{:>9.1f}", 9),
)


NOTE = (
    "x_ascontig, x_memcpy: baseline time / tempi pack time; x_assign: CuPy's assignment into"
    " the view / tempi unpack time; * per-block memcpy extrapolated"
)

# (text in the case name, column, at least?, bound, from bytes): the targets of issue 16
TARGETS = (
    ("interior 512^3 f64", "pct_copy", True, 85.0, 0),
    ("interior 512^3 f64", "x_ascontig", True, 1.0, 0),
    ("halo 512x512x3", "x_ascontig", True, 1.0, 0),
    (" b1 ", "unpack_per_pack", False, 1.3, MiB),
    (" b2 ", "unpack_per_pack", False, 1.3, MiB),
)


def target_lines(rows: list[dict]) -> list[str]:
    """One line per measured row that a target of issue 16 applies to: met or missed."""
    lines = []
    for text, column, at_least, bound, min_bytes in TARGETS:
        for row in rows:
            if text in row["case"] + " " and row["nbytes"] >= min_bytes:
                value = row[column]
                met = value >= bound if at_least else value <= bound
                relation = ">=" if at_least else "<="
                lines.append(
                    f"target {row['case']:<24} {column} {value:7.2f} {relation} {bound}: "
                    + ("met" if met else "MISSED")
                )
    return lines


def gpu_lines(cp) -> list[str]:
    props = cp.cuda.runtime.getDeviceProperties(cp.cuda.runtime.getDevice())
    return [
        f"GPU: {props['name'].decode()} ({props['multiProcessorCount']} SMs)",
        f"cupy {cp.__version__}, numpy {np.__version__}, python {sys.version.split()[0]}",
    ]


def plot(path: Path, rows: list[dict], title: str) -> None:
    plt = pyplot()
    if plt is None:
        return
    fig, ax = plt.subplots(figsize=(8, 5))
    grid = [
        r
        for r in rows
        if r["group"] == "grid" and r["case"].startswith("vector") and r["case"].endswith("x1")
    ]
    for total in sorted({r["nbytes"] for r in grid}):
        sel = sorted((r for r in grid if r["nbytes"] == total), key=lambda r: r["block_b"])
        blocks = [r["block_b"] for r in sel]
        ax.plot(blocks, [r["pack_GBps"] for r in sel], "o-", label=f"tempi pack {_size(total)}")
        ax.plot(
            blocks,
            [2 * r["nbytes"] / (r["memcpy_us"] * 1e3) for r in sel],
            "x:",
            label=f"memcpy/block {_size(total)}",
        )
        ax.plot(
            blocks,
            [2 * r["nbytes"] / (r["ascontig_us"] * 1e3) for r in sel],
            "s--",
            label=f"ascontiguousarray {_size(total)}",
        )
    ax.set(
        xscale="log",
        yscale="log",
        xlabel="block (B), stride 512 B",
        ylabel="GB/s (read + write)",
        title=title,
    )
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"wrote {path}")


def host_cost(cp, timer: Timer, cuda, tempi, iters: int = 500) -> str:
    """Wall time per ``tempi.pack`` call on a small object (1 KiB of 8-byte blocks) next to
    the kernel's own time: the host-side cost of the Python path."""
    import time

    datatype = MPI.BYTE.Create_hvector(128, 8, 512).Commit()
    try:
        typed = cp.zeros(128 * 512, cp.uint8)
        packed = cp.empty(1024, cp.uint8)
        desc = tempi.describe(datatype)

        def wall(fn: Callable[[], object]) -> float:
            for _ in range(20):
                fn()
            cp.cuda.get_current_stream().synchronize()
            t0 = time.perf_counter()
            for _ in range(iters):
                fn()
            cp.cuda.get_current_stream().synchronize()
            return (time.perf_counter() - t0) / iters * 1e6

        api_async = wall(lambda: tempi.pack(typed, 1, datatype, packed, sync=False))
        api_sync = wall(lambda: tempi.pack(typed, 1, datatype, packed))
        kernel = 1e6 * timer(lambda: cuda.pack(desc, typed.data.ptr, packed.data.ptr, sync=False))
        return (
            f"host cost, 1 KiB of 8 B blocks: tempi.pack {api_sync:.1f} us/call synchronous, "
            f"{api_async:.1f} us/call async; kernel {kernel:.1f} us; "
            f"overhead {api_sync - kernel:.1f} us (target <= 10)"
        )
    finally:
        datatype.Free()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--batch", type=int, default=8, help="back-to-back calls per sample")
    parser.add_argument("--quick", action="store_true", help="a subset of the cases (< 90 s)")
    parser.add_argument(
        "--cases", metavar="REGEX", help="only the cases whose name matches (of the full list)"
    )
    parser.add_argument("--out-dir", type=Path, default=Path("results"))
    args = parser.parse_args(argv)

    import cupy as cp

    import tempi
    from tempi.pack import cuda

    if not cuda.cuda_available():
        print("no CUDA device: nothing to measure")
        return 1
    timer = Timer(cp, args.warmup, args.iters, args.batch)
    quick = args.quick and not args.cases
    cases = grid_cases(quick) + halo_cases(quick) + large_cases(quick)
    if args.cases:
        cases = [case for case in cases if re.search(args.cases, case.name)]
        if not cases:
            print(f"no case matches {args.cases!r}")
            return 2
    rows = [derive(run_case(case, cp, timer, cuda, tempi)) for case in cases]
    comments = provenance(gpu_lines(cp) + [host_cost(cp, timer, cuda, tempi)])
    print("\n".join(comments))
    print(table(COLUMNS, rows, NOTE, lambda row: " *" if row["memcpy_extrapolated"] else ""))
    print("\n".join(target_lines(rows)))
    stem = output_stem("pack_device", args.out_dir, "%Y-%m-%d")
    write_csv(Path(f"{stem}.csv"), rows, comments)
    print(f"wrote {stem}.csv")
    plot(Path(f"{stem}.png"), rows, comments[4])
    return 0


if __name__ == "__main__":
    sys.exit(main())
