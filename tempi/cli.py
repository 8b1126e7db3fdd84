"""The ``tempi`` command line: ``tempi <subcommand> --help`` explains each one."""

from __future__ import annotations

import argparse
import ast
import platform
import sys
from pathlib import Path

import tempi
from tempi import config, system

EXAMPLES = {
    "vector: 3 x 2 doubles, stride 5": lambda MPI: MPI.DOUBLE.Create_vector(3, 2, 5),
    "3-D halo face: 512 x 510 x 32 B of a 512^3 B grid": lambda MPI: MPI.BYTE.Create_subarray(
        [512, 512, 512], [512, 510, 32], [0, 1, 8]
    ),
    "y-z plane of 64^3 doubles (8-byte blocks)": lambda MPI: MPI.DOUBLE.Create_subarray(
        [64, 64, 64], [64, 64, 1], [0, 0, 5]
    ),
    "struct {int; double[2]}": lambda MPI: MPI.Datatype.Create_struct(
        [1, 2], [0, 8], [MPI.INT, MPI.DOUBLE]
    ),
    "indexed: blocks 3,1,2 at 9,0,4 floats": lambda MPI: MPI.FLOAT.Create_indexed(
        [3, 1, 2], [9, 0, 4]
    ),
}


def _info(args: argparse.Namespace) -> int:
    from mpi4py import MPI

    from tempi.topology import nodes, partition

    aware, why = system.cuda_aware_mpi()
    gpus = system.gpus()
    rows = [
        ("tempi", tempi.__version__),
        ("python", f"{platform.python_version()} ({sys.executable})"),
        *(
            (name, system.package_version(name) or "not installed")
            for name in ("numpy", "numba", "mpi4py")
        ),
        (
            "cupy",
            next(
                filter(None, map(system.package_version, ("cupy-cuda13x", "cupy-cuda12x", "cupy"))),
                "not installed",
            ),
        ),
        ("MPI library", " ".join(system.mpi_library().split())),
        ("MPI standard", "{}.{}".format(*MPI.Get_version())),
        ("MPI ABI", system.mpi_abi()),
        ("CUDA-aware MPI", f"{'yes' if aware else 'no'} ({why})"),
        ("GPU", ", ".join(gpus) if gpus else "none found"),
        ("cache directory", str(config.cache_dir())),
        ("nodes", nodes.describe()),
        (
            "placement",
            f"{config.get('TEMPI_PLACEMENT')} (installed: "
            + ", ".join(m for m in partition.METHODS if partition.available(m))
            + ")",
        ),
    ]
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")
    print("\nconfiguration:")
    for var in config.VARIABLES:
        print(f"  {var.name:<17} = {config.get(var.name)!r}")
    print("\ncanonical forms:")
    for title, make in EXAMPLES.items():
        datatype = make(MPI).Commit()
        print(f"  {title}\n    {tempi.describe(datatype)!r}")
        datatype.Free()
    return 0


def _build_shim(args: argparse.Namespace) -> int:
    from tempi.shim import build

    path = build.build(force=args.force, verbose=args.verbose)
    if args.show_source:
        from tempi.shim import generate

        print(path.parent / generate.SOURCE)
    else:
        print(path)
    return 0


RANK_OPTIONS = ("-n", "-np", "--n", "--np")
"""How hydra's mpiexec and Open MPI's mpirun spell the number of ranks."""

LAUNCHER_VALUES = {
    **dict.fromkeys(("-genv", "-env", "-mca", "--mca", "-gmca", "--gmca"), 2),
    **dict.fromkeys(("--prtemca", "--pmixmca", "--omca"), 2),
    **dict.fromkeys(
        (
            *RANK_OPTIONS,
            # hydra (which also takes each with two dashes)
            "-f",
            "-hostfile",
            "-machinefile",
            "-hosts",
            "-host",
            "-ppn",
            "-wdir",
            "-configfile",
            "-genvlist",
            "-envlist",
            "-bind-to",
            "-map-by",
            "-membind",
            "-launcher",
            "-launcher-exec",
            "-bootstrap",
            "-bootstrap-exec",
            "-rmk",
            "-demux",
            "-topolib",
            "-iface",
            "-nameserver",
            "-localhost",
            "-rankmap",
            "-usize",
            "-errfile-pattern",
            "-outfile-pattern",
            "-prepend-pattern",
            "-gpus-per-proc",
            "-order-nodes",
            "-binding",
            "-gpu-subdevs-per-proc",
            # Open MPI (mpirun/prterun)
            "-x",
            "-H",
            "-N",
            "-c",
            "--hostfile",
            "--machinefile",
            "--host",
            "--map-by",
            "--rank-by",
            "--bind-to",
            "--wdir",
            "--wd",
            "--path",
            "--prefix",
            "--output",
            "--tune",
            "--npernode",
            "--display",
            "--timeout",
            "--app",
            "--preload-files",
            "--personality",
            "--runtime-options",
            "--default-hostfile",
            "--stream-buffering",
            "--set-cwd-to-session-dir",
            "--dvm",
            "--pset",
            "--debug-daemons-file",
        ),
        1,
    ),
}
"""Launcher options that take values (how many), so that a value is never taken for the
program; hydra accepts every option with one dash or two. Any other option is passed on
as it is, and a value after it is passed on too unless it is an executable."""


