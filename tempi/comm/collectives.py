"""Alltoallv, Alltoallw and the neighbor collectives, built on the engine's sends and receives.

Every part (one peer's count and displacement) is a message of its own; receives are
posted first, then sends, then all are completed. When every part is in the same memory
and on tempi's packed path, :mod:`tempi.comm.batch` packs all sends with one kernel and
unpacks all receives with another. They travel on a private duplicate of
the communicator, so they never match the application's point-to-point messages. Sends
reach MPI as their packs finish, in no fixed order, so the k-th part between two ranks
carries tag ``TAG + k`` and matches the k-th whatever the order (a rank may be a
neighbour several times); on Cartesian communicators tags by slot also keep the two
directions of a dimension apart.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from mpi4py import MPI
from mpi4py.util.dtlib import from_numpy_dtype

from tempi.comm import batch, engine
from tempi.comm.message import as_message, at_address
from tempi.comm.requests import Request
from tempi.comm.settle import settle_operations

TAG = 7007


def _parts(spec: Any, peers: int, displs_in_bytes: bool) -> list[Any]:
    """[buf, counts, displs, datatype(s)] or [buf, (counts, displs), datatype(s)] -> one
    mpi4py spec per peer, each a window of the buffer starting at its displacement."""
    if len(spec) == 3:
        buf, (counts, displs), types = spec
    else:
        buf, counts, displs, types = spec
    if isinstance(types, MPI.Datatype):
        types = [types] * peers
    parts = []
    for count, displ, datatype in zip(counts, displs, types):
        offset = displ if displs_in_bytes else displ * datatype.Get_extent()[1]
        if buf is MPI.BOTTOM:
            parts.append(at_address(offset, count, datatype))
        else:
            parts.append([_window(buf, offset), count, datatype])
    return parts


def blocks(spec: Any, size: int, vector: bool) -> list[Any]:
    """One mpi4py spec per rank of a gather's receive buffer (or a scatter's send buffer):
    ``[buf, count, datatype]`` with the count per rank (default: an equal share of the
    buffer), or with ``vector`` ``[buf, counts, displs, datatype]``, ``[buf, (counts,
    displs), datatype]`` or ``[buf, counts, datatype]`` (back to back); displacements in
    extents, as in mpi4py."""
    buf, *rest = spec if isinstance(spec, (list, tuple)) else [spec]
    datatype = rest.pop() if rest and isinstance(rest[-1], MPI.Datatype) else None
    if datatype is None:
        datatype = from_numpy_dtype(buf.dtype)
    extent = datatype.Get_extent()[1]
    if not vector:
        if rest:
            count = rest[0]
        else:
            count = memoryview(buf).nbytes if not hasattr(buf, "nbytes") else buf.nbytes
            count = count // extent // size if extent > 0 else 0
        counts, displs = [count] * size, [count * j for j in range(size)]
    else:
        counts, displs = rest if len(rest) == 2 else (rest[0], None)
        if isinstance(counts, tuple) and displs is None:
            counts, displs = counts
        if displs is None:
            displs = [int(d) for d in np.cumsum([0] + list(counts)[:-1])]
    return _parts([buf, counts, displs, datatype], size, False)


def _window(buf: Any, offset: int) -> Any:
    """``buf`` seen from byte ``offset`` on (a uint8 view, no copy)."""
    flat = buf.reshape(-1).view("u1") if hasattr(buf, "reshape") else memoryview(buf).cast("B")
    return flat[offset:]


def exchange(
    comm: MPI.Comm,
    sends: list[Any],
    dests: list[int],
    recvs: list[Any],
    sources: list[int],
    tags: tuple[list[int], list[int]] | None = None,
    local_ranks: frozenset[int] | None = None,
) -> None:
    """Post every receive, start every send's pack, then complete all (each send goes to
    MPI as its pack finishes); ``tags`` gives each send and receive slot its tag
    (default: the k-th part between two ranks gets ``TAG + k``); ``local_ranks``: the
    ranks of ``comm`` on this node, where known. Each message is routed once. Should
    tempi fail midway, every peer still gets and gives its bytes
    (:mod:`tempi.comm.settle`) before the failure is raised here."""
    send_tags, recv_tags = tags or (_occurrences(dests), _occurrences(sources))
    sends = [as_message(s, writable=False) for s in sends]
    recvs = [as_message(r, writable=True) for r in recvs]
    outgoing = [(m.nbytes, d, t) for m, d, t in zip(sends, dests, send_tags)]
    incoming = [(m.nbytes, s, t) for m, s, t in zip(recvs, sources, recv_tags)]
    try:
        send_paths = [engine.route_to(comm, m, d, local_ranks) for m, d in zip(sends, dests)]
        recv_paths = [engine.route_to(comm, m, s, local_ranks) for m, s in zip(recvs, sources)]
    except Exception:  # refused here: the peers still get and give their bytes
        settle_operations(comm, outgoing, [], incoming, [])
        raise
    if batch.exchange(
        comm,
        sends,
        dests,
        send_tags,
        recvs,
        sources,
        recv_tags,
        send_paths + recv_paths,
        local_ranks,
    ):
        return
    receives: list[Any] = []
    started: list[Any] = []
    try:
        for m, source, tag, path in zip(recvs, sources, recv_tags, recv_paths):
            receives.append(engine.irecv_message(comm, m, source, tag, path=path))
        for m, dest, tag, path in zip(sends, dests, send_tags, send_paths):
            started.append(engine.isend_message(comm, m, dest, tag, deferred=True, path=path))
        Request.Waitall(receives + started)
    except Exception:  # no peer may wait for this rank: it gets its bytes, and gives
        settle_operations(comm, outgoing, started, incoming, receives)
        raise


def _occurrences(peers: list[int]) -> list[int]:
    """``TAG + k`` for the k-th appearance of each peer in ``peers``."""
    seen: dict[int, int] = {}
    tags = []
    for peer in peers:
        tags.append(TAG + seen.get(peer, 0))
        seen[peer] = seen.get(peer, 0) + 1
    return tags


def neighbors(comm: MPI.Comm) -> tuple[list[int], list[int], tuple[list[int], list[int]] | None]:
    """(sources, destinations, tags) of a topology communicator, in MPI's neighbor order.

    On a Cartesian communicator the block sent toward the -1 neighbour of a dimension
    arrives in that neighbour's +1 slot and vice versa, which with 1 or 2 ranks along a
    periodic dimension is the same rank twice: tags by slot keep the directions apart
    (send slot 2d carries the tag of receive slot 2d+1, and 2d+1 that of 2d)."""
    topology = comm.Get_topology()
    if topology == MPI.CART:
        ranks = []
        for dim in range(comm.Get_dim()):
            ranks.extend(comm.Shift(dim, 1))
        slots = range(len(ranks))
        return ranks, ranks, ([TAG + (k ^ 1) for k in slots], [TAG + k for k in slots])
    if topology == MPI.GRAPH:
        ranks = comm.Get_neighbors(comm.Get_rank())
        return ranks, ranks, None
    if topology == MPI.DIST_GRAPH:
        sources, destinations, _ = comm.Get_dist_neighbors()
        return list(sources), list(destinations), None
    raise ValueError("neighbor collectives need a communicator with a topology")


def alltoall(
    comm: MPI.Comm,
    sendspec: Any,
    recvspec: Any,
    displs_in_bytes: bool,
    local_ranks: frozenset[int] | None = None,
) -> None:
    """Alltoallv (displacements in extents) or Alltoallw (in bytes, a type per peer)."""
    size = comm.Get_size()
    peers = list(range(size))
    sends = _parts(sendspec, size, displs_in_bytes)
    recvs = _parts(recvspec, size, displs_in_bytes)
    exchange(comm, sends, peers, recvs, peers, local_ranks=local_ranks)


def topology_comm(comm: MPI.Comm) -> MPI.Comm:
    """``comm`` as the mpi4py class of its topology (a handle from C arrives as a plain
    Comm, which has no Shift or Get_dist_neighbors)."""
    kinds = {MPI.CART: MPI.Cartcomm, MPI.GRAPH: MPI.Graphcomm, MPI.DIST_GRAPH: MPI.Distgraphcomm}
    kind = kinds.get(comm.Get_topology())
    return kind.f2py(comm.py2f()) if kind is not None else comm


def neighbor_alltoall(
    comm: MPI.Comm,
    topo: MPI.Comm,
    sendspec: Any,
    recvspec: Any,
    displs_in_bytes: bool,
    local_ranks: frozenset[int] | None = None,
) -> None:
    sources, destinations, tags = neighbors(topo)
    sends = _parts(sendspec, len(destinations), displs_in_bytes)
    recvs = _parts(recvspec, len(sources), displs_in_bytes)
    exchange(comm, sends, destinations, recvs, sources, tags, local_ranks)
