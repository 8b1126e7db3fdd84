"""Start programs under the MPI library that mpi4py loaded (MPICH hydra or Open MPI).

One place knows each launcher's habits: Open MPI refuses root without two variables and
more ranks than cores without ``--oversubscribe``; shared-memory transport only makes its
start-up fast on one node.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path


def mpi_vendor() -> str:
    """'mpich', 'openmpi' or 'other', from the loaded library's version string."""
    from mpi4py import MPI

    version = MPI.Get_library_version()
    if version.startswith("Open MPI"):
        return "openmpi"
    if "MPICH" in version:
        return "mpich"
    return "other"


def _openmpi_major() -> int:
    """Open MPI's major version (its shared-memory transport is 'vader' before 5, 'sm' since)."""
    from mpi4py import MPI

    version = MPI.Get_library_version().split()[2]  # "Open MPI v4.1.6, ..."
    return int(version.lstrip("v").split(".")[0])


def mpiexec() -> str:
    """The mpiexec beside this interpreter (a virtual environment's MPI wheel), else PATH's."""
    beside = Path(sys.executable).parent / "mpiexec"
    if beside.exists():
        return str(beside)
    found = shutil.which("mpiexec") or shutil.which("mpirun")
    if found is None:
        raise FileNotFoundError("no mpiexec found: install the 'mpich' wheel or an MPI")
    return found


def command(
    nranks: int,
    program: list[str],
    options: list[str] | None = None,
    rank_env: dict[str, str] | None = None,
) -> list[str]:
    """The launch command line for ``nranks`` copies of ``program``; ``rank_env`` is set in
    the ranks only (not in the launcher: an LD_PRELOAD must not reach mpiexec itself)."""
    extra = list(options or [])
    openmpi = mpi_vendor() == "openmpi"
    if openmpi and "--oversubscribe" not in extra:
        extra.append("--oversubscribe")
    for name, value in (rank_env or {}).items():
        extra += ["-x", f"{name}={value}"] if openmpi else ["-genv", name, value]
    return [mpiexec(), "-n", str(nranks), *extra, *program]


def environment(base: dict[str, str] | None = None) -> dict[str, str]:
    """``base`` (default os.environ) plus what the launcher needs to start ranks here."""
    env = dict(os.environ if base is None else base)
    if mpi_vendor() == "openmpi":
        if os.geteuid() == 0:
            env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
            env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        env.setdefault("OMPI_MCA_btl", "self,sm" if _openmpi_major() >= 5 else "self,vader")
    return env
