"""Requests of operations tempi runs, understood by every completion call together with
plain mpi4py requests.

An operation is a generator: it does its work in steps and yields what it waits for --
an ``MPI.Request`` (it gets the MPI status back) or a memory-space fence (a CUDA event).
Every send and receive is posted to MPI when the operation starts, so MPI's progress rules
hold as they would without tempi; what a request adds is the work after MPI is done
(unpacking a receive, returning staging buffers), which any completion call drives.
A persistent request (:class:`Prequest`) starts such an operation each time it is started.

The completion calls over many requests (``Request.Waitall``, ``Testall``, ``Waitany``,
``Testany``, ``Waitsome``, ``Testsome``) are the rules of ``native/requests.c``, the same C
functions the interposer's ``MPI_Waitall`` and friends run (``tempi_engine_complete``):
Python hands them the list -- mpi4py's requests by the address of their handle, the C
engine's operations by id, its own operations through a driver of callbacks (ready,
complete, what to block on) -- and keeps only the steps and the conversion of lists and
statuses.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Callable, Generator, Sequence
from typing import Any

from mpi4py import MPI

from tempi.errors import TempiError
from tempi.shim import spec
from tempi.shim.spec import CANCELLED, ERROR, OK, PASS, SENT

Step = Generator[Any, Any, None]


class Request:
    """A tempi operation in flight, with mpi4py's completion methods."""

    _failure: Exception | None = None  # a failed step's exception, raised on completion
    _posted = True  # whether the transfer reached MPI (an operation run in C: at once)
    _in_c = False  # an operation of the C engine (NativeRequest): completed by its id

    def __init__(self, steps: Step, space: Any) -> None:
        self._steps, self._space = steps, space
        self._waiting: Any = None
        self._result: tuple[int, int, int] | None = None  # source, tag, bytes
        self._active = True
        self._cancelled = False
        self._posted = False  # the steps post it
        self._advance(None)

    def _advance(self, value: Any) -> None:
        try:
            self._waiting = self._steps.send(value)
        except StopIteration as done:
            self._waiting = None
            self._result = done.value
            self._steps = None
        except Exception as exc:
            self._fail(exc)
            raise
        self._posted |= isinstance(self._waiting, MPI.Request)

    def _fail(self, exc: Exception) -> None:
        """A step failed: the operation is over, and completing it raises ``exc``."""
        if self._failure is None:
            self._failure = exc
        self._steps, self._waiting = None, None

    def _step(self, block: bool) -> bool:
        """Run the next step if its dependency is met (with ``block``, after waiting for
        it); whether it ran."""
        waiting = self._waiting
        try:
            if isinstance(waiting, MPI.Request):
                status = MPI.Status()
                if block:
                    waiting.Wait(status)
                elif not waiting.Test(status):
                    return False
                self._landed(status)
            else:
                if block:
                    self._space.wait(waiting)
                elif not self._space.ready(waiting):
                    return False
                self._advance(None)
        except Exception as exc:
            self._fail(exc)
            raise
        return True

    def _landed(self, status: MPI.Status) -> None:
        """The MPI request the next step waited for has completed with ``status``."""
        self._cancelled |= status.Is_cancelled()
        self._advance(status)

    def _leaves(self) -> list[Request]:
        """The operations whose steps wait on something (itself, or a Joined's parts)."""
        return [self] if self._steps is not None else []

    def _progress(self, block: bool) -> bool:
        """Run steps whose dependency is met; with ``block``, wait for each. True when done."""
        while self._steps is not None:
            if not self._step(block):
                return False
        return True

    @property
    def _on_fence(self) -> bool:
        """Whether the next step waits for local device work (which needs no other rank)."""
        return self._steps is not None and not isinstance(self._waiting, MPI.Request)

    @property
    def reached_mpi(self) -> bool:
        """Whether the operation's transfer has been posted to MPI (a deferred send's is
        posted only once its pack is done)."""
        return self._posted

    def abandon(self) -> None:
        """After a failure (:mod:`tempi.comm.settle`): complete the MPI transfer this
        operation posted, if any, so that its peer is not left waiting, and run none of
        its remaining steps. The request is then complete."""
        waiting, steps = self._waiting, self._steps
        self._steps, self._waiting, self._active = None, None, False
        if steps is not None:
            steps.close()
        if isinstance(waiting, MPI.Request):
            waiting.Wait()

    def _complete(self, status: MPI.Status | None) -> None:
        """Make the request inactive and fill ``status``; raise the failure of a step."""
        self._active = False
        if self._failure is not None:
            raise self._failure
        if status is not None and self._result is not None:
            source, tag, nbytes = self._result
            status.Set_source(source)
            status.Set_tag(tag)
            status.Set_elements(MPI.BYTE, nbytes)
        if status is not None:
            status.Set_cancelled(self._cancelled)

    def Cancel(self) -> None:
        """Ask MPI to cancel the operation's transfer (a receive not yet matched); the
        request must still be completed, and its status tells whether it was cancelled."""
        if isinstance(self._waiting, MPI.Request):
            self._waiting.Cancel()

    @property
    def cancelled(self) -> bool:
        """Whether MPI cancelled the transfer (known once the request is done)."""
        return self._cancelled

    @property
    def result(self) -> tuple[int, int, int] | None:
        """(source, tag, bytes) of a completed receive."""
        return self._result

    def ready(self) -> bool:
        """Whether the operation is complete, running what it can without blocking and
        without completing the request (MPI_Testall's and the interposer's probe)."""
        return not self._active or self._progress(block=False)

    @property
    def active(self) -> bool:
        """False once a completion call has returned this request as complete."""
        return self._active

    def Test(self, status: MPI.Status | None = None) -> bool:
        if not self._active:
            return True
        if self._progress(block=False):
            self._complete(status)
            return True
        return False

    def Wait(self, status: MPI.Status | None = None) -> None:
        if self._active:
            self._progress(block=True)
            self._complete(status)

    @classmethod
    def Waitall(cls, requests: Sequence[Any], statuses: list[MPI.Status] | None = None) -> None:
        """Complete every request (MPI_Waitall's rules, ``native/requests.c``): tempi's
        Python operations are driven together, so one's unpack overlaps another's
        transfer, blocking only when none can move and then on local device work first."""
        _complete(WAITALL, requests, statuses)

    @classmethod
    def Testall(cls, requests: Sequence[Any], statuses: list[MPI.Status] | None = None) -> bool:
        """True and every request completed when all are done; else False and none is
        completed (MPI's rule: their statuses are filled only by the call that succeeds)."""
        return bool(_complete(TESTALL, requests, statuses)[0])

    @classmethod
    def Testany(cls, requests: Sequence[Any], status: MPI.Status | None = None) -> tuple[int, bool]:
        """(index, True) of a request completed now; (MPI.UNDEFINED, True) when none is
        active; (MPI.UNDEFINED, False) when none is done yet."""
        flag, index = _complete(TESTANY, requests, status)[:2]
        return index, bool(flag)

    @classmethod
    def Waitany(cls, requests: Sequence[Any], status: MPI.Status | None = None) -> int:
        """The index of a request completed now (blocking, without spinning, until one is),
        MPI.UNDEFINED when none is active."""
        return _complete(WAITANY, requests, status)[1]

    @classmethod
    def Testsome(
        cls, requests: Sequence[Any], statuses: list[MPI.Status] | None = None
    ) -> list[int] | None:
        """Indices of the requests completed now; the k-th one's status goes to
        ``statuses[k]``, as in MPI; None when none is active."""
        return _complete(TESTSOME, requests, statuses)[2]

    @classmethod
    def Waitsome(
        cls, requests: Sequence[Any], statuses: list[MPI.Status] | None = None
    ) -> list[int] | None:
        """As :meth:`Testsome`, blocking until at least one is done."""
        return _complete(WAITSOME, requests, statuses)[2]


