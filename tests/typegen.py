"""Random MPI datatypes, as recipes (readable in test ids and failure reports) and as
committed mpi4py types -- after MPICH's DTPools: contig, dup, resized, vector, hvector,
blkindx, blkhindx, indexed, hindexed, subarray, struct; negative strides, displacements
and lower bounds; zero-length blocks; nesting up to a chosen depth.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from hypothesis import HealthCheck, assume, settings
from hypothesis import strategies as st
from mpi4py import MPI

from tempi.launch import mpi_vendor

# MPI_LONG_DOUBLE is left out: inside some derived types MPICH packs only its 10 x87
# bytes and zero-fills the 6 padding bytes, so "identical bytes" is not defined for it.
NAMED = ("BYTE", "SHORT", "INT", "FLOAT", "DOUBLE", "DOUBLE_INT", "SHORT_INT", "TWOINT")

Recipe = tuple

MAX_FOOTPRINT = 1 << 20
"""Largest byte span (and packed size) a random test builds buffers for."""


def random_settings(examples: int) -> settings:
    """Hypothesis settings of the random-type suites: ``examples`` types, no deadline
    (numba and NVRTC compile on first use), generous filtering."""
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.filter_too_much,
            HealthCheck.data_too_large,
        ],
    )


def recipes(depth: int = 4) -> st.SearchStrategy[Recipe]:
    """Recipes of nesting depth at most ``depth``."""
    leaf = st.tuples(st.just("named"), st.sampled_from(NAMED))
    if depth == 0:
        return leaf
    child = recipes(depth - 1)
    small = st.integers(0, 4)
    block = st.integers(0, 3)
    disp = st.integers(-6, 10)
    bdisp = st.integers(-48, 96)
    return st.one_of(
        leaf,
        st.tuples(st.just("contiguous"), small, child),
        st.tuples(st.just("dup"), child),
        st.tuples(st.just("resized"), st.integers(-32, 32), st.integers(-24, 96), child),
        st.tuples(st.just("vector"), small, block, st.integers(-5, 6), child),
        st.tuples(st.just("hvector"), small, block, bdisp, child),
        st.tuples(
            st.just("indexed"), st.lists(st.tuples(block, disp), min_size=1, max_size=4), child
        ),
        st.tuples(
            st.just("hindexed"), st.lists(st.tuples(block, bdisp), min_size=1, max_size=4), child
        ),
        st.tuples(st.just("indexed_block"), block, st.lists(disp, min_size=1, max_size=4), child),
        st.tuples(st.just("hindexed_block"), block, st.lists(bdisp, min_size=1, max_size=4), child),
        st.tuples(st.just("subarray"), st.data(), child).map(_subarray_args),
        st.tuples(
            st.just("struct"), st.lists(st.tuples(block, bdisp, child), min_size=1, max_size=3)
        ),
    )


def _subarray_args(args: tuple) -> Recipe:
    _, data, child = args
    ndims = data.draw(st.integers(1, 3))
    sizes = data.draw(st.lists(st.integers(1, 4), min_size=ndims, max_size=ndims))
    subsizes = [data.draw(st.integers(1, n)) for n in sizes]
    starts = [data.draw(st.integers(0, n - s)) for n, s in zip(sizes, subsizes)]
    order = data.draw(st.sampled_from(("C", "F")))
    return ("subarray", tuple(sizes), tuple(subsizes), tuple(starts), order, child)


class MpiCannotPack(Exception):
    """A recipe the system MPI packs wrongly or not at all, so it cannot be an oracle:

    * a zero-size member type: MPICH 5.0.2 dies of SIGFPE in Yaksa packing it;
    * a (h)vector stride of exactly -1 byte: Open MPI 4.1.6 and 5.0.11 pack it as +1
      (``vector(2, 1, -1, MPI_BYTE)`` packs bytes 0, 1 instead of 0, -1; MPICH and the
      standard say 0, -1);
    * a subarray of a type with negative extent: MPICH 5.0.2's pack engine steps its
      repetitions to bytes outside the true bounds it reports, so its MPI_Unpack writes
      outside any buffer sized from them (``contiguous(4, subarray([4, 4], [3, 1],
      [0, 0], resized(MPI_BYTE, 15, -12)))`` at count 2 writes 12 bytes up to 768 bytes
      below the true lower bound; Open MPI stays inside). tempi refuses negative extents
      and passes such types to the system MPI anyway.
    """


def _member(recipe: Recipe, made: list[MPI.Datatype]) -> MPI.Datatype:
    datatype = _build(recipe, made)
    if datatype.Get_size() == 0:
        raise MpiCannotPack(recipe)
    return datatype


def _build(recipe: Recipe, made: list[MPI.Datatype]) -> MPI.Datatype:
    kind, *args = recipe
    if kind == "named":
        return getattr(MPI, args[0])
    if kind == "struct":
        entries = args[0]
        types = [_member(c, made) for _, _, c in entries]
        new = MPI.Datatype.Create_struct(
            [b for b, _, _ in entries], [d for _, d, _ in entries], types
        )
        made.append(new)
        return new
    *params, child = args
    old = _member(child, made)
    if kind in ("vector", "hvector") and params[0] > 1 and mpi_vendor() == "openmpi":
        unit = old.Get_extent()[1] if kind == "vector" else 1
        if params[2] * unit == -1:
            raise MpiCannotPack(recipe)
    if kind == "subarray" and old.Get_extent()[1] < 0 and mpi_vendor() == "mpich":
        raise MpiCannotPack(recipe)
    new = _constructor(kind, params, old)
    made.append(new)
    return new


def _constructor(kind: str, p: list[Any], old: MPI.Datatype) -> MPI.Datatype:
    if kind == "contiguous":
        return old.Create_contiguous(p[0])
    if kind == "dup":
        return old.Dup()
    if kind == "resized":
        return old.Create_resized(p[0], p[1])
    if kind == "vector":
        return old.Create_vector(*p)
    if kind == "hvector":
        return old.Create_hvector(*p)
    if kind == "indexed":
        return old.Create_indexed([b for b, _ in p[0]], [d for _, d in p[0]])
    if kind == "hindexed":
        return old.Create_hindexed([b for b, _ in p[0]], [d for _, d in p[0]])
    if kind == "indexed_block":
        return old.Create_indexed_block(p[0], p[1])
    if kind == "hindexed_block":
        return old.Create_hindexed_block(p[0], p[1])
    if kind == "subarray":
        sizes, subsizes, starts, order = p
        mpi_order = MPI.ORDER_C if order == "C" else MPI.ORDER_FORTRAN
        return old.Create_subarray(list(sizes), list(subsizes), list(starts), order=mpi_order)
    raise ValueError(kind)


@contextlib.contextmanager
def committed(recipe: Recipe) -> Iterator[MPI.Datatype]:
    """The committed type of ``recipe``; every handle made is freed afterwards.

    Raises :class:`MpiCannotPack` (or ``MPI.Exception``) for recipes to reject."""
    made: list[MPI.Datatype] = []
    try:
        top = _build(recipe, made)
        if top.is_predefined:
            yield top
            return
        top.Commit()
        yield top
    finally:
        for t in made:
            t.Free()


@contextlib.contextmanager
def accepted(recipe: Recipe) -> Iterator[MPI.Datatype]:
    """:func:`committed` inside a hypothesis test: recipes that MPI refuses to build, or
    cannot pack, are rejected with ``assume`` instead of failing."""
    context = committed(recipe)
    try:
        datatype = context.__enter__()
    except (MPI.Exception, MpiCannotPack):
        assume(False)
    try:
        yield datatype
    finally:
        context.__exit__(None, None, None)


def depth(recipe: Recipe) -> int:
    kind, *args = recipe
    if kind == "named":
        return 0
    if kind == "struct":
        return 1 + max(depth(c) for _, _, c in args[0])
    return 1 + depth(args[-1])
