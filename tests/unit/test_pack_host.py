"""Host pack/unpack of every combiner, alone and nested, against the system MPI_Pack."""

from __future__ import annotations

import pytest
from mpi4py import MPI

from tests.checks import check_pack_unpack

COUNTS = (1, 2, 7)


def _vector():
    return MPI.DOUBLE.Create_vector(3, 2, 5)


CASES = {
    "named-double": lambda: MPI.DOUBLE.Dup(),
    "contiguous": lambda: MPI.INT.Create_contiguous(5),
    "dup-vector": lambda: _vector().Dup(),
    "vector": _vector,
    "vector-negative-stride": lambda: MPI.INT.Create_vector(4, 1, -3),
    "hvector": lambda: MPI.SHORT.Create_hvector(3, 2, 10),
    "indexed": lambda: MPI.INT.Create_indexed([2, 0, 3, 1], [5, 1, 0, -2]),
    "hindexed": lambda: MPI.FLOAT.Create_hindexed([1, 2, 1], [12, 0, -8]),
    "indexed_block": lambda: MPI.DOUBLE.Create_indexed_block(2, [4, 0, 9]),
    "hindexed_block": lambda: MPI.INT.Create_hindexed_block(3, [0, 40, 16]),
    "struct": lambda: MPI.Datatype.Create_struct(
        [1, 2, 1], [0, 8, 24], [MPI.CHAR, MPI.INT, MPI.DOUBLE]
    ),
    "subarray-c": lambda: MPI.INT.Create_subarray([4, 5, 6], [2, 3, 2], [1, 2, 3]),
    "subarray-fortran": lambda: MPI.INT.Create_subarray(
        [4, 5, 6], [2, 3, 2], [1, 2, 3], order=MPI.ORDER_FORTRAN
    ),
    "resized": lambda: MPI.INT.Create_resized(0, 12),
    "resized-negative-lb": lambda: MPI.INT.Create_resized(-8, 16),
    "resized-negative-extent": lambda: MPI.DOUBLE.Create_contiguous(2).Create_resized(0, -24),
    "vector-of-struct": lambda: MPI.Datatype.Create_struct(
        [1, 1], [0, 12], [MPI.SHORT, MPI.FLOAT]
    ).Create_vector(3, 2, 3),
    "struct-of-vectors": lambda: MPI.Datatype.Create_struct(
        [1, 2], [0, 200], [MPI.DOUBLE.Create_vector(3, 1, 4), MPI.INT.Create_vector(2, 2, 3)]
    ),
    "indexed-of-subarray": lambda: MPI.SHORT.Create_subarray([4, 4], [2, 2], [1, 1]).Create_indexed(
        [1, 2], [3, 0]
    ),
    "hvector-of-hindexed": lambda: MPI.BYTE.Create_hindexed([3, 1], [0, 7]).Create_hvector(
        4, 2, -30
    ),
    "zero-count": lambda: MPI.INT.Create_vector(0, 1, 3),
    "zero-blocks": lambda: MPI.INT.Create_indexed([0, 2, 0], [1, 4, 9]),
    "double-int-array": lambda: MPI.DOUBLE_INT.Create_contiguous(3),
    "short-int-vector": lambda: MPI.SHORT_INT.Create_vector(2, 2, 3),
    "long-double-int": lambda: MPI.LONG_DOUBLE_INT.Create_contiguous(2),
}


@pytest.mark.parametrize("count", COUNTS)
@pytest.mark.parametrize("name", sorted(CASES))
def test_combiner(name, count, commit, rng):
    check_pack_unpack(commit(CASES[name]()), count, rng)


@pytest.mark.parametrize("position", [1, 3, 8, 13])
def test_position(position, commit, rng):
    check_pack_unpack(commit(_vector()), 2, rng, position=position)


@pytest.mark.parametrize("misalign", [1, 2, 4])
def test_misaligned_base(misalign, commit, rng):
    check_pack_unpack(commit(MPI.DOUBLE.Create_vector(5, 1, 3)), 3, rng, misalign=misalign)


@pytest.mark.parametrize(
    "name", ["DOUBLE_INT", "FLOAT_INT", "LONG_INT", "SHORT_INT", "TWOINT", "LONG_DOUBLE_INT"]
)
def test_pair_types(name, rng):
    check_pack_unpack(getattr(MPI, name), 4, rng)


@pytest.mark.parametrize("count", COUNTS)
@pytest.mark.parametrize(
    "distribs,dargs,psizes,order",
    [
        (("BLOCK", "BLOCK"), ("DFLT", "DFLT"), (2, 3), "C"),
        (("CYCLIC", "CYCLIC"), ("DFLT", 2), (2, 2), "C"),
        (("BLOCK", "CYCLIC"), (3, 2), (3, 2), "FORTRAN"),
        (("NONE", "CYCLIC", "BLOCK"), ("DFLT", 3, "DFLT"), (1, 2, 3), "C"),
        (("CYCLIC", "NONE", "BLOCK"), (1, "DFLT", 3), (3, 1, 4), "FORTRAN"),
    ],
)
def test_darray(distribs, dargs, psizes, order, count, commit, rng):
    gsizes = [7, 9, 10][: len(distribs)]
    size = 1
    for p in psizes:
        size *= p
    for rank in range(size):
        dt = commit(
            MPI.DOUBLE.Create_darray(
                size,
                rank,
                gsizes,
                [getattr(MPI, f"DISTRIBUTE_{d}") for d in distribs],
                [MPI.DISTRIBUTE_DFLT_DARG if a == "DFLT" else a for a in dargs],
                list(psizes),
                order=getattr(MPI, f"ORDER_{order}"),
            )
        )
        check_pack_unpack(dt, count, rng)
