"""Placement without ranks: the graphs a topology implies, the partition over nodes (exact
node sizes, never worse than the identity, the issue's targets) and the rank assignment,
and the simulated node layouts."""

from __future__ import annotations

import time

import numpy as np
import pytest

from tempi import config
from tempi.errors import ConfigError
from tempi.topology import graph, nodes, partition


def _neighbours(g: graph.Graph, v: int) -> dict[int, int]:
    lo, hi = g.xadj[v], g.xadj[v + 1]
    return dict(zip(g.adjncy[lo:hi].tolist(), g.eweights[lo:hi].tolist()))


def test_cartesian_full_stencil_weights_faces_edges_corners():
    g = graph.cartesian([4, 4, 4], [True] * 3)
    centre = int(np.ravel_multi_index((1, 1, 1), (4, 4, 4)))
    found = _neighbours(g, centre)
    assert len(found) == 26
    for other, weight in found.items():
        moved = sum(1 for a, b in zip((1, 1, 1), np.unravel_index(other, (4, 4, 4))) if a != b)
        assert weight == 2 * {1: 64, 2: 8, 3: 1}[moved]  # cells each way, both ways


def test_cartesian_faces_only_and_boundaries():
    g = graph.cartesian([3, 3], [False, False], graph.Stencil(reach="faces"))
    assert sorted(_neighbours(g, 0)) == [1, 3]  # a corner of a non-periodic grid
    assert sorted(_neighbours(g, 4)) == [1, 3, 5, 7]
    periodic = graph.cartesian([3, 3], [True, False], graph.Stencil(reach="faces"))
    assert sorted(_neighbours(periodic, 0)) == [1, 3, 6]


def test_cartesian_two_wide_periodic_dimension_counts_both_faces():
    g = graph.cartesian([2, 4], [True, True], graph.Stencil(reach="faces"))
    face_x, face_y = _neighbours(g, 0)[4], _neighbours(g, 0)[1]
    assert face_x == 2 * face_y  # the same neighbour across both x faces


def test_face_weights_per_dimension():
    g = graph.cartesian([4, 4, 4], [True] * 3, graph.Stencil((4, 1, 1)))
    found = _neighbours(g, 0)
    across_x = found[int(np.ravel_multi_index((1, 0, 0), (4, 4, 4)))]
    across_y = found[int(np.ravel_multi_index((0, 1, 0), (4, 4, 4)))]
    assert across_x == 4 * across_y


def test_stencil_text_forms():
    assert graph.Stencil.parse("full") == graph.Stencil()
    assert graph.Stencil.parse("faces:4,1,1") == graph.Stencil((4.0, 1.0, 1.0), "faces")
    assert graph.Stencil.parse("2,1") == graph.Stencil((2.0, 1.0))
    with pytest.raises(ValueError):
        graph.Stencil((1.0, 0.0))
    with pytest.raises(ValueError, match="face weights"):
        graph.cartesian([2, 2], None, graph.Stencil((1.0, 1.0, 1.0)))


def test_config_rows(tempi_env):
    tempi_env(TEMPI_NODES="4:cyclic", TEMPI_PLACEMENT_METIS="1", TEMPI_CART_STENCIL="faces:2,1")
    assert config.get("TEMPI_NODES") == (4, "cyclic")
    assert config.get("TEMPI_PLACEMENT") == "metis"
    assert config.get("TEMPI_CART_STENCIL") == "faces:2,1"
    values, problems = config.parse({"TEMPI_NODES": "0", "TEMPI_PLACEMENT": "scotch"})
    assert values["TEMPI_NODES"] is None and values["TEMPI_PLACEMENT"] == "kahip"
    assert len(problems) == 2
    assert config.parse({"TEMPI_NODES": " 3 "})[0]["TEMPI_NODES"] == (3, "block")


def test_from_edges_folds_directions_and_drops_self_loops():
    g = graph.from_edges(3, [0, 1, 0, 2], [1, 0, 0, 1], [5, 2, 9, 0])
    assert _neighbours(g, 0) == {1: 7} and _neighbours(g, 1) == {0: 7}
    assert _neighbours(g, 2) == {}
    with pytest.raises(ValueError):
        graph.from_edges(2, [0], [2])


