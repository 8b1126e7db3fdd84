"""``reorder = 1`` done for real: a process topology whose ranks are placed so that heavy
edges stay inside a node.

Every constructor runs the same collective protocol over the old communicator:

1. each rank learns the node of every rank (:func:`tempi.topology.nodes.layout`); with one
   node, or one rank per node, nothing can improve and the system MPI gets the call as
   the application made it;
2. rank 0 gathers the arguments, builds the graph (:mod:`tempi.topology.graph`),
   places it (:mod:`tempi.topology.partition`, ``TEMPI_PLACEMENT``; timed) and broadcasts
   the new rank of every process, or "identity" when nothing beats the ranks as they are,
   or "pass" when the arguments are not valid (the system MPI then raises its own error);
3. the processes split the old communicator with the new rank as key, which is a real
   communicator, and create the topology on it without reorder, so later calls need no
   translation. For a distributed graph made with ``MPI_Dist_graph_create_adjacent``,
   rank 0 scatters each rank's adjacency to the process that now holds that rank;
   ``MPI_Dist_graph_create``'s edges are global and stay as given.

The identity placement still creates the topology with ``reorder = 0``: a system MPI's
reorder knows nothing of simulated nodes and could make the cut worse. ``TEMPI_STATS``
prints each rank's inter-node weight before and after (one line per rank and topology).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from mpi4py import MPI

from tempi import config
from tempi.log import get_logger
from tempi.topology import graph, nodes, partition

_log = get_logger("topology")

reports: list[dict[str, Any]] = []
"""This rank's report of every placement made by this process, oldest first."""


def _method() -> str:
    return config.get("TEMPI_PLACEMENT")


def _decide(comm: MPI.Comm, mine: Any, build) -> tuple[Any, list | None]:
    """Steps 1 and 2: (decision, every rank's ``mine`` at rank 0). ``build(everything)``
    makes the graph at rank 0 (``mine`` None: nothing to gather); the decision is None
    (pass), or a dict with ``new`` (None: identity)."""
    layout = nodes.layout(comm)
    size, k = comm.Get_size(), int(layout.max()) + 1
    if k <= 1 or k == size:
        return None, None
    everything = None if mine is None else comm.gather(mine, root=0)
    decision = None
    if comm.Get_rank() == 0:
        decision = _place_at_root(build, everything, layout)
    return comm.bcast(decision, root=0), everything


def _place_at_root(build, everything: list, layout: np.ndarray) -> dict[str, Any] | None:
    method = _method()
    try:
        g = build(everything)
    except (ValueError, IndexError, TypeError) as exc:
        _log.debug("placement: arguments the system MPI must judge (%s)", exc)
        return None
    try:
        found = partition.place(g, layout, method)
    except Exception as exc:  # noqa: BLE001 - a missing package: keep the ranks as they are
        _log.warning("placement %s failed (%s); keeping the identity", method, exc)
        found = partition.place(g, layout, "none")
    new = partition.ranks(found.node_of, layout) if found.improved else None
    before = graph.vertex_cut(g, layout)
    after = graph.vertex_cut(g, found.node_of)
    _log.info(
        "placement %s: inter-node weight %d -> %d of %d, %d seeds, %.3f s",
        found.method,
        found.identity_cut,
        found.cut,
        g.total_weight,
        found.seeds,
        found.time_s,
    )
    return {
        "new": None if new is None else new.tolist(),
        "method": found.method,
        "seeds": found.seeds,
        "time_s": found.time_s,
        "cut_before": found.identity_cut,
        "cut_after": found.cut,
        "total": g.total_weight,
        "before": before.tolist(),
        "after": after.tolist(),
        "nodes": int(layout.max()) + 1,
    }


