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

from tests.test_shim import HERE, _lines, _plain, _stats, _stats_by_rank, _tempi_run

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


RMA = HERE / "c" / "rma.c"
RMA_STAGED = 20
"""Per rank: under fences Put, Put (vector), Get, Get (vector), Accumulate, 2
Get_accumulate, Fetch_and_op, Compare_and_swap, Put from MPI_BOTTOM; Get under a lock;
Put then Win_flush, Get then Win_flush_local_all; Rget, Rput, Raccumulate,
Rget_accumulate; Get under post/start/complete/wait; Put and Get on a window of
MPI_Win_create."""
FILEIO = HERE / "c" / "fileio.c"
FILEIO_STAGED = 26
"""Per rank: write_at, write_at_all, iwrite_at, iwrite_at_all, write_at (vector) and their
reads; write, write_all, iwrite, iwrite_all and their reads; 2 write_ordered, 2
read_ordered; write_shared, iwrite_shared, read_shared, iread_shared."""
SPLIT = HERE / "c" / "fileio_split.c"
SPLIT_STAGED = 11
"""Per rank: write_at_all_begin (doubles, vector), read_at_all_begin (doubles, vector),
2 write_all_begin, 2 read_all_begin, write_ordered_begin, read_ordered_begin (each _end
on the copy its _begin kept), and the write_all_begin after the one refused for want of
memory (not counted: it never reached the MPI)."""
MORE = HERE / "c" / "staging_more.c"
MORE_STAGED = 14
"""Per rank: 3 Isendrecv (doubles, vector, MPI_BOTTOM), Isendrecv_replace, Reduce_local,
Pack_external, Unpack_external (a vector type), Scan_init, Exscan_init, Ibcast,
Ialltoallw and Iallgatherv from MPI_BOTTOM (absolute types), Precv_init, Psend_init."""
PARTITIONED = HERE / "c" / "partitioned.c"
PARTITIONED_STAGED = 4
"""Per rank: Precv_init and Psend_init of doubles and of a vector type."""


def _same_as_plain(program, source, nranks, staged, records, *args):
    plain = _plain(nranks, [program(source), *args])
    shim = _tempi_run(nranks, [program(source), *args], TEMPI_HOST="1")
    assert plain.returncode == 0 and shim.returncode == 0, shim.stdout + shim.stderr
    found = _lines(shim.stdout, "rank")
    assert found == _lines(plain.stdout, "rank"), shim.stdout
    assert len(found) == records * nranks, found
    assert staged_calls(shim.stderr) == [staged] * nranks, shim.stdout + shim.stderr
    assert staged_calls(plain.stderr) == []
    assert "ERROR" not in shim.stderr, shim.stderr
    return shim


@pytest.mark.parametrize("nranks", [1, 2, 3])
def test_one_sided_calls_are_staged_until_their_synchronisation(program, nranks):
    """Origin and result buffers through host copies kept on the window's list: a Get's
    result is only right if the copy-back happens at the fence, unlock, flush or complete
    that completes it (and a Put's copy must live until then)."""
    shim = _same_as_plain(program, RMA, nranks, RMA_STAGED, 22)
    # every staged buffer is a TEMPI_STATS message (the vector ones with gaps)
    for counters in _stats(shim.stdout):
        assert counters["staged"] == 3 and counters["staged_contiguous"] == 22, counters


@pytest.mark.parametrize("nranks", [1, 2, 3])
def test_file_io_is_staged(program, nranks, tmp_path):
    """Reads copied back when they (or their request) complete, writes from host copies."""
    shim = _same_as_plain(program, FILEIO, nranks, FILEIO_STAGED, 15, str(tmp_path / "f"))
    for counters in _stats(shim.stdout):
        assert counters["staged"] == 2 and counters["staged_contiguous"] == 24, counters


@pytest.mark.parametrize("nranks", [1, 2, 3])
def test_split_collective_file_io_is_staged_until_its_end(program, nranks, tmp_path):
    """A _begin's host copy is kept with the file handle; the _end completes on it and
    copies a read back (a read's checksum is only right if that copy-back happens)."""
    shim = _same_as_plain(program, SPLIT, nranks, SPLIT_STAGED, 8, str(tmp_path / "f"))
    for counters in _stats(shim.stdout):  # the vector ones have gaps
        assert counters["staged"] == 2 and counters["staged_contiguous"] == 9, counters
    # a _begin whose kept node cannot be allocated (tempi_test_fail_split_nodes): MPI_ERR_NO_MEM
    # through the file's handler on every rank, no host copy left, the next one works
    nomem = sorted(re.findall(r"nomem\[(\d+)\] ([^\n]*)", shim.stderr))
    want = "handler 1 class MPI_ERR_NO_MEM live 0 then ok live 0"
    assert nomem == [(str(r), want) for r in range(nranks)], shim.stderr


@pytest.mark.parametrize("nranks", [1, 2, 3])
def test_isendrecv_reduce_local_and_mpi_bottom_are_staged(program, nranks):
    shim = _same_as_plain(program, MORE, nranks, MORE_STAGED, 18)
    for counters in _stats(shim.stdout):  # the vector and struct ones have gaps
        assert counters["staged"] == 7 and counters["staged_contiguous"] == 17, counters


