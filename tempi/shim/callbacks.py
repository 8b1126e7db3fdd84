"""The Python side of the interposer: what ``native/interposer.c`` calls as ``tempi_py_*``.

Handles arrive as Fortran integers (``MPI_Type_c2f``) and become mpi4py objects with
``f2py``. Return codes: ``OK`` (done), ``PASS`` (let the system MPI do it), an MPI error
class + ``ERROR``, or ``FAILED`` (an internal error: the C side returns MPI_ERR_INTERN)
-- never 0, which cffi returns when the embedded interpreter failed. No exception
crosses into C.
"""

from __future__ import annotations

import atexit
import itertools
import os
import sys
import threading
from collections import Counter
from typing import Any

from tempi.shim import plans  # light: imports numba only when a plan is made
from tempi.shim.spec import COLLECTIVE_KINDS, ERROR, FAILED, OK, PASS, SEND_MODES
from tempi.topology import shim as topology_shim  # light: imports MPI only when called

_lib = None
_ffi = None
_counts: Counter = Counter()
_finalized = False


def init() -> int:
    """Import mpi4py without letting it initialise or finalise MPI (the application does),
    keeping the application's error handlers."""
    import mpi4py

    if "mpi4py.MPI" not in sys.modules:
        mpi4py.rc.initialize = False
        mpi4py.rc.finalize = False
        mpi4py.rc.errors = "default"
    from mpi4py import MPI  # noqa: F401

    from tempi import system
    from tempi.comm.strategy import contiguous_strategy

    aware = system.cuda_aware_mpi()[0]
    _lib.tempi_stage_device_buffers(int(contiguous_strategy(cuda_aware=aware) == "staged"))
    _learn_world_nodes()
    _import_everything()
    atexit.register(finalize)  # a Python host finalizes MPI only after the interpreter
    return OK


def _import_everything() -> None:
    """Import now what later callbacks need (numba's packers, compiled, the engine, the
    model, CuPy where there is a GPU): a host program that hides or breaks a module after tempi has
    started (a test runner's ``sys.modules["numba"] = None``) cannot fail a call midway."""
    import tempi.comm.collectives
    import tempi.comm.packed_collectives
    import tempi.model.choose
    import tempi.pack.host_cfunc  # noqa: F401 - the C engine's packers
    import tempi.pack.select  # noqa: F401
    from tempi.pack import host
    from tempi.pack.buffers import address_on_device

    host.warm_up()
    address_on_device(0)


def _learn_world_nodes() -> None:
    """Hand the engine the world ranks on this node, as C learnt them in MPI_Init."""
    from mpi4py import MPI

    from tempi.comm import locality

    world = MPI.COMM_WORLD
    mine = _lib.tempi_node_of(world.Get_rank())
    if mine >= 0:
        nodes = range(world.Get_size())
        locality.set_world(frozenset(r for r in nodes if _lib.tempi_node_of(r) == mine))


def _mpi() -> Any:
    from mpi4py import MPI

    return MPI


def _error(exc: BaseException) -> int:
    """An MPI error keeps its code (the system MPI's, which C returns); anything else is
    logged and becomes MPI_ERR_INTERN."""
    MPI = _mpi()
    if isinstance(exc, MPI.Exception):
        return ERROR + exc.Get_error_code()
    from tempi.log import get_logger

    get_logger("shim").error("internal error: %r", exc)
    return ERROR + MPI.ERR_INTERN


_stepped_aside = False


def _step_aside(exc: BaseException) -> int:
    """A failure inside tempi before anything reached MPI: the system MPI does this call
    (PASS), so no peer waits for a message tempi never sent. Said once, as a warning; an
    MPI error keeps its code."""
    global _stepped_aside
    if isinstance(exc, _mpi().Exception):
        return _error(exc)
    if not _stepped_aside:
        _stepped_aside = True
        from tempi.log import get_logger

        get_logger("shim").warning(
            "tempi failed inside a call (%r); such calls go to the system MPI", exc
        )
    return PASS


