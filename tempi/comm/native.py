"""tempi.Comm's steady state in C: the interposer's engine (``native/engine.c``), reached
through the compiled binding :data:`c` (``native/comm_binding.c``: one C call per planned
message, which parses the buffer spec and looks the plan up in a C table that :func:`_plan`
fills) and, for everything the binding hands back, through ``native/engine_api.c`` with
cffi in ABI mode (first sights, which plan; a build without the binding).

A host message of ``TEMPI_HOST=1`` whose buffer spec is ``[buf, count, datatype]`` or
``[buf, datatype]`` (``buf`` a host buffer: NumPy, bytearray, ...) is looked up by
(datatype handle, count) in a table of plans made on first sight by the interposer's
planner (:func:`tempi.shim.plans.make`); with a plan, the engine packs into its staging
and calls ``PMPI_*`` of the same MPI library mpi4py uses, and Python creates no object
but the request it returns (a blocking call none). Everything else -- device memory,
contiguous types, ``MPI.BOTTOM``, views, a buffer too small or not aligned to the
plan's word -- takes the Python path (:mod:`tempi.comm.engine`), which says why when
something is wrong. ``Neighbor_alltoallw`` on host memory is one call of the engine per
exchange (:func:`exchange`, ``tempi_engine_exchange``), its arrays cached per distinct
exchange.

The engine is the interposer's shared object (:func:`tempi.shim.build.build`, built on
first use and cached). A process that runs under the preloaded interposer (``tempi run``)
uses that loaded copy (its ``tempi_engine_*`` symbols are in the global namespace);
another one opens it with ``RTLD_LOCAL``, so none of its ``MPI_*`` symbols interposes on
the application's. When it cannot be built or loaded, or with ``TEMPI_PLANS=0``,
every message takes the Python path (one debug log line says why); so does every one
while ``TEMPI_DATATYPE`` forces a strategy (its steps run emulated in Python).

A plan holds only while its datatype does: it is checked against the descriptor cache
(:func:`tempi.datatype.describe`), whose entry MPI's delete callback evicts when the
type is freed, so a re-used handle is planned again.
"""

from __future__ import annotations

import ctypes
import operator
import os
import re
import threading
from typing import Any

from mpi4py import MPI

from tempi import config
from tempi._native import native_dir
from tempi.comm.requests import Request
from tempi.datatype import cache as descriptors
from tempi.log import get_logger
from tempi.shim import spec

log = get_logger("comm")

_HEADER = (native_dir() / "engine_api.h").read_text()
CDEF = _HEADER.split("/* BEGIN cdef")[1].split("*/", 1)[1].split("/* END cdef */")[0]
"""The C API of ``native/engine_api.c``, as ``native/engine_api.h`` declares it (its
comment says what the results mean): the header is the one declaration, for C and cffi."""
_CONSTANTS = {
    name: int(value)
    for name, value in re.findall(r"#define TEMPI_ENGINE_(\w+) \((-?\d+)\)", _HEADER)
}


SYSTEM = _CONSTANTS["SYSTEM"]
"""A plan's address meaning: the MPI's own path with the user's datatype (strategy
``system``: the performance model measured it faster for this size class)."""
PENDING = _CONSTANTS["PENDING"]
FAILED = _CONSTANTS["FAILED"]
MODES = {"standard": 0, "synchronous": 1, "buffered": 2}
"""Send modes numbered as :data:`tempi.shim.spec.SEND_MODES` (``TEMPI_I_<MODE>``)."""

_lock = threading.Lock()
_ffi: Any = None
_lib: Any = None
_tried = False
_config: Any = None  # the configuration _on was computed for
_on = False
# (datatype handle, count) -> (descriptor, plan address, first byte, end, plan, args)
# or (descriptor, 0, ...) when the engine does not run that message
_plans: dict[tuple[int, int], tuple] = {}
_Datatype, _BOTTOM = MPI.Datatype, MPI.BOTTOM
_from_buffer: Any = None  # cffi's from_buffer itself, and its "char[]" type
_bytes: Any = None
_descriptor_of = descriptors._descriptors.get  # the descriptor cache's lookup


