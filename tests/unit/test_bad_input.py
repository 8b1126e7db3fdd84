"""Bad input gets a clear exception and nothing is written."""

from __future__ import annotations

import numpy as np
import pytest
from mpi4py import MPI

import tempi


@pytest.fixture
def vector():
    dt = MPI.INT.Create_vector(4, 1, 3).Commit()
    yield dt
    dt.Free()


def test_outbuf_too_small(vector):
    data = np.arange(16, dtype=np.int32)
    out = np.full(15, 7, np.uint8)
    with pytest.raises(tempi.InvalidBuffer, match="TRUNCATE"):
        tempi.pack(data, 1, vector, out)
    assert np.all(out == 7)
    with pytest.raises(tempi.InvalidBuffer):
        tempi.pack(data, 1, vector, np.zeros(32, np.uint8), position=17)


def test_type_outside_inbuf(vector):
    out = np.full(64, 7, np.uint8)
    with pytest.raises(tempi.InvalidBuffer, match="touches bytes"):
        tempi.pack(np.arange(9, dtype=np.int32), 1, vector, out)
    with pytest.raises(tempi.InvalidBuffer):
        tempi.pack(np.arange(16, dtype=np.int32), 1, vector, out, origin=-4)
    with pytest.raises(tempi.InvalidBuffer):
        tempi.unpack(out, 0, np.zeros(3, np.int32), 1, vector)
    assert np.all(out == 7)


def test_negative_count_and_readonly(vector):
    with pytest.raises(ValueError):
        tempi.pack(np.zeros(16, np.int32), -1, vector, np.zeros(64, np.uint8))
    with pytest.raises(tempi.InvalidBuffer, match="read-only"):
        tempi.pack(np.zeros(16, np.int32), 1, vector, bytes(64))


def test_not_a_buffer(vector):
    with pytest.raises(tempi.InvalidBuffer):
        tempi.pack([1, 2, 3], 1, vector, np.zeros(64, np.uint8))


def test_noncontiguous_host_buffer(vector):
    with pytest.raises(tempi.InvalidBuffer, match="contiguous"):
        tempi.pack(np.zeros((16, 2), np.int32)[:, 0], 1, vector, np.zeros(64, np.uint8))


def test_zero_count_writes_nothing(vector):
    out = np.full(4, 7, np.uint8)
    assert tempi.pack(np.zeros(1, np.int32), 0, vector, out, 2) == 2
    assert np.all(out == 7)