def type_commit(ftype: int) -> int:
    """OK when tempi accelerates the type (describable and not contiguous), else PASS."""
    from tempi.datatype import describe
    from tempi.errors import TempiError

    try:
        desc = describe(_mpi().Datatype.f2py(ftype))
    except TempiError:
        return PASS
    except Exception as exc:  # noqa: BLE001 - nothing may cross into C
        _error(exc)
        return PASS
    return PASS if desc.is_contiguous else OK


def type_free(ftype: int) -> None:
    from tempi.datatype import forget

    try:
        plans.forget(ftype)  # C has dropped the type's plans
        forget(_mpi().Datatype.f2py(ftype))
    except Exception as exc:  # noqa: BLE001
        _error(exc)


def plan(ftype: int, count: int, out: int) -> int:
    """Issue 14: the C engine's plan for ``count`` elements of ``ftype`` in host memory
    (or device memory, when C's ``out.memory`` says so), written to the ``struct tempi_plan`` at ``out``; PASS when it should not run them
    (tempi's Python path does, as before)."""
    import ctypes

    from tempi.errors import TempiError

    try:
        want = plans.Plan.from_address(out)  # memory, comm, peer: C's question
        datatype = _mpi().Datatype.f2py(ftype)
        if want.memory == plans.DEVICE:
            comm = _mpi().Comm.f2py(want.comm)
            made = plans.make_device(datatype, ftype, count, comm, want.peer, _local(want.comm))
        else:
            made = plans.make(datatype, ftype, count)
    except TempiError:
        return PASS
    except Exception as exc:  # noqa: BLE001 - no plan: the Python path runs the message
        _step_aside(exc)
        return PASS
    if made is None:
        return PASS
    ctypes.memmove(out, ctypes.addressof(made), ctypes.sizeof(made))
    return OK


def _packed(ptr: int, nbytes: int) -> Any:
    from tempi.pack.buffers import Buffer, address_on_device, host_range

    if address_on_device(ptr):
        return Buffer(ptr, nbytes, True, None, None)
    return host_range(ptr, nbytes, None)


def _transfer(
    ftype: int, count: int, typed_ptr: int, packed_ptr: int, size: int, position: Any, pack: bool
) -> int:
    from tempi.datatype import describe
    from tempi.errors import TempiError
    from tempi.pack import select
    from tempi.pack.buffers import spanning

    MPI = _mpi()
    try:
        desc = describe(MPI.Datatype.f2py(ftype)).repeat(count)
        start = position[0]
        if start < 0 or start + desc.nbytes > size:
            return ERROR + MPI.ERR_TRUNCATE
        typed, origin = spanning(typed_ptr, desc, None)
        packed = _packed(packed_ptr, size)
        if pack:
            select.pack(desc, typed, origin, packed, start)
        else:
            select.unpack(desc, packed, start, typed, origin)
        position[0] = start + desc.nbytes
        _counts["packed_device" if typed.on_device else "packed_host"] += 1
        return OK
    except TempiError:
        return PASS
    except Exception as exc:  # noqa: BLE001 - the system MPI_Pack rewrites every byte
        return _step_aside(exc)


def pack(
    inbuf: int, incount: int, ftype: int, outbuf: int, outsize: int, position: Any, fcomm: int
) -> int:
    return _transfer(ftype, incount, inbuf, outbuf, outsize, position, True)


def unpack(
    inbuf: int, insize: int, position: Any, outbuf: int, outcount: int, ftype: int, fcomm: int
) -> int:
    return _transfer(ftype, outcount, outbuf, inbuf, insize, position, False)


_requests: dict[int, Any] = {}  # id -> tempi's request (a Prequest for a persistent one)
_detached: list[Any] = []  # freed by the application (MPI_Request_free), not yet done
_detached_lock = threading.Lock()
_free_ids: list[int] = []
_new_ids = itertools.count(1)


def _adopt(request: Any) -> int:
    """A C ``int`` id for ``request``: ids are reused, so they stay small however long
    the program runs."""
    try:
        rid = _free_ids.pop()
    except IndexError:  # (not a check first: another thread may take the last one)
        rid = next(_new_ids)
    _requests[rid] = request
    return rid