class _NoBinding:
    """The compiled binding's interface while it is not loaded: every call says "not
    mine" (False, or None for Isend/Irecv), so the cffi path below takes the message."""

    @staticmethod
    def send(comm: Any, spec: Any, dest: int, tag: int, mode: int) -> bool:
        return False

    recv = send

    @staticmethod
    def isend(*args: Any) -> None:
        return None

    irecv = isend

    @staticmethod
    def sendrecv(*args: Any) -> bool:
        return False

    sendrecv_replace = sendrecv

    @staticmethod
    def configure(current: Any, on: bool) -> None:
        pass

    @staticmethod
    def remember(*args: Any) -> bool:
        return False

    @staticmethod
    def forget() -> None:
        pass

    @staticmethod
    def counts() -> tuple[int, int, int]:
        return (0, 0, 0)

    @staticmethod
    def waitall(requests: Any) -> None:
        return None


c: Any = _NoBinding
"""The compiled binding (``native/comm_binding.c``, module ``_tempi_comm``) once loaded:
``send(comm, spec, dest, tag, mode)``, ``recv(comm, spec, source, tag, status)`` -> True
when done in C, False for Python's path; ``isend(comm, spec, dest, tag, mode)``,
``irecv(comm, spec, source, tag)`` -> a :class:`NativeRequest` or None;
``sendrecv(comm, sendspec, dest, sendtag, recvspec, source, recvtag, status)``,
``sendrecv_replace(comm, spec, dest, sendtag, source, recvtag, status)`` -> True or False.
``waitall(requests)`` -> MPI's error code of a Waitall of NativeRequests all in flight
(one C call: requests.c's rule), None for Python's path (anything else in the list).
``comm`` is the mpi4py communicator. :class:`_NoBinding` until then (or for good)."""


def _load() -> Any:
    """The engine's library, loading (and building) it the first time; None if it cannot."""
    global _ffi, _lib, _tried
    with _lock:
        if _tried:
            return _lib
        _tried = True
        try:
            import cffi

            ffi = cffi.FFI()
            ffi.cdef(CDEF)
            lib = ffi.dlopen(None)  # the preloaded interposer's copy, if there is one
            try:
                lib.tempi_engine_api_init  # noqa: B018
                where = "the preloaded interposer"
            except AttributeError:
                path = _build()
                lib = ffi.dlopen(str(path), ffi.RTLD_NOW | ffi.RTLD_LOCAL)
                where = str(path)
            lib.tempi_engine_api_init()
        except Exception as exc:  # noqa: BLE001 -- the Python path runs every message
            log.debug("tempi.Comm runs every message in Python: no C engine (%s)", exc)
            return None
        log.debug("tempi.Comm runs planned host messages in the C engine of %s", where)
        global _from_buffer, _bytes
        _from_buffer, _bytes = ffi._backend.from_buffer, ffi._typeof("char[]")
        _ffi, _lib = ffi, lib
        _load_binding(ffi, lib)
        return lib


def _load_binding(ffi: Any, lib: Any) -> None:
    """Import the compiled binding (``_tempi_comm``) from the shared object ``lib`` was
    loaded from (the same loaded copy: dlopen of that path finds it); on any failure the
    cffi calls below run every message (one debug line says why)."""
    global c
    try:
        import importlib.machinery
        import importlib.util

        path = _path_of(ffi, lib)
        loader = importlib.machinery.ExtensionFileLoader("_tempi_comm", path)
        module_spec = importlib.util.spec_from_loader("_tempi_comm", loader)
        module = importlib.util.module_from_spec(module_spec)
        loader.exec_module(module)
        module.setup(vars(config), descriptors._descriptors, MPI.Exception, NativeRequest, _BOTTOM)
        from tempi.comm import communicator

        communicator.use_binding(module)
    except Exception as exc:  # noqa: BLE001 -- the cffi path runs every message
        log.debug("tempi.Comm's compiled binding is not available, cffi runs it (%s)", exc)
        return
    log.debug("tempi.Comm's steady state runs in the compiled binding of %s", path)
    c = module


def _path_of(ffi: Any, lib: Any) -> str:
    """The file of the shared object that holds ``lib``'s engine (dladdr)."""

    class _Info(ctypes.Structure):
        _fields_ = [
            ("dli_fname", ctypes.c_char_p),
            ("dli_fbase", ctypes.c_void_p),
            ("dli_sname", ctypes.c_char_p),
            ("dli_saddr", ctypes.c_void_p),
        ]

    address = int(ffi.cast("uintptr_t", lib.tempi_engine_api_init))
    info = _Info()
    dladdr = ctypes.CDLL(None).dladdr
    dladdr.argtypes = [ctypes.c_void_p, ctypes.POINTER(_Info)]
    if not dladdr(address, ctypes.byref(info)) or not info.dli_fname:
        raise OSError("dladdr does not know the engine's shared object")
    return os.fsdecode(info.dli_fname)


