"""tempi.Comm point-to-point on host memory (TEMPI_HOST=1, every strategy): tempi to tempi and
tempi to plain mpi4py in both directions, wildcards, short receives, Ssend, Sendrecv and bare
non-contiguous NumPy views. The expected bytes are MPI_Unpack(MPI_Pack(sent)) into the
receiver's initial bytes. Size-agnostic: each rank sends right and receives from the left
(itself at one rank) with a non-blocking send, so no rank ever blocks on a send to itself."""

from __future__ import annotations

import gc

import numpy as np
import pytest
from mpi4py import MPI

import tempi
from tempi.model import choose

TEMPI, PLAIN = "tempi", "plain"
# (sender, receiver): the rank sends with the first and receives with the second, so around
# the ring every rank's message crosses from one kind to the other
PAIRS = [(TEMPI, TEMPI), (TEMPI, PLAIN), (PLAIN, TEMPI)]
PAIR_IDS = [f"{s}-to-{r}" for s, r in PAIRS]


def _comm(kind: str):
    return tempi.Comm(MPI.COMM_WORLD) if kind == TEMPI else MPI.COMM_WORLD


def _check_status(status: MPI.Status, source: int, tag: int, count: int, datatype) -> None:
    assert status.Get_source() == source
    assert status.Get_tag() == tag
    assert status.Get_count(datatype) == count
    assert status.Get_count(MPI.BYTE) == count * datatype.Get_size()


@pytest.mark.mpi(min_size=1)
@pytest.mark.parametrize("count", [1, 3])
@pytest.mark.parametrize(("sender", "receiver"), PAIRS, ids=PAIR_IDS)
def test_ring_transfer(strategy, usertype, count, sender, receiver, wire, neighbours, engine_ran):
    dest, source = neighbours
    rank, tag = MPI.COMM_WORLD.rank, 11
    mine = wire.payload(usertype, count, rank, tag)
    target = wire.payload(usertype, count, rank, -tag)
    expected = wire.delivered(wire.payload(usertype, count, source, tag), count, usertype, target)
    status = MPI.Status()
    request = _comm(sender).Isend([mine, count, usertype], dest, tag)
    _comm(receiver).Recv([target, count, usertype], source, tag, status)
    request.Wait()
    assert np.array_equal(target, expected)
    assert np.array_equal(mine, wire.payload(usertype, count, rank, tag)), "send buffer changed"
    _check_status(status, source, tag, count, usertype)
    engine_ran(usertype.Get_size() * count)


@pytest.mark.mpi(min_size=2)
@pytest.mark.parametrize(("sender", "receiver"), PAIRS, ids=PAIR_IDS)
def test_blocking_send_between_pairs(strategy, usertype, sender, receiver, wire, engine_ran):
    """Send/Recv between ranks 2k and 2k+1 (a rank left without a partner sits out)."""
    world, count, tag = MPI.COMM_WORLD, 3, 12
    partner = world.rank ^ 1
    if partner >= world.size:
        pytest.skip("no partner rank")
    target = wire.payload(usertype, count, world.rank, -tag)
    expected = wire.delivered(wire.payload(usertype, count, partner, tag), count, usertype, target)
    mine = wire.payload(usertype, count, world.rank, tag)
    status = MPI.Status()
    if world.rank % 2 == 0:
        _comm(sender).Send([mine, count, usertype], partner, tag)
        _comm(receiver).Recv([target, count, usertype], partner, tag, status)
    else:
        _comm(receiver).Recv([target, count, usertype], partner, tag, status)
        _comm(sender).Send([mine, count, usertype], partner, tag)
    assert np.array_equal(target, expected)
    _check_status(status, partner, tag, count, usertype)
    engine_ran(usertype.Get_size() * count)


