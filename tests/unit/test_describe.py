"""Canonical forms: many constructions of one layout give one descriptor; typemap order is
kept; the cache follows frees."""

from __future__ import annotations

import pytest
from mpi4py import MPI

import tempi
from tempi.datatype import cache


def test_named():
    assert repr(tempi.describe(MPI.DOUBLE)) == (
        "StridedBlock(start=0, block=8, counts=(), strides=(), size=8, lb=0, extent=8)"
    )


def test_one_layout_many_constructions(commit):
    column = MPI.DOUBLE.Create_contiguous(2)
    ways = [
        MPI.DOUBLE.Create_vector(3, 2, 5),
        MPI.DOUBLE.Create_hvector(3, 2, 40),
        MPI.DOUBLE.Create_indexed([2, 2, 2], [0, 5, 10]),
        MPI.DOUBLE.Create_indexed_block(2, [0, 5, 10]),
        MPI.DOUBLE.Create_hindexed([1, 1, 2, 1, 1], [0, 8, 40, 80, 88]),
        MPI.Datatype.Create_struct([2, 1, 1, 2], [0, 40, 48, 80], [MPI.DOUBLE] * 4),
        column.Create_hvector(3, 1, 40),
        MPI.DOUBLE.Create_subarray([3, 5], [3, 2], [0, 0]).Create_resized(0, 96),
    ]
    column.Free()
    descs = {repr(tempi.describe(commit(w))).split(", size=")[0] for w in ways}
    assert descs == {"StridedBlock(start=0, block=16, counts=(3,), strides=(40,)"}


def test_halo_face_is_two_level(commit):
    face = commit(MPI.BYTE.Create_subarray([512, 512, 512], [512, 510, 32], [0, 1, 8]))
    d = tempi.describe(face)
    assert (d.start, d.block, d.counts, d.strides) == (520, 32, (510, 512), (512, 262144))


def test_contiguous_folds(commit):
    d = tempi.describe(commit(MPI.INT.Create_vector(4, 3, 3)))
    assert (d.block, d.counts) == (48, ())


def test_irregular_is_blocklist(commit):
    d = tempi.describe(commit(MPI.INT.Create_indexed([1, 2, 1], [0, 3, 9])))
    assert isinstance(d, tempi.BlockList)
    assert d.offsets.tolist() == [0, 12, 36] and d.lengths.tolist() == [4, 8, 4]


def test_count_repeats_at_extent(commit):
    d = tempi.describe(commit(MPI.INT.Create_resized(0, 12))).repeat(5)
    assert (d.block, d.counts, d.strides) == (4, (5,), (12,))
    assert tempi.describe(MPI.INT).repeat(5).block == 20


def test_uncommitted_is_refused():
    dt = MPI.INT.Create_vector(2, 1, 2)
    try:
        with pytest.raises(tempi.NotCommitted):
            tempi.describe(dt)
        with pytest.raises(tempi.NotCommitted):
            tempi.pack(bytearray(64), 1, dt, bytearray(64))
    finally:
        dt.Free()


def test_free_evicts_and_handle_reuse_is_safe():
    first = MPI.INT.Create_vector(2, 1, 2).Commit()
    handle = MPI._handleof(first)
    tempi.describe(first)
    before = cache.cached_count()
    first.Free()
    assert cache.cached_count() == before - 1
    second = MPI.DOUBLE.Create_vector(3, 1, 4).Commit()
    try:
        d = tempi.describe(second)
        assert (d.block, d.counts, d.strides) == (8, (3,), (32,)), (handle, MPI._handleof(second))
    finally:
        second.Free()


def test_pack_size_matches_mpi(commit):
    dt = commit(MPI.DOUBLE.Create_vector(3, 2, 5))
    assert tempi.pack_size(7, dt) == 7 * 48
    assert tempi.pack_size(7, dt) <= dt.Pack_size(7, MPI.COMM_SELF)


def test_zero_count_touches_nothing(commit):
    for dt in (
        commit(MPI.INT.Create_indexed([1, 2], [0, 3])),
        commit(MPI.INT.Create_vector(2, 1, 3)),
    ):
        d = tempi.describe(dt).repeat(0)
        assert (d.nbytes, d.data_lb, d.data_ub) == (0, 0, 0)
