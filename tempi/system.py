"""Facts about this process's MPI library and GPU, for ``tempi info`` and the engine."""

from __future__ import annotations

import ctypes
from importlib import metadata

from tempi import config


def package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def mpi_library() -> str:
    """First line of the loaded MPI library's version string."""
    from mpi4py import MPI

    return MPI.Get_library_version().replace("\x00", "").strip().splitlines()[0]


def mpi_abi() -> str:
    """How handles look in C: integers (MPICH ABI) or pointers (Open MPI, MPI-5 ABI)."""
    from mpi4py import MPI

    return "integer handles (MPICH ABI)" if MPI._sizeof(MPI.Datatype) == 4 else "pointer handles"


def cuda_aware_mpi() -> tuple[bool, str]:
    """(is the MPI CUDA-aware, how we know): TEMPI_CUDA_AWARE, else MPIX_Query_cuda_support,
    else assumed not."""
    override = config.get("TEMPI_CUDA_AWARE")
    if override is not None:
        return override, "TEMPI_CUDA_AWARE"
    from tempi.datatype._mpilib import library

    query = getattr(library(), "MPIX_Query_cuda_support", None)
    if query is None:
        return False, "library has no MPIX_Query_cuda_support"
    query.restype = ctypes.c_int
    return bool(query()), "MPIX_Query_cuda_support()"


def gpus() -> list[str]:
    """Names of the visible CUDA devices ([] without CuPy or a device)."""
    try:
        import cupy

        count = cupy.cuda.runtime.getDeviceCount()
        return [cupy.cuda.runtime.getDeviceProperties(i)["name"].decode() for i in range(count)]
    except Exception:
        return []
