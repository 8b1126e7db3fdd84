"""Build the interposer: the entry points generated from :mod:`tempi.shim.spec`
(``entry_points_gen.c``), ``native/*.c`` and the Python callbacks, compiled by cffi in
embedding mode with the MPI's own compiler wrapper, into one shared object.

The generated files (``config_gen.h``, ``spec_gen.h``, ``entry_points_gen.c``) are written
beside the shim, in the folder ``tempi build-shim --show-source`` prints.

The result is cached under ``<cache dir>/shim/<key>/``, the key hashing what makes a build
valid: the MPI library (version string and mpicc), this Python, the tempi version and the
sources. ``tempi build-shim`` and ``tempi run`` call :func:`build`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import tempfile
from pathlib import Path

from tempi import __version__, config
from tempi._native import native_dir
from tempi.shim import config_gen, generate, plans

LIBRARY = "libtempi_shim.so"

INIT_CODE = """
import sys
if "mpi4py.MPI" not in sys.modules:  # a C host: mpi4py must leave MPI and its handlers alone
    import mpi4py
    mpi4py.rc.initialize = False
    mpi4py.rc.finalize = False
    mpi4py.rc.errors = "default"
from _tempi_shim import ffi, lib
from tempi.shim.callbacks import install
install(ffi, lib)
"""
"""The embedded module's start-up. mpi4py's run-time options are set before anything
imports ``mpi4py.MPI`` (``import tempi`` does): with its default ``errors="exception"``
it would set MPI_ERRORS_RETURN on the application's MPI_COMM_WORLD and MPI_COMM_SELF."""


def embedding_api() -> str:
    """The callback declarations of ``native/interposer.h`` (between its markers)."""
    header = (native_dir() / "interposer.h").read_text()
    return header.split("/* BEGIN tempi_py */")[1].split("/* END tempi_py */")[0]


def mpicc() -> str:
    """$MPICC, else the mpicc beside this interpreter (an MPI wheel), else PATH's."""
    explicit = os.environ.get("MPICC")
    if explicit:
        return explicit
    beside = Path(sys.executable).parent / "mpicc"
    found = str(beside) if beside.exists() else shutil.which("mpicc")
    if found is None:
        raise FileNotFoundError("no mpicc: install the 'mpich' wheel or set MPICC")
    return found


def _key(compiler: str) -> str:
    from mpi4py import MPI

    digest = hashlib.sha256()
    for part in (MPI.Get_library_version(), compiler, sys.executable, sys.version, __version__):
        digest.update(part.encode())
    for source in sorted(native_dir().glob("*.[ch]")):
        digest.update(source.read_bytes())
    digest.update(Path(__file__).read_bytes())
    for text in _generated().values():
        digest.update(text.encode())
    return digest.hexdigest()[:16]


def _generated() -> dict[str, str]:
    """The generated files by name: built from tempi/config.py and tempi/shim/spec.py."""
    return {
        config_gen.HEADER: config_gen.header(),
        generate.HEADER: generate.header(),
        generate.SOURCE: generate.source(),
        plans.HEADER: plans.header(),
    }


def extra_sources() -> list[Path]:
    """native/*.c other than interposer.c (cffi's module): compiled into the shim beside it,
    sharing internals through native/internal.h."""
    return sorted(p for p in native_dir().glob("*.c") if p.name != "interposer.c")


def _mpi4py_include() -> str:
    import mpi4py

    return mpi4py.get_include()


def generated_dir() -> Path:
    """Where the generated C of the shim for this MPI and Python lies (once built)."""
    return shim_path().parent


def shim_path() -> Path:
    """Where the shim for this MPI and Python lives (built or not)."""
    compiler = mpicc()
    return config.cache_dir() / "shim" / _key(compiler) / LIBRARY


def build(*, force: bool = False, verbose: bool = False) -> Path:
    """The shim's path, compiling it first unless a valid build is cached."""
    import cffi

    target = shim_path()
    if target.exists() and not force:
        return target
    compiler = mpicc()
    ffi = cffi.FFI()
    ffi.embedding_api(embedding_api())
    ffi.cdef(
        "long tempi_passed_messages(void); void tempi_stage_device_buffers(int on);"
        " int tempi_node_of(int world_rank);"
        " void tempi_engine_clear(void); long tempi_engine_counter(int which);"
        " long tempi_staged_messages(int contiguous);"
        " void tempi_exchange_learn(int fcomm, int kind, int fprivate, int nrecv,"
        " const int *sources, const int *recv_tags, int nsend, const int *dests,"
        " const int *send_tags); void tempi_exchange_forget(int fcomm);"
        " long tempi_exchange_runs(void);"
    )
    ffi.set_source(
        "_tempi_shim",
        (native_dir() / "interposer.c").read_text(),
        define_macros=[("TEMPI_I_PYTHON", f'"{sys.executable}"')],
        # mpi4py's C API: tempi.Comm's binding (native/comm_binding.c, module _tempi_comm)
        include_dirs=[str(target.parent), str(native_dir()), _mpi4py_include()],
        sources=[str(p) for p in extra_sources()] + [str(target.parent / generate.SOURCE)],
        extra_compile_args=["-O2", "-Wall"],
    )
    ffi.embedding_init_code(INIT_CODE)
    target.parent.mkdir(parents=True, exist_ok=True)
    for name, text in _generated().items():
        (target.parent / name).write_text(text)
    environment = dict(os.environ)
    os.environ["CC"] = compiler
    os.environ["LDSHARED"] = f"{compiler} -shared"
    try:
        with tempfile.TemporaryDirectory() as scratch:
            built = ffi.compile(tmpdir=scratch, target=LIBRARY, verbose=verbose)
            shutil.move(built, target)
    finally:
        os.environ.clear()
        os.environ.update(environment)
    return target