def _reordered(comm: MPI.Comm, decision: dict[str, Any], kind: str) -> MPI.Comm:
    """Step 3's communicator (the old one for the identity), and this rank's report."""
    rank = comm.Get_rank()
    new_rank = rank if decision["new"] is None else decision["new"][rank]
    report = {
        "kind": kind,
        "old_rank": rank,
        "new_rank": new_rank,
        "before": decision["before"][rank],
        "after": decision["after"][new_rank],
        **{k: decision[k] for k in ("method", "seeds", "time_s", "cut_before", "cut_after")},
        **{k: decision[k] for k in ("total", "nodes")},
    }
    reports.append(report)
    if config.get("TEMPI_STATS"):
        line = f"tempi[{MPI.COMM_WORLD.Get_rank()}]: placement {kind} " + " ".join(
            f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}"
            for k, v in report.items()
            if k != "kind"
        )
        os.write(1, (line + "\n").encode())
    if decision["new"] is None:
        return comm
    return comm.Split(0, new_rank)


def _ranks(values) -> list[int]:
    return [int(v) for v in values]


def _weights(values) -> list[int] | None:
    """Weights as a list; None for MPI_UNWEIGHTED."""
    if values is None or (isinstance(values, int) and values == MPI.UNWEIGHTED):
        return None
    if isinstance(values, int) and values == MPI.WEIGHTS_EMPTY:
        return []
    return [int(v) for v in values]


def _free(made: MPI.Comm, comm: MPI.Comm) -> None:
    if made != comm:
        made.Free()


def _stencil(stencil: Any, ndims: int) -> graph.Stencil:
    if stencil is None:
        stencil = config.get("TEMPI_CART_STENCIL")
    if isinstance(stencil, str):
        stencil = graph.Stencil.parse(stencil)
    elif not isinstance(stencil, graph.Stencil):
        stencil = graph.Stencil(tuple(float(f) for f in stencil))
    stencil.block(ndims)  # face weights for another number of dimensions: raise now
    return stencil


def cart(comm: MPI.Intracomm, dims, periods, stencil: Any = None) -> MPI.Comm | None:
    """A Cartesian communicator with tempi's placement, or None: the system MPI should
    create it (placement off, one node, or arguments it must judge). Collective."""
    dims = [int(d) for d in dims]
    periods = [bool(p) for p in periods]
    if _method() == "none" or not dims or len(periods) != len(dims) or min(dims) < 1:
        return None
    size = comm.Get_size()
    if int(np.prod(dims)) > size:
        return None
    model = _stencil(stencil, len(dims))
    decision, _ = _decide(comm, None, lambda _: graph.cartesian(dims, periods, model, size=size))
    if decision is None:
        return None
    placed = _reordered(comm, decision, "cart")
    try:
        return placed.Create_cart(dims, periods, False)
    finally:
        _free(placed, comm)


def _adjacency_graph(everything: list) -> graph.Graph:
    """Every rank's out-edges (destinations, weights) make the graph; the in-edges must
    mirror them (their weights are not read)."""
    n = len(everything)
    src, dst, w = [], [], []
    for u, (sources, sweights, dests, dweights) in enumerate(everything):
        for given, weights in ((sources, sweights), (dests, dweights)):
            if weights is not None and len(weights) != len(given):
                raise ValueError("as many weights as neighbours")
        src += [u] * len(dests)
        dst += dests
        w += dweights if dweights is not None else [1] * len(dests)
    ins = sorted((s, u) for u, (sources, *_rest) in enumerate(everything) for s in sources)
    if ins != sorted(zip(src, dst)):
        raise ValueError("the sources do not mirror the destinations")
    return graph.from_edges(n, src, dst, w)


def dist_graph_adjacent(
    comm: MPI.Intracomm, sources, destinations, sourceweights, destweights, info: MPI.Info
) -> MPI.Comm | None:
    """A distributed graph communicator with tempi's placement (the process that gets
    rank ``v`` gets the adjacency that rank ``v`` passed), or None (see :func:`cart`)."""
    if _method() == "none":
        return None
    mine = [_ranks(sources), _weights(sourceweights), _ranks(destinations), _weights(destweights)]
    decision, everything = _decide(comm, mine, _adjacency_graph)
    if decision is None:
        return None
    placed = _reordered(comm, decision, "dist_graph_adjacent")
    try:
        if decision["new"] is not None:
            mine = _move(comm, everything, decision["new"])
        s, sw, d, dw = mine
        return placed.Create_dist_graph_adjacent(s, d, sw, dw, info, False)
    finally:
        _free(placed, comm)


