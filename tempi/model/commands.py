"""The model's subcommands: ``tempi measure`` and ``tempi model explain|plot``.

``tempi.cli`` calls :func:`add_parsers` with its subparsers; every handler takes the
parsed arguments and returns the exit status.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from tempi.model.features import Shape, format_bytes, parse_bytes, reference_stride
from tempi.model.profile import Profile

COLUMNS = (("pack", "pack"), ("d2h", "d2h"), ("mpi", "mpi"), ("h2d", "h2d"), ("unpack", "unpack"))


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Add ``measure`` and ``model`` to the ``tempi`` command's subparsers."""
    measure = sub.add_parser(
        "measure",
        help="measure this machine for the performance model (2 ranks; < 3 min)",
        description="Launch 'python -m tempi.model.measure' on NP ranks of this MPI: MPI "
        "ping-pong between two ranks, then pack/unpack on the device and one-shot over total "
        "size, block length, stride and levels, device<->host copies and the launch cost. "
        "Writes a JSON profile into the cache directory (TEMPI_CACHE_DIR, else "
        "$XDG_CACHE_HOME/tempi, else ~/.cache/tempi), keyed by GPU, MPI library and tempi "
        "version, and prints its path. Without a GPU only the MPI and host copies are timed.",
    )
    measure.add_argument("--quick", action="store_true", help="a coarse grid: a smoke run")
    measure.add_argument(
        "--time-limit",
        type=float,
        default=None,
        metavar="S",
        help="seconds for the measurements (default 150, 30 with --quick)",
    )
    measure.add_argument("-n", "--np", type=int, default=2, help="ranks (default 2)")
    measure.add_argument("--out", type=Path, help="write the profile here, not the cache")
    measure.set_defaults(run=_measure)

    model = sub.add_parser(
        "model",
        help="what the performance model predicts: explain one shape, plot a map",
        description="Ask the performance model (this machine's profile from 'tempi "
        "measure', else built-in defaults).",
    )
    model.set_defaults(run=lambda args: _help(model))
    actions = model.add_subparsers(dest="model_command", metavar="<action>")
    explain = actions.add_parser(
        "explain",
        help="predicted time of each strategy for one shape, and the pick",
        description="Print the predicted time of every strategy, piece by piece, for a "
        "message of the given shape, where the profile came from, and the strategy chosen.",
    )
    explain.add_argument(
        "--bytes",
        required=True,
        help="total packed size: 1MiB = 2^20 B, 1MB = 10^6 B, a bare 1M = 1MiB",
    )
    explain.add_argument("--block", required=True, help="contiguous block length, e.g. 8")
    explain.add_argument("--stride", help="stride of the first level (default 2 x block, >= 64 B)")
    explain.add_argument("--levels", type=int, default=1, help="strided levels (default 1)")
    _common(explain)
    explain.set_defaults(run=_explain)
    plot = actions.add_parser(
        "plot",
        help="PNG map of the winning strategy over total size x block length",
        description="Write a map of the strategy the model picks over total size (1 KiB - "
        "256 MiB) and block length (1 B - 64 KiB). Needs matplotlib.",
    )
    plot.add_argument("--out", type=Path, default=Path("model.png"), help="PNG path")
    plot.add_argument("--stride", help="fixed stride (default 2 x block, >= 64 B)")
    plot.add_argument("--levels", type=int, default=1, help="strided levels (default 1)")
    _common(plot)
    plot.set_defaults(run=_plot)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cuda-aware",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="price the MPI as CUDA-aware or not (default: what this MPI says)",
    )
    parser.add_argument("--remote", action="store_true", help="the peer is on another node")
    parser.add_argument("--profile", type=Path, help="a profile file (default: this machine's)")


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 0


def _measure(args: argparse.Namespace) -> int:
    from tempi import launch

    program = [sys.executable, "-m", "tempi.model.measure"]
    if args.quick:
        program.append("--quick")
    if args.time_limit is not None:
        program += ["--time-limit", str(args.time_limit)]
    if args.out is not None:
        program += ["--out", str(args.out)]
    return subprocess.call(launch.command(args.np, program), env=launch.environment())


def _profile(args: argparse.Namespace) -> Profile | None:
    from tempi.model import choose, profile

    if args.profile is None:
        return choose.current()
    found = profile.load(args.profile)
    if found is None:
        print(f"tempi model: no usable profile at {args.profile}", file=sys.stderr)
    return found


def _cuda_aware(args: argparse.Namespace) -> bool:
    if args.cuda_aware is not None:
        return args.cuda_aware
    from tempi import system

    return system.cuda_aware_mpi()[0]


