"""GPU tests: every test here is marked ``gpu`` and skipped, with the reason, when CuPy or a
CUDA device is missing. ``pytest -ra`` lists those skips as one line (not one per test), so
that the other skips stay readable."""

from __future__ import annotations

from pathlib import Path

import pytest

from tempi.pack import cuda

_HERE = Path(__file__).resolve().parent
_REASON = "no CUDA device or CuPy (the GPU tests run on a GPU machine: scripts/gpu-check)"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip = None if cuda.cuda_available() else pytest.mark.skip(reason=_REASON)
    for item in items:
        if _HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(pytest.mark.gpu)
            if skip is not None:
                item.add_marker(skip)


@pytest.hookimpl(tryfirst=True)
def pytest_terminal_summary(terminalreporter) -> None:
    """Without a GPU, fold every skip of a GPU test into one summary line (whichever mark
    skipped it first): pytest folds skips of one location and reason, and a skip mark
    reports each test's own location."""
    if cuda.cuda_available():
        return
    here = Path(__file__)
    where = str(here.relative_to(Path.cwd()) if Path.cwd() in here.parents else here)
    for report in terminalreporter.stats.get("skipped", []):
        if isinstance(report.longrepr, tuple) and _HERE in Path(report.fspath).resolve().parents:
            report.longrepr = (where, None, f"Skipped: {_REASON}")


@pytest.fixture(scope="session")
def cp():
    """The ``cupy`` module."""
    import cupy

    return cupy
