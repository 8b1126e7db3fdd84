"""How much faster is a 3-D halo exchange of GPU arrays through tempi than the routes users
have today: hand-packing each face in Python, or plain MPI?

For each configuration (ranks, local edge n, radius r, quantities q) this runs, each under
the MPI's own mpiexec with a timeout:

* ``python``  -- ``python -m tempi.halo``: tempi.Comm's Neighbor_alltoallw and Isend/Irecv of
  subarray types, and the *baseline* (each face copied contiguous with
  ``cupy.ascontiguousarray``, staged to the host, sent with mpi4py); one launch for all
  configurations;
* ``c-plain`` -- ``halo.c`` (Isend/Irecv and Neighbor_alltoallw of subarray types, built
  with the MPI's mpicc) on host buffers: plain MPI on host memory, the reference;
  on a GPU also on device buffers, which a non-CUDA-aware MPI cannot send: recorded as
  "fails" with its exit status;
* ``c-tempi`` -- the same program under ``tempi run`` (the LD_PRELOAD shim) on device
  buffers, or on host buffers with TEMPI_HOST=1 without a GPU (or with --host).

Without a GPU everything runs on host memory: a correctness run. Every rank of every run
checks every ghost cell. Launch (from the repository root, with tempi importable)::

    python benchmarks/halo/run.py [--np 8] [--n 128 256] [--radius 1 2 3] [--quantities 1]
                                  [--iters 20] [--quick] [--host] [--out-dir results]

The table, ``<out-dir>/halo_<host>_<date>.csv`` and ``.png`` give per run and method the
median time per exchange (the slowest rank's, each exchange between barriers, after 2
warm-up exchanges), bytes received per rank per exchange, GB/s = bytes / median, and the
speedups over the Python baseline and over c-plain on host memory of the same
configuration. The exit status is non-zero when a run other than c-plain on device
buffers fails or any ghost is wrong.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # benchmarks/_common.py

from _common import output_stem, provenance, pyplot, table, write_csv  # noqa: E402

import tempi  # noqa: E402
from tempi import launch, system  # noqa: E402
from tempi._native import native_dir  # noqa: E402
from tempi.shim import build  # noqa: E402

SOURCE = Path(__file__).with_name("halo.c")
PY_METHODS = ("tempi-alltoallw", "tempi-isend", "baseline")
C_METHODS = ("isend", "alltoallw")
# the C method each row is compared with in speedup_vs_c_host
C_EQUIVALENT = {"tempi-alltoallw": "alltoallw", "tempi-isend": "isend", "baseline": "isend"}
RECORD = re.compile(r"halo-(?:c|py)((?: [a-z_]+=[^\s=]+)+)")
PLAIN_DEVICE_TIMEOUT_S = 60  # expected to crash; never wait long


def _launch(cmd: list[str], env: dict[str, str], timeout_s: float) -> tuple[str, str, str]:
    """(exit status or "timeout", stdout, stderr); the whole launch (mpiexec and its ranks,
    in a session of their own) is killed at the timeout."""
    proc = subprocess.Popen(
        cmd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout_s)
        return str(proc.returncode), out, err
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return "timeout", out, err


def records(output: str) -> list[dict[str, str]]:
    """The ``halo-c``/``halo-py`` result lines of a run's output, as key -> value."""
    found = []
    for match in RECORD.finditer(output):
        fields = dict(item.split("=", 1) for item in match.group(1).split())
        if "median_s" in fields:
            found.append(fields)
    return found


def _row(
    impl: str,
    memory: str,
    config: tuple[int, int, int],
    nranks: int,
    rec: dict | None,
    method: str,
    status: str,
) -> dict:
    n, radius, quantities = config
    median = float(rec["median_s"]) if rec else math.nan
    nbytes = int(rec["bytes"]) if rec else 0
    return {
        "implementation": impl,
        "method": method,
        "memory": memory,
        "ranks": nranks,
        "dims": rec["dims"] if rec else "",
        "n": n,
        "radius": radius,
        "quantities": quantities,
        "iters": int(rec["iters"]) if rec else 0,
        "median_s": median,
        "min_s": float(rec["min_s"]) if rec else math.nan,
        "bytes": nbytes,
        "GBps": nbytes / median / 1e9 if rec and median > 0 else math.nan,
        "speedup_vs_py_baseline": math.nan,
        "speedup_vs_c_host": math.nan,
        "ghosts": rec["ghosts"] if rec else "fails",
        "exit": status,
    }


