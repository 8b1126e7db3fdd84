"""Under mpiexec on one machine every rank shares the node: node_ranks says so, the
launcher says so, and tempi.Comm learns it at its first collective."""

from __future__ import annotations

import numpy as np
from mpi4py import MPI

import tempi
from tempi.comm import locality


def test_every_rank_on_this_node():
    world = MPI.COMM_WORLD
    assert locality.node_ranks(world) == frozenset(range(world.size))
    assert locality.launcher_one_node()


def test_comm_learns_at_its_first_collective(tempi_env):
    tempi_env(TEMPI_HOST="1")
    world = MPI.COMM_WORLD
    comm = tempi.Comm(world)
    try:
        assert comm._local is None
        send = np.arange(world.size, dtype=np.float64) + 10 * world.rank
        recv = np.zeros_like(send)
        ones, displs = [1] * world.size, list(range(world.size))
        comm.Alltoallv([send, (ones, displs), MPI.DOUBLE], [recv, (ones, displs), MPI.DOUBLE])
        assert comm._local == frozenset(range(world.size))
        assert recv.tolist() == [10.0 * r + world.rank for r in range(world.size)]
    finally:
        comm.Free()