class Joined(Request):
    """A receive and a send completed as one request (``Isendrecv``): done when both are,
    with the receive's status. Any completion call drives both."""

    def __init__(self, receive: Request, send: Request) -> None:
        self._parts = (receive, send)
        self._receive = receive
        self._steps: Any = self._parts
        self._waiting = None
        self._result = None
        self._active = True
        self._cancelled = False

    def _unfinished(self) -> list[Request]:
        return [p for p in self._parts if p._steps is not None]

    def _leaves(self) -> list[Request]:
        return [leaf for p in self._unfinished() for leaf in p._leaves()]

    def _step(self, block: bool) -> bool:
        parts = self._unfinished()
        if not parts:
            return False
        return next((p for p in parts if p._on_fence), parts[0])._step(block)

    def _progress(self, block: bool) -> bool:
        if self._steps is not None:
            if not all([p._progress(block) for p in self._parts]):
                return False
            self._steps = None
            self._result = self._receive._result
            self._cancelled = self._receive._cancelled
            self._failure = next((p._failure for p in self._parts if p._failure), None)
        return True

    @property
    def _on_fence(self) -> bool:
        return any(p._on_fence for p in self._unfinished())

    @property
    def reached_mpi(self) -> bool:
        return all(p.reached_mpi for p in self._parts)

    def abandon(self) -> None:
        self._steps, self._active = None, False
        for part in self._parts:
            part.abandon()

    def Cancel(self) -> None:
        self._receive.Cancel()


