"""The interposer with device buffers: the C test programs allocate with cuMemAlloc
("device" argument, native/devmem.h) and run under ``tempi run`` on an MPI that is not
CUDA-aware; their output must equal the same programs' on host buffers without the shim,
and TEMPI_STATS must show that tempi moved every message on a device path."""

from __future__ import annotations

import pytest

from tests.test_shim import (
    COLLECTIVES,
    P2P,
    PERSISTENT,
    PERSISTENT_MESSAGES,
    PERSISTENT_PLAIN,
    ROOTED,
    ROUNDTRIP,
    _compile,
    _lines,
    _plain,
    _records,
    _stats,
    _tempi_run,
    rooted_messages,
)

DEVICE_PATHS = ("device", "oneshot", "staged")


@pytest.fixture(scope="module")
def programs(tmp_path_factory) -> dict[str, str]:
    sources = (P2P, COLLECTIVES, ROUNDTRIP, PERSISTENT, ROOTED)
    return {s.stem: _compile(s, tmp_path_factory) for s in sources}


def _device_messages(counters: dict[str, int]) -> int:
    return sum(counters.get(path, 0) for path in DEVICE_PATHS)


@pytest.mark.parametrize("nranks", [2, 4])
@pytest.mark.parametrize("strategy", ["auto", "oneshot", "staged"])
def test_point_to_point_on_device_buffers(programs, nranks, strategy):
    plain = _plain(nranks, [programs["p2p"]])
    shim = _tempi_run(nranks, [programs["p2p"], "device"], TEMPI_DATATYPE=strategy)
    assert plain.returncode == 0 and shim.returncode == 0, shim.stdout + shim.stderr
    records = _lines(shim.stdout, "rank")
    assert records == _lines(plain.stdout, "rank")
    assert not any("WRONG" in r for r in records), records
    stats = _stats(shim.stdout)
    assert len(stats) == nranks, shim.stdout + shim.stderr
    for counters in stats:
        # the plain messages (mixed Waitall, the handle check) are the system MPI's
        assert _device_messages(counters) == 36 and counters["passthrough"] == 6, counters
        if strategy != "auto":
            assert counters[strategy] == 36, counters


@pytest.mark.parametrize("nranks", [2, 3])
def test_persistent_requests_on_device_buffers(programs, nranks):
    plain = _plain(nranks, [programs["persistent"]])
    shim = _tempi_run(nranks, [programs["persistent"], "device"])
    assert plain.returncode == 0 and shim.returncode == 0, shim.stdout + shim.stderr
    records = _lines(shim.stdout, "rank")
    assert records == _lines(plain.stdout, "rank")
    assert "WRONG" not in shim.stdout, records
    stats = _stats(shim.stdout)
    assert len(stats) == nranks, shim.stdout + shim.stderr
    for counters in stats:
        assert _device_messages(counters) == PERSISTENT_MESSAGES, counters
        assert counters["passthrough"] == PERSISTENT_PLAIN, counters


@pytest.mark.parametrize("nranks", [2, 3])
def test_rooted_collectives_on_device_buffers(programs, nranks):
    """On an MPI that is not CUDA-aware the plain-double Gather and Scatter of the non-root
    ranks are device buffers too: tempi stages them, so every rank's parts are tempi's."""
    plain = _plain(nranks, [programs["rooted"]])
    shim = _tempi_run(nranks, [programs["rooted"], "device"])
    assert plain.returncode == 0 and shim.returncode == 0, shim.stdout + shim.stderr
    assert _lines(shim.stdout, "rank") == _lines(plain.stdout, "rank")
    found = {
        int(r.split("[")[1].split("]")[0]): c
        for r, c in zip(_records(shim.stdout, "tempi["), _stats(shim.stdout))
    }
    assert sorted(found) == list(range(nranks)), shim.stdout + shim.stderr
    for rank, counters in found.items():
        messages, passed = rooted_messages(rank, nranks)
        assert _device_messages(counters) == messages + passed, counters


@pytest.mark.parametrize("nranks", [1, 2, 4])
def test_collectives_on_device_buffers(programs, nranks):
    plain = _plain(nranks, [programs["collectives"]])
    shim = _tempi_run(nranks, [programs["collectives"], "device"])
    assert plain.returncode == 0 and shim.returncode == 0, shim.stdout + shim.stderr
    assert _lines(shim.stdout, "rank") == _lines(plain.stdout, "rank")
    stats = _stats(shim.stdout)
    assert len(stats) == nranks, shim.stdout + shim.stderr
    for counters in stats:
        assert _device_messages(counters) == 36 + 4 * nranks, counters
        assert counters["passthrough"] == 0, counters


def test_pack_roundtrip_on_device_buffers(programs):
    plain = _plain(2, [programs["pack_roundtrip"]])
    shim = _tempi_run(2, [programs["pack_roundtrip"], "device"])
    assert plain.returncode == 0 and shim.returncode == 0, shim.stdout + shim.stderr
    assert _lines(shim.stdout, "rank") == _lines(plain.stdout, "rank")
    stats = _stats(shim.stdout)
    assert len(stats) == 2, shim.stdout + shim.stderr
    for counters in stats:
        assert counters["device_pack"] == 12 and counters["device_unpack"] == 12, counters
        assert counters["passthrough"] == 0, counters
