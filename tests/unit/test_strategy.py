"""Strategy choice, TEMPI's aliases, staging pools, short-receive layouts."""

from __future__ import annotations

import numpy as np
import pytest
from mpi4py import MPI

import tempi
from tempi import config
from tempi.comm.pools import BufferPool, size_class
from tempi.comm.strategy import (
    choose_strategy,
    contiguous_strategy,
    datatype_strategy,
    host_strategy,
)
from tempi.datatype.descriptor import BlockList, StridedBlock, blocks, prefix, prefix_parts
from tempi.pack.buffers import as_buffer

VECTOR = StridedBlock(0, 8, (64,), (512,), 512, 0, 32768)


def test_auto_asks_the_model(tempi_env, tmp_path):
    """Which strategy wins is the model's business (tests/unit/test_model.py); here only
    that auto answers with an allowed one, also without any profile."""
    from tempi.model import choose

    tempi_env(TEMPI_CACHE_DIR=str(tmp_path))
    choose.reset()
    try:
        assert choose_strategy(VECTOR, 512, cuda_aware=True) in ("device", "oneshot", "staged")
        assert choose_strategy(VECTOR, 512, cuda_aware=False) in ("oneshot", "staged")
        assert datatype_strategy(VECTOR, 512, cuda_aware=False, emulated=False) != "device"
    finally:
        choose.reset()


def test_forced_strategies(tempi_env):
    for name in ("oneshot", "staged"):
        tempi_env(TEMPI_DATATYPE=name)
        assert datatype_strategy(VECTOR, 512, cuda_aware=False, emulated=False) == name


def test_device_refused_without_cuda_aware_mpi(tempi_env):
    tempi_env(TEMPI_DATATYPE="device")
    with pytest.raises(tempi.ConfigError, match="CUDA-aware"):
        datatype_strategy(VECTOR, 512, cuda_aware=False, emulated=False)
    assert datatype_strategy(VECTOR, 512, cuda_aware=True, emulated=False) == "device"
    assert datatype_strategy(VECTOR, 512, cuda_aware=False, emulated=True) == "device"


def test_contiguous(tempi_env):
    tempi_env()
    assert contiguous_strategy(cuda_aware=True) == "direct"
    assert contiguous_strategy(cuda_aware=False) == "staged"
    tempi_env(TEMPI_CONTIGUOUS="staged")
    assert contiguous_strategy(cuda_aware=True) == "staged"


def test_tempi_aliases():
    assert config.read({"TEMPI_DATATYPE_STAGED": ""})["TEMPI_DATATYPE"] == "staged"
    assert config.read({"TEMPI_CONTIGUOUS_STAGED": "1"})["TEMPI_CONTIGUOUS"] == "staged"
    values, problems = config.parse({"TEMPI_DATATYPE_STAGED": "", "TEMPI_DATATYPE_ONESHOT": ""})
    assert values["TEMPI_DATATYPE"] == "auto"
    assert [p.level for p in problems] == ["warning"] and "disagree" in problems[0].message
    values, problems = config.parse({"TEMPI_DATATYPE": "device", "TEMPI_DATATYPE_STAGED": ""})
    assert values["TEMPI_DATATYPE"] == "device"
    assert len(problems) == 1 and "keeping TEMPI_DATATYPE" in problems[0].message


def test_pool_reuses_and_bounds():
    made, freed = [], []

    def allocate(n):
        made.append(n)
        return as_buffer(np.empty(n, np.uint8), writable=True)

    pool = BufferPool(allocate, freed.append, limit_b=1024)
    a = pool.get(300)
    assert a.nbytes == size_class(300) == 512
    pool.put(a)
    assert pool.get(400) is a and made == [512]
    pool.put(a)
    pool.put(allocate(1024))  # 512 cached + 1024 would pass the 1024-byte limit: freed
    assert len(freed) == 1 and pool.cached_b == 512
    pool.release()
    assert len(freed) == 2 and pool.cached_b == 0


