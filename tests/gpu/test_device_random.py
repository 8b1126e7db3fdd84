"""Property test on the device: random nested datatypes (tests/typegen.py) pack and unpack
on the GPU exactly as the system MPI does on the host, at random misalignments and
positions, through both ``tempi.pack.cuda`` and the public ``tempi.pack``/``unpack``.

``TEMPI_RANDOM_TYPES`` sets the number of examples (default 400); hypothesis prints the
failing recipe and seed.
"""

from __future__ import annotations

import os

import numpy as np
from hypothesis import assume, given
from hypothesis import strategies as st

from tempi.errors import UnsupportedDatatype
from tests.gpu.devicecase import DeviceCase
from tests.oracle import footprint
from tests.typegen import MAX_FOOTPRINT, accepted, random_settings, recipes

EXAMPLES = int(os.environ.get("TEMPI_RANDOM_TYPES", "400"))


@random_settings(EXAMPLES)
@given(
    recipe=recipes(depth=4),
    count=st.sampled_from([0, 1, 2, 3]),
    misalign=st.sampled_from([0, 1, 2, 4, 8]),
    position=st.integers(0, 9),
    seed=st.integers(0, 2**32 - 1),
)
def test_random_type_on_device_matches_mpi_pack(recipe, count, misalign, position, seed):
    with accepted(recipe) as datatype:
        lo, hi = footprint(datatype, count)
        assume(hi - lo <= MAX_FOOTPRINT and datatype.Get_size() * count <= MAX_FOOTPRINT)
        try:
            case = DeviceCase(datatype, count, np.random.default_rng(seed), misalign, position)
        except UnsupportedDatatype:
            assume(False)
        case.run()