def test_cut_and_vertex_cut():
    g = graph.from_edges(4, [0, 1, 2, 3], [1, 2, 3, 0], [10, 1, 10, 1])
    assert graph.cut(g, [0, 1, 0, 1]) == 22
    assert graph.cut(g, [0, 0, 1, 1]) == 2
    assert graph.vertex_cut(g, [0, 0, 1, 1]).tolist() == [1, 1, 1, 1]


@pytest.mark.parametrize("method", partition.METHODS)
@pytest.mark.parametrize("assign", ["block", "cyclic"])
def test_place_keeps_node_sizes_and_never_loses(method, assign):
    g = graph.cartesian([5, 3, 2], [True, False, True])  # 30 ranks on 4 nodes of 8 or 7
    identity = nodes.simulated_index(np.arange(30), 30, 4, assign)
    found = partition.place(g, identity, method)
    assert np.bincount(found.node_of).tolist() == np.bincount(identity).tolist()
    assert found.cut == graph.cut(g, found.node_of) <= graph.cut(g, identity)
    assert found.identity_cut == graph.cut(g, identity)
    new = partition.ranks(found.node_of, identity)
    assert sorted(new.tolist()) == list(range(30))
    assert (found.node_of[new] == identity).all()  # each process holds a vertex of its node


def test_ranks_keep_whoever_can_stay():
    identity = np.array([0, 1, 0, 1])
    new = partition.ranks(np.array([0, 0, 1, 1]), identity)
    assert new[0] == 0 and new[3] == 3  # their vertices stay on their nodes
    assert sorted(new.tolist()) == [0, 1, 2, 3]


def test_the_issue_target_64_ranks_4_nodes():
    """26 neighbours, 64 ranks, 4 simulated nodes. On the periodic 4x4x4 grid that
    MPI_Dims_create makes, cyclic assignment (rank % 4 = the z coordinate) already cuts
    z-slabs, which is near the optimum: 5 % is all there is; without wrap-around, 35 %.
    Block assignment is never made worse."""
    for periods, least in (([True] * 3, 0.04), ([False] * 3, 0.30)):
        g = graph.cartesian([4, 4, 4], periods)
        cyclic = np.arange(64) % 4
        found = partition.place(g, cyclic, "kahip")
        assert found.cut <= (1 - least) * found.identity_cut
        block = np.arange(64) // 16
        assert partition.place(g, block, "kahip").cut <= graph.cut(g, block)


@pytest.mark.parametrize("method", ["kahip", "metis"])
def test_4096_ranks_cyclic_on_4_nodes(method):
    """The 60 % target where the grid does not line up with the nodes, and the time."""
    g = graph.cartesian([16, 16, 16], [True] * 3)
    cyclic = np.arange(4096) % 4
    start = time.perf_counter()
    found = partition.place(g, cyclic, method)
    spent = time.perf_counter() - start
    assert found.cut <= 0.4 * found.identity_cut
    assert spent <= 2.0, spent  # 1 s is the target on an idle machine (RESULTS.md)


def test_unknown_method_is_a_config_error():
    g = graph.cartesian([4], [True])
    with pytest.raises(ConfigError, match="unknown placement"):
        partition.place(g, [0, 0, 1, 1], "scotch")


def test_one_node_or_no_edges_keeps_the_identity():
    g = graph.cartesian([4], [True])
    assert partition.place(g, [0, 0, 0, 0], "kahip").seeds == 0
    empty = graph.from_edges(4, [], [])
    assert partition.place(empty, [0, 1, 0, 1], "metis").seeds == 0


def test_simulated_layouts(tempi_env):
    assert nodes.simulated_index(np.arange(8), 8, 3, "block").tolist() == [0, 0, 0, 1, 1, 1, 2, 2]
    assert nodes.simulated_index(np.arange(5), 5, 2, "cyclic").tolist() == [0, 1, 0, 1, 0]
    tempi_env(TEMPI_NODES="3:cyclic")
    assert nodes.world_node_of(7).tolist() == [0, 1, 2, 0, 1, 2, 0]
    assert "simulated: 3 nodes, cyclic" in nodes.describe()
    tempi_env(TEMPI_NODES="")
    assert nodes.world_node_of(7) is None