def _release(rid: int) -> Any:
    request = _requests.pop(rid)
    _free_ids.append(rid)  # only now: another thread may reuse it at once
    return request


def _persistent(request: Any) -> bool:
    from tempi.comm.requests import Prequest

    return isinstance(request, Prequest)


def _take(rid: int) -> Any:
    """The request of ``rid``, which C has just completed: a one-shot one's id is
    released; a persistent one keeps its id until MPI_Request_free."""
    request = _requests[rid]
    return request if _persistent(request) else _release(rid)


def _message(ptr: int, count: int, ftype: int) -> Any:
    """The engine's message for a C buffer (the memory its layout touches around ``ptr``),
    built as ``tempi.Comm`` builds ``[MPI.BOTTOM, n, type]``; UnsupportedDatatype when
    tempi cannot describe the type (C then lets the system MPI do the call)."""
    from tempi.comm.message import at_address
    from tempi.errors import UnsupportedDatatype

    msg = at_address(ptr, count, _mpi().Datatype.f2py(ftype))
    if msg.desc is None:
        raise UnsupportedDatatype("tempi cannot describe this datatype")
    return msg


def _exchange_part(ptr: int, count: int, ftype: int) -> Any:
    """An all-to-all's part: the engine's message, without a description (``desc`` None)
    when tempi cannot describe the type: the engine then routes it 'passthrough', the MPI's
    typed message, which matches a peer's packed one (native/engine_exchange.c)."""
    from tempi.comm.message import at_address

    return at_address(ptr, count, _mpi().Datatype.f2py(ftype))


def _start(start: Any, ptr: int, count: int, ftype: int, comm: Any, peer: int, rid: Any) -> int:
    """Route the message once (the engine's :func:`~tempi.comm.engine.route_to`), then run
    ``start(message, path)`` and give C tempi's id of the request it made; PASS when the
    system MPI should do the call."""
    from tempi.comm import engine
    from tempi.errors import TempiError

    try:
        msg = _message(ptr, count, ftype)
        path = engine.route_to(comm, msg, peer, _local(comm.py2f()))
        if path == "passthrough":
            return PASS
    except TempiError:
        return PASS
    except Exception as exc:  # noqa: BLE001
        return _step_aside(exc)
    try:
        rid[0] = _adopt(start(msg, path))
        return OK
    except Exception as exc:  # noqa: BLE001 - MPI sees the message only at the last step
        return _step_aside(exc)


def isend(
    buf: int,
    count: int,
    ftype: int,
    dest: int,
    tag: int,
    fcomm: int,
    mode: int,
    persistent: int,
    rid: Any,
) -> int:
    """MPI_Isend, or MPI_Send_init with ``persistent``; ``mode`` 0, 1, 2: standard,
    synchronous, buffered."""
    from tempi.comm import engine

    comm = _mpi().Comm.f2py(fcomm)
    start = engine.send_init if persistent else engine.isend_message
    kind = tuple(SEND_MODES)[mode]
    return _start(
        lambda m, path: start(comm, m, dest, tag, mode=kind, path=path),
        buf,
        count,
        ftype,
        comm,
        dest,
        rid,
    )


def irecv(
    buf: int, count: int, ftype: int, source: int, tag: int, fcomm: int, persistent: int, rid: Any
) -> int:
    """MPI_Irecv, or MPI_Recv_init with ``persistent``."""
    from tempi.comm import engine

    comm = _mpi().Comm.f2py(fcomm)
    start = engine.recv_init if persistent else engine.irecv_message
    return _start(
        lambda m, path: start(comm, m, source, tag, path=path), buf, count, ftype, comm, source, rid
    )


def cancel(rid: int) -> int:
    """MPI_Cancel of one of tempi's active requests."""
    try:
        _requests[rid].Cancel()
        return OK
    except Exception as exc:  # noqa: BLE001
        return _error(exc)


def start(rid: int) -> int:
    """MPI_Start of a persistent request of tempi's (C has checked that it is inactive)."""
    try:
        _requests[rid].Start()
        return OK
    except Exception as exc:  # noqa: BLE001
        return _error(exc)