@pytest.mark.parametrize("nranks", [1, 2, 3])
def test_partitioned_communication_is_staged(program, nranks):
    """MPI_Psend_init/MPI_Precv_init on a host copy: a send partition filled after
    MPI_Start is only right if MPI_Pready (_range, _list) copies it in; one printed when
    MPI_Parrived reports it only if MPI_Parrived copied it back; the one left to the
    completion call, and the vector type's gaps, only if MPI_Wait/MPI_Test copy back the
    rest; two rounds of MPI_Startall."""
    shim = _same_as_plain(program, PARTITIONED, nranks, PARTITIONED_STAGED, 10)
    for counters in _stats(shim.stdout):  # each request's buffer at each of its rounds
        assert counters["staged"] == 2 and counters["staged_contiguous"] == 4, counters


@pytest.fixture(scope="module")
def stand_in_driver(tmp_path_factory) -> dict[str, str]:
    """The environment of tests/fake_cuda's stand-in CUDA driver ("device" memory is
    mmap'd host memory that cuPointerGetAttribute calls device memory)."""
    from tests import fake_cuda

    where = tmp_path_factory.mktemp("fake_cuda")
    try:
        fake_cuda.build_driver(where)
    except RuntimeError as exc:
        pytest.skip(str(exc))
    return fake_cuda.environment(where)


@pytest.mark.parametrize("nranks", [2, 3])
def test_partitioned_device_buffers_are_staged_with_a_stand_in_driver(
    program, stand_in_driver, nranks
):
    """partitioned.c on "device" buffers of the stand-in driver, without TEMPI_HOST: the
    device path (the driver loaded after MPI_Init, before any type commit, so the init
    call must look for it) stages every request and gives the plain run's bytes."""
    plain = _plain(nranks, [program(PARTITIONED)])
    shim = _tempi_run(nranks, [program(PARTITIONED), "device"], **stand_in_driver)
    assert plain.returncode == 0 and shim.returncode == 0, shim.stdout + shim.stderr
    assert _lines(shim.stdout, "rank") == _lines(plain.stdout, "rank"), shim.stdout
    assert staged_calls(shim.stderr) == [PARTITIONED_STAGED] * nranks, shim.stderr


def test_staged_buffers_count_in_tempi_stats(program):
    """TEMPI_STATS counts every buffer the C path staged: staging.c's calls, and each
    MPI_Start of a staged persistent request."""
    shim = _tempi_run(2, [program(STAGING)], TEMPI_HOST="1")
    assert shim.returncode == 0, shim.stdout + shim.stderr
    for counters in _stats(shim.stdout):
        assert counters["staged"] + counters["staged_contiguous"] > STAGED_CALLS, counters
    plain_shim = _tempi_run(2, [program(STAGING)])
    for counters in _stats(plain_shim.stdout):
        assert counters["staged"] == counters["staged_contiguous"] == 0, counters


LATE_DRIVER = HERE / "c" / "late_driver.c"


@pytest.mark.parametrize("nranks", [1, 2, 3])
def test_a_driver_loaded_after_init_is_seen_at_the_first_call(program, stand_in_driver, nranks):
    """late_driver.c opens the stand-in libcuda.so.1 only after MPI_Init (as cudart_static
    at its first CUDA call, or `import cupy` after mpi4py), commits no type, and at once
    sends and receives "device" memory with MPI_DOUBLE: the shim's dlopen wrapper makes
    that first call look for the driver, so every buffer is staged (before, the memory-kind
    check looked only every 4096 calls and the device pointers went to the MPI as host
    memory), with the plain host run's bytes."""
    plain = _plain(nranks, [program(LATE_DRIVER)])
    shim = _tempi_run(nranks, [program(LATE_DRIVER), "device"], **stand_in_driver)
    assert plain.returncode == 0 and shim.returncode == 0, shim.stdout + shim.stderr
    assert _lines(shim.stdout, "rank") == _lines(plain.stdout, "rank"), shim.stdout
    assert len(_lines(shim.stdout, "rank")) == 2 * nranks
    # Sendrecv (its send and its receive), and the Send or Recv of the ranks with a partner
    partnered = [r < nranks - nranks % 2 for r in range(nranks)]
    assert sorted(staged_calls(shim.stderr)) == sorted(2 + p for p in partnered), shim.stderr
    counters = _stats(shim.stdout)
    assert sorted(c["staged_contiguous"] for c in counters) == sorted(2 + p for p in partnered)


@pytest.mark.parametrize("nranks", [1, 2])
def test_a_collective_on_device_memory_starts_tempi(program, stand_in_driver, nranks):
    """late_driver.c with "collective": its first MPI call after loading the driver is an
    MPI_Alltoallv of MPI_DOUBLE on "device" memory, with no type committed: the device
    buffer starts tempi, which takes the call (before, the call went to the MPI as it was,
    tempi not started), then the point-to-point calls are staged; the plain run's bytes."""
    plain = _plain(nranks, [program(LATE_DRIVER), "host", "collective"])
    shim = _tempi_run(nranks, [program(LATE_DRIVER), "device", "collective"], **stand_in_driver)
    assert plain.returncode == 0 and shim.returncode == 0, shim.stdout + shim.stderr
    assert _lines(shim.stdout, "rank") == _lines(plain.stdout, "rank"), shim.stdout
    assert len(_lines(shim.stdout, "rank")) == 3 * nranks
    for counters in _stats(shim.stdout):  # the Alltoallv's parts went through Python
        assert counters["in_python"] == 2 * nranks, counters