def test_prefix_keeps_the_first_bytes():
    offsets, lengths = blocks(VECTOR)
    assert offsets.tolist() == list(range(0, 64 * 512, 512)) and set(lengths.tolist()) == {8}
    short = prefix(VECTOR, 8 * 3 + 5)
    assert short.offsets.tolist() == [0, 512, 1024, 1536]
    assert short.lengths.tolist() == [8, 8, 8, 5] and short.nbytes == 29
    assert prefix(VECTOR, 512) is VECTOR
    assert prefix(VECTOR, 0).nbytes == 0


def test_prefix_of_a_type_matches_fewer_elements():
    dt = MPI.INT.Create_indexed([2, 1], [0, 5]).Commit()
    try:
        desc = tempi.describe(dt)
        short = prefix(desc.repeat(5), 3 * dt.Get_size())
        full = desc.repeat(3)
        assert np.array_equal(np.concatenate(blocks(short)), np.concatenate(blocks(full)))
    finally:
        dt.Free()


def _bytes_of(parts) -> np.ndarray:
    """Typed offset of every packed byte of ``parts``, in packed order."""
    found, at = [], 0
    for desc, skip, shift in parts:
        assert skip == at  # the parts follow each other in the packed stream
        offsets, lengths = blocks(desc)
        found += [o + shift + np.arange(n) for o, n in zip(offsets, lengths)]
        at += desc.nbytes
    return np.concatenate(found) if found else np.zeros(0, np.int64)


@pytest.mark.parametrize("seed", range(40))
def test_prefix_parts_are_the_first_bytes(seed):
    """Every prefix of a random multi-level layout, as parts, names exactly the first
    bytes of the flattened layout, in order."""
    rng = np.random.default_rng(seed)
    levels = int(rng.integers(1, 4))
    counts = tuple(int(c) for c in rng.integers(2, 5, levels))
    strides = tuple(int(s) for s in rng.integers(-64, 64, levels))
    if seed % 2:
        desc = StridedBlock(int(rng.integers(0, 8)), int(rng.integers(1, 6)), counts, strides)
    else:
        lengths = rng.integers(1, 5, 3)
        desc = BlockList(np.array([0, 9, 20]), lengths, counts, strides)
    everything = _bytes_of([(desc, 0, 0)])
    for nbytes in range(desc.nbytes + 1):
        assert np.array_equal(_bytes_of(prefix_parts(desc, nbytes)), everything[:nbytes])


def test_prefix_parts_of_a_huge_count_stay_small():
    """A receive of 2^31 elements that gets 5: a few parts, never 2^31 blocks."""
    desc = StridedBlock(0, 1, (2, 2**31), (2, 4))
    parts = prefix_parts(desc, 10)
    assert len(parts) <= 3 and sum(d.nbytes for d, _, _ in parts) == 10


def test_host_strategy_system_or_packed(tempi_env, tmp_path):
    """Host data: 'system' where the model's host tables say the MPI's typed path is
    faster, else a packing strategy; a forced TEMPI_DATATYPE always packs."""
    from tempi.model import choose, defaults, host
    from tempi.model.profile import Profile
    from tempi.model.table import Table

    def with_host(typed_s: float, packed_s: float) -> Profile:
        tables = dict(defaults.profile().tables)
        for where in ("local", "remote"):
            typed, packed = host.tables_for(where)
            tables[typed] = Table(("bytes",), ((64, 65536),), np.array([typed_s] * 2))
            tables[packed] = Table(("bytes",), ((64, 65536),), np.array([packed_s] * 2))
        return Profile(tables, {}, "test")

    tempi_env(TEMPI_CACHE_DIR=str(tmp_path))
    try:
        choose.use(with_host(1e-6, 2e-6))
        assert host_strategy(VECTOR, 512) == "system"
        tempi_env(TEMPI_DATATYPE="oneshot")
        assert host_strategy(VECTOR, 512) == "oneshot"
        tempi_env(TEMPI_DATATYPE="auto")
        choose.use(with_host(2e-6, 1e-6))
        assert host_strategy(VECTOR, 512) in ("oneshot", "staged", "device")
    finally:
        choose.reset()
