"""tempi.Comm through the C engine (tempi.comm.native, issue 14 point 5): host messages of
TEMPI_HOST=1 with a plan run in native/engine.c. The oracle is what mpi4py itself delivers
for the same buffer specs: the same bytes and statuses, tempi.Comm on one side or both;
after the first message of a (datatype, count) every one runs in C (the ``engine``
counter moves, Python's ``host`` counter does not); TEMPI_PLANS=0, a forced strategy or
an engine that cannot load take the Python path with the same results. Size-agnostic:
each rank sends right and receives from the left (itself at one rank)."""

from __future__ import annotations

import numpy as np
import pytest
from mpi4py import MPI

import tempi
from tempi.comm import engine, native
from tempi.model import choose

TAG = 40


@pytest.fixture
def host(tempi_env):
    tempi_env(TEMPI_HOST="1")


def _moved(before: dict[str, int]) -> dict[str, int]:
    after = engine.paths()
    return {k: after.get(k, 0) - before.get(k, 0) for k in set(after) | set(before)}


def _round(comm_send, comm_recv, usertype, count, wire, neighbours, tag, blocking):
    """One message around the ring; the target and the expected bytes and status."""
    dest, source = neighbours
    rank = MPI.COMM_WORLD.rank
    sent = wire.payload(usertype, count, rank, tag)
    target = wire.payload(usertype, count, rank, -tag)
    expected = wire.delivered(wire.payload(usertype, count, source, tag), count, usertype, target)
    status = MPI.Status()
    if blocking:  # one communicator
        comm_recv.Sendrecv(
            [sent, count, usertype], dest, tag, [target, count, usertype], source, tag, status
        )
    else:
        _split(comm_send, comm_recv, sent, target, count, usertype, dest, source, tag, status)
    assert np.array_equal(target, expected)
    assert status.Get_source() == source and status.Get_tag() == tag
    assert status.Get_count(usertype) == count
    assert np.array_equal(sent, wire.payload(usertype, count, rank, tag)), "send buffer changed"


def _split(comm_send, comm_recv, sent, target, count, usertype, dest, source, tag, status):
    receive = comm_recv.Irecv([target, count, usertype], source, tag)
    send = comm_send.Isend([sent, count, usertype], dest, tag)
    send.Wait()
    receive.Wait(status)


@pytest.mark.mpi(min_size=1)
@pytest.mark.parametrize("count", [1, 3])
@pytest.mark.parametrize("pair", ["tempi-tempi", "tempi-plain", "plain-tempi"])
@pytest.mark.parametrize("blocking", [True, False], ids=["sendrecv", "isend-irecv"])
def test_engine_delivers_what_mpi4py_does_and_runs_in_c(
    host, usertype, count, pair, blocking, wire, neighbours
):
    world = MPI.COMM_WORLD
    ours = tempi.Comm(world)
    comm_send = ours if pair.startswith("tempi") else world
    comm_recv = ours if pair.endswith("tempi") else world
    if blocking and comm_send is not comm_recv:
        blocking = False
    _round(comm_send, comm_recv, usertype, count, wire, neighbours, TAG, blocking)  # plans
    before = dict(engine.paths())
    for k in range(3):
        _round(comm_send, comm_recv, usertype, count, wire, neighbours, TAG + 1 + k, blocking)
    moved = _moved(before)
    tempi_side = (comm_send is ours) + (comm_recv is ours)
    assert native.debug_state()["loaded"]
    # packed by the engine, or mpi4py's own call where the host model measured the MPI's
    # typed path faster for this size (strategy ``system``): in C either way
    packed = choose.pick_host(usertype.Get_size() * count) == "packed"
    assert moved.get("engine", 0) == 3 * tempi_side * packed, moved
    assert moved.get("host", 0) == 0, f"messages entered Python after warm-up: {moved}"


@pytest.mark.mpi(min_size=1)
def test_blocking_send_recv_and_modes_through_c(host, usertype, wire, neighbours):
    """Send/Ssend/Bsend/Rsend against Recv with a status, ordered so that no rank blocks on
    itself: even ranks send first (at one rank: nonblocking receive first)."""
    world, count = MPI.COMM_WORLD, 2
    ours = tempi.Comm(world)
    dest, source = neighbours
    rank = world.rank
    buffer = MPI.Alloc_mem(1 << 16)
    MPI.Attach_buffer(buffer)
    try:
        for k, method in enumerate(["Send", "Ssend", "Bsend", "Rsend", "Send"]):
            tag = TAG + 10 + k
            sent = wire.payload(usertype, count, rank, tag)
            target = wire.payload(usertype, count, rank, -tag)
            expected = wire.delivered(
                wire.payload(usertype, count, source, tag), count, usertype, target
            )
            status = MPI.Status()
            if world.size == 1:
                receive = ours.Irecv([target, count, usertype], source, tag)
                getattr(ours, "Isend" if method != "Bsend" else "Ibsend")(
                    [sent, count, usertype], dest, tag
                ).Wait()
                receive.Wait(status)
            elif rank % 2 == 0:
                getattr(ours, method)([sent, count, usertype], dest, tag)
                ours.Recv([target, count, usertype], source, tag, status)
            else:
                ours.Recv([target, count, usertype], source, tag, status)
                getattr(ours, method)([sent, count, usertype], dest, tag)
            assert np.array_equal(target, expected), method
            assert (status.Get_source(), status.Get_tag()) == (source, tag)
            assert status.Get_count(usertype) == count
    finally:
        MPI.Detach_buffer()
        MPI.Free_mem(buffer)