def _build() -> Any:
    """The interposer's path, built under a file lock: the ranks of a job start at once."""
    import fcntl

    from tempi.shim import build

    target = build.shim_path()
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent.parent / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return build.build()
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def enabled() -> bool:
    """Whether tempi.Comm may run host messages in C: TEMPI_HOST and TEMPI_PLANS on,
    TEMPI_DATATYPE auto (a forced strategy runs that strategy's steps, in Python), and the
    engine loaded."""
    global _config, _on
    current = config._current
    if current is None or current is not _config:
        _on = bool(
            config.get("TEMPI_HOST")
            and config.get("TEMPI_PLANS")
            and config.get("TEMPI_DATATYPE") == "auto"
        )
        _config = config._current
        if _on and _load() is None:
            _on = False
        _plans.clear()  # plans depend on the configuration (the model, the strategy)
        c.configure(_config, _on)
    return _on


def runs() -> int:
    """Messages tempi.Comm ran in C (0 without the engine)."""
    return _lib.tempi_engine_runs() if _lib is not None else 0


def binding_counts() -> dict[str, int]:
    """The compiled binding's counters: messages it ran without entering Python
    (``in_c``), calls it handed to Python's path (``to_python``: first sights, messages
    the MPI's own call takes through mpi4py's request, what tempi does not run in C), and
    plans in its table; all 0 while it is not loaded."""
    in_c, to_python, entries = c.counts()
    return {"in_c": in_c, "to_python": to_python, "entries": entries, "loaded": c is not _NoBinding}


def _plan(datatype: MPI.Datatype, handle: int, count: int) -> tuple:
    """The table's entry for (datatype, count), planning it now."""
    from tempi.errors import TempiError
    from tempi.shim import plans

    try:
        desc = descriptors.describe(datatype)
        plan = plans.make(datatype, datatype.py2f(), count)
    except (TempiError, MPI.Exception, ValueError, TypeError) as exc:
        log.debug("no C plan for %d x datatype %#x: %s", count, handle, exc)
        desc, plan = descriptors._descriptors.get(handle), None
    if desc is None or isinstance(desc, Exception) or count < 0:
        return (desc, 0, 0, 0, None, None)  # Python's path says what is wrong
    whole = desc.repeat(count) if count else None
    if whole is None or whole.nbytes == 0:
        entry = (desc, SYSTEM, 0, 0, None, None)  # nothing moves: mpi4py's own call
    elif desc.is_contiguous or (
        plan is not None and plan.strategy == plans.STRATEGIES.index("system")
    ):
        # contiguous data, or the model's pick: mpi4py's own call (Python's route says
        # passthrough for both), within the buffer as that route checks
        entry = (desc, SYSTEM, whole.data_lb, whole.data_ub, None, None)
    elif plan is None or not plan.transfer or not 0 < plan.nbytes <= 0x7FFFFFFF:
        entry = (desc, 0, 0, 0, None, None)
    else:
        # the arguments' array lives while this entry does (plans' own may be forgotten)
        args = plans.arguments_of(datatype.py2f(), count)
        entry = (desc, ctypes.addressof(plan), whole.data_lb, whole.data_ub, plan, args)
    if entry[2] < 0:  # data before the buffer's start: Python's path says what is wrong
        entry = (desc, 0, 0, 0, None, None)
    if len(_plans) > 4096:  # freed types' entries: drop them all, the live ones plan again
        _plans.clear()
        c.forget()
    _plans[handle, count] = entry
    if entry[1]:
        c.remember(datatype, handle, count, entry)
    return entry