@pytest.mark.mpi(min_size=1)
@pytest.mark.parametrize(("sender", "receiver"), PAIRS, ids=PAIR_IDS)
def test_wildcard_source_and_tag(strategy, usertype, sender, receiver, wire, neighbours):
    dest, source = neighbours
    rank, count = MPI.COMM_WORLD.rank, 3
    mytag, theirtag = 100 + rank, 100 + source
    target = wire.payload(usertype, count, rank, -1)
    expected = wire.delivered(
        wire.payload(usertype, count, source, theirtag), count, usertype, target
    )
    status = MPI.Status()
    request = _comm(sender).Isend(
        [wire.payload(usertype, count, rank, mytag), count, usertype], dest, mytag
    )
    _comm(receiver).Recv([target, count, usertype], MPI.ANY_SOURCE, MPI.ANY_TAG, status)
    request.Wait()
    assert np.array_equal(target, expected)
    _check_status(status, source, theirtag, count, usertype)


@pytest.mark.mpi(min_size=1)
def test_wildcard_irecv_status(strategy, usertype, wire, neighbours, engine_ran):
    """tempi Irecv with both wildcards: the status of Wait carries source, tag and count."""
    dest, source = neighbours
    comm, rank, count = tempi.Comm(MPI.COMM_WORLD), MPI.COMM_WORLD.rank, 3
    target = wire.payload(usertype, count, rank, -2)
    expected = wire.delivered(
        wire.payload(usertype, count, source, 200 + source), count, usertype, target
    )
    recv = comm.Irecv([target, count, usertype], MPI.ANY_SOURCE, MPI.ANY_TAG)
    send = comm.Isend(
        [wire.payload(usertype, count, rank, 200 + rank), count, usertype], dest, 200 + rank
    )
    status = MPI.Status()
    recv.Wait(status)
    send.Wait()
    assert np.array_equal(target, expected)
    _check_status(status, source, 200 + source, count, usertype)
    engine_ran(usertype.Get_size() * count)


@pytest.mark.mpi(min_size=1)
@pytest.mark.parametrize(("sender", "receiver"), PAIRS, ids=PAIR_IDS)
def test_short_receive(strategy, usertype, sender, receiver, wire, neighbours):
    """Post 5 elements, receive 3: elements 4 and 5 (and every hole) stay untouched."""
    dest, source = neighbours
    rank, tag, sent, posted = MPI.COMM_WORLD.rank, 13, 3, 5
    target = wire.payload(usertype, posted, rank, -tag)
    expected = wire.delivered(wire.payload(usertype, sent, source, tag), sent, usertype, target)
    status = MPI.Status()
    request = _comm(sender).Isend(
        [wire.payload(usertype, sent, rank, tag), sent, usertype], dest, tag
    )
    _comm(receiver).Recv([target, posted, usertype], source, tag, status)
    request.Wait()
    assert np.array_equal(target, expected)
    _check_status(status, source, tag, sent, usertype)


@pytest.mark.mpi(min_size=1)
@pytest.mark.parametrize(("sender", "receiver"), PAIRS, ids=PAIR_IDS)
def test_ssend(strategy, usertype, sender, receiver, wire, neighbours):
    """The receive is posted first, so Ssend completes at one rank too."""
    dest, source = neighbours
    rank, tag, count = MPI.COMM_WORLD.rank, 14, 3
    target = wire.payload(usertype, count, rank, -tag)
    expected = wire.delivered(wire.payload(usertype, count, source, tag), count, usertype, target)
    recv = _comm(receiver).Irecv([target, count, usertype], source, tag)
    _comm(sender).Ssend([wire.payload(usertype, count, rank, tag), count, usertype], dest, tag)
    status = MPI.Status()
    recv.Wait(status)
    assert np.array_equal(target, expected)
    _check_status(status, source, tag, count, usertype)


