"""tempi.Comm with CuPy device buffers: every strategy on derived types, contiguous arrays
staged through host memory, and bare non-contiguous CuPy views. The oracle is the system
MPI's MPI_Pack/MPI_Unpack of the same bytes on the host.

The tests without an ``mpi`` mark run in one process and talk to themselves on
COMM_SELF (Isend before the matching Irecv, nothing blocks); the ring tests need ranks::

    mpiexec -n 2 python -m mpi4py -m pytest --with-mpi tests/gpu/test_comm_device.py

``device`` runs only where ``tempi.system.cuda_aware_mpi()`` says the MPI is CUDA-aware;
elsewhere asking for it must raise a TempiError that says why.
"""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from mpi4py import MPI

import tempi
import tempi.comm
from tempi.datatype._mpilib import footprint
from tests.oracle import mpi_pack, mpi_unpack

pytestmark = pytest.mark.gpu

STRATEGIES = ("auto", "oneshot", "device", "staged")
ENGINE_PATHS = ("oneshot", "device", "staged")
PAD = 24
TYPES = {
    "vector": lambda: MPI.DOUBLE.Create_vector(16, 3, 7),
    "subarray": lambda: MPI.INT.Create_subarray([6, 8, 10], [4, 1, 5], [1, 3, 2]),
    "struct": lambda: MPI.Datatype.Create_struct([2, 1], [0, 40], [MPI.SHORT, MPI.DOUBLE_INT]),
    "indexed": lambda: MPI.FLOAT.Create_indexed([3, 1, 2], [9, 0, 4]),
}
VIEWS = {
    "a[:, 1:-1, 0]": lambda a: a[:, 1:-1, 0],
    "a[::-1, 1:-1, 0]": lambda a: a[::-1, 1:-1, 0],
    "a[1:3, ::2, 1:4]": lambda a: a[1:3, ::2, 1:4],
}


def _cuda_aware() -> bool:
    return tempi.system.cuda_aware_mpi()[0]


@pytest.fixture(params=STRATEGIES)
def strategy(request, tempi_env) -> str:
    tempi_env(TEMPI_DATATYPE=request.param, TEMPI_HOST="0")
    return request.param


@pytest.fixture
def runnable(strategy) -> str:
    """The strategy, skipping ``device`` without a CUDA-aware MPI (test_device_refused
    checks that case)."""
    if strategy == "device" and not _cuda_aware():
        pytest.skip("device strategy needs a CUDA-aware MPI; test_device_refused covers this")
    return strategy


@pytest.fixture(params=sorted(TYPES))
def usertype(request) -> MPI.Datatype:
    datatype = TYPES[request.param]().Commit()
    yield datatype
    datatype.Free()


def _payload(datatype: MPI.Datatype, count: int, rank: int, salt: int) -> np.ndarray:
    lo, hi = footprint(datatype, count)
    assert lo >= 0
    seed = zlib.crc32(f"{rank}/{salt}/{datatype.Get_size()}/{hi}".encode())
    return np.random.default_rng(seed).integers(0, 256, hi + PAD, dtype=np.uint8)


def _delivered(sent: np.ndarray, count: int, datatype, target: np.ndarray) -> np.ndarray:
    expected = target.copy()
    mpi_unpack(mpi_pack(sent, 0, count, datatype), expected, 0, count, datatype)
    return expected


def _delta(before: dict[str, int]) -> dict[str, int]:
    after = tempi.comm.engine.paths()
    return {k: after.get(k, 0) - before.get(k, 0) for k in set(after) | set(before)}


def _assert_path(before: dict[str, int], strategy: str) -> None:
    delta = _delta(before)
    paths = ENGINE_PATHS if strategy == "auto" else (strategy,)
    assert any(delta.get(p, 0) > 0 for p in paths), f"{strategy}: counters moved {delta}"
    assert delta.get("host", 0) == 0, f"device data counted as host: {delta}"


def _check_status(status: MPI.Status, source: int, tag: int, count: int, datatype) -> None:
    assert status.Get_source() == source
    assert status.Get_tag() == tag
    assert status.Get_count(datatype) == count


def _self_transfer(send_spec, recv_spec, tag: int, source: int = 0, recv_tag: int | None = None):
    """Isend to this rank on COMM_SELF, then Irecv; returns the receive's status."""
    comm = tempi.Comm(MPI.COMM_SELF)
    send = comm.Isend(send_spec, 0, tag)
    recv = comm.Irecv(recv_spec, source, tag if recv_tag is None else recv_tag)
    status = MPI.Status()
    tempi.Request.Waitall([send, recv], [MPI.Status(), status])
    return status


def test_device_refused(cp, tempi_env, usertype):
    """Without a CUDA-aware MPI, TEMPI_DATATYPE=device is refused with the reason."""
    tempi_env(TEMPI_DATATYPE="device", TEMPI_HOST="0")
    if _cuda_aware():
        pytest.skip("this MPI is CUDA-aware: the device strategy runs in test_self_transfer")
    src = cp.asarray(_payload(usertype, 3, 0, 1))
    try:
        request = tempi.Comm(MPI.COMM_SELF).Isend([src, 3, usertype], 0, 31)
    except tempi.TempiError as exc:
        assert "CUDA-aware" in str(exc), exc
        return
    # it was sent: take the message off the queue so later tests see a clean one
    MPI.COMM_SELF.Recv([np.empty(tempi.pack_size(3, usertype), np.uint8), MPI.PACKED], 0, 31)
    request.Wait()
    pytest.fail("TEMPI_DATATYPE=device ran although the MPI is not CUDA-aware")


