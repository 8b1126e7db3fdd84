"""The cases TEMPI gets wrong (DESIGN.md section 5), each against MPI_Pack."""

from __future__ import annotations

import pytest
from mpi4py import MPI

import tempi
from tests.checks import check_pack_unpack


def test_subarray_size1_dimension_keeps_its_offset(commit, rng):
    dt = commit(MPI.FLOAT.Create_subarray([8, 8, 8], [1, 4, 4], [5, 2, 2]))
    desc = tempi.describe(dt)
    assert desc.start == (5 * 64 + 2 * 8 + 2) * 4
    check_pack_unpack(dt, 1, rng)
    check_pack_unpack(dt, 2, rng)


def test_hvector_by_columns_keeps_typemap_order(commit, rng):
    inner = MPI.BYTE.Create_hvector(4, 2, 100)
    dt = commit(inner.Create_hvector(3, 1, 10))
    inner.Free()
    desc = tempi.describe(dt)
    assert (desc.counts, desc.strides) == ((4, 3), (100, 10))
    check_pack_unpack(dt, 2, rng)


@pytest.mark.parametrize("count", [2, 7])
def test_padded_1d_types_repeat_at_extent(commit, count, rng):
    check_pack_unpack(commit(MPI.INT.Create_resized(0, 12)), count, rng)
    check_pack_unpack(commit(MPI.INT.Create_subarray([5], [2], [1])), count, rng)


def test_resized_negative_lb(commit, rng):
    dt = commit(MPI.DOUBLE.Create_resized(-8, 24))
    check_pack_unpack(dt, 3, rng)


def test_vector_8byte_blocks_at_12byte_stride(commit, rng):
    dt = commit(MPI.BYTE.Create_hvector(6, 8, 12))
    assert tempi.describe(dt).alignment() == 4
    check_pack_unpack(dt, 2, rng)


def test_struct_of_vectors(commit, rng):
    a, b = MPI.DOUBLE.Create_vector(4, 1, 3), MPI.SHORT.Create_vector(3, 2, 4)
    dt = commit(MPI.Datatype.Create_struct([1, 1], [0, 128], [a, b]))
    a.Free()
    b.Free()
    check_pack_unpack(dt, 3, rng)


def test_array_of_double_int(commit, rng):
    check_pack_unpack(commit(MPI.DOUBLE_INT.Create_contiguous(5)), 2, rng)
    check_pack_unpack(MPI.DOUBLE_INT, 7, rng)