@pytest.mark.mpi(min_size=1)
@pytest.mark.parametrize("peers", ["all-tempi", "odd-ranks-plain"])
@pytest.mark.parametrize("count", [1, 3])
def test_sendrecv(strategy, usertype, count, peers, wire, neighbours, counters):
    dest, source = neighbours
    rank, tag = MPI.COMM_WORLD.rank, 15
    uses_tempi = peers == "all-tempi" or rank % 2 == 0
    comm = tempi.Comm(MPI.COMM_WORLD) if uses_tempi else MPI.COMM_WORLD
    target = wire.payload(usertype, count, rank, -tag)
    expected = wire.delivered(wire.payload(usertype, count, source, tag), count, usertype, target)
    status = MPI.Status()
    comm.Sendrecv(
        [wire.payload(usertype, count, rank, tag), count, usertype],
        dest,
        tag,
        [target, count, usertype],
        source,
        tag,
        status,
    )
    assert np.array_equal(target, expected)
    _check_status(status, source, tag, count, usertype)
    typed = strategy == "auto" and choose.pick_host(usertype.Get_size() * count) == "system"
    if uses_tempi and not typed:  # (typed: the host model hands it to the MPI's own call)
        delta = counters()
        assert sum(delta.get(p, 0) for p in ("oneshot", "device", "staged", "engine")) > 0, delta


@pytest.mark.mpi(min_size=1)
def test_sendrecv_wildcards(strategy, usertype, wire, neighbours):
    dest, source = neighbours
    rank, count = MPI.COMM_WORLD.rank, 3
    target = wire.payload(usertype, count, rank, -16)
    expected = wire.delivered(
        wire.payload(usertype, count, source, 300 + source), count, usertype, target
    )
    status = MPI.Status()
    tempi.Comm(MPI.COMM_WORLD).Sendrecv(
        [wire.payload(usertype, count, rank, 300 + rank), count, usertype],
        dest,
        300 + rank,
        [target, count, usertype],
        MPI.ANY_SOURCE,
        MPI.ANY_TAG,
        status,
    )
    assert np.array_equal(target, expected)
    _check_status(status, source, 300 + source, count, usertype)


@pytest.mark.mpi(min_size=1)
def test_buffer_spec_without_count(strategy, wire, neighbours, engine_ran):
    """``[buf, datatype]``: the count is nbytes // extent."""
    dest, source = neighbours
    rank, tag, count = MPI.COMM_WORLD.rank, 17, 3
    datatype = MPI.INT.Create_vector(4, 2, 3).Commit()
    try:
        nbytes = count * datatype.Get_extent()[1]
        mine = wire.payload(datatype, count, rank, tag)[:nbytes]
        target = wire.payload(datatype, count, rank, -tag)[:nbytes].copy()
        theirs = wire.payload(datatype, count, source, tag)
        expected = wire.delivered(theirs, count, datatype, target)
        status = MPI.Status()
        comm = tempi.Comm(MPI.COMM_WORLD)
        request = comm.Isend([mine, datatype], dest, tag)
        comm.Recv([target, datatype], source, tag, status)
        request.Wait()
        assert np.array_equal(target, expected)
        _check_status(status, source, tag, count, datatype)
    finally:
        datatype.Free()
    engine_ran()


def _grid(rank: int, salt: int, shape=(4, 6, 5), dtype=np.float64) -> np.ndarray:
    return (np.arange(np.prod(shape)) + 1000 * rank + 100000 * salt).astype(dtype).reshape(shape)


VIEWS = {
    "a[:, 1:-1, 0]": lambda a: a[:, 1:-1, 0],
    "a[::-1, 1:-1, 0]": lambda a: a[::-1, 1:-1, 0],
    "a[1:3, ::2, 1:4]": lambda a: a[1:3, ::2, 1:4],
}


@pytest.fixture(params=["engine", "no-TEMPI_HOST"])
def view_mode(request, tempi_env) -> str:
    """Bare views work whether or not host derived types go through the engine."""
    if request.param == "engine":
        tempi_env(TEMPI_HOST="1", TEMPI_DATATYPE="auto")
    else:
        tempi_env(TEMPI_HOST="0")
    return request.param


