"""Alltoallv and the neighbor collectives, built on the engine's sends and receives.

Every part (one peer's count and displacement) is a message of its own; receives are
posted first, then sends, then all are completed. They travel on a private duplicate of
the communicator, so they never match the application's point-to-point messages, and with
one tag, so messages between the same two ranks match in the order of the neighbor lists,
as in MPI.
"""

from __future__ import annotations

from typing import Any

from mpi4py import MPI

from tempi.comm import engine
from tempi.comm.requests import Request

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
        parts.append([_window(buf, offset), count, datatype])
    return parts


def _window(buf: Any, offset: int) -> Any:
    """``buf`` seen from byte ``offset`` on (a uint8 view, no copy)."""
    flat = buf.reshape(-1).view("u1") if hasattr(buf, "reshape") else memoryview(buf).cast("B")
    return flat[offset:]


def exchange(
    comm: MPI.Comm, sends: list[Any], dests: list[int], recvs: list[Any], sources: list[int]
) -> None:
    requests = [engine.irecv(comm, spec, source, TAG) for spec, source in zip(recvs, sources)]
    requests += [engine.isend(comm, spec, dest, TAG) for spec, dest in zip(sends, dests)]
    Request.Waitall(requests)


def neighbors(comm: MPI.Comm) -> tuple[list[int], list[int]]:
    """(sources, destinations) of a topology communicator, in MPI's neighbor order."""
    topology = comm.Get_topology()
    if topology == MPI.CART:
        ranks = []
        for dim in range(comm.Get_dim()):
            ranks.extend(comm.Shift(dim, 1))
        return ranks, ranks
    if topology == MPI.GRAPH:
        ranks = comm.Get_neighbors(comm.Get_rank())
        return ranks, ranks
    if topology == MPI.DIST_GRAPH:
        sources, destinations, _ = comm.Get_dist_neighbors()
        return list(sources), list(destinations)
    raise ValueError("neighbor collectives need a communicator with a topology")


def alltoallv(comm: MPI.Comm, sendspec: Any, recvspec: Any) -> None:
    size = comm.Get_size()
    peers = list(range(size))
    exchange(comm, _parts(sendspec, size, False), peers, _parts(recvspec, size, False), peers)


def neighbor_alltoall(
    comm: MPI.Comm, topo: MPI.Comm, sendspec: Any, recvspec: Any, displs_in_bytes: bool
) -> None:
    sources, destinations = neighbors(topo)
    sends = _parts(sendspec, len(destinations), displs_in_bytes)
    recvs = _parts(recvspec, len(sources), displs_in_bytes)
    exchange(comm, sends, destinations, recvs, sources)
