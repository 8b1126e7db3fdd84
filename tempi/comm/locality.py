"""Whether a message's peer shares this rank's node: the peer locality the performance
model distinguishes (shared memory between ranks of one node, the network between nodes).

Finding out takes a collective (``MPI_Comm_split_type(MPI_COMM_TYPE_SHARED)``), and a
send is not one. So what is known is gathered at collective moments, best first:

* the ranks of a communicator on this node, learnt with :func:`node_ranks` where tempi
  already runs a collective on it (the duplicate it makes for its collectives);
* the world ranks on this node, which the interposer learns inside ``MPI_Init`` and
  hands over with :func:`set_world`;
* the launcher's word that every rank of the job is on one node (Open MPI's
  ``OMPI_COMM_WORLD_LOCAL_SIZE``, MPICH hydra's ``MPI_LOCALNRANKS``).

Otherwise the locality is unknown (None) and the model takes the peer to be on this node.
Locality only steers the choice of strategy: a wrong guess costs time, never bytes.

A simulated layout (``TEMPI_NODES``, see tempi.topology.nodes) replaces all three: every
answer then follows it, and no collective is needed.
"""

from __future__ import annotations

import os
from functools import cache

from mpi4py import MPI

from tempi.topology import nodes

_world: frozenset[int] | None = None


def node_ranks(comm: MPI.Comm) -> frozenset[int]:
    """Ranks of ``comm`` on this rank's node (collective over ``comm``)."""
    if nodes.simulated() is not None:
        layout = nodes.layout(comm)
        return frozenset(int(r) for r in (layout == layout[comm.Get_rank()]).nonzero()[0])
    node = comm.Split_type(MPI.COMM_TYPE_SHARED)
    try:
        mine = node.Get_group()
        theirs = comm.Get_group()
        ranks = MPI.Group.Translate_ranks(mine, list(range(node.Get_size())), theirs)
        mine.Free()
        theirs.Free()
        return frozenset(int(r) for r in ranks)
    finally:
        node.Free()


def set_world(ranks: frozenset[int] | None) -> None:
    """Record the ``MPI_COMM_WORLD`` ranks on this node (None: forget)."""
    global _world
    _world = ranks


@cache
def launcher_one_node() -> bool:
    """Whether the launcher says all ranks of the job run on this node."""
    env = os.environ
    for local, total in (
        ("OMPI_COMM_WORLD_LOCAL_SIZE", "OMPI_COMM_WORLD_SIZE"),
        ("MPI_LOCALNRANKS", "PMI_SIZE"),
    ):
        if env.get(local) and env.get(local) == env.get(total):
            return True
    return False


def peer_local(comm: MPI.Comm, peer: int, local_ranks: frozenset[int] | None = None) -> bool | None:
    """Whether rank ``peer`` of ``comm`` is on this node; ``local_ranks`` are the ranks
    of ``comm`` on this node where known (from :func:`node_ranks`). None when it cannot
    be told (also for ``MPI_ANY_SOURCE`` and ``MPI_PROC_NULL``). Called for every message:
    only a communicator other than the world, before tempi has learnt its ranks, costs a
    group translation."""
    if peer < 0:
        return None
    if local_ranks is not None:
        return peer in local_ranks
    here = _world
    if here is None and nodes.simulated() is not None:
        here = _simulated_world(MPI.COMM_WORLD.Get_rank(), MPI.COMM_WORLD.Get_size())
    if here is not None:
        if len(here) == MPI.COMM_WORLD.Get_size():
            return True
        if comm == MPI.COMM_WORLD:
            return peer in here
        if comm.Is_inter():  # the peer is in the remote group, which Get_group is not
            return None
        group, world = comm.Get_group(), MPI.COMM_WORLD.Get_group()
        try:
            (rank,) = MPI.Group.Translate_ranks(group, [peer], world)
        finally:
            group.Free()
            world.Free()
        return None if rank == MPI.UNDEFINED else rank in here
    return True if launcher_one_node() else None


def _simulated_world(rank: int, size: int) -> frozenset[int]:
    """The world ranks on this rank's simulated node (TEMPI_NODES)."""
    key = (rank, size, nodes.simulated())
    if _simulated.get("key") != key:
        names = nodes.world_node_of(size)
        _simulated["key"] = key
        _simulated["ranks"] = frozenset(map(int, (names == names[rank]).nonzero()[0]))
    return _simulated["ranks"]


_simulated: dict = {}


def all_local(
    comm: MPI.Comm, peers: list[int], local_ranks: frozenset[int] | None = None
) -> bool | None:
    """Whether every peer (``MPI_PROC_NULL`` aside) is on this node: False if one is not,
    None if one cannot be told."""
    answers = {peer_local(comm, p, local_ranks) for p in set(peers) if p >= 0}
    if False in answers:
        return False
    return None if None in answers else True