class Prequest:
    """A persistent send or receive (``Send_init``, ``Recv_init``): each ``Start`` runs the
    operation again on the same buffer and arguments; a completion call makes it inactive,
    not null, and it can be started again until ``Free``."""

    def __init__(self, start: Callable[[], Any]) -> None:
        self._start = start
        self._current: Any = None  # the operation of the last Start, until it completes
        self._done: Any = None  # the last completed one

    def Start(self) -> None:
        if self._current is not None:
            raise MPI.Exception(MPI.ERR_REQUEST)
        self._current = self._start()

    @classmethod
    def Startall(cls, requests: Sequence[Any]) -> None:
        """Start each request: tempi's and mpi4py's persistent requests alike."""
        for request in requests:
            request.Start()

    @property
    def active(self) -> bool:
        """Whether an operation is in flight (started and not yet completed)."""
        return self._current is not None

    @property
    def current(self) -> Any:
        """The operation in flight, or None."""
        return self._current

    @property
    def result(self) -> tuple[int, int, int] | None:
        """(source, tag, bytes) of the last receive, once it is done."""
        operation = self._current if self._current is not None else self._done
        return operation.result if isinstance(operation, Request) else None

    @property
    def cancelled(self) -> bool:
        operation = self._current if self._current is not None else self._done
        return isinstance(operation, Request) and operation.cancelled

    def Cancel(self) -> None:
        if self._current is not None:
            self._current.Cancel()

    def ready(self) -> bool:
        return self._current is None or _ready(self._current)

    def _finish(self) -> None:
        self._done, self._current = self._current, None

    def Test(self, status: MPI.Status | None = None) -> bool:
        if self._current is None:
            _empty(status)
            return True
        if not self._current.Test(status):
            return False
        self._finish()
        return True

    def Wait(self, status: MPI.Status | None = None) -> None:
        if self._current is None:
            _empty(status)
            return
        self._current.Wait(status)
        self._finish()

    def Free(self) -> None:
        """Release the request, waiting first for an operation still in flight."""
        self.Wait()
        self._start = None


def complete_each(requests: Sequence[Any]) -> list[Exception | None]:
    """Complete tempi's ``requests`` together (:func:`_drive`: one's unpack overlaps
    another's transfer); should one fail, complete the others one by one, so that each
    failure stays with its own request (MPI_ERR_IN_STATUS). The failure of each, None
    where it succeeded (the first failure goes to the first request if none kept it)."""
    try:
        _drive(requests)
        for request in requests:
            request.Wait()
        return [None] * len(requests)
    except Exception as first:  # noqa: BLE001 - which one failed: each on its own
        failures: list[Exception | None] = []
        for request in requests:
            try:
                request.Wait()
                failures.append(None)
            except Exception as exc:  # noqa: BLE001
                failures.append(exc)
        if requests and all(f is None for f in failures):
            failures[0] = first
        return failures


