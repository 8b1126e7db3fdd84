"""Requests of operations tempi runs, understood by every completion call together with
plain mpi4py requests.

An operation is a generator: it does its work in steps and yields what it waits for --
an ``MPI.Request`` (it gets the MPI status back) or a memory-space fence (a CUDA event).
Every send and receive is posted to MPI when the operation starts, so MPI's progress rules
hold as they would without tempi; what a request adds is the work after MPI is done
(unpacking a receive, returning staging buffers), which any completion call drives.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from typing import Any

from mpi4py import MPI

Step = Generator[Any, Any, None]


class Request:
    """A tempi operation in flight, with mpi4py's completion methods."""

    def __init__(self, steps: Step, space: Any) -> None:
        self._steps, self._space = steps, space
        self._waiting: Any = None
        self._result: tuple[int, int, int] | None = None  # source, tag, bytes
        self._active = True
        self._advance(None)

    def _advance(self, value: Any) -> None:
        try:
            self._waiting = self._steps.send(value)
        except StopIteration as done:
            self._waiting = None
            self._result = done.value
            self._steps = None

    def _step(self, block: bool) -> bool:
        """Run the next step if its dependency is met (with ``block``, after waiting for
        it); whether it ran."""
        waiting = self._waiting
        if isinstance(waiting, MPI.Request):
            status = MPI.Status()
            if block:
                waiting.Wait(status)
            elif not waiting.Test(status):
                return False
            self._advance(status)
        else:
            if block:
                self._space.wait(waiting)
            elif not self._space.ready(waiting):
                return False
            self._advance(None)
        return True

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

    def _complete(self, status: MPI.Status | None) -> None:
        self._active = False
        if status is not None and self._result is not None:
            source, tag, nbytes = self._result
            status.Set_source(source)
            status.Set_tag(tag)
            status.Set_elements(MPI.BYTE, nbytes)

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
        pending = [r for r in requests if isinstance(r, Request) and r._active]
        while pending:
            pending = [r for r in pending if not r._progress(block=False)]
            if pending:
                next((r for r in pending if r._on_fence), pending[0])._step(block=True)
        for i, request in enumerate(requests):
            request.Wait(statuses[i] if statuses is not None else None)

    @classmethod
    def Testall(cls, requests: Sequence[Any], statuses: list[MPI.Status] | None = None) -> bool:
        """True and every request completed when all are done; else False and none is
        completed (MPI's rule: their statuses are filled only by the call that succeeds)."""
        if not all(_ready(r) for r in requests):
            return False
        cls.Waitall(requests, statuses)
        return True

    @classmethod
    def Testany(cls, requests: Sequence[Any], status: MPI.Status | None = None) -> tuple[int, bool]:
        live = [i for i, r in enumerate(requests) if _active(r)]
        if not live:
            return MPI.UNDEFINED, True
        for i in live:
            if _test(requests[i], status):
                return i, True
        return MPI.UNDEFINED, False

    @classmethod
    def Waitany(cls, requests: Sequence[Any], status: MPI.Status | None = None) -> int:
        while True:
            index, done = cls.Testany(requests, status)
            if done:
                return index

    @classmethod
    def Testsome(
        cls, requests: Sequence[Any], statuses: list[MPI.Status] | None = None
    ) -> list[int] | None:
        """Indices of the requests completed now; the k-th one's status goes to
        ``statuses[k]``, as in MPI."""
        live = [i for i, r in enumerate(requests) if _active(r)]
        if not live:
            return None
        done = [i for i in live if _ready(requests[i])]
        for k, i in enumerate(done):
            requests[i].Wait(statuses[k] if statuses is not None else None)
        return done

    @classmethod
    def Waitsome(
        cls, requests: Sequence[Any], statuses: list[MPI.Status] | None = None
    ) -> list[int] | None:
        while True:
            done = cls.Testsome(requests, statuses)
            if done is None or done:
                return done


def _active(request: Any) -> bool:
    if isinstance(request, Request):
        return request.active
    return request != MPI.REQUEST_NULL


def _test(request: Any, status: MPI.Status | None) -> bool:
    return request.Test(status)


def _ready(request: Any) -> bool:
    """Whether ``request`` is complete, without completing it (an inactive one is)."""
    return request.ready() if isinstance(request, Request) else request.Get_status()
