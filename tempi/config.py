"""Run-time configuration: the one place that reads ``os.environ``.

Every variable is a row of :data:`VARIABLES` (name, type, default, help). The same table
serves Python and C: the interposer's reader of its switches (TEMPI_DISABLE, TEMPI_NO_PACK,
TEMPI_HOST, TEMPI_STATS) is generated from it at shim build time
(:mod:`tempi.shim.config_gen`), so both languages accept exactly :data:`TRUE` and
:data:`FALSE` (any case, surrounding blanks ignored) and fall back to the same defaults.

Problems are found once and said once: ``tempi run`` and ``tempi demo`` check the
environment before launching (an invalid value stops the launch with one error; an unknown
``TEMPI_*`` name gets one warning naming the closest variable). A program started without
them reports the same lines from its first rank only (the launcher's rank variables tell
which), and an invalid value then keeps the default. The README table and ``tempi info``
are generated from this table; later stages add their rows here.
"""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TRUE = ("1", "true", "yes", "on")
"""Spellings of true, for every boolean variable, in Python and in C (any case)."""
FALSE = ("0", "false", "no", "off")
"""Spellings of false."""
AUTO = ("", "auto")
"""Spellings of "detect" for a boolean that may also be left to tempi."""


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise ValueError(f"expected one of {', '.join(TRUE + FALSE)}")


