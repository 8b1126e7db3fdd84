"""tempi.Comm's Alltoallv, Alltoallw and neighbor collectives on host memory (TEMPI_HOST=1, every
strategy) against the system MPI's own collective on copies of the same arrays.

The halo exchange: a periodic 3-D Cartesian communicator (``MPI.Compute_dims(size, 3)``, so
dimensions of extent 1 and 2 occur, where both neighbours are the same rank), a local block
with one ghost cell on each side, and one subarray type per face: slot 2d sends the face
next to the lower ghost of dimension d, slot 2d+1 the upper one; the receive types are the
ghost layers."""

from __future__ import annotations

import numpy as np
import pytest
from mpi4py import MPI

import tempi

INTERIOR = (3, 4, 5)
FULL = tuple(n + 2 for n in INTERIOR)


@pytest.fixture
def cart():
    dims = MPI.Compute_dims(MPI.COMM_WORLD.size, 3)
    comm = MPI.COMM_WORLD.Create_cart(dims, periods=[True] * 3, reorder=False)
    yield comm
    comm.Free()


@pytest.fixture
def ring_graph():
    """A dist-graph communicator with one edge: from the left neighbour, to the right one."""
    world = MPI.COMM_WORLD
    left, right = (world.rank - 1) % world.size, (world.rank + 1) % world.size
    comm = world.Create_dist_graph_adjacent([left], [right], reorder=False)
    yield comm
    comm.Free()


def _run_tempi(topo: MPI.Comm, name: str, sendspec: list, recvspec: list) -> None:
    comm = tempi.Comm(topo)
    try:
        getattr(comm, name)(sendspec, recvspec)
    finally:
        comm.Free()


def _compare(topo, name, sendbuf, recvbuf, make_specs) -> None:
    """Run ``name`` through tempi and through the system MPI on copies; the receive
    buffers must match byte for byte and the send buffer must stay as it was."""
    ref_send, ref_recv = sendbuf.copy(), recvbuf.copy()
    initial = recvbuf.copy()
    getattr(topo, name)(*make_specs(ref_send, ref_recv))
    assert not np.array_equal(ref_recv, initial), "the reference exchange moved nothing"
    _run_tempi(topo, name, *make_specs(sendbuf, recvbuf))
    assert np.array_equal(recvbuf.view(np.uint8), ref_recv.view(np.uint8))
    assert np.array_equal(sendbuf, ref_send), "send buffer changed"


def _faces(mode: str, itemsize: int) -> tuple[list, list, list[int], list[int]]:
    """(send types, receive types, send byte displacements, receive byte displacements),
    one per neighbour slot. ``starts`` puts the face's offset in the subarray; ``displs``
    builds the subarray at index 0 of dimension d and moves it with the byte displacement."""
    strides = [itemsize * int(np.prod(FULL[d + 1 :])) for d in range(3)]
    sends, recvs, sdispls, rdispls = [], [], [], []
    for d in range(3):
        for side in (0, 1):
            sub = list(INTERIOR)
            sub[d] = 1
            for index, types, displs in (
                (1 if side == 0 else INTERIOR[d], sends, sdispls),
                (0 if side == 0 else INTERIOR[d] + 1, recvs, rdispls),
            ):
                start = [1, 1, 1]
                start[d] = index if mode == "starts" else 0
                types.append(MPI.DOUBLE.Create_subarray(FULL, sub, start).Commit())
                displs.append(0 if mode == "starts" else index * strides[d])
    return sends, recvs, sdispls, rdispls


def _block(rank: int, salt: float) -> np.ndarray:
    return (np.arange(np.prod(FULL), dtype=np.float64) + 1000.0 * rank + salt).reshape(FULL)


@pytest.mark.mpi(min_size=1)
@pytest.mark.parametrize("mode", ["starts", "displs"])
def test_neighbor_alltoallw_halo(strategy, cart, mode, engine_ran):
    sends, recvs, sdispls, rdispls = _faces(mode, 8)
    ones = [1] * 6
    before = tempi.comm.engine.paths()
    batched, in_c = before.get("batched", 0), before.get("engine", 0)
    try:
        a, b = _block(cart.rank, 0.5), -_block(cart.rank, 0.25)

        def specs(sendbuf, recvbuf):
            return [sendbuf, ones, sdispls, sends], [recvbuf, ones, rdispls, recvs]

        _compare(cart, "Neighbor_alltoallw", a, b, specs)
    finally:
        for t in sends + recvs:
            t.Free()
    # the ghost layers hold the neighbours' faces, the interior is untouched
    assert np.array_equal(b[1:-1, 1:-1, 1:-1], -_block(cart.rank, 0.25)[1:-1, 1:-1, 1:-1])
    source, _ = cart.Shift(0, 1)
    assert np.array_equal(b[0, 1:-1, 1:-1], _block(source, 0.5)[-2, 1:-1, 1:-1])
    engine_ran()
    # every part on tempi's path: one pack and one unpack for all of them, or (auto, host
    # memory) each part in the C engine
    after = tempi.comm.engine.paths()
    if strategy == "auto" and after.get("engine", 0) > in_c:
        assert after.get("batched", 0) == batched
    else:
        assert after["batched"] == batched + 1


