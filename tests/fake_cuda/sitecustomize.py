"""Test-only (tests/test_engine.py, with tests/fake_cuda/libcuda.c as libcuda.so.1): when
``tempi.shim.plans`` is imported, its ``make_device`` is replaced by one that plans 1-level
strided types for the fake driver's host "kernel" (``tempi_fake_kernel``) with the
strategy of TEMPI_DATATYPE (oneshot unless staged or device is forced), so the device
engine runs on a CPU machine. Nothing else changes."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path


def _fake_make_device(datatype, ftype, count, comm, peer, local_ranks):
    import ctypes

    import numpy as np

    from tempi.datatype import describe
    from tempi.datatype.descriptor import StridedBlock
    from tempi.shim import plans

    one = describe(datatype)
    if one.is_contiguous or one.nbytes == 0 or count <= 0:
        return None
    desc = one.repeat(count)
    if not isinstance(desc, StridedBlock) or len(desc.counts) != 1:
        return None
    strategy = os.environ.get("TEMPI_DATATYPE", "auto")
    strategy = strategy if strategy in ("oneshot", "staged", "device") else "oneshot"
    kargs = np.array([desc.start, desc.block, desc.counts[0], desc.strides[0]], np.int64)
    kernel = ctypes.cast(ctypes.CDLL("libcuda.so.1").tempi_fake_kernel, ctypes.c_void_p).value
    plans._alive[ftype, count, plans.DEVICE, -1] = (one, kargs)
    nbytes = desc.nbytes
    return plans.Plan(
        nbytes=nbytes,
        elem_b=one.nbytes,
        word_b=1,
        strategy=plans.STRATEGIES.index(strategy),
        memory=plans.DEVICE,
        peer_local=-1 if peer < 0 else int(peer in (local_ranks or ())),
        function=kernel,
        kargs=kargs.ctypes.data,
        kargs_b=kargs.nbytes,
        grid_x=1,
        grid_y=1,
        grid_z=1,
        block_x=1,
        block_y=1,
        block_z=1,
        stage_device_b=nbytes if strategy in ("device", "staged") else 0,
        stage_host_b=nbytes if strategy in ("oneshot", "staged") else 0,
    )


def _apply(plans) -> None:
    plans.make_device = _fake_make_device


_helper = importlib.util.spec_from_file_location(
    "_tempi_tests_patch", Path(__file__).resolve().parents[1] / "patch_on_import.py"
)
_module = importlib.util.module_from_spec(_helper)
_helper.loader.exec_module(_module)
_module.patch_on_import("tempi.shim.plans", _apply)