def _choice(*values: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        value = text.strip().lower()
        if value not in values:
            close = difflib.get_close_matches(value, values, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ValueError(f"expected one of {'|'.join(values)}{hint}")
        return value

    parse.__name__ = ", ".join(values)
    return parse


def _optional_bool(text: str) -> bool | None:
    if text.strip().lower() in AUTO:
        return None
    try:
        return _bool(text)
    except ValueError:
        raise ValueError(f"expected auto or one of {', '.join(TRUE + FALSE)}") from None


def _nodes(text: str) -> tuple[int, str] | None:
    """TEMPI_NODES: ``N`` or ``N:block`` or ``N:cyclic`` (empty: the real nodes)."""
    value = text.strip().lower()
    if not value:
        return None
    count, _, assign = value.partition(":")
    assign = assign.strip() or "block"
    if not count.strip().isdigit() or int(count) < 1 or assign not in ("block", "cyclic"):
        raise ValueError("expected N, N:block or N:cyclic with N >= 1")
    return int(count), assign


_nodes.__name__ = "N, N:block, N:cyclic"


def _stencil(text: str) -> str:
    """TEMPI_CART_STENCIL: ``full`` or ``faces``, optionally ``:w0,w1,...``, or the
    weights alone (tempi.topology.graph.Stencil reads it)."""
    value = "".join(text.split()).lower()
    reach, _, weights = value.partition(":")
    if reach not in ("full", "faces"):
        reach, weights = "full", value
    try:
        if weights and min(float(w) for w in weights.split(",")) <= 0:
            raise ValueError
    except ValueError:
        raise ValueError("expected full or faces, then :w0,w1,... positive face weights") from None
    return f"{reach}:{weights}" if weights else reach


_stencil.__name__ = "full, faces, [faces:]w0,w1,..."


@dataclass(frozen=True)
class Variable:
    name: str
    parse: Callable[[str], Any]
    default: Any
    help: str
    in_c: bool = False
    """Read by the interposer's C code too (a boolean): its reader is generated."""


VARIABLES: tuple[Variable, ...] = (
    Variable(
        "TEMPI_DISABLE",
        _bool,
        False,
        "Interposer: pass every MPI call to the system MPI; Python is never started.",
        in_c=True,
    ),
    Variable(
        "TEMPI_NO_PACK",
        _bool,
        False,
        "Interposer: leave MPI_Pack/MPI_Unpack to the system MPI.",
        in_c=True,
    ),
    Variable(
        "TEMPI_PYTHON",
        str,
        "",
        "Interposer in a C program: the Python to start (default: the one the shim was built with).",
    ),
    Variable(
        "TEMPI_DATATYPE",
        _choice("auto", "oneshot", "device", "staged"),
        "auto",
        "Strategy for non-contiguous device data (TEMPI's TEMPI_DATATYPE_ONESHOT, _DEVICE, "
        "_STAGED and _AUTO flags are accepted as aliases).",
    ),
    Variable(
        "TEMPI_CONTIGUOUS",
        _choice("auto", "staged"),
        "auto",
        "Contiguous device data: auto = straight to a CUDA-aware MPI, else staged through "
        "pinned host memory (aliases TEMPI_CONTIGUOUS_STAGED, _AUTO).",
    ),
    Variable(
        "TEMPI_HOST",
        _bool,
        False,
        "Also route host-memory derived types through tempi's engine (CPU-only machines).",
        in_c=True,
    ),
    Variable(
        "TEMPI_PLANS",
        _bool,
        True,
        "Run host messages of a (datatype, count) seen before in C with the plan Python made "
        "once, under the interposer and in tempi.Comm (0: every message through Python, as "
        "before issue 14).",
        in_c=True,
    ),
    Variable(
        "TEMPI_STATS",
        _bool,
        False,
        "Under the interposer, print one line per rank at MPI_Finalize: how many messages "
        "tempi packed, staged or passed to the system MPI (names and units below).",
        in_c=True,
    ),
    Variable(
        "TEMPI_CUDA_AWARE",
        _optional_bool,
        None,
        "Override detection of a CUDA-aware MPI (empty or auto = detect).",
    ),
    Variable(
        "TEMPI_LOG",
        _choice("debug", "info", "warning", "error"),
        "warning",
        "Log level of the 'tempi' loggers (each fallback to the system MPI logs at debug).",
    ),
    Variable(
        "TEMPI_CACHE_DIR",
        str,
        "",
        "Cache directory (default $XDG_CACHE_HOME/tempi, else ~/.cache/tempi).",
    ),
    Variable(
        "TEMPI_PLACEMENT",
        _choice("kahip", "metis", "random", "none"),
        "kahip",
        "Rank placement for MPI_Cart_create and MPI_Dist_graph_create(_adjacent) with reorder=1 "
        "(TEMPI's TEMPI_PLACEMENT_KAHIP, _METIS and _RANDOM are aliases); none = the system "
        "MPI's own reorder.",
    ),
    Variable(
        "TEMPI_NODES",
        _nodes,
        None,
        "Simulate N nodes: world ranks go to nodes in blocks (default) or round-robin "
        "(cyclic); every locality decision and the placement follow it.",
    ),
    Variable(
        "TEMPI_CART_STENCIL",
        _stencil,
        "full",
        "The halo-exchange model of reordered Cartesian grids: all 3^n-1 neighbours (full) "
        "or the faces only, with relative face weights per dimension (default equal).",
    ),
)


_ALIASES: dict[str, tuple[str, str]] = {
    "TEMPI_DATATYPE_ONESHOT": ("TEMPI_DATATYPE", "oneshot"),
    "TEMPI_DATATYPE_DEVICE": ("TEMPI_DATATYPE", "device"),
    "TEMPI_DATATYPE_STAGED": ("TEMPI_DATATYPE", "staged"),
    "TEMPI_DATATYPE_AUTO": ("TEMPI_DATATYPE", "auto"),
    "TEMPI_CONTIGUOUS_STAGED": ("TEMPI_CONTIGUOUS", "staged"),
    "TEMPI_CONTIGUOUS_AUTO": ("TEMPI_CONTIGUOUS", "auto"),
    "TEMPI_PLACEMENT_KAHIP": ("TEMPI_PLACEMENT", "kahip"),
    "TEMPI_PLACEMENT_METIS": ("TEMPI_PLACEMENT", "metis"),
    "TEMPI_PLACEMENT_RANDOM": ("TEMPI_PLACEMENT", "random"),
}
"""TEMPI's presence flags, each standing for one value of a choice variable."""

NOT_OURS = frozenset({"TEMPI_RANDOM_TYPES", "TEMPI_I_CHECKED"})
"""``TEMPI_*`` names that are not configuration (the test suite's example counts, the
launcher's word to the ranks): never reported as unknown."""


@dataclass(frozen=True)
class Problem:
    """Something wrong with the environment: an ``error`` (a value tempi cannot use; the
    default is kept) or a ``warning`` (an unknown name, aliases that disagree)."""

    level: str
    message: str

    def __str__(self) -> str:
        return f"tempi: {self.level}: {self.message}"


def _aliases(env: Any, values: dict[str, Any], problems: list[Problem]) -> None:
    """The choice variable wins over its aliases; aliases that disagree keep the default.
    Either conflict warns (TEMPI let the last flag win silently)."""
    for name in {target for target, _ in _ALIASES.values()}:
        given = {
            alias: value
            for alias, (target, value) in _ALIASES.items()
            if target == name and alias in env
        }
        if not given:
            continue
        if name in env:
            for alias, value in sorted(given.items()):
                if value != values[name]:
                    problems.append(
                        Problem(
                            "warning",
                            f"{alias} disagrees with {name}={values[name]}; keeping {name}",
                        )
                    )
        elif len(set(given.values())) > 1:
            problems.append(
                Problem(
                    "warning",
                    f"{' and '.join(sorted(given))} disagree; using {name}={values[name]}",
                )
            )
        else:
            values[name] = next(iter(given.values()))


def known_names() -> list[str]:
    """Every name tempi reads: the table's rows and TEMPI's aliases."""
    return [var.name for var in VARIABLES] + list(_ALIASES)


def _unknown(env: Any, problems: list[Problem]) -> None:
    known = set(known_names()) | NOT_OURS
    for name in sorted(n for n in env if n.startswith("TEMPI_") and n not in known):
        close = difflib.get_close_matches(name, known_names(), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}?" if close else ""
        problems.append(Problem("warning", f"{name} is not a tempi variable (ignored){hint}"))


def parse(environ: Any | None = None) -> tuple[dict[str, Any], list[Problem]]:
    """``({name: value}, problems)`` of an environment (default ``os.environ``); a value
    that cannot be parsed keeps the default and is an error among the problems."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    problems: list[Problem] = []
    for var in VARIABLES:
        values[var.name] = var.default
        text = env.get(var.name)
        if text is None:
            continue
        try:
            values[var.name] = var.parse(text)
        except ValueError as exc:
            problems.append(Problem("error", f"{var.name}={text!r}: {exc}"))
    _aliases(env, values, problems)
    _unknown(env, problems)
    return values, problems


def problems(environ: Any | None = None) -> list[Problem]:
    """What is wrong with an environment (``tempi run`` checks before launching)."""
    return parse(environ)[1]


_said: set[str] = set()


def _job_rank() -> int | None:
    """This process's rank in its job, from the launcher's variables; None outside one."""
    for var in ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK"):
        if os.environ.get(var, "").isdigit():
            return int(os.environ[var])
    return None


CHECKED = "TEMPI_I_CHECKED"
"""Set by ``tempi run`` and ``tempi demo`` in the ranks: the launcher has reported the
environment's problems, so the ranks stay silent."""


def report(found: list[Problem]) -> None:
    """Say each problem once per job: on stderr, by the first rank only (or by a process
    that no launcher started; by none when ``tempi run`` has said it), once per process."""
    if _job_rank() not in (None, 0) or os.environ.get(CHECKED):
        return
    for problem in found:
        line = str(problem)
        if line not in _said:
            _said.add(line)
            sys.stderr.write(line + "\n")


def read(environ: Any | None = None) -> dict[str, Any]:
    """Parse the environment into ``{name: value}``, reporting its problems once."""
    values, found = parse(environ)
    report(found)
    return values


_current: dict[str, Any] | None = None


def get(name: str) -> Any:
    """The value of one variable (environment read once, on first use)."""
    global _current
    if _current is None:
        _current = read()
    return _current[name]


def reload(environ: Any | None = None) -> None:
    """Re-read the configuration (tests use this through a fixture)."""
    global _current
    _current = read(environ)


def cache_dir() -> Path:
    """TEMPI_CACHE_DIR, else $XDG_CACHE_HOME/tempi, else ~/.cache/tempi."""
    explicit = get("TEMPI_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "tempi"


def _values(var: Variable) -> str:
    """The accepted spellings of a variable, for the README."""
    kind = getattr(var.parse, "__name__", "text").lstrip("_")
    booleans = f"{'/'.join(TRUE)} or {'/'.join(FALSE)}"
    return {
        "bool": booleans,
        "optional_bool": f"{booleans}, or auto/empty",
        "str": "path",
    }.get(kind, kind)


def markdown_table() -> str:
    """The README's environment table."""
    rows = ["| variable | values | default | meaning |", "|---|---|---|---|"]
    for var in VARIABLES:
        default = "" if var.default in (None, "") else str(var.default).lower()
        default = {"false": "0", "true": "1"}.get(default, default)
        rows.append(f"| `{var.name}` | {_values(var)} | {default} | {var.help} |")
    return "\n".join(rows)
