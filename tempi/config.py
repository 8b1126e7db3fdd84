"""Run-time configuration: the one place that reads ``os.environ``.

Every variable is a row of :data:`VARIABLES` (name, type, default, help). A value that
cannot be parsed warns and keeps the default. The README table and ``tempi info`` are
generated from this table; later stages (engine, interposer) add their rows here.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected 0/1/true/false, got {text!r}")


def _choice(*values: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        value = text.strip().lower()
        if value not in values:
            raise ValueError(f"expected one of {'|'.join(values)}, got {text!r}")
        return value

    parse.__name__ = ", ".join(values)
    return parse


def _optional_bool(text: str) -> bool | None:
    return None if text.strip().lower() in ("", "auto") else _bool(text)


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


VARIABLES: tuple[Variable, ...] = (
    Variable(
        "TEMPI_DISABLE",
        _bool,
        False,
        "Interposer: pass every MPI call to the system MPI; Python is never started.",
    ),
    Variable(
        "TEMPI_NO_PACK",
        _bool,
        False,
        "Interposer: leave MPI_Pack/MPI_Unpack to the system MPI.",
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
    ),
    Variable(
        "TEMPI_STATS",
        _bool,
        False,
        "Under the interposer, print one line of per-rank counters at MPI_Finalize: calls "
        "packed by tempi (host/device) and calls passed to the system MPI.",
    ),
    Variable(
        "TEMPI_CUDA_AWARE",
        _optional_bool,
        None,
        "Override detection of a CUDA-aware MPI (0/1; empty or auto = detect).",
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


def _apply_aliases(env: Any, values: dict[str, Any]) -> None:
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
            for alias, value in given.items():
                if value != values[name]:
                    warnings.warn(
                        f"{alias} disagrees with {name}={values[name]}; keeping {name}",
                        stacklevel=3,
                    )
        elif len(set(given.values())) > 1:
            warnings.warn(
                f"{' and '.join(sorted(given))} disagree; using {name}={values[name]}", stacklevel=3
            )
        else:
            values[name] = next(iter(given.values()))


def read(environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Parse the environment into ``{name: value}``; bad values warn and keep the default."""
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for var in VARIABLES:
        values[var.name] = var.default
        text = env.get(var.name)
        if text is None:
            continue
        try:
            values[var.name] = var.parse(text)
        except ValueError as exc:
            warnings.warn(f"{var.name}: {exc}; using {var.default!r}", stacklevel=2)
    _apply_aliases(env, values)
    return values


_current: dict[str, Any] | None = None


def get(name: str) -> Any:
    """The value of one variable (environment read once, on first use)."""
    global _current
    if _current is None:
        _current = read()
    return _current[name]


def reload(environ: dict[str, str] | None = None) -> None:
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


def markdown_table() -> str:
    """The README's environment table."""
    rows = ["| variable | values | default | meaning |", "|---|---|---|---|"]
    for var in VARIABLES:
        kind = getattr(var.parse, "__name__", "text").lstrip("_")
        kind = {"optional_bool": "0, 1, auto", "str": "path", "bool": "0, 1"}.get(kind, kind)
        default = "" if var.default in (None, "") else str(var.default).lower()
        rows.append(f"| `{var.name}` | {kind} | {default} | {var.help} |")
    return "\n".join(rows)
