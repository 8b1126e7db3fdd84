"""The stand-in CUDA driver of the CPU tests (``libcuda.c`` here, built as
``libcuda.so.1``) and, on ``PYTHONPATH``, its ``sitecustomize`` (device plans for its host
"kernel"): one driver for the device engine's tests (tests/test_engine.py) and the
memory-kind check's (tests/test_memkind.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

HERE = Path(__file__).parent


def build_driver(where: Path) -> Path:
    """Compile ``libcuda.c`` into ``where/libcuda.so.1`` (a C compiler is needed)."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise RuntimeError("no C compiler (cc or gcc) to build the stand-in CUDA driver")
    out = Path(where) / "libcuda.so.1"
    command = [cc, "-shared", "-fPIC", "-O1", "-Wl,-soname,libcuda.so.1", "-o", str(out)]
    subprocess.run([*command, str(HERE / "libcuda.c"), "-lpthread"], check=True)
    return out


def environment(where: Path) -> dict[str, str]:
    """The environment that makes the built driver the process's ``libcuda.so.1`` (devmem.h
    loads it for "device" buffers) and plans for it (the sitecustomize here)."""
    paths = [str(HERE), *filter(None, [os.environ.get("PYTHONPATH")])]
    libs = [str(where), *filter(None, [os.environ.get("LD_LIBRARY_PATH")])]
    return {"PYTHONPATH": os.pathsep.join(paths), "LD_LIBRARY_PATH": os.pathsep.join(libs)}