def _drive(requests: Sequence[Any]) -> None:
    """Run the steps of tempi's operations in ``requests`` until all are done, blocking
    only when none can move, and then on local device work first (a rank blocked in MPI
    before posting sends that wait on its own kernels could deadlock with a peer doing the
    same)."""
    pending = [r for r in map(_operation, requests) if isinstance(r, Request) and r._active]
    while pending:
        pending = [r for r in pending if not r._progress(block=False)]
        if pending:
            next((r for r in pending if r._on_fence), pending[0])._step(block=True)


def complete_into(
    requests: Sequence[Any],
    sources: Any,
    tags: Any,
    nbytes: Any,
    errors: Any,
    code: Callable[[Exception], int],
) -> int:
    """Complete tempi's ``requests`` together for C (:func:`complete_each`): the i-th
    one's result into ``sources[i]``, ``tags[i]``, ``nbytes[i]`` (:func:`report`), its MPI
    error code into ``errors[i]`` (``code(failure)`` is a callback's result, ERROR + the
    code). The callback's result: OK, or ERROR + MPI_ERR_IN_STATUS when some failed (C
    gives each status its own error)."""
    failed = False
    for i, failure in enumerate(complete_each(requests)):
        errors[i] = MPI.SUCCESS if failure is None else code(failure) - ERROR
        failed |= failure is not None
        if failure is None:
            report(requests[i], sources + i, tags + i, nbytes + i)
    return ERROR + MPI.ERR_IN_STATUS if failed else OK


def report(request: Any, source: Any, tag: Any, nbytes: Any) -> None:
    """A completed operation's result into C's ``source[0]``, ``tag[0]``, ``nbytes[0]``:
    a receive's source, tag and bytes; ``nbytes`` SENT for a send, CANCELLED when
    cancelled (:mod:`tempi.shim.spec`)."""
    if request.cancelled:
        nbytes[0] = CANCELLED
    elif request.result is not None:
        source[0], tag[0], nbytes[0] = request.result
    else:
        nbytes[0] = SENT


# ---- the C rules (native/requests.c through engine_api.c's tempi_engine_complete) -------

WAITALL, TESTALL, WAITANY, TESTANY, WAITSOME, TESTSOME = map(
    spec.COMPLETIONS.index, spec.COMPLETIONS
)
_PLAIN, _NONE, _OP, _DRIVEN = map(spec.REQUEST_KINDS.index, spec.REQUEST_KINDS)


_lock = threading.Lock()
_rules: tuple | None = None  # (ffi, lib, driver, its callbacks)


def _c() -> tuple:
    """The C rules, loading the engine's library (tempi.comm.native) the first time."""
    global _rules
    if _rules is None:
        with _lock:
            if _rules is None:
                _rules = _load_rules()
    return _rules


def _load_rules() -> tuple:
    from tempi.comm import native

    lib = native._load()
    if lib is None:
        raise TempiError(
            "tempi's completion calls run in its native library (native/requests.c), which "
            "could not be built or loaded (TEMPI_LOG=debug says why)"
        )
    ffi = native._ffi
    failed = ERROR + MPI.ERR_INTERN
    callbacks = (
        ffi.callback("int(void *, int, int *, int *, int64_t *)", _ready_cb, error=failed),
        ffi.callback(
            "int(void *, int, const int *, int *, int *, int64_t *, int *)",
            _complete_cb,
            error=failed,
        ),
        ffi.callback("int(void *, int, intptr_t *)", _blocker_cb, error=0),
        ffi.callback("int(void *, int, intptr_t)", _landed_cb, error=0),
    )
    driver = ffi.new("tempi_engine_driver *")
    driver.ready, driver.complete, driver.blocker, driver.landed = callbacks
    return ffi, lib, driver, callbacks


