"""Test-only: patch a module of tempi the moment it is imported, from a ``sitecustomize``
on ``PYTHONPATH`` of a program run under the shim (where the test cannot reach tempi's
interpreter otherwise). Used by tests/fake_cuda (device plans for the stand-in driver) and
tests/c/faults (a failure injected into a kernel). Each loads this file by its path
(``importlib.util.spec_from_file_location``), so that the program's ``sys.path`` stays as
it was."""

from __future__ import annotations

import importlib.abc
import importlib.util
import sys
from collections.abc import Callable
from types import ModuleType


class _Patch(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self, name: str, apply: Callable[[ModuleType], None]) -> None:
        self._name, self._apply = name, apply

    def find_spec(self, name, path, target=None):
        if name != self._name:
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
        self._apply(module)


def patch_on_import(name: str, apply: Callable[[ModuleType], None]) -> None:
    """Call ``apply(module)`` once module ``name`` has been executed on import."""
    sys.meta_path.insert(0, _Patch(name, apply))