DECLINED_COLLECTIVE = HERE / "c" / "declined_collective.c"


@pytest.mark.parametrize("nranks", [2, 3])  # Open MPI 5's plain 1-rank Alltoallw reads garbage
def test_declined_v_and_w_collectives_on_device_memory_are_staged(program, stand_in_driver, nranks):
    """declined_collective.c's Alltoallw, Alltoallv, Allgatherv, Bcast and Allgather of
    a negative-extent type (which tempi cannot describe) on the stand-in driver's "device"
    memory: tempi takes them (device memory the MPI cannot read). The all-to-alls run as
    tempi's exchange, every part (the negative-extent sends, the MPI_DOUBLE receives) the
    MPI's typed message on a host copy of its span, without asking the other ranks; the
    rooted ones are declined and the entry point stages the system MPI's call instead of
    handing it the device pointers (before: MPI_ERR_INTERN from the all-to-alls, the others
    passed as they were); an Allgather with MPI_IN_PLACE, which tempi passes on, is staged
    too; the plain host run's bytes."""
    plain = _plain(nranks, [program(DECLINED_COLLECTIVE)])
    shim = _tempi_run(nranks, [program(DECLINED_COLLECTIVE), "device"], **stand_in_driver)
    assert plain.returncode == 0 and shim.returncode == 0, shim.stdout + shim.stderr
    assert _lines(shim.stdout, "rank") == _lines(plain.stdout, "rank"), shim.stdout
    assert len(_lines(shim.stdout, "rank")) == 6 * nranks
    # Allgatherv, Bcast, Allgather and the in-place Allgather staged as calls; the two
    # all-to-alls' parts one by one, a send and a receive with each rank
    parts = 2 * 2 * nranks
    assert staged_calls(shim.stderr) == [4 + parts] * nranks, shim.stderr
    for counters in _stats(shim.stdout):  # each call's send and receive spans (Bcast and
        assert counters["staged_contiguous"] == 6 + parts, counters  # MPI_IN_PLACE's: one)
    assert "ERROR" not in shim.stderr, shim.stderr


EXCHANGE = HERE / "c" / "exchange.c"


@pytest.mark.parametrize(("nranks", "declined_rank"), [(2, 1), (3, 0)])
def test_a_rank_declining_device_parts_exchanges_with_ranks_that_describe(
    program, stand_in_driver, nranks, declined_rank
):
    """exchange.c --declined-rank on the stand-in driver's "device" memory: the declining
    rank's parts of a type tempi cannot describe go through host copies of their spans as
    the MPI's typed messages (the MPI cannot read device memory), its peers pack theirs on
    the device path; no rank asks the others. The plain host run's bytes."""
    args = ["--rounds", "3", "--declined-rank", str(declined_rank)]
    plain = _plain(nranks, [program(EXCHANGE), *args])
    shim = _tempi_run(nranks, [program(EXCHANGE), "device", *args], **stand_in_driver)
    assert plain.returncode == 0 and shim.returncode == 0, shim.stdout + shim.stderr
    data = [r for r in _lines(shim.stdout, "rank") if " phase " not in r]
    assert data == _lines(plain.stdout, "rank")
    calls = {
        int(r.split()[1]): int(r.split()[4].split("=")[1])
        for r in _lines(shim.stdout, "rank")
        if " phase declined " in r
    }
    assert calls == {rank: 2 for rank in range(nranks)}, calls  # the first call Python's
    stats = _stats_by_rank(shim.stdout)
    for rank in range(nranks):  # the declining rank's parts with the others, each call
        copied = 2 * (nranks - 1) * 3 if rank == declined_rank else 0
        assert stats[rank]["staged_contiguous"] == copied, stats


def test_all_to_alls_on_intercommunicators_are_staged(program, stand_in_driver):
    """exchange.c --inter on the stand-in driver's "device" memory at 3 ranks: the
    intercommunicator's Alltoallv is the system MPI's, on host copies of the spans of its
    parts (the remote group's), never handed the device pointers: the plain run's bytes."""
    args = ["--rounds", "3", "--inter"]
    plain = _plain(3, [program(EXCHANGE), *args])
    shim = _tempi_run(3, [program(EXCHANGE), "device", *args], **stand_in_driver)
    assert plain.returncode == 0 and shim.returncode == 0, shim.stdout + shim.stderr
    data = [r for r in _lines(shim.stdout, "rank") if " phase " not in r]
    assert data == _lines(plain.stdout, "rank")
    for counters in _stats(shim.stdout):  # the send and the receive span of each call,
        assert counters["staged_contiguous"] == 6, counters  # copied as bytes
