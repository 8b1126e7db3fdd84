"""Which node each rank is on: the real one, from ``MPI_Comm_split_type(
MPI_COMM_TYPE_SHARED)``, or a simulated layout for testing and for asking "what if" on one
machine.

``TEMPI_NODES=N`` (or ``N:block``) puts world rank ``r`` of ``S`` on node ``r * N // S``:
contiguous blocks whose sizes differ by at most one, as ``mpiexec`` fills nodes by slot;
``N:cyclic`` puts it on node ``r % N``, as ``--map-by node`` deals ranks round-robin. The
interposer's C side (``tempi_node_of`` in native/interposer.c) computes the same layout, and
every locality decision follows it (tempi.comm.locality).

Nodes are named by their lowest world rank in :func:`world_node_of` (what the interposer's
``tempi_node_of`` returns) and numbered 0..k-1 in order of that rank by :func:`layout`.
"""

from __future__ import annotations

import numpy as np
from mpi4py import MPI

from tempi import config


def simulated() -> tuple[int, str] | None:
    """``(N, "block" | "cyclic")`` when TEMPI_NODES is set, else None."""
    return config.get("TEMPI_NODES")


def simulated_index(rank, size: int, nodes: int, assign: str):
    """The simulated node (0..nodes-1) of world rank(s) ``rank`` among ``size``."""
    rank = np.asarray(rank)
    return rank % nodes if assign == "cyclic" else rank * nodes // size


def world_node_of(size: int) -> np.ndarray | None:
    """Under TEMPI_NODES: the lowest world rank on each world rank's simulated node."""
    found = simulated()
    if found is None:
        return None
    index = simulated_index(np.arange(size), size, *found)
    lowest = np.full(found[0], size)
    np.minimum.at(lowest, index, np.arange(size))
    return lowest[index]


def _world_ranks(comm: MPI.Comm) -> np.ndarray:
    group, world = comm.Get_group(), MPI.COMM_WORLD.Get_group()
    try:
        ranks = MPI.Group.Translate_ranks(group, list(range(group.Get_size())), world)
    finally:
        group.Free()
        world.Free()
    return np.asarray(ranks, np.int64)


def _number(names: np.ndarray) -> np.ndarray:
    """Node names -> 0..k-1 in order of the name."""
    return np.unique(names, return_inverse=True)[1].astype(np.int64)


def layout(comm: MPI.Comm) -> np.ndarray:
    """``node[r]`` for every rank ``r`` of ``comm``, numbered 0..k-1 in order of each
    node's lowest world rank (collective over ``comm``)."""
    world_size = MPI.COMM_WORLD.Get_size()
    names = world_node_of(world_size)
    if names is not None:
        return _number(names[_world_ranks(comm)])
    node = comm.Split_type(MPI.COMM_TYPE_SHARED)
    try:
        lowest = node.allreduce(MPI.COMM_WORLD.Get_rank(), op=MPI.MIN)
    finally:
        node.Free()
    return _number(np.asarray(comm.allgather(lowest), np.int64))


def describe() -> str:
    """One line for ``tempi info``: the layout tempi uses."""
    found = simulated()
    if found is None:
        return "real (MPI_Comm_split_type(MPI_COMM_TYPE_SHARED))"
    nodes, assign = found
    size = MPI.COMM_WORLD.Get_size()
    size = size if size > 1 else 2 * nodes  # outside a job: an example
    index = simulated_index(np.arange(size), size, nodes, assign)
    ranks = " | ".join(",".join(map(str, np.flatnonzero(index == j))) for j in range(nodes))
    return f"simulated: {nodes} nodes, {assign} (TEMPI_NODES); {size} world ranks: {ranks}"