class _Usage(Exception):
    """``tempi run``'s command line cannot be read; the message says how to write it."""


def _values_of(token: str) -> int:
    if "=" in token:
        return 0
    if token in LAUNCHER_VALUES:
        return LAUNCHER_VALUES[token]
    if token.startswith("--") and token[1:] in LAUNCHER_VALUES:
        return LAUNCHER_VALUES[token[1:]]  # hydra's -ppn spelled --ppn
    return 0


def _executable(token: str) -> bool:
    import os
    import shutil

    if os.sep in token:
        return os.path.isfile(token) and os.access(token, os.X_OK)
    return shutil.which(token) is not None


def split_run(tokens: list[str]) -> tuple[int | None, list[str], list[str]]:
    """``tempi run``'s arguments as (ranks or None, launcher options, program and its
    arguments). The program is the first token after ``--``, else the first token that is
    not an option or an option's value and is an executable (a path, or a name on PATH);
    everything after it is the program's, a ``--`` included."""
    nranks, options, i = None, [], 0
    while i < len(tokens):
        token = tokens[i]
        if token == "--":
            return nranks, options, tokens[i + 1 :]
        name, _, attached = token.partition("=")
        if token.startswith("-"):
            take = _values_of(token)
            values = tokens[i + 1 : i + 1 + take]
            if len(values) < take:
                raise _Usage(f"{token} needs {take} value{'s' if take > 1 else ''}")
            if name in RANK_OPTIONS:
                text = attached if "=" in token else values[0]
                if not text.isdigit() or int(text) < 1:
                    raise _Usage(f"{name} takes a number of ranks, not {text!r}")
                nranks = int(text)
            else:
                options += [token, *values]
            i += 1 + take
        elif _executable(token):
            return nranks, options, tokens[i:]
        elif options and options[-1].startswith("-"):
            options.append(token)  # the value of an option tempi does not know
            i += 1
        else:
            raise _Usage(f"{token!r} is neither a launcher option nor an executable program")
    raise _Usage("no program given")


def portable(options: list[str], vendor: str) -> list[str]:
    """``options`` for this launcher: the everyday options that one launcher spells and the
    other rejects are rewritten (Open MPI: hydra's ``-ppn N``, ``-bind-to``, ``-map-by``,
    ``-genv NAME VALUE``, ``-f``/``-hostfile`` and ``-hosts``; hydra: Open MPI's ``-x``);
    everything else passes through unchanged."""
    out, i = [], 0
    while i < len(options):
        token = options[i]
        take = 0 if "=" in token else _values_of(token)
        values = options[i + 1 : i + 1 + take]
        bare = "-" + token.lstrip("-")
        if vendor == "openmpi" and bare in ("-bind-to", "-map-by") and token != "-" + bare:
            out += ["-" + bare, *values]
        elif vendor == "openmpi" and bare == "-ppn":
            out += ["--map-by", f"ppr:{values[0]}:node"]
        elif vendor == "openmpi" and bare == "-genv":
            out += ["-x", f"{values[0]}={values[1]}"]
        elif vendor == "openmpi" and bare in ("-f", "-hostfile", "-machinefile"):
            out += ["--hostfile", *values]
        elif vendor == "openmpi" and bare == "-hosts":
            out += ["--host", *values]
        elif vendor == "mpich" and token == "-x":
            name, equals, value = values[0].partition("=")
            out += ["-genv", name, value] if equals else ["-genvlist", name]
        else:
            out += [token, *values]
        i += 1 + take
    return out


def _run(args: argparse.Namespace) -> int:
    import subprocess

    from tempi import launch
    from tempi.shim import build

    try:
        nranks, options, program = split_run(list(args.rest))
    except _Usage as exc:
        print(
            f"tempi run: {exc}\n"
            "usage: tempi run [-n N] [launcher options] [--] program [args]\n"
            "       (put -- before the program when tempi cannot tell it apart)",
            file=sys.stderr,
        )
        return 2
    if not program:
        print("tempi run: no program after '--' (tempi run -n 2 -- ./app args)", file=sys.stderr)
        return 2
    if not _check_environment("tempi run"):
        return 2
    shim = _build_shim_saying_so(build)
    options = portable(options, launch.mpi_vendor())
    cmd = launch.command(nranks or 1, program, options, rank_env=_rank_environment(shim))
    return subprocess.call(cmd, env=launch.environment())