@pytest.mark.parametrize("count", [1, 3])
def test_self_transfer(cp, runnable, usertype, count):
    before = tempi.comm.engine.paths()
    target = _payload(usertype, count, 0, -30)
    expected = _delivered(_payload(usertype, count, 0, 30), count, usertype, target)
    src, dst = cp.asarray(_payload(usertype, count, 0, 30)), cp.asarray(target)
    status = _self_transfer([src, count, usertype], [dst, count, usertype], 30)
    assert np.array_equal(cp.asnumpy(dst), expected)
    assert np.array_equal(cp.asnumpy(src), _payload(usertype, count, 0, 30)), "send changed"
    _check_status(status, 0, 30, count, usertype)
    _assert_path(before, runnable)


def test_short_receive(cp, runnable, usertype):
    """Post 5 elements, receive 3: the rest of the device buffer stays untouched."""
    target = _payload(usertype, 5, 0, -32)
    expected = _delivered(_payload(usertype, 3, 0, 32), 3, usertype, target)
    dst = cp.asarray(target)
    src = cp.asarray(_payload(usertype, 3, 0, 32))
    status = _self_transfer([src, 3, usertype], [dst, 5, usertype], 32)
    assert np.array_equal(cp.asnumpy(dst), expected)
    _check_status(status, 0, 32, 3, usertype)


def test_wildcards(cp, runnable, usertype):
    target = _payload(usertype, 3, 0, -33)
    expected = _delivered(_payload(usertype, 3, 0, 33), 3, usertype, target)
    dst = cp.asarray(target)
    src = cp.asarray(_payload(usertype, 3, 0, 33))
    status = _self_transfer([src, 3, usertype], [dst, 3, usertype], 33, MPI.ANY_SOURCE, MPI.ANY_TAG)
    assert np.array_equal(cp.asnumpy(dst), expected)
    _check_status(status, 0, 33, 3, usertype)


@pytest.mark.parametrize("mode", ["staged", "auto"])
def test_contiguous_array(cp, tempi_env, mode):
    """Contiguous device arrays: staged through pinned host memory when asked (or when the
    MPI is not CUDA-aware), handed to MPI as they are otherwise."""
    tempi_env(TEMPI_CONTIGUOUS=mode, TEMPI_HOST="0")
    before = tempi.comm.engine.paths()
    src = cp.arange(3000, dtype=cp.float64) * 0.5
    dst = cp.full(3000, -1.0)
    status = _self_transfer(src, dst, 34)
    assert np.array_equal(cp.asnumpy(dst), cp.asnumpy(src))
    assert status.Get_count(MPI.DOUBLE) == 3000
    delta = _delta(before)
    if mode == "staged" or not _cuda_aware():
        assert delta.get("contiguous", 0) >= 2, delta  # the send and the receive
    else:
        assert delta.get("passthrough", 0) >= 2, delta


def _grid(cp, salt: int, shape=(4, 6, 5)):
    return (cp.arange(int(np.prod(shape)), dtype=cp.float64) + 1000 * salt).reshape(shape)


@pytest.mark.parametrize("receiver", ["device-contiguous", "device-view", "host-contiguous"])
@pytest.mark.parametrize("view", sorted(VIEWS))
def test_bare_views(cp, runnable, view, receiver):
    take = VIEWS[view]
    sent = take(_grid(cp, 1))
    assert not sent.flags.c_contiguous
    expected = cp.asnumpy(cp.ascontiguousarray(sent))
    if receiver == "device-view":
        holder = _grid(cp, 2, shape=(expected.shape[0] + 1, *expected.shape[1:], 2))
        untouched = cp.asnumpy(holder)
        status = _self_transfer(sent, holder[1:, ..., 1], 35)
        untouched[1:, ..., 1] = expected
        assert np.array_equal(cp.asnumpy(holder), untouched)
    else:
        got = (
            cp.zeros(expected.shape) if receiver == "device-contiguous" else np.zeros_like(expected)
        )
        status = _self_transfer(sent, got, 35)
        assert np.array_equal(cp.asnumpy(got), expected)
    assert status.Get_count(MPI.DOUBLE) == expected.size


def test_host_view_into_device_view(cp, runnable):
    host = np.arange(120.0).reshape(4, 6, 5)
    target = _grid(cp, 3)
    expected = cp.asnumpy(target)
    expected[:, 1:-1, 0] = host[:, 1:-1, 0]
    status = _self_transfer(host[:, 1:-1, 0], target[:, 1:-1, 0], 36)
    assert np.array_equal(cp.asnumpy(target), expected)
    assert status.Get_count(MPI.DOUBLE) == 16


