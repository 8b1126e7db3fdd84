"""Plans for the interposer's C engine (tempi/shim/plans.py): the numba cfunc a plan names
packs and unpacks the bytes the system MPI_Pack does, for every combiner of
test_pack_host; and the generated C struct is laid out as its ctypes mirror."""

from __future__ import annotations

import ctypes
import shutil
import subprocess

import numpy as np
import pytest

from tempi.datatype import describe
from tempi.errors import UnsupportedDatatype
from tempi.pack import host_cfunc
from tempi.shim import plans
from tests.oracle import mpi_pack, mpi_unpack, typed_buffer
from tests.unit.test_pack_host import CASES

TRANSFER = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)


def _aligned(data: np.ndarray, origin: int, plan: plans.Plan) -> tuple[np.ndarray, int]:
    """``data`` moved so that the plan's first byte is aligned to its word (the engine
    declines other buffers: the Python path picks a narrower word for them)."""
    room = np.zeros(data.size + 8, np.uint8)
    shift = -(room.ctypes.data + origin + plan.data_lb) % 8
    room[shift : shift + data.size] = data
    return room[shift : shift + data.size], origin


@pytest.mark.parametrize("count", (1, 3))
@pytest.mark.parametrize("name", sorted(CASES))
def test_plan_packs_and_unpacks_as_mpi(name, count, commit, rng):
    datatype = commit(CASES[name]())
    try:
        plan = plans.make(datatype, datatype.py2f(), count)
    except UnsupportedDatatype:  # the Python path's too (the callback returns PASS)
        return
    if plan is None:  # contiguous or empty: the Python path's
        desc = describe(datatype)
        assert desc.is_contiguous or desc.nbytes == 0
        return
    data, origin = _aligned(*typed_buffer(datatype, count, rng), plan)
    base = data.ctypes.data + origin + plan.data_lb
    transfer = TRANSFER(plan.transfer)
    packed = np.zeros(plan.nbytes + 64, np.uint8)[: plan.nbytes]
    transfer(base, packed.ctypes.data, plan.args, 1)
    assert packed.tobytes() == mpi_pack(data, origin, count, datatype)
    expected, got = np.zeros_like(data), np.zeros_like(data)
    mpi_unpack(packed.tobytes(), expected, origin, count, datatype)
    transfer(got.ctypes.data + origin + plan.data_lb, packed.ctypes.data, plan.args, 0)
    assert np.array_equal(got, expected)
    assert plan.elem_b == datatype.Get_size() and plan.nbytes == count * plan.elem_b


def test_contiguous_types_get_no_plan(commit):
    from mpi4py import MPI

    datatype = commit(MPI.INT.Create_contiguous(4))
    assert plans.make(datatype, datatype.py2f(), 2) is None


def test_forget_drops_the_arguments_of_a_type(commit):
    from mpi4py import MPI

    datatype = commit(MPI.DOUBLE.Create_vector(4, 1, 3))
    for count in (1, 2):
        assert plans.make(datatype, datatype.py2f(), count) is not None
    plans.forget(datatype.py2f())
    assert not [key for key in plans._alive if key[0] == datatype.py2f()]


def test_one_cfunc_per_word():
    assert set(host_cfunc._CFUNCS) == {1, 2, 4, 8}
    assert len({f.address for f in host_cfunc._CFUNCS.values()}) == 4


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler")
def test_generated_header_matches_the_ctypes_mirror(tmp_path):
    (tmp_path / plans.HEADER).write_text(plans.header())
    fields = "".join(
        f'printf("{name} %zu\\n", offsetof(struct tempi_plan, {name}));'
        for _, name, _ in plans.FIELDS
    )
    (tmp_path / "probe.c").write_text(
        '#include <stddef.h>\n#include <stdio.h>\n#include "plan_gen.h"\n'
        f'int main(void) {{ {fields} printf("size %zu\\n", sizeof(struct tempi_plan));'
        " return sizeof(struct tempi_plan) != TEMPI_PLAN_SIZE; }\n"
    )
    subprocess.run(["cc", "-o", str(tmp_path / "probe"), str(tmp_path / "probe.c")], check=True)
    out = subprocess.run([str(tmp_path / "probe")], capture_output=True, text=True, check=True)
    seen = dict(line.split() for line in out.stdout.splitlines())
    for _, name, _ in plans.FIELDS:
        assert int(seen[name]) == getattr(plans.Plan, name).offset, name
    assert int(seen["size"]) == ctypes.sizeof(plans.Plan)
