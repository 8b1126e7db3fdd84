"""The interposer with device buffers: the C test programs allocate with cuMemAlloc
("device" argument, native/devmem.h) and run under ``tempi run`` on an MPI that is not
CUDA-aware; their output must equal the same programs' on host buffers without the shim,
and TEMPI_STATS must show that tempi moved every message on a device path."""

from __future__ import annotations

import pytest

from tests.test_shim import (
    BOTTOM,
    BOTTOM_RECORDS,
    COLLECTIVES,
    P2P,
    PERSISTENT,
    PERSISTENT_MESSAGES,
    PERSISTENT_PLAIN,
    ROOTED,
    ROUNDTRIP,
    _lines,
    _plain,
    _stats,
    _stats_by_rank,
    _tempi_run,
    rooted_messages,
)

DEVICE_PATHS = ("device_direct", "oneshot", "staged", "staged_contiguous")


def _device_messages(counters: dict[str, int]) -> int:
    return sum(counters.get(path, 0) for path in DEVICE_PATHS)


@pytest.mark.parametrize("nranks", [2, 4])
@pytest.mark.parametrize("strategy", ["auto", "oneshot", "staged"])
def test_point_to_point_on_device_buffers(program, nranks, strategy):
    plain = _plain(nranks, [program(P2P)])
    shim = _tempi_run(nranks, [program(P2P), "device"], TEMPI_DATATYPE=strategy)
    assert plain.returncode == 0 and shim.returncode == 0, shim.stdout + shim.stderr
    records = _lines(shim.stdout, "rank")
    assert records == _lines(plain.stdout, "rank")
    assert not any("WRONG" in r for r in records), records
    stats = _stats(shim.stdout)
    assert len(stats) == nranks, shim.stdout + shim.stderr
    for counters in stats:
        # the plain messages (mixed Waitall, the handle check) are the system MPI's
        assert _device_messages(counters) == 36 and counters["passed_through"] == 6, counters
        if strategy != "auto":
            assert counters[strategy] == 36, counters


@pytest.mark.parametrize("nranks", [2, 3])
def test_persistent_requests_on_device_buffers(program, nranks):
    plain = _plain(nranks, [program(PERSISTENT)])
    shim = _tempi_run(nranks, [program(PERSISTENT), "device"])
    assert plain.returncode == 0 and shim.returncode == 0, shim.stdout + shim.stderr
    records = _lines(shim.stdout, "rank")
    assert records == _lines(plain.stdout, "rank")
    assert "WRONG" not in shim.stdout, records
    stats = _stats(shim.stdout)
    assert len(stats) == nranks, shim.stdout + shim.stderr
    for counters in stats:
        assert _device_messages(counters) == PERSISTENT_MESSAGES, counters
        assert counters["passed_through"] == PERSISTENT_PLAIN, counters


@pytest.mark.parametrize("nranks", [2, 3])
def test_rooted_collectives_on_device_buffers(program, nranks):
    """On an MPI that is not CUDA-aware the plain-double Gather and Scatter of the non-root
    ranks are device buffers too: tempi stages them, so every rank's parts are tempi's."""
    plain = _plain(nranks, [program(ROOTED)])
    shim = _tempi_run(nranks, [program(ROOTED), "device"])
    assert plain.returncode == 0 and shim.returncode == 0, shim.stdout + shim.stderr
    assert _lines(shim.stdout, "rank") == _lines(plain.stdout, "rank")
    found = _stats_by_rank(shim.stdout)
    assert sorted(found) == list(range(nranks)), shim.stdout + shim.stderr
    for rank, counters in found.items():
        messages, passed = rooted_messages(rank, nranks)
        assert _device_messages(counters) == messages + passed, counters


@pytest.mark.parametrize("nranks", [1, 2, 4])
def test_collectives_on_device_buffers(program, nranks):
    plain = _plain(nranks, [program(COLLECTIVES)])
    shim = _tempi_run(nranks, [program(COLLECTIVES), "device"])
    assert plain.returncode == 0 and shim.returncode == 0, shim.stdout + shim.stderr
    assert _lines(shim.stdout, "rank") == _lines(plain.stdout, "rank")
    stats = _stats(shim.stdout)
    assert len(stats) == nranks, shim.stdout + shim.stderr
    for counters in stats:
        assert _device_messages(counters) == 36 + 4 * nranks, counters
        assert counters["passed_through"] == 0, counters


def test_pack_roundtrip_on_device_buffers(program):
    plain = _plain(2, [program(ROUNDTRIP)])
    shim = _tempi_run(2, [program(ROUNDTRIP), "device"])
    assert plain.returncode == 0 and shim.returncode == 0, shim.stdout + shim.stderr
    assert _lines(shim.stdout, "rank") == _lines(plain.stdout, "rank")
    stats = _stats(shim.stdout)
    assert len(stats) == 2, shim.stdout + shim.stderr
    for counters in stats:
        assert counters["packed_device"] == 12 + 12, counters
        assert counters["passed_through"] == 0, counters


@pytest.mark.parametrize("nranks", [1, 2])
def test_mpi_bottom_on_device_buffers(program, nranks):
    """Absolute addresses of device memory with MPI_BOTTOM: tempi must tell the memory by
    the first byte the type touches, not by the null buffer pointer."""
    plain = _plain(nranks, [program(BOTTOM)])
    shim = _tempi_run(nranks, [program(BOTTOM), "device"])
    assert plain.returncode == 0 and shim.returncode == 0, shim.stdout + shim.stderr
    records = _lines(shim.stdout, "rank")
    assert records == _lines(plain.stdout, "rank")
    assert len(records) == BOTTOM_RECORDS * nranks, records
    assert "ERROR" not in shim.stderr, shim.stderr


@pytest.mark.parametrize("nranks", [2, 3])
def test_staged_calls_on_device_buffers(program, nranks):
    """Alltoall, the reductions, Mrecv and a Type_dup'd type on cuMemAlloc'd buffers, on an
    MPI that is not CUDA-aware: staged through pinned host memory (native/stage.c), the
    results those of the same program on host buffers without the shim (not yet run on a
    GPU machine)."""
    from tests.test_shim_staging import STAGED_CALLS, STAGING, staged_calls

    plain = _plain(nranks, [program(STAGING)])
    shim = _tempi_run(nranks, [program(STAGING), "device"])
    assert plain.returncode == 0 and shim.returncode == 0, shim.stdout + shim.stderr
    assert _lines(shim.stdout, "rank") == _lines(plain.stdout, "rank")
    assert staged_calls(shim.stderr) == [STAGED_CALLS] * nranks, shim.stderr