@pytest.mark.mpi(min_size=1)
def test_short_message_fills_the_first_elements(host, usertype, wire, neighbours):
    """A receive of 3 elements gets 2: the first 2 are written, the rest kept, count 2."""
    dest, source = neighbours
    rank, ours = MPI.COMM_WORLD.rank, tempi.Comm(MPI.COMM_WORLD)
    for tag in (TAG + 20, TAG + 21):  # the second one runs in C
        sent = wire.payload(usertype, 2, rank, tag)
        target = wire.payload(usertype, 3, rank, -tag)
        expected = wire.delivered(wire.payload(usertype, 2, source, tag), 2, usertype, target)
        status = MPI.Status()
        receive = ours.Irecv([target, 3, usertype], source, tag)
        ours.Isend([sent, 2, usertype], dest, tag).Wait()
        receive.Wait(status)
        assert np.array_equal(target, expected)
        assert status.Get_count(usertype) == 2


@pytest.mark.mpi(min_size=2)  # Open MPI's self path does not report truncation at all
def test_truncation_raises_as_mpi4py_does(host, usertype, wire, neighbours):
    dest, source = neighbours
    rank = MPI.COMM_WORLD.rank
    comm = MPI.COMM_WORLD.Dup()  # its error handler: mpi4py's (exceptions)
    ours = tempi.Comm(comm)
    try:
        for tag in (TAG + 30, TAG + 31):
            target = wire.payload(usertype, 2, rank, -tag)
            receive = ours.Irecv([target, 2, usertype], source, tag)
            ours.Isend([wire.payload(usertype, 3, rank, tag), 3, usertype], dest, tag).Wait()
            with pytest.raises(MPI.Exception) as failed:
                receive.Wait()
            assert failed.value.Get_error_class() == MPI.ERR_TRUNCATE
    finally:
        comm.Free()


@pytest.mark.mpi(min_size=1)
def test_completion_calls_mix_engine_and_plain_requests(host, usertype, wire, neighbours):
    """Waitall, Testall, Waitany, Waitsome over the engine's requests and mpi4py's."""
    dest, source = neighbours
    world, rank, count = MPI.COMM_WORLD, MPI.COMM_WORLD.rank, 2
    ours = tempi.Comm(world)
    for call in ("Waitall", "Testall", "Waitany", "Waitsome"):
        for _warm in range(2):
            targets = [wire.payload(usertype, count, rank, -i) for i in range(4)]
            comms = [ours, world, ours, world]
            recvs = [
                c.Irecv([t, count, usertype], source, TAG + 50 + i)
                for i, (c, t) in enumerate(zip(comms, targets))
            ]
            assert isinstance(recvs[0], native.NativeRequest)
            sends = [
                c.Isend(
                    [wire.payload(usertype, count, rank, i), count, usertype], dest, TAG + 50 + i
                )
                for i, c in enumerate(comms)
            ]
            pending = recvs + sends
            if call == "Waitall":
                tempi.Request.Waitall(pending)
            elif call == "Testall":
                while not tempi.Request.Testall(pending):
                    pass
            elif call == "Waitany":
                while tempi.Request.Waitany(pending) != MPI.UNDEFINED:
                    pass
            else:
                while tempi.Request.Waitsome(pending) is not None:
                    pass
            for i, target in enumerate(targets):
                sent = wire.payload(usertype, count, source, i)
                expected = wire.delivered(
                    sent, count, usertype, wire.payload(usertype, count, rank, -i)
                )
                assert np.array_equal(target, expected), (call, i)


@pytest.mark.mpi(min_size=1)
def test_persistent_requests_run_in_c(host, usertype, wire, neighbours):
    dest, source = neighbours
    rank, count, ours = MPI.COMM_WORLD.rank, 2, tempi.Comm(MPI.COMM_WORLD)
    mine = wire.payload(usertype, count, rank, 0)
    target = wire.payload(usertype, count, rank, -1)
    recv = ours.Recv_init([target, count, usertype], source, TAG + 60)
    send = ours.Send_init([mine, count, usertype], dest, TAG + 60)
    before = dict(engine.paths())
    for round_ in range(3):
        mine[:] = wire.payload(usertype, count, rank, round_)
        expected = wire.delivered(
            wire.payload(usertype, count, source, round_), count, usertype, target
        )
        tempi.Prequest.Startall([recv, send])
        status = MPI.Status()
        tempi.Request.Waitall([recv, send], [status, MPI.Status()])
        assert np.array_equal(target, expected)
        assert status.Get_count(usertype) == count and status.Get_tag() == TAG + 60
    recv.Free()
    send.Free()
    assert _moved(before).get("engine", 0) == 6


@pytest.mark.mpi(min_size=1)
def test_freed_type_is_planned_again(host, wire, neighbours):
    """A handle MPI re-uses after Free names a new type: its messages are right."""
    dest, source = neighbours
    rank, ours = MPI.COMM_WORLD.rank, tempi.Comm(MPI.COMM_WORLD)
    for blocks in (3, 5, 2, 4):
        datatype = MPI.DOUBLE.Create_vector(blocks, 1, 3).Commit()
        for tag in (TAG + 70, TAG + 71):
            sent = wire.payload(datatype, 2, rank, tag)
            target = wire.payload(datatype, 2, rank, -tag)
            expected = wire.delivered(wire.payload(datatype, 2, source, tag), 2, datatype, target)
            receive = ours.Irecv([target, 2, datatype], source, tag)
            ours.Isend([sent, 2, datatype], dest, tag).Wait()
            receive.Wait()
            assert np.array_equal(target, expected), blocks
        datatype.Free()


