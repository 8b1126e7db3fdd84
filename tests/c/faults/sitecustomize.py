"""Test-only (tests/test_shim_midway.py, on ``PYTHONPATH`` of a C program under the shim):
when ``tempi.pack.select`` is imported, its ``pack`` is replaced by one that raises on the
last rank of the job for the first ``MIDWAY_FAULTS`` calls (a real exception in the real
call path, as tests/mpi/test_comm_failures.py injects from Python), so a collective fails
inside tempi midway on one rank. The rank and size come from the launcher's environment
(MPICH's PMI_RANK/PMI_SIZE, Open MPI's OMPI_COMM_WORLD_RANK/_SIZE)."""

from __future__ import annotations

import importlib.abc
import importlib.util
import os
import sys


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


class _Patch(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path, target=None):
        if name != "tempi.pack.select":
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        self._inner = spec.loader
        spec.loader = self
        return spec

    def create_module(self, spec):
        return self._inner.create_module(spec)

    def exec_module(self, module):
        self._inner.exec_module(module)
        module.pack = _wrap(module.pack)


sys.meta_path.insert(0, _Patch())