def _origin(p: Profile) -> str:
    meta = p.meta
    if p.source.startswith("built-in"):
        return p.source
    details = ", ".join(
        str(x) for x in (meta.get("gpu"), meta.get("mpi"), meta.get("created")) if x
    )
    quick = "; --quick" if meta.get("quick") else ""
    return f"{p.source} ({details}{quick})"


def explain(p: Profile, shape: Shape, *, cuda_aware: bool, peer_local: bool) -> str:
    """The table ``tempi model explain`` prints."""
    from tempi.model import predict

    allowed = predict.allowed(cuda_aware=cuda_aware)
    found = predict.predict(p, shape, peer_local=peer_local)
    lines = [
        f"profile:  {_origin(p)}",
        f"shape:    {shape.describe()} ({shape.nbytes:,} B)",
        f"peer:     {'same node' if peer_local else 'another node'}; "
        f"MPI {'is' if cuda_aware else 'is not'} CUDA-aware",
        "",
        f"{'strategy':<9}" + "".join(f"{title:>11}" for _, title in COLUMNS) + f"{'total':>11}",
    ]
    for name in predict.STRATEGIES:
        parts = {_column(piece): t for piece, t in found[name].parts}
        cells = "".join(
            f"{1e6 * parts[c]:>11.1f}" if c in parts else f"{'-':>11}" for c, _ in COLUMNS
        )
        note = "" if name in allowed else "   (not allowed: the MPI is not CUDA-aware)"
        lines.append(f"{name:<9}{cells}{1e6 * found[name].time_s:>11.1f}{note}")
    choice = predict.fastest({s: found[s] for s in allowed})
    runner_up = sorted((found[s].time_s, s) for s in allowed if s != choice)
    margin = (
        f" ({runner_up[0][1]} +{100 * (runner_up[0][0] / found[choice].time_s - 1):.0f} %)"
        if runner_up
        else ""
    )
    lines.append("times in microseconds, sender and receiver together")
    where = "local" if peer_local else "remote"
    if f"mpi_cpu.{where}" not in p.tables:
        lines.append(f"note: the profile has no {where} MPI times; the other locality's stand in")
    lines.append(f"pick:     {choice}{margin}")
    return "\n".join(lines)


def _column(piece: str) -> str:
    return piece.split("_")[0] if piece.startswith(("pack", "unpack", "mpi")) else piece


def _shape(args: argparse.Namespace) -> Shape:
    """The shape asked for, exactly: a size that is not whole blocks, or a stride shorter
    than the block, is an error rather than a different shape."""
    nbytes, block = parse_bytes(args.bytes), parse_bytes(args.block)
    stride = parse_bytes(args.stride) if args.stride else reference_stride(block)
    if block > nbytes:
        raise ValueError(f"--block {format_bytes(block)} is longer than --bytes")
    if nbytes % block:
        low, high = nbytes // block * block, (nbytes // block + 1) * block
        raise ValueError(
            f"--bytes {nbytes:,} B is not a whole number of {block:,} B blocks "
            f"(say {low:,} or {high:,})"
        )
    if stride < block:
        raise ValueError(f"--stride {stride:,} B is shorter than the block ({block:,} B)")
    if args.levels < 1:
        raise ValueError("--levels must be at least 1")
    return Shape(nbytes, block, stride, args.levels)


def _explain(args: argparse.Namespace) -> int:
    try:
        shape = _shape(args)
    except ValueError as exc:
        print(f"tempi model explain: {exc}", file=sys.stderr)
        return 2
    p = _profile(args)
    if p is None:
        return 1
    print(explain(p, shape, cuda_aware=_cuda_aware(args), peer_local=not args.remote))
    return 0


def _plot(args: argparse.Namespace) -> int:
    try:
        import matplotlib  # noqa: F401

        from tempi.model.plot import plot_map
    except ImportError:
        print(
            "tempi model plot: matplotlib is not installed (pip install matplotlib, or "
            "tempi[bench])",
            file=sys.stderr,
        )
        return 2
    try:
        stride = parse_bytes(args.stride) if args.stride else None
    except ValueError as exc:
        print(f"tempi model plot: {exc}", file=sys.stderr)
        return 2
    p = _profile(args)
    if p is None:
        return 1
    from tempi import system

    path = plot_map(
        p,
        args.out,
        cuda_aware=_cuda_aware(args),
        peer_local=not args.remote,
        stride=stride,
        levels=args.levels,
        gpu=bool(system.gpus()),
    )
    print(f"wrote {path} ({format_bytes(path.stat().st_size)}; model from {p.source})")
    return 0