@pytest.mark.mpi(min_size=1)
@pytest.mark.parametrize(
    "setting", [{"TEMPI_PLANS": "0"}, {"TEMPI_DATATYPE": "staged"}, {"unloadable": "1"}]
)
def test_python_path_when_the_engine_is_off(
    tempi_env, monkeypatch, tmp_path, setting, usertype, wire, neighbours
):
    """TEMPI_PLANS=0, a forced strategy, or an engine that cannot be loaded (the loader
    failed: a library path that does not exist): the same bytes, through Python."""
    if "unloadable" in setting:  # not built, and building fails
        from tempi.shim import build

        def fails(**_):
            raise OSError("no mpicc in this test")

        monkeypatch.setattr(native, "_tried", False)
        monkeypatch.setattr(native, "_lib", None)
        monkeypatch.setattr(build, "shim_path", lambda: tmp_path / "shim" / "key" / build.LIBRARY)
        monkeypatch.setattr(build, "build", fails)
        tempi_env(TEMPI_HOST="1")
    else:
        tempi_env(TEMPI_HOST="1", **setting)
    ours = tempi.Comm(MPI.COMM_WORLD)
    before = dict(engine.paths())
    for k in range(2):
        _round(ours, ours, usertype, 2, wire, neighbours, TAG + 80 + k, blocking=False)
    moved = _moved(before)
    assert moved.get("engine", 0) == 0 and moved.get("host", 0) == 4, moved
    assert not native.enabled()


@pytest.mark.mpi(min_size=1)
@pytest.mark.parametrize("mixed", [False, True], ids=["all-in-c", "c-and-python"])
def test_neighbor_alltoallw_parts_in_c(tempi_env, mixed):
    """tempi.halo's 26-neighbour exchange through Neighbor_alltoallw: every part in C, or
    (mixed) odd ranks on Python's exchange (TEMPI_PLANS=0) against even ranks in C: the
    ghosts are the neighbours' cells either way."""
    from tempi import halo

    world = MPI.COMM_WORLD
    plans = "0" if mixed and world.rank % 2 else "1"
    tempi_env(TEMPI_HOST="1", TEMPI_PLANS=plans)
    block = halo.decompose(world, 4, 1, 2)
    sends, recvs = halo.subarrays(block)
    graph = world.Create_dist_graph_adjacent(block.sources, block.destinations, reorder=False)
    ours = tempi.Comm(graph)
    ones, zeros = [1] * len(sends), [0] * len(sends)
    expected = block.expected(np)
    try:
        for _ in range(2):
            grid = halo._fresh(block, expected, np)
            before = dict(engine.paths())
            ours.Neighbor_alltoallw([grid, ones, zeros, sends], [grid, ones, zeros, recvs])
            assert np.array_equal(grid, expected)
        moved = _moved(before)
        if plans == "1":
            assert moved.get("engine", 0) > 0 and moved.get("batched", 0) == 0, moved
        else:
            assert moved.get("engine", 0) == 0 and moved.get("host", 0) > 0, moved
    finally:
        ours.Free()
        graph.Free()
        for t in sends + recvs:
            t.Free()


class _Counting:
    """The engine's library with its calls counted (by name), everything else as it is."""

    def __init__(self, lib):
        self._real, self.calls = lib, {}

    def __getattr__(self, name):
        real = getattr(self._real, name)

        def counted(*args):
            self.calls[name] = self.calls.get(name, 0) + 1
            return real(*args)

        return counted


def _layout(kinds):
    """Buffers and specs for Neighbor_alltoallw: one part per (datatype, count) of
    ``kinds``, each at its own byte displacement (receive parts apart from send parts'
    regions, 64 bytes of gap between parts)."""
    displs, at = [], 0
    for datatype, count in kinds:
        displs.append(at)
        at += datatype.Get_extent()[1] * count + 64
    return displs, at


def _alltoallw_matches_mpi4py(topo, ours, kinds, salt, counting, layout=None):
    """One exchange through tempi.Comm and the same one through mpi4py: the same bytes
    land; the send buffer is untouched; one engine call did it. The engine counter's move.
    ``layout``: (displacements, buffer bytes), by default from the parts' extents."""
    types = [t for t, _ in kinds]
    counts = [c for _, c in kinds]
    displs, nbytes = layout or _layout(kinds)
    rank = MPI.COMM_WORLD.rank
    sent = np.random.default_rng([rank, salt]).integers(0, 256, nbytes, dtype=np.uint8)
    keep = sent.copy()
    mine = np.full(nbytes, 0xEE, np.uint8)
    oracle = mine.copy()
    topo.Neighbor_alltoallw([sent, counts, displs, types], [oracle, counts, displs, types])
    before = dict(engine.paths())
    calls = dict(counting.calls)
    ours.Neighbor_alltoallw([sent, counts, displs, types], [mine, counts, displs, types])
    moved = _moved(before)
    assert np.array_equal(mine, oracle)
    assert np.array_equal(sent, keep), "send buffer changed"
    assert (
        counting.calls.get("tempi_engine_exchange", 0) == calls.get("tempi_engine_exchange", 0) + 1
    )
    assert counting.calls.get("tempi_engine_start", 0) == calls.get("tempi_engine_start", 0)
    assert moved.get("host", 0) == 0 and moved.get("batched", 0) == 0, moved
    return moved.get("engine", 0)


def _planned_parts(kinds):
    """How many parts of ``kinds`` (sent and received) the engine runs with a plan (the
    others go to the MPI with the user's type)."""
    buf = np.zeros(1 << 16, np.uint8)
    return 2 * sum(native._find([buf, c, t], False)[0] != native.SYSTEM for t, c in kinds)


@pytest.fixture
def counting(monkeypatch, tempi_env):
    tempi_env(TEMPI_HOST="1")
    assert native.enabled()
    lib = _Counting(native._lib)
    monkeypatch.setattr(native, "_lib", lib)
    return lib


