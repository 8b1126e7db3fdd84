"""What does a message through the interposer cost against plain MPI, for host memory?

A C ping-pong of an MPI vector type (8-byte blocks at a 64-byte stride, MPI_Send and
MPI_Recv of the typed buffer; ``pingpong_shim.c``) on 2 ranks, run plain and under the
shim with ``TEMPI_HOST=1`` (what ``TEMPI_HOST=1 tempi run`` does), alternately, --repeat
times: with the C engine running tempi's plans (the default) and, for comparison, with
``TEMPI_PLANS=0`` (every message through Python, as before issue 14; skip it with
``--no-python``). The table gives the medians of the one-way latencies per packed size
and the ratio of the engine's to plain MPI's (target of issue 14: at most 1.5x from 64 B
to 4 KiB). With ``--stats`` the
shim's TEMPI_STATS lines of the last round are printed too (plan misses and messages
that entered Python show whether the steady state stays in C).

Launch (it starts its own 2 ranks)::

    python benchmarks/pingpong_shim.py [--iterations 2000] [--repeat 3] [--out results]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import output_stem, plot_latency, provenance, table, write_csv

from tempi import launch
from tempi.shim import build

SOURCE = Path(__file__).with_name("pingpong_shim.c")
SIZES = [64, 128, 256, 512, 1024, 2048, 4096, 8192, 65536]


def _run(command: list[str], env: dict[str, str]) -> tuple[dict[int, float], list[str]]:
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}")
    times, stats = {}, []
    for line in done.stdout.splitlines():
        if line.startswith("tempi["):
            stats.append(line)
        elif line.strip():
            nbytes, micros = line.split()
            times[int(nbytes)] = float(micros)
    return times, stats


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=2000, help="round trips per timing")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of plain + shim runs")
    parser.add_argument("--sizes", type=int, nargs="+", default=SIZES, help="packed bytes")
    parser.add_argument("--stats", action="store_true", help="print the shim's TEMPI_STATS")
    parser.add_argument("--no-python", action="store_true", help="skip the TEMPI_PLANS=0 runs")
    parser.add_argument("--out", type=Path, default=Path("results"))
    args = parser.parse_args(argv)

    shim = build.build()
    env = launch.environment({k: v for k, v in os.environ.items() if not k.startswith("TEMPI_")})
    tempi_env = {"LD_PRELOAD": str(shim), "TEMPI_HOST": "1"}
    if args.stats:
        tempi_env["TEMPI_STATS"] = "1"
    with tempfile.TemporaryDirectory() as scratch:
        binary = str(Path(scratch) / "pingpong_shim")
        subprocess.run([build.mpicc(), "-O2", "-o", binary, str(SOURCE)], check=True)
        program = [binary, str(args.iterations), *map(str, args.sizes)]
        plain, shimmed, python, stats = [], [], [], []
        python_env = {**tempi_env, "TEMPI_PLANS": "0"}
        for i in range(args.repeat):
            print(f"round {i + 1}/{args.repeat}", file=sys.stderr)
            plain.append(_run(launch.command(2, program), env)[0])
            times, stats = _run(launch.command(2, program, rank_env=tempi_env), env)
            shimmed.append(times)
            if not args.no_python:
                python.append(_run(launch.command(2, program, rank_env=python_env), env)[0])
    rows = []
    for nbytes in args.sizes:
        base = statistics.median(r[nbytes] for r in plain)
        with_shim = statistics.median(r[nbytes] for r in shimmed)
        rows.append(
            {
                "packed_B": nbytes,
                "plain_us": base,
                "tempi_us": with_shim,
                "ratio": with_shim / base,
                "python_us": f"{statistics.median(r[nbytes] for r in python):.2f}"
                if python
                else "-",
                "plain_range_us": f"{min(r[nbytes] for r in plain):.2f}-"
                f"{max(r[nbytes] for r in plain):.2f}",
                "tempi_range_us": f"{min(r[nbytes] for r in shimmed):.2f}-"
                f"{max(r[nbytes] for r in shimmed):.2f}",
            }
        )
    columns = (
        ("packed_B", "{:>8}", 8),
        ("plain_us", "{:>9.2f}", 9),
        ("tempi_us", "{:>9.2f}", 9),
        ("ratio", "{:>6.2f}", 6),
        ("python_us", "{:>9}", 9),
        ("plain_range_us", "{:>14}", 14),
        ("tempi_range_us", "{:>14}", 14),
    )
    comments = provenance(
        [f"round trips per timing: {args.iterations}, rounds: {args.repeat}, 2 ranks"]
    )
    print("\n".join(comments))
    print(
        table(
            columns,
            rows,
            "one-way latency (median of rounds of the median of 7 timings); tempi = the C "
            "engine, python = TEMPI_PLANS=0; ratio = tempi / plain; target <= 1.5 from 64 B "
            "to 4 KiB",
        )
    )
    for line in stats:
        print(line)
    stem = output_stem("pingpong_shim", args.out)
    write_csv(Path(f"{stem}.csv"), rows, comments)
    print(f"wrote {stem}.csv")
    series = [("plain_us", "o-", "plain MPI"), ("tempi_us", "s-", "TEMPI_HOST=1 tempi run")]
    if python:
        series.append(("python_us", "^:", "the same, TEMPI_PLANS=0 (Python path)"))
    title = f"Vector ping-pong through the interposer ({comments[3][5:40]})"
    plot_latency(stem, rows, series, title)
    return 0


if __name__ == "__main__":
    sys.exit(main())
