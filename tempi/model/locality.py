"""Which ranks share this node: the peer locality the model distinguishes (shared memory
between ranks of one node, the network between nodes).

:func:`node_ranks` is collective (``MPI_Comm_split_type(MPI_COMM_TYPE_SHARED)``): call it
once when a communicator is set up, on every rank, never lazily inside one send.
"""

from __future__ import annotations

from mpi4py import MPI


def node_ranks(comm: MPI.Comm) -> frozenset[int]:
    """Ranks of ``comm`` on this rank's node (collective over ``comm``)."""
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