def _ring() -> tuple[int, int]:
    world = MPI.COMM_WORLD
    return (world.rank + 1) % world.size, (world.rank - 1) % world.size


@pytest.mark.mpi(min_size=1)
@pytest.mark.parametrize("direction", ["device-to-plain-host", "plain-host-to-device", "both"])
def test_ring(cp, runnable, usertype, direction):
    """Around COMM_WORLD's ring; the plain side is mpi4py with host memory."""
    world, (dest, source), tag, count = MPI.COMM_WORLD, _ring(), 37, 3
    mine = _payload(usertype, count, world.rank, tag)
    target = _payload(usertype, count, world.rank, -tag)
    expected = _delivered(_payload(usertype, count, source, tag), count, usertype, target)
    comm = tempi.Comm(world)
    if direction == "plain-host-to-device":
        request = world.Isend([mine, count, usertype], dest, tag)
    else:
        request = comm.Isend([cp.asarray(mine), count, usertype], dest, tag)
    status = MPI.Status()
    if direction == "device-to-plain-host":
        world.Recv([target, count, usertype], source, tag, status)
        got = target
    else:
        got = cp.asarray(target)
        comm.Recv([got, count, usertype], source, tag, status)
    request.Wait()
    assert np.array_equal(cp.asnumpy(got), expected)
    _check_status(status, source, tag, count, usertype)


@pytest.mark.mpi(min_size=1)
def test_neighbor_alltoallw_halo(cp, runnable):
    """The halo exchange of tests/mpi/test_comm_collectives.py on device arrays, against
    the system MPI's Neighbor_alltoallw on host copies."""
    interior = (3, 4, 5)
    full = [n + 2 for n in interior]
    dims = MPI.Compute_dims(MPI.COMM_WORLD.size, 3)
    cart = MPI.COMM_WORLD.Create_cart(dims, periods=[True] * 3, reorder=False)
    sends, recvs = [], []
    for d in range(3):
        for send_at, recv_at in ((1, 0), (interior[d], interior[d] + 1)):
            sub = list(interior)
            sub[d] = 1
            for at, types in ((send_at, sends), (recv_at, recvs)):
                start = [1, 1, 1]
                start[d] = at
                types.append(MPI.DOUBLE.Create_subarray(full, sub, start).Commit())
    ones, zeros = [1] * 6, [0] * 6
    try:
        a = np.arange(float(np.prod(full))).reshape(full) + 1000.0 * cart.rank
        b = -np.arange(float(np.prod(full))).reshape(full)
        ref = b.copy()
        cart.Neighbor_alltoallw([a.copy(), ones, zeros, sends], [ref, ones, zeros, recvs])
        da, db = cp.asarray(a), cp.asarray(b)
        comm = tempi.Comm(cart)
        comm.Neighbor_alltoallw([da, ones, zeros, sends], [db, ones, zeros, recvs])
        comm.Free()
        assert np.array_equal(cp.asnumpy(db), ref)
        assert np.array_equal(cp.asnumpy(da), a)
    finally:
        for t in sends + recvs:
            t.Free()
        cart.Free()


@pytest.mark.mpi(min_size=1)
def test_persistent_ring(cp, runnable, usertype):
    """Send_init/Recv_init on device arrays, started three times with new contents."""
    world, (dest, source), tag, count = MPI.COMM_WORLD, _ring(), 38, 2
    comm = tempi.Comm(world)
    target = _payload(usertype, count, world.rank, -tag)
    src, dst = cp.asarray(_payload(usertype, count, world.rank, 0)), cp.asarray(target)
    recv = comm.Recv_init([dst, count, usertype], source, tag)
    send = comm.Send_init([src, count, usertype], dest, tag)
    for round_ in range(3):
        src[:] = cp.asarray(_payload(usertype, count, world.rank, round_))
        expected = _delivered(
            _payload(usertype, count, source, round_), count, usertype, cp.asnumpy(dst)
        )
        tempi.Prequest.Startall([recv, send])
        tempi.Request.Waitall([recv, send])
        assert np.array_equal(cp.asnumpy(dst), expected), round_
    recv.Free()
    send.Free()


@pytest.mark.mpi(min_size=1)
def test_allgather_and_gather(cp, runnable, usertype):
    """The packed collectives on device arrays against the system MPI on host copies."""
    world, count = MPI.COMM_WORLD, 2
    mine = _payload(usertype, count, world.rank, 40)
    whole = _payload(usertype, count * world.size, world.rank, -40)
    ref = whole.copy()
    world.Allgather([mine, count, usertype], [ref, count, usertype])
    got = cp.asarray(whole)
    tempi.Comm(world).Allgather([cp.asarray(mine), count, usertype], [got, count, usertype])
    assert np.array_equal(cp.asnumpy(got), ref)
    ref, got = whole.copy(), cp.asarray(whole)
    world.Gather([mine, count, usertype], [ref, count, usertype] if world.rank == 0 else None)
    recvspec = [got, count, usertype] if world.rank == 0 else None
    tempi.Comm(world).Gather([cp.asarray(mine), count, usertype], recvspec)
    assert np.array_equal(cp.asnumpy(got), ref)