def collect(
    impl: str,
    memory: str,
    configs: list,
    nranks: int,
    methods: tuple[str, ...],
    status: str,
    output: str,
) -> list[dict]:
    """One row per configuration and method; "fails" where the run printed no record."""
    found = {
        (int(r["n"]), int(r["radius"]), int(r["quantities"]), r["method"]): r
        for r in records(output)
    }
    return [
        _row(impl, memory, config, nranks, found.get((*config, method)), method, status)
        for config in configs
        for method in methods
    ]


def add_speedups(rows: list[dict]) -> None:
    def key(row: dict) -> tuple:
        return row["ranks"], row["n"], row["radius"], row["quantities"]

    base = {
        key(r): r["median_s"]
        for r in rows
        if r["implementation"] == "python" and r["method"] == "baseline"
    }
    plain = {
        (*key(r), r["method"]): r["median_s"]
        for r in rows
        if r["implementation"] == "c-plain" and r["memory"] == "host"
    }
    for r in rows:
        if r["ghosts"] == "fails":
            continue
        method = C_EQUIVALENT.get(r["method"], r["method"])
        r["speedup_vs_py_baseline"] = base.get(key(r), math.nan) / r["median_s"]
        r["speedup_vs_c_host"] = plain.get((*key(r), method), math.nan) / r["median_s"]


def _progress(label: str, status: str, output: str, elapsed: float) -> None:
    found = records(output)
    ghosts = sorted({r["ghosts"] for r in found}) or ["none"]
    times = " ".join(f"{r['method']} {1e3 * float(r['median_s']):.3f} ms" for r in found[-3:])
    print(
        f"{label}: exit {status}, {elapsed:.1f} s, ghosts {'/'.join(ghosts)}  {times}", flush=True
    )


def compile_halo(directory: Path) -> str:
    binary = directory / "halo"
    cmd = [build.mpicc(), "-std=c99", "-O2", "-I", str(native_dir()), "-o", str(binary)]
    subprocess.run([*cmd, str(SOURCE)], check=True, timeout=300)
    return str(binary)


def options(args: argparse.Namespace, gpu: bool) -> tuple[list, list, list, int]:
    """(n values, radii, quantities, iters) after --quick and the memory-dependent defaults."""
    if args.quick:
        n, radius, iters = ([128], [1, 3], 10) if gpu else ([16], [1, 2], 5)
    else:
        n, radius, iters = ([128, 256], [1, 2, 3], 20) if gpu else ([32, 64], [1, 2, 3], 20)
    return (
        args.n or n,
        args.radius or radius,
        args.quantities or [1],
        args.iters or iters,
    )


COLUMNS = (
    ("implementation", "{:<14}", 14),
    ("method", "{:<15}", 15),
    ("memory", "{:<6}", 6),
    ("n", "{:>4}", 4),
    ("radius", "{:>6}", 6),
    ("quantities", "{:>10}", 10),
    ("ms", "{:>9.3f}", 9),
    ("MB", "{:>8.2f}", 8),
    ("GBps", "{:>7.2f}", 7),
    ("vs_py_base", "{:>10.2f}", 10),
    ("vs_c_host", "{:>9.2f}", 9),
    ("ghosts", "{:>6}", 6),
    ("exit", "{:>7}", 7),
)
NOTE = (
    "ms = median per exchange (slowest rank); MB, GB/s = bytes received per rank per exchange; "
    "vs_py_base = Python hand-packed baseline time / time; vs_c_host = plain C on host memory "
    "(same method; baseline vs isend) time / time"
)


