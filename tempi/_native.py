"""Where the C and CUDA sources of ``native/`` are, installed or in a source tree."""

from __future__ import annotations

from functools import cache
from pathlib import Path


@cache
def native_dir() -> Path:
    """The folder holding ``pack.cu`` and the interposer sources.

    A source checkout (``PYTHONPATH=<repo>``, editable installs) has ``native/`` beside
    the package; a wheel ships it as the data package ``tempi.native``.
    """
    beside = Path(__file__).resolve().parent.parent / "native"
    if (beside / "pack.cu").exists():
        return beside
    from importlib.resources import files

    return Path(str(files("tempi.native")))
