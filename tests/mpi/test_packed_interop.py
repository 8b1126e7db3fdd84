"""Packed bytes cross ranks as MPI_PACKED and are read with the user's datatype (and the
reverse): tempi's wire format is MPI's own. Size-agnostic: each rank talks to its ring
neighbours."""

from __future__ import annotations

import numpy as np
import pytest
from mpi4py import MPI

import tempi

TYPES = {
    "vector": lambda: MPI.DOUBLE.Create_vector(16, 3, 7),
    "subarray": lambda: MPI.INT.Create_subarray([6, 8, 10], [4, 1, 5], [1, 3, 2]),
    "struct": lambda: MPI.Datatype.Create_struct([2, 1], [0, 40], [MPI.SHORT, MPI.DOUBLE_INT]),
    "indexed": lambda: MPI.FLOAT.Create_indexed([3, 1, 2], [9, 0, 4]),
}
COUNT = 3


@pytest.fixture(params=sorted(TYPES))
def datatype(request):
    dt = TYPES[request.param]().Commit()
    yield dt
    dt.Free()


def _data(datatype, rank):
    lb, extent = datatype.Get_extent()
    nbytes = lb + extent * COUNT
    return np.random.default_rng(rank).integers(0, 256, nbytes, dtype=np.uint8)


def _neighbours(comm):
    return (comm.rank + 1) % comm.size, (comm.rank - 1) % comm.size


@pytest.mark.mpi(min_size=1)
def test_tempi_packed_received_with_user_type(datatype):
    comm = MPI.COMM_WORLD
    dest, source = _neighbours(comm)
    mine = _data(datatype, comm.rank)
    packed = np.empty(tempi.pack_size(COUNT, datatype), np.uint8)
    tempi.pack(mine, COUNT, datatype, packed)
    got = np.zeros_like(_data(datatype, source))
    comm.Sendrecv([packed, MPI.PACKED], dest, 7, [got, COUNT, datatype], source, 7)
    expected = np.zeros_like(got)
    datatype.Unpack(packed_of(datatype, _data(datatype, source)), 0, expected, MPI.COMM_SELF)
    assert np.array_equal(got, expected)


@pytest.mark.mpi(min_size=1)
def test_plain_sender_unpacked_by_tempi(datatype):
    comm = MPI.COMM_WORLD
    dest, source = _neighbours(comm)
    mine = _data(datatype, comm.rank)
    packed = np.empty(tempi.pack_size(COUNT, datatype), np.uint8)
    status = MPI.Status()
    comm.Sendrecv([mine, COUNT, datatype], dest, 8, [packed, MPI.PACKED], source, 8, status)
    assert status.Get_count(MPI.PACKED) == packed.size
    assert status.Get_count(datatype) == COUNT
    theirs = _data(datatype, source)
    ours = np.zeros_like(theirs)
    tempi.unpack(packed, 0, ours, COUNT, datatype)
    expected = np.zeros_like(theirs)
    datatype.Unpack(packed_of(datatype, theirs), 0, expected, MPI.COMM_SELF)
    assert np.array_equal(ours, expected)


def packed_of(datatype, data):
    """MPI's own packing of COUNT elements of ``data`` (the reference)."""
    out = bytearray(datatype.Get_size() * COUNT)
    lb, extent = datatype.Get_extent()
    datatype.Pack(data[: lb + extent * COUNT], out, 0, MPI.COMM_SELF)
    return out