def _report(started: Any, source: Any, tag: Any, nbytes: Any) -> None:
    """A receive's source, tag and bytes (:func:`tempi.comm.requests.report`)."""
    from tempi.comm.requests import report

    report(started, source, tag, nbytes)


def _progress_detached() -> None:
    """Complete freed requests that are done; one thread at a time (the others skip it: a
    request's steps must not run in two threads)."""
    if not _detached_lock.acquire(blocking=False):
        return
    try:
        for started in list(_detached):
            _settle_freed(started)
    finally:
        _detached_lock.release()


def _settle_freed(started: Any) -> None:
    """Complete a freed request if it is done; a failure has no one to go to (MPI: the
    application gave up the request) and is logged."""
    try:
        if not started.ready():
            return
        started.Wait()
    except Exception as exc:  # noqa: BLE001
        _error(exc)
    _detached.remove(started)


def wait(rid: int, source: Any, tag: Any, nbytes: Any) -> int:
    try:
        started = _take(rid)
        started.Wait()
        _report(started, source, tag, nbytes)
        _progress_detached()
        return OK
    except Exception as exc:  # noqa: BLE001
        return _error(exc)


def waitall(n: int, rids: Any, sources: Any, tags: Any, nbytes: Any, errors: Any) -> int:
    """Complete ``n`` of tempi's requests together (one's unpack overlaps another's
    transfer); the i-th result goes to ``sources[i]``, ``tags[i]``, ``nbytes[i]``, its
    MPI error code to ``errors[i]``. When one fails, the others are completed one by one,
    each error kept for its own status (MPI_ERR_IN_STATUS)."""
    from tempi.comm.requests import complete_into

    try:
        started = [_take(rids[i]) for i in range(n)]
    except Exception as exc:  # noqa: BLE001
        return _error(exc)
    rc = complete_into(started, sources, tags, nbytes, errors, _error)
    _progress_detached()
    return rc


def test(rid: int, flag: Any, source: Any, tag: Any, nbytes: Any) -> int:
    try:
        started = _requests[rid]
        flag[0] = int(started.ready())
        if flag[0]:
            _take(rid).Wait()
            _report(started, source, tag, nbytes)
        return OK
    except Exception as exc:  # noqa: BLE001
        return _error(exc)


def ready(rid: int, source: Any, tag: Any, nbytes: Any) -> int:
    """Whether the request is done, without completing it (its status if so)."""
    try:
        started = _requests[rid]
        if not started.ready():
            return PASS
        _report(started, source, tag, nbytes)
        return OK
    except Exception as exc:  # noqa: BLE001
        return _error(exc)


def request_free(rid: int) -> None:
    """MPI_Request_free: an operation in flight completes in the background."""
    started = _release(rid)
    if _persistent(started):
        started = started.current
    if started is not None:
        _detached.append(started)
    _progress_detached()


_private: dict[int, tuple[Any, frozenset[int]]] = {}  # fcomm -> (duplicate, ranks on this node)
_comm_keyval: int | None = None


def _local(fcomm: int) -> frozenset[int] | None:
    """The ranks of the communicator on this node, once a collective has learnt them."""
    known = _private.get(fcomm)
    return known[1] if known is not None else None


def _forget_comm(comm: Any, keyval: int, fcomm: int) -> None:
    _lib.tempi_exchange_forget(fcomm)  # C's exchanges on it (native/engine_exchange.c)
    known = _private.pop(fcomm, None)
    if known is not None:
        known[0].Free()


def _private_comm(comm: Any) -> tuple[Any, frozenset[int]]:
    """A duplicate of the application's communicator for tempi's collective messages,
    and the ranks on this node: made on the first collective (all ranks are there) and
    freed with the original."""
    global _comm_keyval
    from tempi.comm import locality

    fcomm = comm.py2f()
    known = _private.get(fcomm)
    if known is None:
        MPI = _mpi()
        if _comm_keyval is None:
            _comm_keyval = MPI.Comm.Create_keyval(delete_fn=_forget_comm)
        private = comm.Dup()
        private.Set_errhandler(MPI.ERRORS_RETURN)  # C raises errors on the application's
        known = _private[fcomm] = (private, locality.node_ranks(private))
        if comm not in (MPI.COMM_WORLD, MPI.COMM_SELF):
            comm.Set_attr(_comm_keyval, fcomm)
    return known


