"""The communication graph a process topology implies, and its cut over nodes.

A :class:`Graph` is undirected, in the CSR form METIS and KaHIP take: vertex ``v`` is rank
``v`` of the topology, ``adjncy[xadj[v]:xadj[v+1]]`` its neighbours and ``eweights`` the
positive integer weights of those edges (each edge stored in both directions). Directed
input (a distributed graph says who sends to whom) is folded: ``w(u, v) = w(u->v) +
w(v->u)``, the traffic both ways; self-loops and zero weights vanish (they never cross
a node).

Cartesian grids have no weights of their own; :class:`Stencil` models a halo exchange.
Each rank owns a block of ``n_d`` cells per dimension and exchanges a one-cell halo with
every neighbour the stencil reaches: the rank at offset ``o`` (each ``o_d`` in -1, 0, 1)
gets ``prod(n_d for o_d == 0)`` cells, a face, an edge or a corner, and sends as many
back (so a graph edge weighs twice the cells of one message). The user gives relative *face* weights per dimension
(the bytes sent across a face normal to ``d``); the block then has ``n_d`` proportional
to ``1 / face_d``, scaled so the thinnest side is 8 cells: equal faces give 64 : 8 : 1 for
face : edge : corner in 3-D. ``reach="faces"`` keeps the ``2 * ndims`` face neighbours
only (a 7-point stencil, no diagonal messages).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

SIDE = 8  # cells on the thinnest side of the modelled block
MAX_WEIGHT = 1 << 20  # keeps weight sums inside the partitioners' 32-bit integers


@dataclass(frozen=True)
class Graph:
    """Undirected weighted graph in CSR form (numpy int64 arrays)."""

    xadj: np.ndarray
    adjncy: np.ndarray
    eweights: np.ndarray

    @property
    def nvertices(self) -> int:
        return len(self.xadj) - 1

    @property
    def total_weight(self) -> int:
        """Sum of the weights of all edges (each counted once)."""
        return int(self.eweights.sum()) // 2

    def edges(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(u, v, w) of every stored direction."""
        u = np.repeat(np.arange(self.nvertices), np.diff(self.xadj))
        return u, self.adjncy, self.eweights


def from_edges(n: int, sources, destinations, weights=None) -> Graph:
    """The undirected graph of ``n`` vertices with directed edges ``sources[i] ->
    destinations[i]`` of ``weights[i]`` (1 each when None); parallel and opposite edges
    add up, self-loops and zero weights are dropped."""
    src = np.asarray(sources, dtype=np.int64).reshape(-1)
    dst = np.asarray(destinations, dtype=np.int64).reshape(-1)
    w = np.ones(len(src), np.int64) if weights is None else np.asarray(weights, np.int64)
    if len(src) != len(dst) or len(w.reshape(-1)) != len(src):
        raise ValueError("sources, destinations and weights differ in length")
    w = w.reshape(-1)
    if len(src) and (min(src.min(), dst.min()) < 0 or max(src.max(), dst.max()) >= n):
        raise ValueError(f"an edge names a vertex outside 0..{n - 1}")
    if len(w) and w.min() < 0:
        raise ValueError("negative edge weight")
    keep = (src != dst) & (w > 0)
    src, dst, w = src[keep], dst[keep], w[keep]
    # both directions, then merge duplicates
    u = np.concatenate([src, dst])
    v = np.concatenate([dst, src])
    ww = np.concatenate([w, w])
    key = u * n + v
    order = np.argsort(key, kind="stable")
    key, ww = key[order], ww[order]
    unique, start = np.unique(key, return_index=True)
    merged = np.add.reduceat(ww, start) if len(ww) else ww
    u, v = unique // n, unique % n
    xadj = np.zeros(n + 1, np.int64)
    np.add.at(xadj, u + 1, 1)
    np.cumsum(xadj, out=xadj)
    return Graph(xadj, v.astype(np.int64), _clamp(merged))


def _clamp(weights: np.ndarray) -> np.ndarray:
    """Scale weights down (keeping ratios, each at least 1) when the largest is too big."""
    if len(weights) == 0 or weights.max() <= MAX_WEIGHT:
        return weights.astype(np.int64)
    scaled = np.maximum(1, np.rint(weights * (MAX_WEIGHT / weights.max())))
    return scaled.astype(np.int64)