def _find(spec: Any, writable: bool) -> tuple[int, Any] | None:
    """(plan address, buffer view) when the engine runs this buffer spec, else None."""
    if type(spec) is list or type(spec) is tuple:
        n = len(spec)
        if n == 3:
            buf, count, datatype = spec
            if type(count) is not int:
                return None
        elif n == 2:
            buf, datatype = spec
            count = -1
        else:
            return None
    else:
        return None
    if config._current is not _config and not enabled() or not _on:
        return None
    if type(datatype) is not _Datatype and not isinstance(datatype, _Datatype) or buf is _BOTTOM:
        return None
    try:
        view = _from_buffer(_bytes, buf, writable)
    except Exception:  # noqa: BLE001 -- not a host buffer cffi can read: Python's path
        return None
    handle = datatype.handle
    if count < 0:
        extent = datatype.Get_extent()[1]
        count = len(view) // extent if extent > 0 else 0
    entry = _plans.get((handle, count))
    if entry is None or _descriptor_of(handle) is not entry[0]:
        entry = _plan(datatype, handle, count)
    if not entry[1] or entry[3] > len(view):  # (entry[2] < 0 has no plan: _plan)
        return None
    return entry[1], view


def planned(spec: Any, *, writable: bool) -> bool:
    """Whether the engine runs this buffer spec (now: the buffer may change)."""
    return _find(spec, writable) is not None


def _raise(code: int) -> None:
    raise MPI.Exception(code)


SENDS = ("Send", "Ssend", "Bsend")
ISENDS = ("Isend", "Issend", "Ibsend")


def send(comm: Any, handle: int, spec: Any, dest: int, tag: int, mode: int) -> bool:
    """A blocking send in C on ``comm`` (its C ``handle``); False when Python's path
    must take it."""
    found = _find(spec, False)
    if found is None:
        return False
    if found[0] == SYSTEM:
        getattr(comm, SENDS[mode])(spec, dest, tag)
        return True
    rc = _lib.tempi_engine_send(found[0], found[1], dest, tag, handle, mode)
    if rc > 0:
        _raise(rc)
    return rc == 0


def recv(comm: Any, handle: int, spec: Any, source: int, tag: int, status: Any) -> bool:
    """A blocking receive in C, its status in ``status``; False: Python's path."""
    found = _find(spec, True)
    if found is None:
        return False
    if found[0] == SYSTEM:
        comm.Recv(spec, source, tag, status)
        return True
    where = MPI._addressof(status) if status is not None else 0
    rc = _lib.tempi_engine_recv(found[0], found[1], source, tag, handle, where)
    if rc > 0:
        _raise(rc)
    return rc == 0


def start(handle: int, spec: Any, peer: int, tag: int, mode: int, recv: bool) -> int:
    """An operation posted in C: its id, 0 when it is not the engine's to run."""
    found = _find(spec, recv)
    if found is None or found[0] == SYSTEM:
        return 0
    rc = _lib.tempi_engine_start(found[0], found[1], peer, tag, handle, mode, recv, 0)
    if rc < 0:
        _raise(-rc)
    return rc


def isend(comm: Any, handle: int, spec: Any, dest: int, tag: int, mode: int) -> Any:
    """A send posted in C as a request (or mpi4py's own, strategy ``system``); None:
    Python's path."""
    found = _find(spec, False)
    if found is None:
        return None
    if found[0] == SYSTEM:
        return getattr(comm, ISENDS[mode])(spec, dest, tag)
    op = _lib.tempi_engine_start(found[0], found[1], dest, tag, handle, mode, 0, 0)
    if op < 0:
        _raise(-op)
    return NativeRequest(op, False) if op else None


def irecv(comm: Any, handle: int, spec: Any, source: int, tag: int) -> Any:
    """A receive posted in C as a request (or mpi4py's own); None: Python's path."""
    found = _find(spec, True)
    if found is None:
        return None
    if found[0] == SYSTEM:
        return comm.Irecv(spec, source, tag)
    op = _lib.tempi_engine_start(found[0], found[1], source, tag, handle, 0, 1, 0)
    if op < 0:
        _raise(-op)
    return NativeRequest(op, True) if op else None


def _check(result: int) -> int:
    if result <= FAILED:
        _raise(FAILED - result)
    return result


def wait(op: int, status: Any) -> int:
    """Complete operation ``op``: received bytes, spec.SENT a send, spec.CANCELLED."""
    where = MPI._addressof(status) if status is not None else 0
    return _check(_lib.tempi_engine_wait(op, where))


def abandon(op: int) -> None:
    """Cancel operation ``op`` (a receive not yet matched) and let it complete unseen."""
    _lib.tempi_engine_cancel(op)
    _lib.tempi_engine_free(op)


