"""Test-only (tests/test_engine.py, with tests/fake_cuda/libcuda.c as libcuda.so.1): when
``tempi.shim.plans`` is imported, its ``make_device`` is replaced by one that plans 1-level
strided types for the fake driver's host "kernel" (``tempi_fake_kernel``) with the
strategy of TEMPI_DATATYPE (oneshot unless staged or device is forced; system, the MPI's
own path, with FAKE_CUDA_PICK=system, on an MPI declared CUDA-aware), so the device
engine runs on a CPU machine. Nothing else changes."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path


def _fake_make_device(datatype, ftype, count, comm, peer, local_ranks):
    import ctypes

    import numpy as np

    from tempi import system
    from tempi.datatype import describe
    from tempi.datatype.descriptor import StridedBlock
    from tempi.shim import plans

    one = describe(datatype)
    if one.is_contiguous or one.nbytes == 0 or count <= 0:
        return None
    desc = one.repeat(count)
    strategy = os.environ.get("TEMPI_DATATYPE", "auto")
    strategy = strategy if strategy in ("oneshot", "staged", "device") else "oneshot"
    if os.environ.get("FAKE_CUDA_PICK") == "system":  # as if the model picked the MPI's path
        strategy = "system"  # (any type: its kernel runs only for MPI_Pack, 1-level ones)
    elif not isinstance(desc, StridedBlock) or len(desc.counts) != 1:
        return None
    level = (desc.start, desc.block, desc.counts[0], desc.strides[0]) if desc.counts else (0,) * 4
    kargs = np.array(level if isinstance(desc, StridedBlock) else (0,) * 4, np.int64)
    kernel = ctypes.cast(ctypes.CDLL("libcuda.so.1").tempi_fake_kernel, ctypes.c_void_p).value
    plans._alive[ftype, count, plans.DEVICE, -1] = (one, kargs)
    plan = plans.Plan(
        nbytes=desc.nbytes,
        elem_b=one.nbytes,
        word_b=1,
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
    )
    return plans.device_plan(plan, strategy, cuda_aware=system.cuda_aware_mpi()[0])


def _apply(plans) -> None:
    plans.make_device = _fake_make_device


_helper = importlib.util.spec_from_file_location(
    "_tempi_tests_patch", Path(__file__).resolve().parents[1] / "patch_on_import.py"
)
_module = importlib.util.module_from_spec(_helper)
_helper.loader.exec_module(_module)
_module.patch_on_import("tempi.shim.plans", _apply)
