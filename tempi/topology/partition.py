"""Place the vertices of a communication graph on nodes: minimise the weight of edges that
cross nodes, keeping each node's rank count.

The partitioners come from the package index: KaHIP (``kahip.kaffpa``, mode FAST) and
METIS (``pymetis.part_graph``); ``random`` shuffles the identity and ``none`` is the
identity. Each runs with several seeds (``SEEDS``, stopping early once ``BUDGET_S`` is
spent, after the first), and the best cut wins, the identity included: a placement is
never worse than the one the ranks already have.

A partitioner returns ``k`` nearly balanced parts (3 % imbalance: exact balance makes KaHIP
much slower and METIS worse on many parts). Two steps of glue turn them into nodes: the
parts are matched to nodes by their overlap with the identity (so as few ranks as possible
move), then vertices leave over-full nodes for under-full ones, best gain first, until
every node holds exactly its ranks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from tempi.errors import ConfigError
from tempi.topology.graph import Graph, cut

METHODS = ("kahip", "metis", "random", "none")
SEEDS = 8
BUDGET_S = 0.5
IMBALANCE = 0.03


@dataclass(frozen=True)
class Placement:
    """``node_of[v]``: the node of vertex ``v``; its cut, the identity's, and how it came."""

    node_of: np.ndarray
    cut: int
    identity_cut: int
    method: str
    seeds: int
    time_s: float

    @property
    def improved(self) -> bool:
        return self.cut < self.identity_cut


def available(method: str) -> bool:
    """Whether ``method``'s package can be imported."""
    try:
        _module(method)
    except ConfigError:
        return False
    return True


def _module(method: str):
    try:
        if method == "kahip":
            import kahip

            return kahip
        if method == "metis":
            import pymetis

            return pymetis
    except ImportError as exc:
        raise ConfigError(
            f"TEMPI_PLACEMENT={method} needs the {'kahip' if method == 'kahip' else 'pymetis'} "
            f"package ({exc}); pip install {'kahip' if method == 'kahip' else 'pymetis'}"
        ) from exc
    return None


def _kahip(graph: Graph, k: int, seed: int) -> np.ndarray:
    kahip = _module("kahip")
    _, parts = kahip.kaffpa(
        [1] * graph.nvertices,
        graph.xadj.tolist(),
        graph.eweights.tolist(),
        graph.adjncy.tolist(),
        k,
        IMBALANCE,
        True,
        seed,
        kahip.FAST,
    )
    return np.asarray(parts, np.int64)


def _metis(graph: Graph, k: int, seed: int) -> np.ndarray:
    pymetis = _module("metis")
    options = pymetis.Options(seed=seed, ufactor=int(IMBALANCE * 1000))
    adjacency = pymetis.CSRAdjacency(graph.xadj, graph.adjncy)
    result = pymetis.part_graph(k, adjacency, eweights=graph.eweights, options=options)
    return np.asarray(result.vertex_part, np.int64)


def _match(parts: np.ndarray, identity: np.ndarray, k: int) -> np.ndarray:
    """Name each part after a node, largest overlap with the identity first."""
    overlap = np.zeros((k, k), np.int64)
    np.add.at(overlap, (parts, identity), 1)
    names = np.full(k, -1)
    taken = np.zeros(k, bool)
    for flat in np.argsort(-overlap, axis=None, kind="stable"):
        p, j = divmod(int(flat), k)
        if names[p] < 0 and not taken[j]:
            names[p], taken[j] = j, True
    return names[parts]


def _connections(graph: Graph, node_of: np.ndarray, k: int) -> np.ndarray:
    """``conn[v, j]``: the weight of ``v``'s edges to vertices on node ``j``."""
    u, v, w = graph.edges()
    flat = np.bincount(u * k + node_of[v], weights=w, minlength=graph.nvertices * k)
    return flat.reshape(graph.nvertices, k)


def _repair(graph: Graph, node_of: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Move vertices from over-full to under-full nodes, best gain first, until every
    node ``j`` holds ``sizes[j]`` vertices."""
    node_of = node_of.copy()
    k = len(sizes)
    while True:
        excess = np.bincount(node_of, minlength=k) - sizes
        if not excess.any():
            return node_of
        conn = _connections(graph, node_of, k)
        under = np.flatnonzero(excess < 0)
        movable = np.flatnonzero(excess[node_of] > 0)
        toward = conn[np.ix_(movable, under)]
        best = toward.argmax(axis=1)  # each vertex's best under-full node
        gains = toward[np.arange(len(movable)), best] - conn[movable, node_of[movable]]
        left = int(excess[excess > 0].sum())
        for i in np.argsort(-gains, kind="stable"):
            v, target = movable[i], under[best[i]]
            if excess[node_of[v]] <= 0 or excess[target] >= 0:
                continue  # the next round finds these a place
            excess[node_of[v]] -= 1
            excess[target] += 1
            node_of[v] = target
            left -= 1
            if left == 0:
                break


def _candidate(
    method: str, graph: Graph, identity: np.ndarray, sizes: np.ndarray, seed: int
) -> np.ndarray:
    k = len(sizes)
    if method == "random":
        return identity[np.random.default_rng(seed).permutation(len(identity))]
    parts = (_kahip if method == "kahip" else _metis)(graph, k, seed)
    return _repair(graph, _match(parts, identity, k), sizes)


def place(
    graph: Graph,
    identity,
    method: str,
    *,
    seeds: int = SEEDS,
    budget_s: float = BUDGET_S,
) -> Placement:
    """The best placement of ``graph``'s vertices on nodes. ``identity[v]``: the node of
    the process that now has rank ``v`` (nodes numbered 0..k-1); every node keeps its
    count. Raises ConfigError for an unknown method or a missing package."""
    if method not in METHODS:
        raise ConfigError(f"unknown placement {method!r}: one of {', '.join(METHODS)}")
    start = time.perf_counter()
    identity = np.asarray(identity, np.int64)
    if len(identity) != graph.nvertices:
        raise ValueError(f"{len(identity)} ranks for a graph of {graph.nvertices} vertices")
    sizes = np.bincount(identity)
    best, best_cut = identity, cut(graph, identity)
    identity_cut, tried = best_cut, 0
    if method != "none" and len(sizes) > 1 and best_cut > 0:
        _module(method)
        for seed in range(seeds):
            spent = time.perf_counter() - start
            if tried and spent + spent / tried > budget_s:
                break  # the next seed would end past the budget
            found = _candidate(method, graph, identity, sizes, seed)
            tried += 1
            found_cut = cut(graph, found)
            if found_cut < best_cut:
                best, best_cut = found, found_cut
    return Placement(best, best_cut, identity_cut, method, tried, time.perf_counter() - start)


def ranks(placement: np.ndarray, identity) -> np.ndarray:
    """``new[p]``: the rank process ``p`` takes so that each vertex lands on its node.
    A process keeps its own rank where the placement leaves that vertex on its node; the
    other vertices of a node go to its other processes in rank order."""
    placement = np.asarray(placement, np.int64)
    identity = np.asarray(identity, np.int64)
    new = np.full(len(identity), -1, np.int64)
    stays = placement == identity  # vertex p's node is process p's node
    new[stays] = np.flatnonzero(stays)
    for j in np.unique(identity):
        free = np.flatnonzero((identity == j) & ~stays)
        arriving = np.flatnonzero((placement == j) & ~stays)
        if len(free) != len(arriving):
            raise ValueError(f"node {j}: {len(arriving)} ranks placed on {len(free)} processes")
        new[free] = arriving
    return new