@pytest.mark.mpi(min_size=1)
def test_neighbor_alltoallw_one_call_on_a_periodic_cart(counting):
    """A periodic 2-D Cartesian communicator (at 1 or 2 ranks per dimension the same rank
    is both neighbours: tags by slot keep them apart), planned vector parts and
    contiguous ones: mpi4py's bytes, one engine call per exchange, the cached arrays
    reused, every planned part counted as run in C."""
    world = MPI.COMM_WORLD
    dims = MPI.Compute_dims(world.size, 2)
    cart = world.Create_cart(dims, periods=[True, True])
    wide = MPI.DOUBLE.Create_vector(64, 1, 4).Commit()
    short = MPI.DOUBLE.Create_vector(3, 2, 5).Commit()
    kinds = [(wide, 2), (wide, 2), (MPI.DOUBLE, 5), (MPI.DOUBLE, 5)]
    ours = tempi.Comm(cart)
    try:
        planned = _planned_parts(kinds)
        assert planned > 0
        for salt in range(3):
            assert _alltoallw_matches_mpi4py(cart, ours, kinds, salt, counting) == planned
        assert len(ours._exchanges) == 1
        kinds = [(short, 3), (short, 3), (wide, 1), (wide, 1)]  # another exchange
        planned = _planned_parts(kinds)
        for salt in range(2):
            assert _alltoallw_matches_mpi4py(cart, ours, kinds, salt, counting) == planned
        assert len(ours._exchanges) == 2
    finally:
        ours.Free()
        cart.Free()
        wide.Free()
        short.Free()


@pytest.mark.mpi(min_size=1)
def test_neighbor_alltoallw_one_call_with_repeated_neighbours(counting):
    """A distributed graph that sends twice to the right and once to the left (receiving
    twice from the left, once from the right): the k-th part between two ranks matches
    the k-th, as Python's exchange tags them; mpi4py's bytes."""
    world = MPI.COMM_WORLD
    right, left = (world.rank + 1) % world.size, (world.rank - 1) % world.size
    graph = world.Create_dist_graph_adjacent([left, left, right], [right, right, left])
    wide = MPI.DOUBLE.Create_vector(64, 1, 4).Commit()
    other = MPI.INT.Create_vector(40, 3, 7).Commit()
    kinds = [(wide, 2), (MPI.DOUBLE, 5), (other, 1)]
    ours = tempi.Comm(graph)
    try:
        planned = _planned_parts(kinds)
        assert planned > 0
        for salt in range(3):
            assert _alltoallw_matches_mpi4py(graph, ours, kinds, salt, counting) == planned
        assert len(ours._exchanges) == 1
    finally:
        ours.Free()
        graph.Free()
        wide.Free()
        other.Free()


@pytest.mark.mpi(min_size=1)
def test_neighbor_alltoallw_freed_type_is_planned_again(counting):
    """The same exchange (buffers, counts, displacements) with a type freed and made again
    (MPI re-uses the handle, so the cache key is the same): the new type's bytes land,
    never the old plan's."""
    world = MPI.COMM_WORLD
    right, left = (world.rank + 1) % world.size, (world.rank - 1) % world.size
    graph = world.Create_dist_graph_adjacent([left, right], [right, left])
    ours = tempi.Comm(graph)
    layout = ([0, 8192], 16384)  # the same whatever the type (each part fits in 8 KiB)
    handles = []
    try:
        for blocks, stride in ((64, 4), (32, 8), (48, 3), (64, 2)):
            datatype = MPI.DOUBLE.Create_vector(blocks, 1, stride).Commit()
            handles.append(datatype.handle)
            kinds = [(datatype, 2), (datatype, 2)]
            for salt in range(2):
                _alltoallw_matches_mpi4py(graph, ours, kinds, salt + blocks, counting, layout)
            datatype.Free()
        if len(set(handles)) < len(handles):  # a re-used handle: the same key, new arrays
            assert len(ours._exchanges) < len(handles)
    finally:
        ours.Free()
        graph.Free()


@pytest.mark.mpi(min_size=2)  # Open MPI's self path does not report truncation (and overruns)
def test_neighbor_alltoallw_truncation_raises_as_the_python_path_does(counting, tempi_env):
    """Each rank receives fewer bytes than its neighbour sends in a planned part: every
    rank raises, as on tempi's Python path (which says MPI_ERR_IN_STATUS where MPICH's
    Waitall does; MPICH's own collective reports nothing, Open MPI's varies), with the
    first failure's own class, MPI_ERR_TRUNCATE, as the per-part C route did; the next
    exchange is right (the failed operation's slot was given back)."""
    world = MPI.COMM_WORLD
    right, left = (world.rank + 1) % world.size, (world.rank - 1) % world.size
    graph = world.Create_dist_graph_adjacent([left], [right])
    wide = MPI.DOUBLE.Create_vector(64, 1, 4).Commit()
    sent = np.arange(4096, dtype=np.uint8)
    target = np.zeros(4096, np.uint8)
    classes = []
    try:
        for plans in ("0", "1"):
            tempi_env(TEMPI_HOST="1", TEMPI_PLANS=plans)
            ours = tempi.Comm(graph)
            calls = counting.calls.get("tempi_engine_exchange", 0)
            with pytest.raises(MPI.Exception) as raised:
                ours.Neighbor_alltoallw([sent, [2], [0], [wide]], [target, [1], [0], [wide]])
            classes.append(raised.value.Get_error_class())
            in_c = counting.calls.get("tempi_engine_exchange", 0) - calls
            assert in_c == (plans == "1"), (plans, in_c)
            ours.Free()
        assert classes[0] in (MPI.ERR_TRUNCATE, MPI.ERR_IN_STATUS), classes
        assert classes[1] == MPI.ERR_TRUNCATE, classes  # the first failure itself
        ours = tempi.Comm(graph)
        _alltoallw_matches_mpi4py(graph, ours, [(wide, 2)], 5, counting)
        ours.Free()
    finally:
        graph.Free()
        wide.Free()


