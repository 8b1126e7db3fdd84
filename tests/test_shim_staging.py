"""Device staging for the calls tempi does not otherwise take (issue 13, item 3):
tests/c/staging.c (MPI_Alltoall, Reduce, Allreduce, Scan, Exscan, Reduce_scatter(_block),
MPI_Mrecv, a message of an MPI_Type_dup of an accelerated type, the non-blocking forms
and their v and w forms completed by every kind of completion call, persistent
Allreduce_init, Bcast_init and Alltoallv_init, the neighbourhood collectives)
plainly and under the
shim with TEMPI_HOST=1, which sends host buffers through the same staging path device
buffers take when the MPI is not CUDA-aware: identical results, and every one of those
calls staged (the shim's tempi_staged_calls). tests/gpu/test_shim_device.py runs it on
device buffers."""

from __future__ import annotations

import re

import pytest

from tests.test_shim import HERE, _lines, _plain, _stats, _tempi_run

STAGING = HERE / "c" / "staging.c"
STAGED_CALLS = 35
"""Per rank: 2 Alltoall, 2 Reduce, Allreduce, Scan, Exscan, 2 Reduce_scatter, Mrecv;
Iallreduce, Ibcast, Ialltoall, Iallgather, Ireduce, Iscan, Ireduce_scatter_block, Imrecv;
Allreduce_init, Bcast_init; Ialltoallv, Ialltoallw, Igatherv, Iscatterv, Iallgatherv,
Igather, Iscatter, Ireduce_scatter, Alltoallv_init; Neighbor_allgather, Neighbor_alltoall,
Neighbor_allgatherv, Ineighbor_alltoallv, Ineighbor_alltoallw, Neighbor_allgather_init."""


def staged_calls(output: str) -> list[int]:
    return [int(n) for n in re.findall(r"staged \d+: (\d+)", output)]


@pytest.mark.parametrize("nranks", [1, 2, 3])
def test_staged_calls_give_the_system_mpi_results(program, nranks):
    plain = _plain(nranks, [program(STAGING)])
    shim = _tempi_run(nranks, [program(STAGING)], TEMPI_HOST="1")
    assert plain.returncode == 0 and shim.returncode == 0, shim.stdout + shim.stderr
    records = _lines(shim.stdout, "rank")
    assert records == _lines(plain.stdout, "rank")
    assert len(records) == 39 * nranks + 2, records  # rank 0: no Exscan, 3 rooted results
    assert staged_calls(shim.stderr) == [STAGED_CALLS] * nranks, shim.stdout
    assert staged_calls(plain.stderr) == []
    # the Type_dup copy of an accelerated type is tempi's (its Sendrecv packed, 2 messages)
    assert all(c["packed_host"] == 2 for c in _stats(shim.stdout)), shim.stdout


def test_nothing_is_staged_without_tempi_host(program):
    shim = _tempi_run(2, [program(STAGING)])
    assert shim.returncode == 0, shim.stdout + shim.stderr
    assert staged_calls(shim.stderr) == [0, 0], shim.stdout