def _rank_environment(shim: Path) -> dict[str, str]:
    """What reaches the ranks only: the preload, every TEMPI_* variable, and the word that
    the launcher has reported their problems already."""
    import os

    rank_env = {"LD_PRELOAD": str(shim), config.CHECKED: "1"}
    rank_env.update({k: v for k, v in os.environ.items() if k.startswith("TEMPI_")})
    return rank_env


def _check_environment(command: str) -> bool:
    """Say what is wrong with the TEMPI_* variables once, before any rank starts; False
    (nothing launched) when a value is invalid."""
    found = config.problems()
    config.report(found)
    if any(p.level == "error" for p in found):
        print(f"{command}: nothing launched; fix the value or unset it", file=sys.stderr)
        return False
    return True


def _say(text: str) -> None:
    print(f"tempi: {text}", file=sys.stderr, flush=True)


def _build_shim_saying_so(build) -> Path:
    """The shim, built first with a word about it when it is not cached."""
    import time

    target = build.shim_path()
    if target.exists():
        return target
    _say(
        f"building the interposer for this MPI and Python (first run only, cached in "
        f"{target.parent}) ..."
    )
    start = time.perf_counter()
    built = build.build()
    _say(f"interposer built in {time.perf_counter() - start:.0f} s")
    return built


def _demo(args: argparse.Namespace) -> int:
    import os
    import subprocess

    from tempi import launch

    if not _check_environment("tempi demo"):
        return 2
    program = [sys.executable, "-m", "tempi.halo", "--iters", str(args.iters), "--explain"]
    program += ["--png", os.path.abspath(args.out)]
    if args.n is not None:
        program += ["--n", str(args.n)]
    if args.host:
        program.append("--host")
    env = launch.environment()
    env[config.CHECKED] = "1"
    _say(
        f"demo: starting {args.np} ranks with {launch.mpiexec()} (each imports mpi4py, "
        "numba and tempi: a few seconds) ..."
    )
    return subprocess.call(launch.command(args.np, program), env=env)


BENCHMARKS = {
    "pack-host": ("pack_host.py", 1),
    "pack-device": ("pack_device.py", 1),
    "pingpong": ("pingpong.py", 2),
    "halo": ("halo/run.py", 1),
    "model-validation": ("model_validation.py", 2),
    "shim-overhead": ("shim_overhead.py", 1),
    "placement": ("placement.py", 1),
    "pingpong-shim": ("pingpong_shim.py", 1),
    "pingpong-comm": ("pingpong_comm.py", 2),
}
"""``tempi bench`` names: the script under benchmarks/ and the ranks it runs on (a script
on one rank launches whatever it needs itself)."""


def _benchmarks_dir() -> Path | None:
    """benchmarks/ of the source tree tempi runs from (an editable install or a clone)."""
    found = Path(tempi.__file__).resolve().parent.parent / "benchmarks"
    return found if found.is_dir() else None


def _summary(script: Path) -> str:
    """The first sentence of a benchmark script's docstring: what it measures."""
    doc = ast.get_docstring(ast.parse(script.read_text())) or ""
    paragraph = " ".join(doc.split("\n\n")[0].split())
    ends = [i for i in (paragraph.find("? "), paragraph.find(". ")) if i >= 0]
    return paragraph[: min(ends) + 1] if ends else paragraph


