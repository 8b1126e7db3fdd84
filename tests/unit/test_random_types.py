"""Property test: random nested datatypes pack and unpack exactly as the system MPI does,
and canonicalization never yields more pieces than the flattened typemap.

``TEMPI_RANDOM_TYPES`` sets the number of examples (default 2000); the failing recipe is
printed by hypothesis and reproduces with ``@example``.
"""

from __future__ import annotations

import os

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st

import tempi
from tempi.datatype.decode import decode
from tests.checks import check_pack_unpack
from tests.oracle import footprint
from tests.typegen import MAX_FOOTPRINT, accepted, random_settings, recipes

EXAMPLES = int(os.environ.get("TEMPI_RANDOM_TYPES", "2000"))


@random_settings(EXAMPLES)
@given(
    recipe=recipes(depth=4),
    count=st.sampled_from([1, 2, 3]),
    position=st.integers(0, 9),
    seed=st.integers(0, 2**32 - 1),
)
def test_random_type_matches_mpi_pack(recipe, count, position, seed):
    with accepted(recipe) as datatype:
        lo, hi = footprint(datatype, count)
        assume(hi - lo <= MAX_FOOTPRINT and datatype.Get_size() * count <= MAX_FOOTPRINT)
        try:
            pieces = tempi.describe(datatype).num_blocks
        except tempi.UnsupportedDatatype:
            pieces = None
        if pieces is not None:
            assert pieces <= decode(datatype).root.num_blocks
        check_pack_unpack(datatype, count, np.random.default_rng(seed), position=position)