@pytest.mark.mpi(min_size=1)
def test_neighbor_alltoallw_open_boundaries(strategy):
    """A non-periodic grid: neighbours beyond the edge are MPI_PROC_NULL, whose slots
    neither send nor receive; the rest must match the system MPI's exchange."""
    dims = MPI.Compute_dims(MPI.COMM_WORLD.size, 3)
    cart = MPI.COMM_WORLD.Create_cart(dims, periods=[False] * 3, reorder=False)
    sends, recvs, sdispls, rdispls = _faces("starts", 8)
    ones = [1] * 6
    try:
        a, b = _block(cart.rank, 0.5), -_block(cart.rank, 0.25)
        ref = b.copy()
        specs = ([a, ones, sdispls, sends], [ref, ones, rdispls, recvs])
        cart.Neighbor_alltoallw(*specs)
        _run_tempi(cart, "Neighbor_alltoallw", [a, ones, sdispls, sends], [b, ones, rdispls, recvs])
        assert np.array_equal(b, ref)
        initial = -_block(cart.rank, 0.25)
        for d in range(3):
            lower, _ = cart.Shift(d, 1)
            ghost = np.take(b, 0, axis=d)[1:-1, 1:-1]
            if lower == MPI.PROC_NULL:
                assert np.array_equal(ghost, np.take(initial, 0, axis=d)[1:-1, 1:-1])
            else:
                assert not np.array_equal(ghost, np.take(initial, 0, axis=d)[1:-1, 1:-1])
    finally:
        for t in sends + recvs:
            t.Free()
        cart.Free()


# a vector and an indexed type of the same signature (6 ints), so every receive converts
SENDTYPE = lambda: MPI.INT.Create_vector(3, 2, 4)  # noqa: E731
RECVTYPE = lambda: MPI.INT.Create_indexed([2, 2, 2], [0, 3, 7])  # noqa: E731