class NativeRequest(Request):
    """An operation of the C engine as a tempi request: every completion call of
    :mod:`tempi.comm.requests` completes it (Wait, Test, Waitall, Waitany, ...).

    Its state is in slots, which the compiled binding reads and writes in place
    (``native/comm_binding.c``: it creates the binding's requests with every slot set as
    ``__init__`` sets them, without running it, and its Waitall marks them done), so a
    message's request costs one allocation. The slots' names are the binding's too."""

    __slots__ = ("_op", "_receive", "_steps", "_active", "_mpi", "_result", "_cancelled")
    _posted = True  # its MPI transfer was posted when it started
    _in_c = True  # the completion calls give C its id (native/requests.c completes it)
    _space = None

    def __init__(self, op: int, receive: bool) -> None:
        self._op = op
        self._receive = receive
        self._steps: Any = op  # not None while the operation is in flight in C
        self._active = True
        self._mpi: Any = None  # the operation's MPI request, once a Waitany asked for it
        self._result: tuple[int, int, int] | None = None
        self._cancelled = False

    @property
    def _waiting(self) -> Any:
        """The operation's MPI request, for a Waitany over many (the C rules block on it
        when this operation is a step of one of Python's, e.g. a Joined's part)."""
        if self._mpi is None:
            self._mpi = MPI.Request.fromhandle(_lib.tempi_engine_request(self._op))
        return self._mpi

    @property
    def _on_fence(self) -> bool:
        return False

    def _done(self, result: int) -> None:
        """The operation is over in C with ``result`` (raises its error)."""
        self._steps = self._mpi = None
        _check(result)
        if result == spec.CANCELLED:
            self._cancelled = True
        elif result >= 0:  # a receive: its source and tag in one call
            pair = _lib.tempi_engine_last_pair()
            tag = pair & 0xFFFFFFFF
            self._result = (pair >> 32, tag - (tag >> 31 << 32), result)

    def _step(self, block: bool) -> bool:
        if self._steps is None:
            return False
        op = self._op
        result = _lib.tempi_engine_wait(op, 0) if block else _lib.tempi_engine_test(op, 0)
        if result == PENDING:
            return False
        self._done(result)
        return True

    def _progress(self, block: bool) -> bool:
        return self._steps is None or self._step(block)

    def _landed(self, status: MPI.Status) -> None:
        self._done(_lib.tempi_engine_landed(self._op, MPI._addressof(status), 0))

    def Test(self, status: MPI.Status | None = None) -> bool:
        if self._active and self._steps is not None:
            where = MPI._addressof(status) if status is not None else 0
            result = _lib.tempi_engine_test(self._op, where)
            if result == PENDING:
                return False
            self._active = False
            self._done(result)  # the status is filled
            return True
        if self._active:
            self._complete(status)
        return True

    def Wait(self, status: MPI.Status | None = None) -> None:
        if self._active and self._steps is not None:
            where = MPI._addressof(status) if status is not None else 0
            self._active = False
            self._done(_lib.tempi_engine_wait(self._op, where))
        elif self._active:
            self._complete(status)

    def Cancel(self) -> None:
        if self._steps is not None:
            code = _lib.tempi_engine_cancel(self._op)
            if code:
                _raise(code)

    def abandon(self) -> None:
        """After a failure (:mod:`tempi.comm.settle`): complete the operation, so that its
        peer is not left waiting (settle posts what matches it), and make it inactive."""
        if self._steps is not None:
            self._steps = self._mpi = None
            _lib.tempi_engine_wait(self._op, 0)
        self._active = False

    def Free(self) -> None:
        """MPI_Request_free: an operation in flight completes unseen."""
        if self._steps is not None:
            self._steps = None
            _lib.tempi_engine_free(self._op)
        self._active = False


_handle_of = operator.attrgetter("handle")
_is = operator.is_