@pytest.mark.mpi(min_size=1)
@pytest.mark.parametrize("receiver", ["plain-contiguous", "tempi-contiguous", "tempi-view"])
@pytest.mark.parametrize("view", sorted(VIEWS))
def test_bare_view_sent(view_mode, view, receiver, neighbours):
    """A non-contiguous view travels as its elements in C order."""
    dest, source = neighbours
    rank, tag = MPI.COMM_WORLD.rank, 18
    take = VIEWS[view]
    sent = take(_grid(rank, 1))
    assert not sent.flags.c_contiguous
    expected = np.ascontiguousarray(take(_grid(source, 1)))
    request = tempi.Comm(MPI.COMM_WORLD).Isend(sent, dest, tag)
    status = MPI.Status()
    if receiver == "tempi-view":
        # another layout of the same shape: the elements land in C order of the view
        holder = _grid(rank, 2, shape=(expected.shape[0] + 1, *expected.shape[1:], 2))
        untouched = holder.copy()
        got = holder[1:, ..., 1]
        tempi.Comm(MPI.COMM_WORLD).Recv(got, source, tag, status)
        untouched[1:, ..., 1] = expected
        assert np.array_equal(holder, untouched)
    else:
        got = np.zeros_like(expected)
        comm = MPI.COMM_WORLD if receiver == "plain-contiguous" else tempi.Comm(MPI.COMM_WORLD)
        comm.Recv(got, source, tag, status)
        assert np.array_equal(got, expected)
    request.Wait()
    assert status.Get_count(MPI.DOUBLE) == expected.size
    assert status.Get_source() == source and status.Get_tag() == tag


@pytest.mark.mpi(min_size=1)
@pytest.mark.parametrize("view", sorted(VIEWS))
def test_bare_view_received_from_plain(view_mode, view, neighbours):
    dest, source = neighbours
    rank, tag = MPI.COMM_WORLD.rank, 19
    take = VIEWS[view]
    request = MPI.COMM_WORLD.Isend(np.ascontiguousarray(take(_grid(rank, 3))), dest, tag)
    target = _grid(rank, 4)
    expected = target.copy()
    take(expected)[...] = take(_grid(source, 3))
    status = MPI.Status()
    tempi.Comm(MPI.COMM_WORLD).Recv(take(target), source, tag, status)
    request.Wait()
    assert np.array_equal(target, expected)
    assert status.Get_count(MPI.DOUBLE) == take(target).size


@pytest.mark.mpi(min_size=1)
def test_bare_view_kept_alive_until_completion(strategy, neighbours):
    """Isend of a temporary view: tempi keeps what it needs until the request completes."""
    dest, source = neighbours
    rank, tag = MPI.COMM_WORLD.rank, 20
    expected = np.ascontiguousarray(_grid(source, 5)[:, 1:-1, 0])
    got = np.zeros_like(expected)
    comm = tempi.Comm(MPI.COMM_WORLD)
    recv = comm.Irecv(got, source, tag)
    send = comm.Isend(_grid(rank, 5)[:, 1:-1, 0], dest, tag)
    gc.collect()
    _grid(rank, 6)  # reuse freed memory
    tempi.Request.Waitall([send, recv])
    assert np.array_equal(got, expected)


@pytest.mark.mpi(min_size=1)
def test_host_derived_type_passes_through_without_tempi_host(tempi_env, wire, neighbours):
    tempi_env(TEMPI_HOST="0")
    import tempi.comm

    before = dict(tempi.comm.engine.paths())
    dest, source = neighbours
    rank, tag, count = MPI.COMM_WORLD.rank, 21, 3
    datatype = MPI.DOUBLE.Create_vector(16, 3, 7).Commit()
    try:
        target = wire.payload(datatype, count, rank, -tag)
        expected = wire.delivered(
            wire.payload(datatype, count, source, tag), count, datatype, target
        )
        comm = tempi.Comm(MPI.COMM_WORLD)
        request = comm.Isend([wire.payload(datatype, count, rank, tag), count, datatype], dest, tag)
        status = MPI.Status()
        comm.Recv([target, count, datatype], source, tag, status)
        request.Wait()
    finally:
        datatype.Free()
    assert np.array_equal(target, expected)
    after = tempi.comm.engine.paths()
    assert after.get("passthrough", 0) > before.get("passthrough", 0), after
    for path in ("oneshot", "device", "staged"):
        assert after.get(path, 0) == before.get(path, 0), (path, before, after)