def _learn_exchange(
    kind: int,
    fcomm: int,
    comm: Any,
    private: Any,
    sources: list[int],
    destinations: list[int],
    tags: tuple[list[int], list[int]] | None,
) -> None:
    """Hand C the communicator's exchange context after Python's exchange ran: its later
    all-to-alls run in C (native/engine_exchange.c) with this wire protocol (the private
    communicator, each part's peer and tag), until the communicator is freed."""
    from tempi.comm import collectives

    if comm.Is_inter():
        return
    send_tags, recv_tags = tags or (
        collectives._occurrences(destinations),
        collectives._occurrences(sources),
    )
    new = _ffi.new
    _lib.tempi_exchange_learn(
        fcomm,
        kind,
        private.py2f(),
        len(sources),
        new("int[]", list(sources)),
        new("int[]", list(recv_tags)),
        len(destinations),
        new("int[]", list(destinations)),
        new("int[]", list(send_tags)),
    )


ALLTOALL, NEIGHBOR, BCAST, GATHER, GATHERV, SCATTER, SCATTERV, ALLGATHER, ALLGATHERV = (
    COLLECTIVE_KINDS.index(k)
    for k in ("ALLTOALL", "NEIGHBOR", "BCAST", "GATHER", "GATHERV", "SCATTER", "SCATTERV")
    + ("ALLGATHER", "ALLGATHERV")
)
"""The collectives of tempi_py_collective, numbered by tempi.shim.spec (TEMPI_I_<KIND>)."""


def collective(
    kind: int,
    sendbuf: int,
    nsend: int,
    sendcounts: Any,
    senddispls: Any,
    sendtypes: Any,
    recvbuf: int,
    nrecv: int,
    recvcounts: Any,
    recvdispls: Any,
    recvtypes: Any,
    root: int,
    fcomm: int,
) -> int:
    """A collective whose parts C has listed (byte displacements): the all-to-alls through
    tempi's exchange, each part tempi cannot describe as the MPI's typed message (C has
    put those on device memory the MPI cannot read on host copies: native/engine_exchange.c,
    whose wire protocol this is, says why it matches a peer that packs), with no agreement
    between the ranks; Bcast, Gather(v), Scatter(v) and Allgather(v) packed and handed to
    the system MPI's same collective (a part tempi cannot describe: PASS, before anything
    moved, and C calls that collective itself, staging device buffers)."""
    from tempi.comm import collectives, packed_collectives
    from tempi.errors import Declined, TempiError

    try:
        comm = _mpi().Comm.f2py(fcomm)
        exchange = kind in (ALLTOALL, NEIGHBOR)
        part = _exchange_part if exchange else _message
        try:
            sends = [
                part(sendbuf + senddispls[i], sendcounts[i], sendtypes[i]) for i in range(nsend)
            ]
            recvs = [
                part(recvbuf + recvdispls[i], recvcounts[i], recvtypes[i]) for i in range(nrecv)
            ]
        except TempiError:
            if exchange:  # never PASS: the peers' parts are under way without asking
                raise
            return PASS
        if exchange:
            private, local = _private_comm(comm)
            if kind == NEIGHBOR:
                topo = collectives.topology_comm(comm)
                sources, destinations, tags = collectives.neighbors(topo)
                collectives.exchange(private, sends, destinations, recvs, sources, tags, local)
            else:
                sources = destinations = list(range(comm.Get_size()))
                tags = None
                collectives.exchange(private, sends, sources, recvs, sources, local_ranks=local)
            _learn_exchange(kind, fcomm, comm, private, sources, destinations, tags)
        elif kind == BCAST:  # decline: a local failure lets the system MPI do the call
            packed_collectives.bcast(comm, (sends or recvs)[0], root, decline=True)
        elif kind in (GATHER, GATHERV):
            vector = kind == GATHERV
            packed_collectives.gather(comm, sends[0], recvs or None, root, vector, decline=True)
        elif kind in (SCATTER, SCATTERV):
            vector = kind == SCATTERV
            packed_collectives.scatter(comm, sends or None, recvs[0], root, vector, decline=True)
        else:
            vector = kind == ALLGATHERV
            packed_collectives.allgather(comm, sends[0], recvs, vector, decline=True)
        return OK
    except Declined as exc:  # a rooted collective whose local part failed: MPI does it all
        return _step_aside(exc)
    except Exception as exc:  # noqa: BLE001
        return _error(exc)