# ---- the compiled binding (native/comm_binding.c): one C call per planned host message


def _binding_round(ours, datatype, count, wire, neighbours, tag):
    """Isend/Irecv, Sendrecv, Sendrecv_replace and Send/Recv of ``count`` x ``datatype``
    around the ring (8 messages of this rank), each checked against what the system MPI
    delivers."""
    dest, source = neighbours
    world = MPI.COMM_WORLD
    rank = world.rank

    def expect(target, salt):
        return wire.delivered(wire.payload(datatype, count, source, salt), count, datatype, target)

    def check(target, expected, status, salt):
        assert np.array_equal(target, expected), salt
        assert (status.Get_source(), status.Get_tag()) == (source, salt)
        assert status.Get_count(datatype) == count

    for k, method in enumerate(("isend", "sendrecv", "replace", "send")):
        salt = tag + k
        sent = wire.payload(datatype, count, rank, salt)
        target = wire.payload(datatype, count, rank, -salt)
        expected, status = expect(target.copy(), salt), MPI.Status()
        if method == "isend" or (method == "send" and world.size == 1):
            receive = ours.Irecv([target, count, datatype], source, salt)
            if method == "isend":
                ours.Isend([sent, count, datatype], dest, salt).Wait()
            else:
                ours.Send([sent, count, datatype], dest, salt)
            receive.Wait(status)
        elif method == "sendrecv":
            ours.Sendrecv(
                [sent, count, datatype], dest, salt, [target, count, datatype], source, salt, status
            )
        elif method == "replace":
            target = sent  # the send's bytes are replaced by the left neighbour's
            expected = expect(sent.copy(), salt)
            ours.Sendrecv_replace([target, count, datatype], dest, salt, source, salt, status)
        elif rank % 2 == 0:
            ours.Send([sent, count, datatype], dest, salt)
            ours.Recv([target, count, datatype], source, salt, status)
        else:
            ours.Recv([target, count, datatype], source, salt, status)
            ours.Send([sent, count, datatype], dest, salt)
        check(target, expected, status, salt)


@pytest.mark.mpi(min_size=1)
def test_binding_runs_the_steady_state_in_c(host, usertype, wire, neighbours):
    """After the first message of a (datatype, count), every planned host message of
    Send/Recv, Isend/Irecv, Sendrecv and Sendrecv_replace is one call of the compiled
    binding (its in_c counter moves by 8 a round, to_python not at all), with the bytes
    and statuses the system MPI gives; messages the host model sends by the MPI's typed
    path too (the MPI's own call from C; Isend/Irecv return an mpi4py Request then)."""
    ours, count = tempi.Comm(MPI.COMM_WORLD), 2
    _binding_round(ours, usertype, count, wire, neighbours, TAG + 100)  # plans
    before = native.binding_counts()
    assert before["loaded"], "the compiled binding did not load"
    for k in range(3):
        _binding_round(ours, usertype, count, wire, neighbours, TAG + 110 + 10 * k)
    after = native.binding_counts()
    assert after["in_c"] - before["in_c"] == 3 * 8, (before, after)
    assert after["to_python"] == before["to_python"], (before, after)


@pytest.mark.mpi(min_size=1)
def test_binding_unavailable_gives_the_same_bytes(host, monkeypatch, usertype, wire, neighbours):
    """Without the compiled binding (its interface answers "not mine" to everything) the
    cffi path runs the same messages in the C engine, with the same results."""
    monkeypatch.setattr(native, "c", native._NoBinding)
    ours, count = tempi.Comm(MPI.COMM_WORLD), 2
    before = dict(engine.paths())
    for k in range(2):
        _binding_round(ours, usertype, count, wire, neighbours, TAG + 150 + 10 * k)
    assert native.binding_counts()["in_c"] == 0
    if choose.pick_host(usertype.Get_size() * count) == "packed":
        assert _moved(before).get("engine", 0) == 12  # Sendrecv_replace: Python's route


@pytest.mark.mpi(min_size=1)
def test_binding_replans_a_freed_and_reused_handle(host, wire, neighbours):
    """Types freed and created again (MPI re-uses their handles): the binding's entry for
    the old type is not used for the new one (its descriptor was evicted)."""
    ours, handles = tempi.Comm(MPI.COMM_WORLD), []
    for blocks in (3, 5, 2, 4, 3):
        datatype = MPI.DOUBLE.Create_vector(blocks, 1, 3).Commit()
        handles.append(datatype.handle)
        for k in range(2):
            _binding_round(ours, datatype, 2, wire, neighbours, TAG + 200 + 10 * k)
        datatype.Free()
    assert len(set(handles)) < len(handles), "no handle re-used: the test shows nothing"


@pytest.mark.mpi(min_size=1)
def test_binding_too_small_buffer_raises_as_before(host, monkeypatch, wire, neighbours):
    """A buffer shorter than the data: the binding declines and Python's path raises what
    it raised without the binding (InvalidBuffer), for Send, Recv, Isend and Sendrecv."""
    from tempi.errors import InvalidBuffer

    dest, source = neighbours
    ours = tempi.Comm(MPI.COMM_WORLD)
    datatype = MPI.DOUBLE.Create_vector(4, 1, 3).Commit()
    small = np.zeros(5)
    try:
        _binding_round(ours, datatype, 1, wire, neighbours, TAG + 230)  # plans
        raised = {}
        for binding in (True, False):
            if not binding:
                monkeypatch.setattr(native, "c", native._NoBinding)
            calls = {
                "Send": lambda: ours.Send([small, 1, datatype], dest, TAG + 240),
                "Recv": lambda: ours.Recv([small, 1, datatype], source, TAG + 240),
                "Isend": lambda: ours.Isend([small, 1, datatype], dest, TAG + 240),
                "Sendrecv": lambda: ours.Sendrecv(
                    [small, 1, datatype], dest, TAG + 240, [small, 1, datatype], source
                ),
            }
            for name, call in calls.items():
                with pytest.raises(InvalidBuffer) as failed:
                    call()
                raised[binding, name] = str(failed.value)
        for name in ("Send", "Recv", "Isend", "Sendrecv"):
            assert raised[True, name] == raised[False, name], name
    finally:
        datatype.Free()