def _move(comm: MPI.Comm, everything: list | None, new: list[int]) -> list:
    """The adjacency of the rank this process now holds (from rank 0, which has all)."""
    parts = None
    if comm.Get_rank() == 0:
        parts = [None] * len(new)
        for process, vertex in enumerate(new):
            parts[process] = everything[vertex]
    return comm.scatter(parts, root=0)


def _edges_graph(everything: list) -> graph.Graph:
    n = len(everything)
    src, dst, w = [], [], []
    for sources, degrees, dests, weights in everything:
        if (
            len(sources) != len(degrees)
            or sum(degrees) != len(dests)
            or min(degrees, default=0) < 0
        ):
            raise ValueError("degrees do not match the destinations")
        if weights is not None and len(weights) != len(dests):
            raise ValueError("as many weights as edges")
        for s, d in zip(sources, degrees):
            src += [s] * d
        dst += dests
        w += weights if weights is not None else [1] * len(dests)
    return graph.from_edges(n, src, dst, w)


def dist_graph(
    comm: MPI.Intracomm, sources, degrees, destinations, weights, info: MPI.Info
) -> MPI.Comm | None:
    """A distributed graph communicator made with MPI_Dist_graph_create's arguments, with
    tempi's placement (the edges are global: each process passes its own again, now
    meaning the new ranks), or None (see :func:`cart`)."""
    if _method() == "none":
        return None
    mine = [_ranks(sources), _ranks(degrees), _ranks(destinations), _weights(weights)]
    decision, _ = _decide(comm, mine, _edges_graph)
    if decision is None:
        return None
    placed = _reordered(comm, decision, "dist_graph")
    try:
        s, g, d, w = mine
        return placed.Create_dist_graph(s, g, d, w, info, False)
    finally:
        _free(placed, comm)


def create_cart(
    comm: MPI.Intracomm, dims, periods=None, reorder: bool = False, stencil: Any = None
) -> MPI.Cartcomm:
    """``comm.Create_cart``, with tempi's placement when ``reorder``. ``stencil`` models
    the traffic: a :class:`~tempi.topology.graph.Stencil`, its text form or the face
    weights per dimension (default TEMPI_CART_STENCIL)."""
    periods = [False] * len(dims) if periods is None else periods
    made = cart(comm, dims, periods, stencil) if reorder else None
    return comm.Create_cart(dims, periods, reorder) if made is None else made


def create_dist_graph_adjacent(
    comm: MPI.Intracomm,
    sources,
    destinations,
    sourceweights=None,
    destweights=None,
    info: MPI.Info = MPI.INFO_NULL,
    reorder: bool = False,
) -> MPI.Distgraphcomm:
    """``comm.Create_dist_graph_adjacent``, with tempi's placement when ``reorder``."""
    args = (sources, destinations, sourceweights, destweights, info)
    made = dist_graph_adjacent(comm, *args) if reorder else None
    return comm.Create_dist_graph_adjacent(*args, reorder) if made is None else made


def create_dist_graph(
    comm: MPI.Intracomm,
    sources,
    degrees,
    destinations,
    weights=None,
    info: MPI.Info = MPI.INFO_NULL,
    reorder: bool = False,
) -> MPI.Distgraphcomm:
    """``comm.Create_dist_graph``, with tempi's placement when ``reorder``."""
    args = (sources, degrees, destinations, weights, info)
    made = dist_graph(comm, *args) if reorder else None
    return comm.Create_dist_graph(*args, reorder) if made is None else made