def finalize() -> None:
    """Release staging memory; with TEMPI_STATS, one line of counters for this rank.
    Runs once: from MPI_Finalize in a C host, at interpreter exit in a Python one."""
    global _finalized
    if _finalized:
        return
    _finalized = True
    from tempi import config
    from tempi.comm import release, stats
    from tempi.comm.engine import MESSAGE_COUNTERS

    for started in _detached + list(_requests.values()):
        try:
            started.Wait()
        except Exception as exc:  # noqa: BLE001 - nothing may cross into C
            _error(exc)
    release()
    if config.get("TEMPI_STATS"):
        counts = Counter(_counts)  # MPI_Pack/MPI_Unpack buffers
        counts.update(stats())  # the engine's messages
        counts["in_python"] = sum(counts.values())  # every one above went through Python
        counts["packed_host"] += _lib.tempi_engine_counter(0)  # the C engine's (issue 14)
        counts["plan_misses"] = _lib.tempi_engine_counter(1)
        for which, name in enumerate(("device_direct", "oneshot", "staged"), start=2):
            counts[name] += _lib.tempi_engine_counter(which)  # the device engine's
        counts["packed_device"] += _lib.tempi_engine_counter(5)  # its MPI_Pack/MPI_Unpack
        counts["passed_through"] += _lib.tempi_passed_messages()  # the C side's
        counts["staged"] += _lib.tempi_staged_messages(0)  # C staging (native/stage*.c)
        counts["staged_contiguous"] += _lib.tempi_staged_messages(1)
        rank = _mpi().COMM_WORLD.Get_rank()
        line = f"tempi[{rank}]: " + " ".join(f"{k}={counts[k]}" for k in MESSAGE_COUNTERS)
        os.write(1, (line + "\n").encode())  # one write: ranks share the launcher's pipe


def install(ffi: Any, lib: Any) -> None:
    """Register every callback with the embedded module's ``ffi``; keep its ``lib``."""
    global _lib, _ffi
    _lib, _ffi = lib, ffi
    ffi.def_extern(name="tempi_py_init", error=0)(init)
    ffi.def_extern(name="tempi_py_type_commit", error=PASS)(type_commit)
    ffi.def_extern(name="tempi_py_type_free")(type_free)
    ffi.def_extern(name="tempi_py_plan", error=PASS)(plan)
    ffi.def_extern(name="tempi_py_pack", error=FAILED)(pack)
    ffi.def_extern(name="tempi_py_unpack", error=FAILED)(unpack)
    ffi.def_extern(name="tempi_py_finalize")(finalize)
    ffi.def_extern(name="tempi_py_isend", error=FAILED)(isend)
    ffi.def_extern(name="tempi_py_irecv", error=FAILED)(irecv)
    ffi.def_extern(name="tempi_py_wait", error=FAILED)(wait)
    ffi.def_extern(name="tempi_py_start", error=FAILED)(start)
    ffi.def_extern(name="tempi_py_cancel", error=FAILED)(cancel)
    ffi.def_extern(name="tempi_py_test", error=FAILED)(test)
    ffi.def_extern(name="tempi_py_waitall", error=FAILED)(waitall)
    ffi.def_extern(name="tempi_py_ready", error=FAILED)(ready)
    ffi.def_extern(name="tempi_py_request_free")(request_free)
    ffi.def_extern(name="tempi_py_collective", error=FAILED)(collective)
    ffi.def_extern(name="tempi_py_topology", error=FAILED)(topology_shim.topology)
