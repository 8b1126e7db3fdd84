"""Shared fixtures. Tests under tests/mpi run only under mpiexec (``--with-mpi``); the plain
``pytest`` run launches them itself from tests/test_mpi_launch.py."""

from __future__ import annotations

import subprocess
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from mpi4py import MPI

collect_ignore_glob = [] if "--with-mpi" in sys.argv else ["mpi/*"]


@pytest.fixture
def rng(request) -> np.random.Generator:
    """A generator seeded from the test's id, so failures reproduce."""
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))


@pytest.fixture
def commit():
    """``commit(datatype)`` commits it and frees it after the test."""
    made = []

    def commit(datatype):
        made.append(datatype)
        return datatype.Commit()

    yield commit
    for datatype in made:
        if datatype != MPI.DATATYPE_NULL:
            datatype.Free()


@pytest.fixture
def tempi_env(monkeypatch):
    """Set tempi variables for one test: ``tempi_env(TEMPI_HOST="1")``."""
    from tempi import config

    def set_env(**values: str) -> None:
        for name, value in values.items():
            monkeypatch.setenv(name, value)
        config.reload()

    yield set_env
    monkeypatch.undo()
    config.reload()


@pytest.fixture(scope="module")
def program(tmp_path_factory) -> Callable[[Path], str]:
    """``program(source)``: a C test program (tests/c) compiled with the MPI's mpicc, once
    per module, after the shim it runs under is built."""
    from tempi._native import native_dir
    from tempi.shim import build

    built: dict[Path, str] = {}

    def binary(source: Path) -> str:
        if source not in built:
            build.build()
            out = tmp_path_factory.mktemp("c") / source.stem
            command = [build.mpicc(), "-O1", "-pthread", "-I", str(native_dir())]
            subprocess.run([*command, "-o", str(out), str(source), "-ldl"], check=True)
            built[source] = str(out)
        return built[source]

    return binary
