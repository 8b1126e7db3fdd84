"""Pieces the benchmark scripts share: provenance comment lines, the CSV writer, the
output paths, the fixed-width table and the matplotlib import.

The scripts run as ``python benchmarks/x.py``, so this folder is on ``sys.path`` and they
import it as ``from _common import ...``.
"""

from __future__ import annotations

import csv
import datetime
import socket
import subprocess
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mpi4py import MPI

# (column name, format, width); a format starting "{:<" is left-aligned, heading included.
Columns = Sequence[tuple[str, str, int]]


def git_commit() -> str:
    """Short commit of the working directory's checkout, or "unknown"."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return commit or "unknown"


def mpi_version() -> str:
    """First line of the MPI library's version string (some pad it with NUL bytes)."""
    return MPI.Get_library_version().replace("\x00", "").strip().splitlines()[0]


def provenance(extra: list[str]) -> list[str]:
    """host, date, git commit and MPI lines (indices 0-3), then the script's ``extra``."""
    return [
        f"host: {socket.gethostname()}",
        f"date: {datetime.datetime.now().isoformat(timespec='seconds')}",
        f"git commit: {git_commit()}",
        f"MPI: {mpi_version()}",
        *extra,
    ]


def output_stem(name: str, out_dir: Path, date_format: str = "%Y%m%d") -> Path:
    """``out_dir/<name>_<host>_<date>``, to add ``.csv`` or ``.png`` to as text (not with
    ``with_suffix``: a host name may hold dots); creates ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    return out_dir / f"{name}_{socket.gethostname()}_{datetime.date.today():{date_format}}"


def write_csv(path: Path, rows: list[dict], comments: list[str]) -> None:
    """``# comment`` lines, then the rows with the first row's keys as the header."""
    with path.open("w", newline="") as f:
        f.writelines(f"# {line}\n" for line in comments)
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def table(
    columns: Columns, rows: list[dict], note: str, suffix: Callable[[dict], str] | None = None
) -> str:
    """Fixed-width table: heading, rule, one line a row (plus ``suffix(row)``), ``note``."""
    head = " ".join(
        f"{name:<{width}}" if fmt.startswith("{:<") else f"{name:>{width}}"
        for name, fmt, width in columns
    )
    lines = [head, "-" * len(head)]
    for row in rows:
        line = " ".join(fmt.format(row[name]) for name, fmt, _ in columns)
        lines.append(line + (suffix(row) if suffix else ""))
    lines.append(note)
    return "\n".join(lines)


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg backend, or None (with a note) when not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed (pip install tempi[bench]): no plot")
        return None
    return plt


def plot_latency(
    stem: Path, rows: list[dict], series: list[tuple[str, str, str]], title: str
) -> None:
    """A log-log PNG of one-way latency over packed bytes at ``stem``.png: one line per
    ``(column, marker style, label)`` of ``series`` (skipped without matplotlib)."""
    plt = pyplot()
    if plt is None:
        return
    fig, ax = plt.subplots(figsize=(7, 4))
    sizes = [r["packed_B"] for r in rows]
    for column, style, label in series:
        ax.loglog(sizes, [float(r[column]) for r in rows], style, label=label)
    ax.set_xlabel("packed bytes (8-byte blocks at 64-byte stride)")
    ax.set_ylabel("one-way latency (µs)")
    ax.set_title(title, fontsize=9)
    ax.legend()
    fig.tight_layout()
    fig.savefig(f"{stem}.png", dpi=120)
    print(f"wrote {stem}.png")
