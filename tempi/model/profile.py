"""The measured profile: a versioned JSON file per (GPU, MPI library, tempi version).

Layout (``docs/model.md`` explains every field)::

    {"schema": 1, "kind": "tempi-profile", "key": ..., "gpu": ..., "mpi": ...,
     "tempi": ..., "host": ..., "created": ..., "cuda_aware": false, "peer": "local",
     "quick": false, "launch_s": ..., "machine": {...}, "notes": [...],
     "tables": {"pack_device": {"axes": [{"name": "bytes", "values": [...]}, ...],
                                "time_s": [[...]], "spread_s": [[...]], "measured": [[...]]},
                ...}}

It lives at ``cache_dir()/profiles/<key>.json``; the key names the GPU, the MPI library
and the tempi version (a profile measured with another MPI or an older tempi says
nothing about this one). The schema version is *not* in the key: a file of another
schema at the right path is found, refused and reported. A missing file is normal
(built-in defaults, silently); an unreadable one gives exactly one warning per file and
process, then the defaults -- never an exception to the application.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tempi import config
from tempi.model.table import Table

SCHEMA_VERSION = 1
"""Bump when the JSON layout or the meaning of a table changes."""

SHAPE_COMPONENTS = ("pack_device", "unpack_device", "pack_oneshot", "unpack_oneshot")
"""Pack/unpack times over (bytes, block); each has ``.stride`` and ``.levels`` factor tables."""

REQUIRED = (*SHAPE_COMPONENTS, "d2h", "h2d", "mpi_cpu.local")
"""Tables every valid profile has (the measurement fills what it could not time)."""


class ProfileWarning(UserWarning):
    """A profile file exists but cannot be used."""


@dataclass
class Profile:
    """Tables by name plus the metadata of the file; ``source`` says where it came from
    (a path, or "built-in defaults (...)")."""

    tables: dict[str, Table]
    meta: dict[str, Any] = field(default_factory=dict)
    source: str = "built-in defaults"

    def to_json(self) -> dict[str, Any]:
        meta = {k: v for k, v in self.meta.items() if k != "tables"}
        meta["schema"] = SCHEMA_VERSION
        meta["kind"] = "tempi-profile"
        return {**meta, "tables": {name: t.to_json() for name, t in self.tables.items()}}

    @classmethod
    def from_json(cls, data: Any, source: str) -> Profile:
        """Raises ValueError (or KeyError/TypeError) when ``data`` is not a valid profile."""
        if not isinstance(data, dict) or data.get("kind") != "tempi-profile":
            raise ValueError("not a tempi profile")
        schema = data.get("schema")
        if schema != SCHEMA_VERSION:
            raise ValueError(f"schema version {schema!r}, this tempi reads {SCHEMA_VERSION}")
        tables = {str(name): Table.from_json(t) for name, t in data["tables"].items()}
        missing = [name for name in REQUIRED if name not in tables]
        if missing:
            raise ValueError(f"tables missing: {', '.join(missing)}")
        meta = {k: v for k, v in data.items() if k != "tables"}
        return cls(tables, meta, source)


def identity() -> tuple[str, str, str]:
    """(GPU name, MPI library, tempi version) of this process: what a profile is for."""
    import tempi
    from tempi import system

    gpus = system.gpus()
    mpi = " ".join(system.mpi_library().split())
    return (gpus[0] if gpus else "no-gpu"), mpi, tempi.__version__


def _slug(text: str, width: int) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-")[:width].strip("-") or "x"


def cache_key(gpu: str, mpi: str, version: str) -> str:
    """File name stem for a (GPU, MPI library, tempi version): readable parts plus a
    digest of the full strings, so two MPI builds of one version stay apart."""
    digest = hashlib.sha1(f"{gpu}\n{mpi}\n{version}".encode()).hexdigest()[:10]
    short_mpi = mpi.split(",")[0]
    return f"{_slug(gpu, 32)}_{_slug(short_mpi, 32)}_tempi-{_slug(version, 16)}_{digest}"


def profile_path(key: str | None = None) -> Path:
    """``cache_dir()/profiles/<key>.json`` (default: this process's key)."""
    return config.cache_dir() / "profiles" / f"{key or cache_key(*identity())}.json"


_warned: set[str] = set()


def load(path: Path) -> Profile | None:
    """The profile at ``path``; None when there is none, or (with one warning per file and
    process) when it is unreadable, corrupt or of another schema version."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return None
    except OSError as exc:
        _warn_once(path, f"cannot read {path}: {exc}")
        return None
    try:
        return Profile.from_json(json.loads(text), str(path))
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        _warn_once(path, f"ignoring performance profile {path}: {exc}")
        return None


def _warn_once(path: Path, message: str) -> None:
    if str(path) in _warned:
        return
    _warned.add(str(path))
    warnings.warn(
        f"{message}; using built-in defaults (run 'tempi measure' to replace it)",
        ProfileWarning,
        stacklevel=3,
    )


def dumps(profile: Profile) -> str:
    """The JSON text: metadata one field a line, then one line per table."""
    data = profile.to_json()
    tables = data.pop("tables")
    head = json.dumps(data, indent=1)[: -len("\n}")]
    rows = ",\n".join(
        f"  {json.dumps(name)}: {json.dumps(t, separators=(',', ':'))}"
        for name, t in tables.items()
    )
    return f'{head},\n "tables": {{\n{rows}\n }}\n}}\n'


def save(profile: Profile, path: Path) -> Path:
    """Write ``profile`` to ``path`` atomically (a reader never sees half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temp.write_text(dumps(profile))
    os.replace(temp, path)
    _warned.discard(str(path))
    return path