@pytest.mark.mpi(min_size=1)
@pytest.mark.parametrize("with_status", [True, False])
def test_binding_sendrecv_replace_equals_mpi4py(host, usertype, wire, neighbours, with_status):
    """tempi.Comm's Sendrecv_replace (planned: one call of the binding) leaves the bytes
    and status mpi4py's own Sendrecv_replace leaves, for every test type, twice."""
    dest, source = neighbours
    world, count = MPI.COMM_WORLD, 3
    ours = tempi.Comm(world)
    for k in range(2):
        tag = TAG + 250 + k
        mine = wire.payload(usertype, count, world.rank, tag)
        theirs = mine.copy()
        statuses = [MPI.Status(), MPI.Status()] if with_status else [None, None]
        ours.Sendrecv_replace([mine, count, usertype], dest, tag, source, tag, statuses[0])
        world.Sendrecv_replace([theirs, count, usertype], dest, tag, source, tag, statuses[1])
        assert np.array_equal(mine, theirs)
        if with_status:
            got, want = statuses
            assert (got.Get_source(), got.Get_tag()) == (want.Get_source(), want.Get_tag())
            assert got.Get_count(usertype) == want.Get_count(usertype) == count


@pytest.mark.mpi(min_size=1)
def test_binding_that_cannot_load_leaves_the_cffi_path(monkeypatch):
    """An import of ``_tempi_comm`` that fails (here: no such file) is logged and leaves
    the "not mine" interface in place, so the cffi path runs every message."""
    monkeypatch.setattr(native, "c", native._NoBinding)
    monkeypatch.setattr(native, "_path_of", lambda ffi, lib: "/nonexistent/libtempi_shim.so")
    native._load_binding(None, None)
    assert native.c is native._NoBinding
    assert native.binding_counts() == {"in_c": 0, "to_python": 0, "entries": 0, "loaded": False}


@pytest.mark.mpi(min_size=1)
def test_binding_waitall_of_engine_requests_is_one_call(host, wire, neighbours):
    """A Waitall of NativeRequests all in flight (no statuses) is one call of the binding's
    waitall (requests.c's Waitall rule, as tempi.Request.Waitall runs it): the bytes
    arrive and every request is inactive after. A list with anything else in it (an
    mpi4py request) is not the binding's (None, nothing done): tempi.Request.Waitall's
    Python side takes it, with the same bytes."""
    datatype = MPI.DOUBLE.Create_vector(8, 1, 3).Commit()
    ours, (dest, source), rank = tempi.Comm(MPI.COMM_WORLD), neighbours, MPI.COMM_WORLD.rank
    try:
        for k in range(3):
            tag = TAG + 200 + 10 * k
            sent = wire.payload(datatype, 1, rank, tag)
            target = wire.payload(datatype, 1, rank, -tag)
            expected = wire.delivered(wire.payload(datatype, 1, source, tag), 1, datatype, target)
            pending = [ours.Irecv([target, 1, datatype], source, tag)]
            pending.append(ours.Isend([sent, 1, datatype], dest, tag))
            if k == 0:  # plans
                tempi.Request.Waitall(pending)
            elif k == 1:
                assert native.binding_counts()["loaded"], "the compiled binding did not load"
                assert all(type(r) is native.NativeRequest for r in pending), pending
                assert native.c.waitall(pending) == 0
            else:
                pending.append(MPI.COMM_SELF.Isend([b"", MPI.BYTE], 0, tag))
                pending.append(MPI.COMM_SELF.Irecv([bytearray(), MPI.BYTE], 0, tag))
                assert native.c.waitall(pending) is None
                tempi.Request.Waitall(pending)
            assert np.array_equal(target, expected), k
            assert not any(r._active for r in pending[:2]), k
    finally:
        datatype.Free()


# ---- the binding's Isend/Irecv as tempi.Comm's methods, its requests made in C


def _vector_round(ours, datatype, wire, neighbours, tag, **kwargs):
    """One planned message around the ring through ``ours.Irecv``/``ours.Isend``; the
    receive, the send, the target and the bytes expected."""
    dest, source = neighbours
    rank = MPI.COMM_WORLD.rank
    sent = wire.payload(datatype, 1, rank, tag)
    target = wire.payload(datatype, 1, rank, -tag)
    expected = wire.delivered(wire.payload(datatype, 1, source, tag), 1, datatype, target)
    receive = ours.Irecv([target, 1, datatype], source, tag)
    send = ours.Isend([sent, 1, datatype], dest, tag)
    return receive, send, target, expected


@pytest.fixture
def vector():
    datatype = MPI.DOUBLE.Create_vector(8, 1, 3).Commit()
    yield datatype
    datatype.Free()