@pytest.mark.mpi(min_size=1)
def test_unknown_attributes_delegate():
    world = MPI.COMM_WORLD
    comm = tempi.Comm(world)
    assert comm.Get_rank() == world.Get_rank()
    assert comm.Get_size() == world.Get_size()
    assert comm.rank == world.rank
    assert comm.Compare(world) == MPI.IDENT
    assert comm.allreduce(1) == world.size


@pytest.mark.mpi(min_size=1)
def test_proc_null_peer(strategy, usertype, wire):
    """Sends to MPI_PROC_NULL complete at once; receives from it complete with source
    MPI_PROC_NULL, tag MPI_ANY_TAG and count 0, and write nothing."""
    comm = tempi.Comm(MPI.COMM_WORLD)
    data = wire.payload(usertype, 2, MPI.COMM_WORLD.rank, 1)
    into = wire.payload(usertype, 2, MPI.COMM_WORLD.rank, 2)
    initial = into.copy()
    comm.Send([data, 2, usertype], dest=MPI.PROC_NULL)
    status = MPI.Status()
    comm.Recv([into, 2, usertype], source=MPI.PROC_NULL, tag=3, status=status)
    _check_status(status, MPI.PROC_NULL, MPI.ANY_TAG, 0, usertype)
    request = comm.Irecv([into, 2, usertype], source=MPI.PROC_NULL)
    request.Wait(status)
    _check_status(status, MPI.PROC_NULL, MPI.ANY_TAG, 0, usertype)
    assert np.array_equal(into, initial)


@pytest.mark.mpi(min_size=1)
def test_sendrecv_replace(strategy, usertype, wire, neighbours, engine_ran):
    """The elements received replace the ones sent, in the same buffer; bytes outside the
    type's map stay as they were."""
    dest, source = neighbours
    rank, tag, count = MPI.COMM_WORLD.rank, 23, 2
    mine = wire.payload(usertype, count, rank, tag)
    expected = wire.delivered(wire.payload(usertype, count, source, tag), count, usertype, mine)
    status = MPI.Status()
    tempi.Comm(MPI.COMM_WORLD).Sendrecv_replace(
        [mine, count, usertype], dest, tag, source, tag, status
    )
    assert np.array_equal(mine, expected)
    _check_status(status, source, tag, count, usertype)
    engine_ran()


@pytest.mark.mpi(min_size=1)
def test_buffered_sends(strategy, usertype, wire, neighbours, engine_ran):
    """Bsend, Ibsend and Bsend_init complete from the attached buffer before anything is
    received (each send buffer is overwritten at once), and deliver what was sent."""
    dest, source = neighbours
    rank, tag, count = MPI.COMM_WORLD.rank, 24, 2
    world, comm = MPI.COMM_WORLD, tempi.Comm(MPI.COMM_WORLD)
    size = 3 * (usertype.Pack_size(count, world) + MPI.BSEND_OVERHEAD)
    MPI.Attach_buffer(bytearray(size))
    try:
        mine = wire.payload(usertype, count, rank, 0)
        comm.Bsend([mine, count, usertype], dest, tag)
        mine[:] = wire.payload(usertype, count, rank, 1)
        comm.Ibsend([mine, count, usertype], dest, tag + 1).Wait()
        mine[:] = wire.payload(usertype, count, rank, 2)
        persistent = comm.Bsend_init([mine, count, usertype], dest, tag + 2)
        persistent.Start()
        persistent.Wait()
        persistent.Free()
        mine[:] = 0
        for k in range(3):
            target = wire.payload(usertype, count, rank, -k)
            sent = wire.payload(usertype, count, source, k)
            expected = wire.delivered(sent, count, usertype, target)
            comm.Recv([target, count, usertype], source, tag + k)
            assert np.array_equal(target, expected), k
    finally:
        MPI.Detach_buffer()
    engine_ran()