class _Call:
    """One completion call's Python operations (the driver's indices) and what failed."""

    __slots__ = ("ops", "failures", "landing")

    def __init__(self, ops: list[Request]) -> None:
        self.ops = ops
        self.failures: list[Exception] = []
        self.landing: dict[int, Request] = {}

    def failed(self, exc: Exception) -> int:
        """Keep ``exc`` (raised after the call) and give C its code."""
        self.failures.append(exc)
        code = exc.Get_error_code() if isinstance(exc, MPI.Exception) else MPI.ERR_INTERN
        return ERROR + code


def _call_of(ctx: Any) -> _Call:
    assert _rules is not None
    return _rules[0].from_handle(ctx)


def _ready_cb(ctx: Any, k: int, source: Any, tag: Any, nbytes: Any) -> int:
    call = _call_of(ctx)
    op = call.ops[k]
    try:
        if not op.ready():
            return PASS
    except Exception as exc:  # noqa: BLE001 - its completion raises it
        return call.failed(exc)
    report(op, source, tag, nbytes)
    return OK


def _complete_cb(
    ctx: Any, n: int, ks: Any, sources: Any, tags: Any, nbytes: Any, errors: Any
) -> int:
    call = _call_of(ctx)
    return complete_into(
        [call.ops[ks[j]] for j in range(n)], sources, tags, nbytes, errors, call.failed
    )


def _blocker_cb(ctx: Any, k: int, request: Any) -> int:
    call = _call_of(ctx)
    leaves = call.ops[k]._leaves()
    fenced = next((leaf for leaf in leaves if not isinstance(leaf._waiting, MPI.Request)), None)
    if fenced is not None:
        try:
            fenced._step(block=True)
        except Exception:  # noqa: BLE001, S110 - kept by the request: its completion raises it
            pass
        return 2
    if not leaves:
        return 0
    call.landing[k] = leaves[0]
    request[0] = MPI._addressof(leaves[0]._waiting)
    return 1


def _landed_cb(ctx: Any, k: int, address: int) -> int:
    leaf = _call_of(ctx).landing.pop(k, None)
    if leaf is None:
        return 0
    try:
        if not address:
            leaf._fail(MPI.Exception(MPI.ERR_OTHER))
            return 0
        status = MPI.Status()
        ctypes.memmove(MPI._addressof(status), address, _STATUS_BYTES)
        leaf._landed(status)
    except Exception:  # noqa: BLE001, S110 - kept by the request: its completion raises it
        pass
    return 0


_STATUS_BYTES = MPI._sizeof(MPI.Status)
_Native: Any = None  # tempi.comm.native.NativeRequest, once imported
_binding: Any = None  # tempi.comm.native, once imported


def _native_class() -> Any:
    global _Native, _binding
    from tempi.comm import native
    from tempi.comm.native import NativeRequest

    _binding = native  # its compiled binding, native.c, once loaded
    _Native = NativeRequest
    return _Native