@pytest.mark.mpi(min_size=1)
def test_binding_methods_bind_arguments_as_python_does(host, vector, wire, neighbours):
    """Once the binding is loaded, tempi.Comm's Isend/Issend/Ibsend/Irecv are its C
    functions: positional and keyword arguments and the defaults (Irecv from any source,
    any tag) give the bytes and statuses of the Python methods, each message one call of
    the binding (in_c moves, to_python does not); calls Python would not bind raise the
    Python method's TypeError."""
    from tempi.comm import communicator

    dest, source = neighbours
    rank, ours = MPI.COMM_WORLD.rank, tempi.Comm(MPI.COMM_WORLD)
    tempi.Request.Waitall(list(_vector_round(ours, vector, wire, neighbours, TAG + 300)[:2]))
    assert native.binding_counts()["loaded"], "the compiled binding did not load"
    for name in ("Isend", "Issend", "Ibsend", "Irecv"):
        method = tempi.Comm.__dict__[name]
        assert type(method).__name__ == "method_descriptor", (name, method)
    before = native.binding_counts()
    buffer = MPI.Alloc_mem(1 << 16)
    MPI.Attach_buffer(buffer)
    try:
        calls = [
            ("Isend", lambda b, t: ours.Isend(b, dest, t), lambda b, t: ours.Irecv(b, source, t)),
            (
                "Issend",
                lambda b, t: ours.Issend(buf=b, tag=t, dest=dest),
                lambda b, t: ours.Irecv(b),
            ),
            ("Ibsend", lambda b, t: ours.Ibsend(b, dest, tag=t), lambda b, t: ours.Irecv(b, tag=t)),
            (
                "Isend",
                lambda b, t: ours.Isend(b, dest=dest, tag=t),
                lambda b, t: ours.Irecv(buf=b, source=source),
            ),
        ]
        for k, (name, post_send, post_recv) in enumerate(calls):
            tag = TAG + 310 + k
            sent = wire.payload(vector, 1, rank, tag)
            target = wire.payload(vector, 1, rank, -tag)
            expected = wire.delivered(wire.payload(vector, 1, source, tag), 1, vector, target)
            status = MPI.Status()
            receive = post_recv([target, 1, vector], tag)
            send = post_send([sent, 1, vector], tag)
            assert type(receive) is native.NativeRequest and type(send) is native.NativeRequest
            send.Wait()
            receive.Wait(status)
            assert np.array_equal(target, expected), name
            assert (status.Get_source(), status.Get_tag()) == (source, tag), name
            assert status.Get_count(vector) == 1, name
            MPI.COMM_WORLD.Barrier()  # (Irecv from anyone: one message in flight at a time)
    finally:
        MPI.Detach_buffer()
        MPI.Free_mem(buffer)
    after = native.binding_counts()
    assert after["in_c"] - before["in_c"] == 8, (before, after)
    assert after["to_python"] == before["to_python"], (before, after)
    spec = [np.zeros(24), 1, vector]
    for bad in (lambda f: f(ours, spec), lambda f: f(ours, spec, dest, what=1)):
        with pytest.raises(TypeError) as by_c:
            bad(tempi.Comm.Isend)
        with pytest.raises(TypeError) as by_python:
            bad(communicator._PYTHON_METHODS[0])
        assert str(by_c.value) == str(by_python.value)
    with pytest.raises(TypeError):
        ours.Irecv(spec, source, 0, "extra")


@pytest.mark.mpi(min_size=1)
def test_binding_declined_message_goes_to_python_once(host, vector, wire, neighbours):
    """A message the binding's method declines (a NumPy integer as the tag: not an int)
    is handed to Python's path once (to_python moves by 1 a call) and delivered there,
    with its status."""
    dest, source = neighbours
    rank, ours = MPI.COMM_WORLD.rank, tempi.Comm(MPI.COMM_WORLD)
    tempi.Request.Waitall(list(_vector_round(ours, vector, wire, neighbours, TAG + 330)[:2]))
    before = native.binding_counts()
    tag = TAG + 331
    sent = wire.payload(vector, 1, rank, tag)
    target = wire.payload(vector, 1, rank, -tag)
    expected = wire.delivered(wire.payload(vector, 1, source, tag), 1, vector, target)
    status = MPI.Status()
    receive = ours.Irecv([target, 1, vector], source, np.int64(tag))
    ours.Isend([sent, 1, vector], dest, np.int64(tag)).Wait()
    receive.Wait(status)
    after = native.binding_counts()
    assert after["to_python"] - before["to_python"] == 2, (before, after)
    assert np.array_equal(target, expected)
    assert (status.Get_source(), status.Get_tag(), status.Get_count(vector)) == (source, tag, 1)


@pytest.mark.mpi(min_size=1)
def test_binding_requests_hold_what_init_sets(host, vector, wire, neighbours):
    """The binding's requests (made in C without running __init__) hold every slot as
    NativeRequest(op, receive) sets it, and Test, Wait with a status, and the cancel of a
    receive nothing matches work on them as on any tempi request."""
    ours, rank = tempi.Comm(MPI.COMM_WORLD), MPI.COMM_WORLD.rank
    tempi.Request.Waitall(list(_vector_round(ours, vector, wire, neighbours, TAG + 340)[:2]))
    receive, send, target, expected = _vector_round(ours, vector, wire, neighbours, TAG + 341)
    for request, receiving in ((receive, True), (send, False)):
        assert type(request) is native.NativeRequest
        assert isinstance(request, tempi.Request)
        model = native.NativeRequest(request._op, receiving)
        for slot in native.NativeRequest.__slots__:
            assert getattr(request, slot) == getattr(model, slot), slot
        assert request._steps == request._op > 0 and request.active
        assert request.result is None and not request.cancelled
    status = MPI.Status()
    while not receive.Test(status):
        pass
    send.Wait()
    assert np.array_equal(target, expected)
    assert status.Get_tag() == TAG + 341 and status.Get_count(vector) == 1
    assert receive.result is not None and receive.result[1] == TAG + 341
    assert not receive.active and receive._steps is None and send._steps is None
    assert receive.Test() and not receive.cancelled  # inactive: done at once
    nothing = ours.Irecv([wire.payload(vector, 1, rank, 0), 1, vector], neighbours[1], TAG + 349)
    assert type(nothing) is native.NativeRequest
    nothing.Cancel()
    status = MPI.Status()
    nothing.Wait(status)
    assert status.Is_cancelled() and nothing.cancelled and not nothing.active


