"""Test-only (tests/test_shim_midway.py, on ``PYTHONPATH`` of a C program under the shim):
when ``tempi.pack.select`` is imported, its ``pack`` is replaced by one that raises on the
last rank of the job for the first ``MIDWAY_FAULTS`` calls (a real exception in the real
call path, as tests/mpi/test_comm_failures.py injects from Python), so a collective fails
inside tempi midway on one rank. The rank and size come from the launcher's environment
(MPICH's PMI_RANK/PMI_SIZE, Open MPI's OMPI_COMM_WORLD_RANK/_SIZE)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path


def _world(name: str) -> int:
    for prefix in ("PMI_", "OMPI_COMM_WORLD_"):
        if prefix + name in os.environ:
            return int(os.environ[prefix + name])
    return -1


_left = [int(os.environ.get("MIDWAY_FAULTS", "0"))]
_failing = _world("RANK") == _world("SIZE") - 1


class InjectedFault(RuntimeError):
    """The failure injected into the last rank's pack kernel."""


def _wrap(real):
    def pack(*args, **kwargs):
        if _failing and _left[0] > 0:
            _left[0] -= 1
            raise InjectedFault("injected: the pack kernel failed")
        return real(*args, **kwargs)

    return pack


def _apply(select) -> None:
    select.pack = _wrap(select.pack)


_helper = importlib.util.spec_from_file_location(
    "_tempi_tests_patch", Path(__file__).resolve().parents[2] / "patch_on_import.py"
)
_module = importlib.util.module_from_spec(_helper)
_helper.loader.exec_module(_module)
_module.patch_on_import("tempi.pack.select", _apply)