def _bench(args: argparse.Namespace) -> int:
    import subprocess

    from tempi import launch

    where = _benchmarks_dir()
    if where is None:
        print(
            "tempi bench: the benchmarks come with the source tree, which this installation "
            "lacks; clone the repository and `pip install -e .` from it",
            file=sys.stderr,
        )
        return 2
    if args.name is None:
        width = max(map(len, BENCHMARKS))
        for name, (script, ranks) in BENCHMARKS.items():
            note = f" ({ranks} ranks)" if ranks > 1 else ""
            print(f"{name:<{width}}  {_summary(where / script)}{note}")
        print(
            "\nrun one with `tempi bench NAME [its options]`; `tempi bench NAME --help` lists them"
        )
        return 0
    script, ranks = BENCHMARKS[args.name]
    program = [sys.executable, str(where / script), *args.rest]
    command = launch.command(ranks, program) if ranks > 1 else program
    return subprocess.call(command, env=launch.environment())


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="tempi",
        description="tempi: fast, byte-exact MPI derived datatypes for GPU and host memory.",
        epilog="Run 'tempi <subcommand> --help' for the options of each subcommand.",
    )
    top.add_argument("--version", action="version", version=f"tempi {tempi.__version__}")
    sub = top.add_subparsers(dest="command", metavar="<subcommand>")
    info = sub.add_parser(
        "info",
        help="versions, MPI library and ABI, CUDA-awareness, GPUs, configuration, examples",
        description="Print what tempi sees on this machine and the canonical form of a few "
        "example datatypes.",
    )
    info.set_defaults(run=_info)
    shim = sub.add_parser(
        "build-shim",
        help="build the LD_PRELOAD interposer for this MPI and Python (cached)",
        description="Compile native/interposer.c and tempi's callbacks with the MPI's mpicc "
        "($MPICC, the one beside this Python, or PATH's) into a cached shared object, and print "
        "its path.",
    )
    shim.add_argument("--force", action="store_true", help="rebuild even if cached")
    shim.add_argument("--verbose", action="store_true", help="show the compiler commands")
    shim.add_argument(
        "--show-source",
        action="store_true",
        help="print the path of the generated entry points (entry_points_gen.c; the other "
        "generated files lie beside it) instead of the shim's",
    )
    shim.set_defaults(run=_build_shim)
    run = sub.add_parser(
        "run",
        help="launch an unmodified MPI program under the interposer",
        usage="tempi run [-n N] [launcher options] [--] program [args]",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Build the shim if needed (first run only, cached) and launch the program "
        "with this MPI's mpiexec,\nLD_PRELOADing the shim and passing the TEMPI_* variables "
        "to the ranks only.\n\n"
        "Every launcher option passes through unchanged (hydra's mpiexec and Open MPI's "
        "mpirun alike).\nThe program is the first token after '--', else the first "
        "executable (a path, or a name on PATH);\neverything after it is the program's, "
        "a '--' included. Without -n, one rank.",
        epilog="examples:\n"
        "  tempi run -n 4 --bind-to core -- ./app args\n"
        "  tempi run -n 4 -ppn 2 -f hosts ./app              # MPICH (hydra)\n"
        "  tempi run -n 4 --hostfile hosts --map-by ppr:2:node ./app   # Open MPI\n"
        "  tempi run -n 2 -genv OMP_NUM_THREADS 4 ./app -- x  # ./app receives '-- x'",
    )
    run.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    run.set_defaults(run=_run)
    demo = sub.add_parser(
        "demo",
        help="run a checked 3-D halo exchange with tempi and the usual Python route",
        description="Launch a 3-D halo exchange (26 neighbours, one subarray type each) on "
        "NP ranks of this MPI: tempi's Neighbor_alltoallw and Isend/Irecv against slicing, "
        "copying and sending each face with mpi4py. Every rank checks its ghost cells. On a "
        "GPU the arrays are CuPy arrays; without one, NumPy arrays go through tempi's engine "
        "with TEMPI_HOST=1 (a correctness run: tempi's speed is on the GPU). Prints the "
        "results table and writes a bar chart (with matplotlib) to --out.",
    )
    demo.add_argument("-n", "--np", type=int, default=4, help="ranks (default 4)")
    demo.add_argument(
        "--n", type=int, help="local block edge in cells (default 128 on a GPU, 32 in host memory)"
    )
    demo.add_argument("--iters", type=int, default=10, help="timed exchanges per method")
    demo.add_argument("--host", action="store_true", help="NumPy arrays even with a GPU")
    demo.add_argument(
        "--out", default="tempi-demo.png", help="PNG to write (default ./tempi-demo.png)"
    )
    demo.set_defaults(run=_demo)
    bench = sub.add_parser(
        "bench",
        help="run one of the benchmarks (tables on stdout, CSV and PNG under results/)",
        description="Run a benchmark script of the source tree's benchmarks/ folder with this "
        "Python, on the ranks it needs (with the MPI's mpiexec); every one measures its "
        "baseline in the same run and reports ratios. Without NAME, list them. Options after "
        "NAME go to the script: tempi bench pack-host --quick. Results of earlier runs, with "
        "the machines they came from, are in benchmarks/RESULTS.md.",
    )
    bench.add_argument(
        "name",
        nargs="?",
        choices=sorted(BENCHMARKS),
        metavar="NAME",
        help="one of: " + ", ".join(BENCHMARKS),
    )
    bench.add_argument("rest", nargs=argparse.REMAINDER, help="the script's own options")
    bench.set_defaults(run=_bench)
    from tempi.model.commands import add_parsers

    add_parsers(sub)
    return top


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["run"] and argv[1:2] not in (["-h"], ["--help"]):
        return _run(argparse.Namespace(rest=argv[1:]))  # every other option is the launcher's
    args = parser().parse_args(argv)
    if not hasattr(args, "run"):
        parser().print_help()
        return 0
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