@pytest.mark.mpi(min_size=1)
def test_binding_requests_in_mixed_lists(host, vector, wire, neighbours):
    """The binding's requests with Python's (a tempi request that waits on an mpi4py one)
    and mpi4py's in one list: Waitall with statuses, Testall, Waitany and Waitsome give
    every receive's bytes and status (source, tag, count), and each completed request is
    inactive after."""
    from tempi.comm.communicator import _tempi_request

    dest, source = neighbours
    world, rank, ours = MPI.COMM_WORLD, MPI.COMM_WORLD.rank, tempi.Comm(MPI.COMM_WORLD)
    tempi.Request.Waitall(list(_vector_round(ours, vector, wire, neighbours, TAG + 350)[:2]))
    for k, call in enumerate(("Waitall", "Testall", "Waitany", "Waitsome")):
        tag = TAG + 360 + 10 * k
        receive, send, target, expected = _vector_round(ours, vector, wire, neighbours, tag)
        assert type(receive) is native.NativeRequest and type(send) is native.NativeRequest
        plain_in, plain_out = np.zeros(4), np.arange(4.0) + rank
        python_in, python_out = np.zeros(3), np.arange(3.0) - rank
        pending = [
            receive,
            world.Irecv(plain_in, source, tag + 1),
            _tempi_request(world.Irecv(python_in, source, tag + 2)),
            send,
            world.Isend(plain_out, dest, tag + 1),
            _tempi_request(world.Isend(python_out, dest, tag + 2)),
        ]
        statuses = [MPI.Status() for _ in pending]
        if call == "Waitall":
            tempi.Request.Waitall(pending, statuses)
            done = list(range(len(pending)))
        elif call == "Testall":
            while not tempi.Request.Testall(pending, statuses):
                pass
            done = list(range(len(pending)))
        else:
            done, seen = [], {}
            while len(done) < len(pending):
                if call == "Waitany":
                    status = MPI.Status()
                    index = tempi.Request.Waitany(pending, status)
                    got = [index]
                    seen[index] = status
                else:
                    got = tempi.Request.Waitsome(pending, statuses)
                    for j, index in enumerate(got):
                        seen[index] = MPI.Status(statuses[j])
                done += got
            assert sorted(done) == list(range(len(pending)))
            statuses = [seen[i] for i in range(len(pending))]
        assert np.array_equal(target, expected), call
        assert np.array_equal(plain_in, np.arange(4.0) + source), call
        assert np.array_equal(python_in, np.arange(3.0) - source), call
        for index, count_of in ((0, (vector, 1)), (1, (MPI.DOUBLE, 4)), (2, (MPI.DOUBLE, 3))):
            status = statuses[index]
            assert (status.Get_source(), status.Get_tag()) == (source, tag + index), call
            assert status.Get_count(count_of[0]) == count_of[1], call
        assert not receive.active and not send.active, call
        assert receive._steps is None and send._steps is None, call


@pytest.mark.mpi(min_size=2)  # Open MPI's self path does not report truncation at all
def test_binding_waitall_raises_the_mpi_error(host, vector, wire, neighbours):
    """A receive that is too small, in a Waitall of the binding's requests alone (its one
    C call): MPI.Exception with the MPI's class (truncation, or in-status), every request
    inactive after; the next exchange runs as usual."""
    dest, source = neighbours
    rank = MPI.COMM_WORLD.rank
    comm = MPI.COMM_WORLD.Dup()  # its error handler: mpi4py's (exceptions)
    ours = tempi.Comm(comm)
    small = MPI.DOUBLE.Create_vector(4, 1, 3).Commit()
    try:
        for k in range(2):  # the first plans
            tag = TAG + 400 + k
            receive = ours.Irecv([wire.payload(small, 1, rank, -tag), 1, small], source, tag)
            send = ours.Isend([wire.payload(vector, 1, rank, tag), 1, vector], dest, tag)
            assert type(receive) is native.NativeRequest or k == 0
            with pytest.raises(MPI.Exception) as failed:
                tempi.Request.Waitall([receive, send])
            assert failed.value.Get_error_class() in (MPI.ERR_TRUNCATE, MPI.ERR_IN_STATUS)
            assert not receive.active and not send.active
        receive, send, target, expected = _vector_round(ours, vector, wire, neighbours, TAG + 410)
        tempi.Request.Waitall([receive, send])
        assert np.array_equal(target, expected)
    finally:
        small.Free()
        comm.Free()


@pytest.mark.mpi(min_size=1)
def test_engine_requests_settle_after_a_failure(host, vector, wire, neighbours):
    """What tempi.comm.settle does to the requests of a failed exchange works on the
    engine's: ``abandon`` completes the transfer (the bytes arrive) and makes the request
    inactive. (It assigned the read-only ``_waiting`` of a NativeRequest before.)"""
    ours = tempi.Comm(MPI.COMM_WORLD)
    tempi.Request.Waitall(list(_vector_round(ours, vector, wire, neighbours, TAG + 360)[:2]))
    receive, send, target, expected = _vector_round(ours, vector, wire, neighbours, TAG + 361)
    assert type(receive) is native.NativeRequest and type(send) is native.NativeRequest
    receive.abandon()
    send.abandon()
    assert np.array_equal(target, expected)
    assert not receive.active and not send.active and receive._steps is None
    MPI.COMM_WORLD.Barrier()
