"""tempi.Comm's topology constructors with reorder on simulated nodes (TEMPI_NODES): the new
communicator has the right size, each rank's neighbours are the ones its new rank implies,
messages arrive where they should, the cut is never worse than the identity, and
reorder=False, one node and TEMPI_PLACEMENT=none leave the ranks as the system MPI makes
them. Size-agnostic; ranks move from 4 ranks on (the suite also runs this file on 8)."""

from __future__ import annotations

import numpy as np
import pytest
from mpi4py import MPI

import tempi
from tempi.comm import locality
from tempi.topology import graph, nodes, reorder

WORLD = MPI.COMM_WORLD


def _ring(v: int, n: int) -> tuple[list[int], list[int]]:
    """Rank v's ring neighbours and weights: edge (v, v+1) weighs 10 for even v, else 1."""
    return [(v - 1) % n, (v + 1) % n], [10 if (v - 1) % n % 2 == 0 else 1, 10 if v % 2 == 0 else 1]


@pytest.fixture(params=["2:cyclic", "2:block", "3:cyclic"])
def simulated(request, tempi_env):
    tempi_env(TEMPI_NODES=request.param)
    return request.param


def _cut_now(g: graph.Graph, new_comm: MPI.Comm) -> tuple[int, int]:
    """(cut as placed, cut of the identity): vertex v sits on the node of the process
    holding rank v of the new communicator."""
    layout = nodes.layout(WORLD)
    holder = np.empty(WORLD.size, np.int64)
    holder[np.asarray(WORLD.allgather(new_comm.Get_rank()))] = np.arange(WORLD.size)
    return graph.cut(g, layout[holder]), graph.cut(g, layout)


def test_cart(simulated):
    dims = MPI.Compute_dims(WORLD.size, 3)
    cart = tempi.Comm(WORLD).Create_cart(dims, [True] * 3, True)
    try:
        assert isinstance(cart, tempi.Comm)
        assert cart.Get_size() == WORLD.size
        rank = cart.Get_rank()
        coords = cart.Get_coords(rank)
        assert cart.Get_cart_rank(coords) == rank
        for d in range(3):
            source, dest = cart.Shift(d, 1)
            assert cart.Get_coords(dest)[d] == (coords[d] + 1) % dims[d]
            got = cart.sendrecv(rank, dest=dest, source=source)
            assert got == source
        placed, identity = _cut_now(graph.cartesian(dims, [True] * 3), cart.comm)
        assert placed <= identity
        if WORLD.size >= 4:
            assert reorder.reports[-1]["cut_after"] == placed
            assert reorder.reports[-1]["before"] >= 0
    finally:
        cart.comm.Free()


def test_dist_graph_adjacent(simulated):
    n = WORLD.size
    neighbours, weights = _ring(WORLD.rank, n)
    made = tempi.Comm(WORLD).Create_dist_graph_adjacent(
        neighbours, neighbours, weights, weights, reorder=True
    )
    try:
        rank = made.Get_rank()
        assert made.Get_size() == n
        want, want_w = _ring(rank, n)
        assert made.Get_dist_neighbors() == (want, want, (want_w, want_w))
        got = made.neighbor_alltoall([rank] * 2)
        assert got == want
        g = graph.from_edges(
            n,
            [v for v in range(n) for _ in range(2)],
            sum((_ring(v, n)[0] for v in range(n)), []),
            sum((_ring(v, n)[1] for v in range(n)), []),
        )
        placed, identity = _cut_now(g, made.comm)
        assert placed <= identity
        if n == 4 and simulated == "2:cyclic":
            assert placed < identity  # the heavy edges all crossed; now none does
            assert rank != WORLD.rank or WORLD.rank in (0, 3)
    finally:
        made.comm.Free()


def test_dist_graph(simulated):
    n = WORLD.size
    neighbours, weights = _ring(WORLD.rank, n)
    made = tempi.Comm(WORLD).Create_dist_graph([WORLD.rank], [2], neighbours, weights, reorder=True)
    try:
        rank = made.Get_rank()
        want, want_w = _ring(rank, n)
        sources, dests, (sw, dw) = made.Get_dist_neighbors()
        assert sorted(zip(dests, dw)) == sorted(zip(want, want_w))
        assert sorted(zip(sources, sw)) == sorted(zip(want, want_w))
        got = made.neighbor_alltoall([rank] * len(dests))
        assert got == sources
    finally:
        made.comm.Free()


def _untouched(**env):
    """Ranks as mpi4py's own Create_cart / Create_dist_graph_adjacent give them."""
    dims = MPI.Compute_dims(WORLD.size, 2)
    neighbours, weights = _ring(WORLD.rank, WORLD.size)
    before = len(reorder.reports)
    for ours, theirs in (
        (
            tempi.Comm(WORLD).Create_cart(dims, [True, True], env.get("reorder", True)),
            WORLD.Create_cart(dims, [True, True], env.get("reorder", True)),
        ),
        (
            tempi.Comm(WORLD).Create_dist_graph_adjacent(
                neighbours, neighbours, weights, weights, reorder=env.get("reorder", True)
            ),
            WORLD.Create_dist_graph_adjacent(
                neighbours, neighbours, weights, weights, reorder=env.get("reorder", True)
            ),
        ),
    ):
        assert ours.Get_rank() == theirs.Get_rank()
        assert MPI.Comm.Compare(ours.comm, theirs) == MPI.CONGRUENT
        ours.comm.Free()
        theirs.Free()
    assert len(reorder.reports) == before  # no placement ran


def test_reorder_false_is_untouched(simulated):
    _untouched(reorder=False)


def test_one_node_is_untouched(tempi_env):
    tempi_env(TEMPI_NODES="1")
    _untouched()


def test_real_node_is_untouched(tempi_env):
    tempi_env(TEMPI_NODES="")  # mpiexec on this machine: one real node
    _untouched()


def test_placement_none_is_untouched(tempi_env):
    tempi_env(TEMPI_NODES="2:cyclic", TEMPI_PLACEMENT="none")
    _untouched()


def test_program_ignoring_its_new_rank_runs(simulated):
    """The world communicator is untouched: an exchange on world ranks still delivers
    after a reordered topology was made."""
    neighbours, weights = _ring(WORLD.rank, WORLD.size)
    made = tempi.Comm(WORLD).Create_dist_graph_adjacent(
        neighbours, neighbours, weights, weights, reorder=True
    )
    right, left = (WORLD.rank + 1) % WORLD.size, (WORLD.rank - 1) % WORLD.size
    assert WORLD.sendrecv(WORLD.rank, dest=right, source=left) == left
    made.comm.Free()


def test_locality_follows_simulated_nodes(simulated):
    count, assign = int(simulated[0]), simulated.split(":")[1]
    index = nodes.simulated_index(np.arange(WORLD.size), WORLD.size, count, assign)
    mine = frozenset(np.flatnonzero(index == index[WORLD.rank]).tolist())
    assert locality.node_ranks(WORLD) == mine
    for peer in range(WORLD.size):
        assert locality.peer_local(WORLD, peer) == (peer in mine)