def _complete(call: int, requests: Sequence[Any], statuses: Any) -> tuple:
    """Run C's rule ``call`` over ``requests`` (statuses: a list, or for Waitany/Testany one
    status, or None); (flag, index or outcount, indices or None). Mark what completed, and
    raise a failure: a Python operation's own exception, else MPI.Exception(code)."""
    native = _Native or _native_class()
    if call == WAITALL and statuses is None:  # the engine's requests alone: one C call
        err = _binding.c.waitall(requests)
        if err is not None:
            if err:
                raise MPI.Exception(err)
            return 1, MPI.UNDEFINED, None
    n = len(requests)
    kinds, ids, handles = [_OP] * n, [0] * n, [0] * n
    ops: list[Request] = []
    ours = False
    for i, request in enumerate(requests):
        if type(request) is native and request._steps is not None and request._active:
            ids[i] = request._op  # the demo's case first: an engine operation in flight
            ours = True
            continue
        if isinstance(request, Prequest):
            op, ours = request.current, True
        else:
            op = request
        if isinstance(op, Request):
            ours = True
            if not op._active:
                kinds[i] = _NONE
            elif op._in_c and op._steps is not None:
                ids[i] = op._op
            else:
                kinds[i], ids[i] = _DRIVEN, len(ops)
                ops.append(op)
        elif op is None:
            kinds[i] = _NONE
        else:
            kinds[i], handles[i] = _PLAIN, MPI._addressof(op)
    if not ours:
        return _plain(call, requests, statuses)
    ffi, lib, driver, _ = _c()
    if statuses is None:
        where: Any = ffi.NULL
    elif call in (WAITANY, TESTANY):
        where = [MPI._addressof(statuses)]
    else:
        _nth(statuses, n - 1)
        where = [MPI._addressof(s) for s in statuses[:n]]
    context = _Call(ops)
    ctx = ffi.new_handle(context) if ops else ffi.NULL
    out = ffi.new("int[]", n + 2)
    err = lib.tempi_engine_complete(call, n, kinds, ids, handles, driver, ctx, where, out)
    flag, value = out[0], out[1]
    indices = None if value == MPI.UNDEFINED else list(out[2 : 2 + max(value, 0)])
    if call in (WAITALL, TESTALL):
        done: Any = range(n) if flag or call == WAITALL else ()
    elif call in (WAITANY, TESTANY):
        done = (value,) if value != MPI.UNDEFINED and (flag or err) else ()
    else:
        done = indices or ()
    for i in done:
        request = requests[i]
        if type(request) is native:
            request._active = False
            request._steps = request._mpi = None
        else:
            _completed(request)
    if err:
        first = next((f for f in context.failures if not isinstance(f, MPI.Exception)), None)
        if first is not None:
            raise first
        raise MPI.Exception(err)
    return flag, value, indices


def _completed(request: Any) -> None:
    """C completed ``request`` (its operation, a Prequest's in flight): now inactive."""
    op = request.current if isinstance(request, Prequest) else request
    if isinstance(op, Request):
        op._active = False
        if op._in_c:
            op._steps = op._mpi = None
    if isinstance(request, Prequest) and op is not None:
        request._finish()


def _plain(call: int, requests: Sequence[Any], statuses: Any) -> tuple:
    """A list of mpi4py's requests alone: MPI's own call."""
    Req = MPI.Request
    if call == WAITALL:
        Req.Waitall(requests, statuses)
        return 1, MPI.UNDEFINED, None
    if call == TESTALL:
        return int(Req.Testall(requests, statuses)), MPI.UNDEFINED, None
    if call == WAITANY:
        return 1, Req.Waitany(requests, statuses), None
    if call == TESTANY:
        index, flag = Req.Testany(requests, statuses)
        return int(flag), index, None
    found = (Req.Waitsome if call == WAITSOME else Req.Testsome)(requests, statuses)
    return 1, len(found) if found is not None else MPI.UNDEFINED, found


def _operation(request: Any) -> Any:
    """What a completion call drives: a persistent request's operation in flight."""
    return request.current if isinstance(request, Prequest) else request


def _nth(statuses: list[MPI.Status] | None, k: int) -> MPI.Status | None:
    """``statuses[k]``, extending the list as mpi4py does."""
    if statuses is None:
        return None
    statuses.extend(MPI.Status() for _ in range(k + 1 - len(statuses)))
    return statuses[k]


def _empty(status: MPI.Status | None) -> None:
    """MPI's empty status, which an inactive persistent request completes with (C's)."""
    if status is not None:
        _c()[1].tempi_engine_empty_status(MPI._addressof(status))


def _ready(request: Any) -> bool:
    """Whether ``request`` is complete, without completing it (an inactive one is)."""
    return request.ready() if isinstance(request, (Request, Prequest)) else request.Get_status()
