"""What does the interposer add to an MPI call that stays on its C fast path?

Cases (host memory, TEMPI_HOST unset, so nothing enters Python): ``MPI_Pack`` of one
``MPI_DOUBLE`` (a type tempi does not accelerate) and of a committed vector (accelerated,
but host memory goes to the system MPI), and an Irecv + Isend + Waitall of that vector to
self (three intercepted calls), a Startall + Waitall of a persistent receive and send of
it (two), and an Allgather of one MPI_DOUBLE on MPI_COMM_SELF (a collective the shim looks
at). Each is the best of 7 timings of N calls, run
plain and under ``tempi run`` alternately, --repeat times; the table gives the medians and
the difference (target: at most 50 ns per call).

With the CUDA driver loaded (``--cuda``: ``auto``, the default, when ``libcuda.so.1``
can be loaded; or a path; ``none`` to skip) every case runs again with the driver loaded
into the process before ``MPI_Init`` (rows ``... +cuda``): the shim then checks the
memory kind of every buffer of an accelerated type (and, on an MPI that is not
CUDA-aware, of every buffer), which without its host-range check costs a
``cuPointerGetAttribute`` per call. On a CPU machine a stand-in driver can be passed by
path (tests/fake_cuda/libcuda.c, built by tests/fake_cuda.build_driver); the figure that
counts comes from a GPU machine.

Launch (one rank)::

    python benchmarks/shim_overhead.py [--calls 1000000] [--repeat 5] [--cuda auto|none|PATH]
        [--out results]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import output_stem, provenance, table, write_csv

from tempi import launch
from tempi.shim import build

SOURCE = Path(__file__).with_name("shim_overhead.c")


def _run(command: list[str], env: dict[str, str]) -> dict[str, float]:
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    return {
        name: float(value)
        for name, value in (line.split() for line in out.splitlines() if line.strip())
    }


def _driver(choice: str) -> str | None:
    """The CUDA driver to load for the +cuda rows: a path, or libcuda.so.1 if it loads."""
    if choice == "none":
        return None
    if choice != "auto":
        return choice
    import ctypes

    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return None
    return "libcuda.so.1"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--cuda", default="auto", help="auto, none or the driver's path")
    parser.add_argument("--out", type=Path, default=Path("results"))
    args = parser.parse_args(argv)
    cuda = _driver(args.cuda)

    shim = build.build()
    env = launch.environment({k: v for k, v in os.environ.items() if not k.startswith("TEMPI_")})
    with tempfile.TemporaryDirectory() as scratch:
        binary = str(Path(scratch) / "shim_overhead")
        subprocess.run([build.mpicc(), "-O2", "-o", binary, str(SOURCE)], check=True)
        variants = [([binary, str(args.calls)], "")]
        if cuda:
            variants.append(([binary, str(args.calls), cuda], " +cuda"))
        plain, preloaded = [], []
        for i in range(args.repeat):
            print(f"round {i + 1}/{args.repeat}", file=sys.stderr)
            for key, target in (("plain", plain), ("shim", preloaded)):
                found: dict[str, float] = {}
                for program, suffix in variants:
                    extra = {"LD_PRELOAD": str(shim)} if key == "shim" else None
                    times = _run(launch.command(1, program, rank_env=extra), env)
                    found.update({case + suffix: t for case, t in times.items()})
                target.append(found)
    rows = []
    for case in plain[0]:
        base = statistics.median(r[case] for r in plain)
        with_shim = statistics.median(r[case] for r in preloaded)
        rows.append(
            {"case": case, "plain_ns": base, "shim_ns": with_shim, "overhead_ns": with_shim - base}
        )
    columns = (
        ("case", "{:<32}", 32),
        ("plain_ns", "{:>10.1f}", 10),
        ("shim_ns", "{:>10.1f}", 10),
        ("overhead_ns", "{:>12.1f}", 12),
    )
    comments = provenance(
        [f"calls per timing: {args.calls}, rounds: {args.repeat}, CUDA driver: {cuda or 'none'}"]
    )
    print("\n".join(comments))
    print(table(columns, rows, "medians of the best-of-7 per-call times; target overhead <= 50 ns"))
    stem = output_stem("shim_overhead", args.out)
    write_csv(Path(f"{stem}.csv"), rows, comments)
    print(f"wrote {stem}.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