def plot(path: Path, rows: list[dict], title: str) -> None:
    plt = pyplot()
    if plt is None:
        return
    configs = list(dict.fromkeys((r["n"], r["radius"], r["quantities"]) for r in rows))
    series = list(
        dict.fromkeys(
            (r["implementation"], r["method"], r["memory"])
            for r in rows
            if not (r["implementation"] == "python" and r["method"] == "baseline")
        )
    )
    width = 0.8 / max(1, len(series))
    fig, axes = plt.subplots(2, 1, figsize=(max(7.0, 1.9 * len(configs) + 3), 7.5), sharex=True)
    for s, (impl, method, memory) in enumerate(series):
        for c, config in enumerate(configs):
            row = next(
                r
                for r in rows
                if (r["implementation"], r["method"], r["memory"]) == (impl, method, memory)
                and (r["n"], r["radius"], r["quantities"]) == config
            )
            x = c + (s - (len(series) - 1) / 2) * width
            label = f"{impl} {method} ({memory})" if c == 0 else None
            if row["ghosts"] == "fails":
                for ax in axes:
                    ax.annotate(
                        "fails",
                        (x, 0.02),
                        xycoords=("data", "axes fraction"),
                        rotation=90,
                        fontsize=6,
                        ha="center",
                        color=f"C{s}",
                    )
                axes[0].bar(x, math.nan, width, color=f"C{s}", label=label)
                continue
            axes[0].bar(x, row["speedup_vs_py_baseline"], width, color=f"C{s}", label=label)
            axes[1].bar(x, row["median_s"] * 1e3, width, color=f"C{s}")
    for c, config in enumerate(configs):
        base = next(
            (
                r
                for r in rows
                if r["implementation"] == "python"
                and r["method"] == "baseline"
                and (r["n"], r["radius"], r["quantities"]) == config
            ),
            None,
        )
        if base is not None and base["ghosts"] != "fails":
            axes[1].hlines(
                base["median_s"] * 1e3,
                c - 0.45,
                c + 0.45,
                colors="k",
                linestyles=":",
                label="python baseline" if c == 0 else None,
            )
    axes[0].axhline(1.0, color="k", lw=0.8)
    axes[0].axhline(2.0, color="k", lw=0.8, ls="--")
    axes[0].set(yscale="log", ylabel="speedup over the Python baseline")
    axes[1].set(yscale="log", ylabel="ms per exchange (median)")
    axes[1].set_xticks(range(len(configs)), [f"n={n} r={r} q={q}" for n, r, q in configs])
    handles, labels = axes[0].get_legend_handles_labels()
    more = axes[1].get_legend_handles_labels()
    fig.legend(handles + more[0], labels + more[1], loc="lower center", ncol=4, fontsize=7)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--np", type=int, default=8, help="ranks (default 8)")
    parser.add_argument("--n", type=int, nargs="+", help="local edges (128 256; host: 32 64)")
    parser.add_argument("--radius", type=int, nargs="+", help="ghost widths (1 2 3)")
    parser.add_argument("--quantities", type=int, nargs="+", help="doubles per cell (1)")
    parser.add_argument("--iters", type=int, help="timed exchanges per method (20)")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="n 128, radius 1 3, 10 iters (host: n 16, radius 1 2, 5 iters)",
    )
    parser.add_argument("--host", action="store_true", help="host memory even with a GPU")
    parser.add_argument("--timeout", type=float, default=300, help="seconds per launch")
    parser.add_argument("--out-dir", type=Path, default=Path("results"))
    args = parser.parse_args(argv)
    start = time.perf_counter()

    gpus = system.gpus()
    gpu = bool(gpus) and not args.host
    memory = "device" if gpu else "host"
    ns, radii, quantities, iters = options(args, gpu)
    configs = list(itertools.product(ns, radii, quantities))
    shim = build.build()
    plain_env = launch.environment({k: v for k, v in os.environ.items() if k != "LD_PRELOAD"})
    shim_env = launch.environment({**os.environ, **({} if gpu else {"TEMPI_HOST": "1"})})
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as scratch:
        binary = compile_halo(Path(scratch))

        program = [sys.executable, "-m", "tempi.halo", "--records", "--iters", str(iters)]
        program += ["--n", *map(str, ns), "--radius", *map(str, radii)]
        program += ["--quantities", *map(str, quantities)] + ([] if gpu else ["--host"])
        t0 = time.perf_counter()
        status, out, err = _launch(
            launch.command(args.np, program), plain_env, args.timeout * len(configs)
        )
        _progress(
            f"python {memory}, {len(configs)} configurations", status, out, time.perf_counter() - t0
        )
        rows += collect("python", memory, configs, args.np, PY_METHODS, status, out)
        if status != "0":
            print(err[-3000:], file=sys.stderr)

        runs = [("c-plain", "host", plain_env, args.timeout)]
        if gpu:
            runs.append(("c-plain", "device", plain_env, min(args.timeout, PLAIN_DEVICE_TIMEOUT_S)))
        runs.append(("c-tempi", memory, shim_env, args.timeout))
        for n, radius, q in configs:
            config_options = ["--n", str(n), "--radius", str(radius), "--quantities", str(q)]
            config_options += ["--iters", str(iters), "--method", "both"]
            for impl, mem, env, timeout_s in runs:
                c_program = [binary, mem, *config_options]
                if impl == "c-tempi":
                    cmd = [sys.executable, "-m", "tempi.cli", "run", "-n", str(args.np), "--"]
                    cmd += c_program
                else:
                    cmd = launch.command(args.np, c_program)
                t0 = time.perf_counter()
                status, out, err = _launch(cmd, env, timeout_s)
                label = f"{impl} {mem}, n={n} r={radius} q={q}"
                _progress(label, status, out, time.perf_counter() - t0)
                found = collect(impl, mem, [(n, radius, q)], args.np, C_METHODS, status, out)
                rows += found
                expected_failure = impl == "c-plain" and mem == "device"
                if status != "0" and not expected_failure:
                    print(err[-3000:], file=sys.stderr)

    order = {"python": 0, "c-plain": 1, "c-tempi": 2}
    rows.sort(
        key=lambda r: (
            r["n"],
            r["radius"],
            r["quantities"],
            order[r["implementation"]],
            r["memory"] != "host",
        )
    )
    add_speedups(rows)
    bad = [
        r
        for r in rows
        if r["ghosts"] == "WRONG"
        or (
            r["ghosts"] == "fails"
            and not (r["implementation"] == "c-plain" and r["memory"] == "device")
        )
    ]
    aware = system.cuda_aware_mpi()
    versions = {name: system.package_version(name) for name in ("numpy", "mpi4py", "matplotlib")}
    versions["cupy"] = next(
        filter(None, map(system.package_version, ("cupy-cuda13x", "cupy-cuda12x", "cupy"))), None
    )
    versions["tempi"] = tempi.__version__
    comments = provenance(
        [
            f"CUDA-aware MPI: {'yes' if aware[0] else 'no'} ({aware[1]})",
            f"GPU: {', '.join(gpus) or 'none'}",
            f"memory: {memory}{'' if gpu else ' (TEMPI_HOST=1 under the shim)'}; ranks: "
            f"{args.np}; iters: {iters} after 2 warm-up exchanges; shim: {shim}",
            ", ".join(f"{k} {v}" for k, v in versions.items() if v)
            + f", python {sys.version.split()[0]}",
        ]
    )
    print("\n".join(comments))
    shown = [
        {
            **r,
            "ms": r["median_s"] * 1e3,
            "MB": r["bytes"] / 1e6,
            "vs_py_base": r["speedup_vs_py_baseline"],
            "vs_c_host": r["speedup_vs_c_host"],
        }
        for r in rows
    ]
    print(table(COLUMNS, shown, NOTE))
    stem = output_stem("halo", args.out_dir)
    write_csv(Path(f"{stem}.csv"), rows, comments)
    print(f"wrote {stem}.csv")
    plot(
        Path(f"{stem}.png"),
        rows,
        f"3-D halo exchange, {args.np} ranks; {' '.join(system.mpi_library().split(',')[0].split())}; "
        f"{comments[5]}",
    )
    print(f"total {time.perf_counter() - start:.0f} s")
    if bad:
        print(f"{len(bad)} rows failed or had wrong ghosts", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