@dataclass(frozen=True)
class Stencil:
    """The halo-exchange model of a Cartesian grid: relative face weights per dimension
    (None: equal) and the neighbours reached, ``"full"`` (3**ndims - 1) or ``"faces"``."""

    faces: tuple[float, ...] | None = None
    reach: str = "full"

    def __post_init__(self) -> None:
        if self.reach not in ("full", "faces"):
            raise ValueError(f"stencil reach must be 'full' or 'faces', not {self.reach!r}")
        if self.faces is not None and (not self.faces or min(self.faces) <= 0):
            raise ValueError(f"face weights must be positive, got {self.faces!r}")

    @classmethod
    def parse(cls, text: str) -> Stencil:
        """``full``, ``faces``, ``4,1,1``, ``faces:4,1,1`` (TEMPI_CART_STENCIL)."""
        text = text.strip().lower()
        reach, _, rest = text.partition(":")
        if reach not in ("full", "faces"):
            reach, rest = "full", text
        faces = tuple(float(x) for x in rest.split(",")) if rest.strip() else None
        return cls(faces, reach)

    def block(self, ndims: int) -> np.ndarray:
        """Modelled cells per dimension of one rank's block."""
        faces = np.ones(ndims) if self.faces is None else np.asarray(self.faces, float)
        if len(faces) != ndims:
            raise ValueError(f"{len(faces)} face weights for a {ndims}-dimensional grid")
        return SIDE * faces.max() / faces

    def weight(self, offset: tuple[int, ...], block: np.ndarray) -> float:
        """Cells shared with the neighbour at ``offset`` (0 when the stencil misses it)."""
        moved = sum(1 for o in offset if o)
        if moved == 0 or (self.reach == "faces" and moved > 1):
            return 0.0
        return float(np.prod([n for n, o in zip(block, offset) if o == 0]))

    def __str__(self) -> str:
        faces = "" if self.faces is None else ":" + ",".join(f"{f:g}" for f in self.faces)
        return self.reach + faces


def cartesian(dims, periods=None, stencil: Stencil | None = None, size: int | None = None) -> Graph:
    """The graph of an MPI Cartesian grid (row-major ranks, as MPI_Cart_create numbers
    them) under ``stencil``; ``size`` > prod(dims) adds isolated vertices for the ranks
    that get MPI_COMM_NULL."""
    dims = [int(d) for d in dims]
    periods = [bool(p) for p in (periods or [False] * len(dims))]
    stencil = stencil or Stencil()
    n = int(np.prod(dims)) if dims else 1
    size = n if size is None else size
    if size < n:
        raise ValueError(f"grid of {n} ranks on {size}")
    if not dims or n == 0:
        return from_edges(size, [], [])
    block = stencil.block(len(dims))
    coords = np.array(np.unravel_index(np.arange(n), dims)).T  # (n, ndims)
    srcs, dsts, ws = [], [], []
    for offset in itertools.product((-1, 0, 1), repeat=len(dims)):
        w = stencil.weight(offset, block)
        if w == 0:
            continue
        target = coords + np.array(offset)
        valid = np.ones(n, bool)
        for d, (extent, periodic) in enumerate(zip(dims, periods)):
            if periodic:
                target[:, d] %= extent
            else:
                valid &= (target[:, d] >= 0) & (target[:, d] < extent)
        ranks = np.ravel_multi_index(target[valid].T, dims)
        srcs.append(np.arange(n)[valid])
        dsts.append(ranks)
        ws.append(np.full(len(ranks), w))
    if not srcs:
        return from_edges(size, [], [])
    weights = np.maximum(1, np.rint(np.concatenate(ws))).astype(np.int64)
    return from_edges(size, np.concatenate(srcs), np.concatenate(dsts), weights)


def cut(graph: Graph, node_of: np.ndarray) -> int:
    """Total weight of the edges whose ends lie on different nodes."""
    u, v, w = graph.edges()
    node_of = np.asarray(node_of)
    return int(w[node_of[u] != node_of[v]].sum()) // 2


def vertex_cut(graph: Graph, node_of: np.ndarray) -> np.ndarray:
    """Per vertex: the weight of its edges that leave its node."""
    u, v, w = graph.edges()
    node_of = np.asarray(node_of)
    crossing = np.where(node_of[u] != node_of[v], w, 0)
    return np.bincount(u, weights=crossing, minlength=graph.nvertices).astype(np.int64)