def exchange(
    cache: dict,
    handle: int,
    sendspec: Any,
    recvspec: Any,
    dests: list[int],
    sources: list[int],
    send_tags: list[int],
    recv_tags: list[int],
) -> bool:
    """Neighbor_alltoallw's ``[buf, counts, displs, datatypes]`` specs (displacements in
    bytes) as one call of the engine (``tempi_engine_exchange``) on the communicator
    ``handle``: planned parts run as engine operations, contiguous and ``system`` ones as
    the MPI's own calls with the user's type. The call's arrays are built once per
    distinct exchange and kept in ``cache`` (the caller's, one per communicator): its key is
    the buffers' lengths and every part's count, displacement and datatype handle (the
    arrays hold offsets from the buffers, so another buffer of the same length reuses
    them), and an entry holds only while every one of its datatypes keeps its descriptor
    (a freed type's is evicted: the exchange is planned again). False, with nothing sent:
    some part is not the engine's (Python's path takes the exchange)."""
    if config._current is not _config and not enabled() or not _on:
        return False
    sbuf, scounts, sdispls, stypes = sendspec
    rbuf, rcounts, rdispls, rtypes = recvspec
    if sbuf is _BOTTOM or rbuf is _BOTTOM:
        return False
    try:
        rview = _from_buffer(_bytes, rbuf, True)
        sview = rview if sbuf is rbuf else _from_buffer(_bytes, sbuf, False)
        if isinstance(stypes, _Datatype):
            stypes = [stypes] * len(dests)
        if isinstance(rtypes, _Datatype):
            rtypes = [rtypes] * len(sources)
        shandles = tuple(map(_handle_of, stypes))
        rhandles = tuple(map(_handle_of, rtypes))
        key = (
            len(rview),
            len(sview),
            tuple(rcounts),
            tuple(rdispls),
            rhandles,
            tuple(scounts),
            tuple(sdispls),
            shandles,
        )
    except Exception:  # noqa: BLE001 -- not host buffers cffi can read, not datatypes
        return False
    entry = cache.get(key)
    if entry is None or not all(map(_is, map(_descriptor_of, entry[0]), entry[1])):
        entry = _exchange_arrays(key, rtypes, stypes, sources, dests, recv_tags, send_tags)
        if entry is None:
            return False
        if len(cache) > 64:
            cache.clear()
        cache[key] = entry
    rc = _lib.tempi_engine_exchange(*entry[2], rview, sview, handle)
    if rc:
        _raise(rc)
    return True


def _exchange_arrays(
    key: tuple, rtypes: Any, stypes: Any, sources: Any, dests: Any, rtags: Any, stags: Any
) -> tuple | None:
    """(datatype handles, their descriptors, the engine call's leading arguments, the plan
    entries that keep the plans alive) for ``exchange``; None: a part is not the engine's."""
    rlen, slen, rcounts, rdispls, _, scounts, sdispls, _ = key
    if not (len(rcounts) == len(rdispls) == len(rtypes) == len(sources) == len(rtags)):
        return None
    if not (len(scounts) == len(sdispls) == len(stypes) == len(dests) == len(stags)):
        return None
    plans, offsets, counts, types, kept = [], [], [], [], []
    seen: dict[int, Any] = {}
    sides = ((rcounts, rdispls, rtypes, rlen), (scounts, sdispls, stypes, slen))
    for part_counts, displs, datatypes, length in sides:
        for count, displ, datatype in zip(part_counts, displs, datatypes):
            if type(count) is not int or type(displ) is not int or displ < 0:
                return None
            if not isinstance(datatype, _Datatype):
                return None
            handle = datatype.handle
            entry = _plans.get((handle, count))
            if entry is None or _descriptor_of(handle) is not entry[0]:
                entry = _plan(datatype, handle, count)
            if not entry[1] or entry[2] < 0 or displ + entry[3] > length:
                return None
            seen[handle] = entry[0]
            plans.append(0 if entry[1] == SYSTEM else entry[1])
            offsets.append(displ)
            counts.append(count)
            types.append(handle)
            kept.append(entry)
    if any(count > 0x7FFFFFFF for count in counts):
        return None
    new = _ffi.new
    call = (
        len(rcounts),
        len(scounts),
        new("intptr_t[]", plans),
        new("intptr_t[]", offsets),
        new("int[]", counts),
        new("uintptr_t[]", types),
        new("int[]", list(sources) + list(dests)),
        new("int[]", list(rtags) + list(stags)),
    )
    return (list(seen), list(seen.values()), call, kept)


def debug_state() -> dict[str, Any]:
    """What this module knows (tests)."""
    return {
        "loaded": _lib is not None,
        "enabled": enabled(),
        "plans": len(_plans),
        "runs": runs(),
        "pid": os.getpid(),
    }
