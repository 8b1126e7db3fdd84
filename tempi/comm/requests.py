"""Requests of operations tempi runs, understood by every completion call together with
plain mpi4py requests.

An operation is a generator: it does its work in steps and yields what it waits for --
an ``MPI.Request`` (it gets the MPI status back) or a memory-space fence (a CUDA event).
Every send and receive is posted to MPI when the operation starts, so MPI's progress rules
hold as they would without tempi; what a request adds is the work after MPI is done
(unpacking a receive, returning staging buffers), which any completion call drives.
A persistent request (:class:`Prequest`) starts such an operation each time it is started.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Sequence
from typing import Any

from mpi4py import MPI

Step = Generator[Any, Any, None]


class Request:
    """A tempi operation in flight, with mpi4py's completion methods."""

    _failure: Exception | None = None  # a failed step's exception, raised on completion
    _posted = True  # whether the transfer reached MPI (an operation run in C: at once)

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
        """Drive tempi's requests together, so one's unpack overlaps another's transfer;
        block only when none can move, and then on local device work first (a rank
        blocked in MPI before posting sends that wait on its own kernels could deadlock
        with a peer doing the same)."""
        if all(getattr(r, "_in_c", False) for r in requests):  # the C engine's only
            for i, request in enumerate(requests):  # all posted: any order is safe
                request.Wait(_nth(statuses, i))
            return
        pending = [r for r in map(_operation, requests) if isinstance(r, Request) and r._active]
        while pending:
            pending = [r for r in pending if not r._progress(block=False)]
            if pending:
                next((r for r in pending if r._on_fence), pending[0])._step(block=True)
        for i, request in enumerate(requests):
            request.Wait(_nth(statuses, i))

    @classmethod
    def Testall(cls, requests: Sequence[Any], statuses: list[MPI.Status] | None = None) -> bool:
        """True and every request completed when all are done; else False and none is
        completed (MPI's rule: their statuses are filled only by the call that succeeds).
        Plain requests go to MPI's own Testall, never to MPI_Request_get_status: MPICH
        then forgets a completed persistent request's status."""
        if not all(r.ready() for r in requests if _ours(r)):
            return False
        plain = [i for i, r in enumerate(requests) if not _ours(r)]
        found = [_nth(statuses, i) for i in plain] if statuses is not None else None
        if plain and not MPI.Request.Testall([requests[i] for i in plain], found):
            return False
        for i, request in enumerate(requests):
            if _ours(request):
                request.Wait(_nth(statuses, i))
        return True

    @classmethod
    def Testany(cls, requests: Sequence[Any], status: MPI.Status | None = None) -> tuple[int, bool]:
        """tempi's active requests first, then the plain ones by MPI's own Testany (which
        alone knows whether a plain persistent request is active)."""
        ours = [i for i, r in enumerate(requests) if _ours(r) and r.active]
        for i in ours:
            if requests[i].Test(status):
                return i, True
        plain = [i for i, r in enumerate(requests) if not _ours(r)]
        if plain:
            index, done = MPI.Request.Testany([requests[i] for i in plain], status)
            if index != MPI.UNDEFINED:
                return plain[index], True
            if not done:
                return MPI.UNDEFINED, False
        return MPI.UNDEFINED, not ours

    @classmethod
    def Waitany(cls, requests: Sequence[Any], status: MPI.Status | None = None) -> int:
        while True:
            index, done = cls.Testany(requests, status)
            if done:
                return index
            index = _block(requests, status)
            if index is not None:
                return index

    @classmethod
    def Testsome(
        cls, requests: Sequence[Any], statuses: list[MPI.Status] | None = None
    ) -> list[int] | None:
        """Indices of the requests completed now; the k-th one's status goes to
        ``statuses[k]``, as in MPI. Plain requests go to MPI's own Testsome."""
        plain = [i for i, r in enumerate(requests) if not _ours(r)]
        found = MPI.Request.Testsome([requests[i] for i in plain], statuses) if plain else None
        done = [plain[k] for k in found] if found is not None else []
        ours = [i for i, r in enumerate(requests) if _ours(r) and r.active]
        if found is None and not ours:
            return None
        for i in ours:
            if requests[i].ready():
                requests[i].Wait(_nth(statuses, len(done)))
                done.append(i)
        return done

    @classmethod
    def Waitsome(
        cls, requests: Sequence[Any], statuses: list[MPI.Status] | None = None
    ) -> list[int] | None:
        while True:
            done = cls.Testsome(requests, statuses)
            if done is None or done:
                return done
            index = _block(requests, _nth(statuses, 0))
            if index is not None:
                return [index]


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
    """Complete ``requests`` together (:meth:`Request.Waitall`: one's unpack overlaps
    another's transfer); should one fail, complete the others one by one, so that each
    failure stays with its own request (MPI_ERR_IN_STATUS). The failure of each, None
    where it succeeded (the first failure goes to the first request if none kept it)."""
    try:
        Request.Waitall(requests)
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


def _block(requests: Sequence[Any], status: MPI.Status | None) -> int | None:
    """Wait, without spinning, until something in ``requests`` can move: local device work
    first (it needs no other rank), else MPI's own Waitany over the plain requests and the
    MPI requests tempi's operations wait on. The index of a plain request that completed
    (its status in ``status``), else None (an operation moved: test again)."""
    leaves = [
        leaf
        for r in requests
        if _ours(r) and isinstance(_operation(r), Request)
        for leaf in _operation(r)._leaves()
    ]
    fenced = next((leaf for leaf in leaves if not isinstance(leaf._waiting, MPI.Request)), None)
    if fenced is not None:
        fenced._step(block=True)
        return None
    plain = [i for i, r in enumerate(requests) if not _ours(r)]
    pool = [requests[i] for i in plain] + [leaf._waiting for leaf in leaves]
    found = MPI.Status()
    hit = MPI.Request.Waitany(pool, found)
    if hit == MPI.UNDEFINED:
        return None
    if hit >= len(plain):
        leaves[hit - len(plain)]._landed(found)
        return None
    if status is not None:
        status.Set_source(found.Get_source())
        status.Set_tag(found.Get_tag())
        status.Set_error(found.Get_error())
        status.Set_elements(MPI.BYTE, found.Get_elements(MPI.BYTE))
        status.Set_cancelled(found.Is_cancelled())
    return plain[hit]


def _ours(request: Any) -> bool:
    return isinstance(request, (Request, Prequest))


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
    """MPI's empty status, which an inactive persistent request completes with."""
    if status is not None:
        status.Set_source(MPI.ANY_SOURCE)
        status.Set_tag(MPI.ANY_TAG)
        status.Set_error(MPI.SUCCESS)
        status.Set_elements(MPI.BYTE, 0)


def _ready(request: Any) -> bool:
    """Whether ``request`` is complete, without completing it (an inactive one is)."""
    return request.ready() if _ours(request) else request.Get_status()
