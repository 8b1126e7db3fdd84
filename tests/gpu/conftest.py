"""GPU tests: every test here is marked ``gpu`` and skipped, with the reason, when CuPy or a
CUDA device is missing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tempi.pack import cuda

_HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip = None if cuda.cuda_available() else pytest.mark.skip(reason="no CUDA device or CuPy")
    for item in items:
        if _HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.gpu)
            if skip is not None:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def cp():
    """The ``cupy`` module."""
    import cupy

    return cupy