def _typed(datatype: MPI.Datatype, elements: int, rank: int, salt: int) -> np.ndarray:
    extent = datatype.Get_extent()[1]
    rng = np.random.default_rng(97 * rank + salt)
    return rng.integers(-(2**31), 2**31, (extent * elements + 16) // 4, dtype=np.int32)


@pytest.mark.mpi(min_size=1)
@pytest.mark.parametrize("recv_order", ["same", "reversed"])
def test_neighbor_alltoallv_cart(strategy, cart, recv_order, wire, engine_ran):
    counts = [1, 1, 2, 2, 3, 3]  # the same both ways along a dimension, as MPI requires
    sendtype, recvtype = SENDTYPE().Commit(), RECVTYPE().Commit()
    try:
        sdispls, rdispls = wire.displs(counts, False), wire.displs(counts, recv_order == "reversed")
        a, b = _typed(sendtype, 12, cart.rank, 1), _typed(recvtype, 12, cart.rank, 2)

        def specs(sendbuf, recvbuf):
            return [sendbuf, counts, sdispls, sendtype], [recvbuf, counts, rdispls, recvtype]

        _compare(cart, "Neighbor_alltoallv", a, b, specs)
    finally:
        sendtype.Free()
        recvtype.Free()
    engine_ran()


@pytest.mark.mpi(min_size=1)
def test_neighbor_alltoallv_dist_graph(strategy, ring_graph, usertype, wire, engine_ran):
    rank = MPI.COMM_WORLD.rank
    a = wire.payload(usertype, 4, rank, 1)
    b = wire.payload(usertype, 4, rank, -1)

    def specs(sendbuf, recvbuf):
        return [sendbuf, [3], [1], usertype], [recvbuf, [3], [0], usertype]

    _compare(ring_graph, "Neighbor_alltoallv", a, b, specs)
    engine_ran(usertype.Get_size() * 3)


@pytest.mark.mpi(min_size=1)
def test_neighbor_alltoallw_dist_graph(strategy, ring_graph, usertype, wire, engine_ran):
    rank, extent = MPI.COMM_WORLD.rank, usertype.Get_extent()[1]
    a = wire.payload(usertype, 3, rank, 3)
    b = wire.payload(usertype, 3, rank, -3)

    def specs(sendbuf, recvbuf):
        return [sendbuf, [2], [extent], [usertype]], [recvbuf, [2], [0], [usertype]]

    _compare(ring_graph, "Neighbor_alltoallw", a, b, specs)
    engine_ran()


@pytest.mark.mpi(min_size=1)
@pytest.mark.parametrize("recv_order", ["same", "reversed"])
def test_alltoallv(strategy, usertype, recv_order, wire, engine_ran):
    world = MPI.COMM_WORLD
    # rank r sends 1 + (r + j) % 3 elements to rank j: symmetric, so receives match
    counts = [1 + (world.rank + j) % 3 for j in range(world.size)]
    sdispls, rdispls = wire.displs(counts, False), wire.displs(counts, recv_order == "reversed")
    a = wire.payload(usertype, sum(counts), world.rank, 5)
    b = wire.payload(usertype, sum(counts), world.rank, -5)

    def specs(sendbuf, recvbuf):
        return [sendbuf, counts, sdispls, usertype], [recvbuf, counts, rdispls, usertype]

    _compare(world, "Alltoallv", a, b, specs)
    engine_ran()


@pytest.mark.mpi(min_size=1)
def test_alltoallv_converting_types(strategy, wire, engine_ran):
    world = MPI.COMM_WORLD
    counts = [2] * world.size
    displs = wire.displs(counts, False)
    sendtype, recvtype = SENDTYPE().Commit(), RECVTYPE().Commit()
    try:
        a = _typed(sendtype, 2 * world.size, world.rank, 7)
        b = _typed(recvtype, 2 * world.size, world.rank, 8)

        def specs(sendbuf, recvbuf):
            return [sendbuf, counts, displs, sendtype], [recvbuf, (counts, displs), recvtype]

        _compare(world, "Alltoallv", a, b, specs)
    finally:
        sendtype.Free()
        recvtype.Free()
    engine_ran()


@pytest.mark.mpi(min_size=1)
def test_alltoallw_column_blocks(strategy, engine_ran):
    """A slab FFT's redistribution: rank j gets columns [2j, 2j+2) of every rank's
    2 x (2 size + 1) array; one send type moved by byte displacements, one receive type
    per peer placed by its subarray start."""
    world = MPI.COMM_WORLD
    shape = [2, 2 * world.size + 1]
    block = MPI.DOUBLE.Create_subarray(shape, [2, 2], [0, 0]).Commit()
    placed = [
        MPI.DOUBLE.Create_subarray(shape, [2, 2], [0, 2 * j]).Commit() for j in range(world.size)
    ]
    try:
        a = np.arange(np.prod(shape), dtype=np.float64) + 1000.0 * world.rank
        b = np.full(np.prod(shape), -1.0)
        ones, zeros = [1] * world.size, [0] * world.size
        sdispls = [16 * j for j in range(world.size)]

        def specs(sendbuf, recvbuf):
            return [sendbuf, ones, sdispls, [block] * world.size], [
                recvbuf,
                (ones, zeros),
                placed,
            ]

        _compare(world, "Alltoallw", a, b, specs)
    finally:
        block.Free()
        for datatype in placed:
            datatype.Free()
    engine_ran()


@pytest.mark.mpi(min_size=1)
@pytest.mark.parametrize("recv_order", ["same", "reversed"])
def test_alltoallw_user_types(strategy, usertype, recv_order, wire, engine_ran):
    world = MPI.COMM_WORLD
    extent = usertype.Get_extent()[1]
    counts = [1 + (world.rank + j) % 3 for j in range(world.size)]
    sdispls = [extent * d for d in wire.displs(counts, False)]
    rdispls = [extent * d for d in wire.displs(counts, recv_order == "reversed")]
    types = [usertype] * world.size
    a = wire.payload(usertype, sum(counts), world.rank, 9)
    b = wire.payload(usertype, sum(counts), world.rank, -9)

    def specs(sendbuf, recvbuf):
        return [sendbuf, counts, sdispls, types], [recvbuf, counts, rdispls, types]

    _compare(world, "Alltoallw", a, b, specs)
    engine_ran()
