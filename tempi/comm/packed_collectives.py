"""Bcast, Gather(v), Scatter(v) and Allgather(v) with derived types, on the system MPI's own
collective (the same one the application called, as every rank must): each rank packs its parts into one staging buffer (one kernel for all of
them), the collective moves the packed bytes as ``MPI_BYTE`` with byte counts and
displacements, and each rank unpacks what it received (one kernel).

Every rank calls the same collective of the system MPI whether tempi handled its side or
not, so ranks whose parts tempi takes and ranks that hand theirs to MPI unchanged always
meet: a root that gathers into a subarray type from ranks that send plain doubles works.
The bytes are in MPI's typemap order, which is what a peer's own type sends and expects.
(MPI asks for matching type signatures; bytes against the peers' types is what MPICH and
Open MPI accept on a homogeneous machine, as for tempi's ``MPI_PACKED`` point to point.)

Packing and unpacking follow :mod:`tempi.comm.transport`'s recipe. Should tempi fail on a
rank before its bytes reached MPI (staging memory refused, a kernel raising), the
interposer (``decline``) has the system MPI do that rank's whole call; ``tempi.Comm``'s
rank still takes part in the collective with zeros for its bytes, so no rank waits, and
raises the failure once the call is complete on every rank.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from mpi4py import MPI

from tempi.comm import batch, engine
from tempi.comm.message import Message
from tempi.comm.strategy import datatype_strategy
from tempi.comm.transport import Staging, cuda_aware
from tempi.errors import Declined


class _Parts:
    """One rank's parts of a collective: their packed sizes and displacements."""

    def __init__(self, msgs: list[Message]) -> None:
        self.msgs = msgs
        self.sizes = [m.nbytes for m in msgs]
        self.displs = [int(d) for d in np.cumsum([0] + self.sizes[:-1])] if msgs else []
        self.nbytes = sum(self.sizes)


class _Side(_Parts):
    """The parts and the staging of their packed bytes (:class:`~tempi.comm.transport.
    Staging`), on the strategy of :mod:`tempi.comm.strategy` for their fused layout:
    device memory handed to a CUDA-aware MPI (``device``), host memory the packing kernel
    writes across the link (``oneshot``), or packed on the device and copied
    (``staged``)."""

    def __init__(self, msgs: list[Message]) -> None:
        super().__init__(msgs)
        self.on_device = any(m.on_device for m in msgs)
        kind = "cuda" if self.on_device else "host"
        path = "oneshot"
        if self.nbytes:
            path = datatype_strategy(
                self._layout()[0],
                self.nbytes,
                cuda_aware=self.on_device and cuda_aware(),
                emulated=not self.on_device,
            )
        self.staging = Staging(kind, path, self.nbytes)
        for m in msgs:
            engine.count(m, path)

    def data(self) -> Any:
        """The packed bytes, as the buffer object mpi4py takes."""
        return self.staging.data()

    def _layout(self) -> tuple[Any, Any, int]:
        if len(self.msgs) == 1:
            m = self.msgs[0]
            return m.desc, m.buffer, m.origin
        fused = batch.fuse(self.msgs)
        return fused.desc, fused.typed(self.on_device), 0

    def pack(self) -> None:
        if self.nbytes:
            self.staging.pack(*self._layout())
            self.staging.wait()

    def unpack(self) -> None:
        if self.nbytes:
            self.staging.arrived(self.nbytes)
            self.staging.unpack(*self._layout())
            self.staging.wait()

    def release(self) -> None:
        self.staging.release()


class _Failed(_Parts):
    """A side tempi could not place or pack (``failure``): the collective still moves
    the bytes its peers expect -- zeros from here, and what they send into scratch
    memory -- so that no rank waits; the failure is raised after it."""

    def __init__(self, msgs: list[Message], failure: Exception) -> None:
        super().__init__(msgs)
        self.failure = failure
        self._bytes = np.zeros(self.nbytes, np.uint8)

    def data(self) -> Any:
        return self._bytes

    def unpack(self) -> None:
        """Nothing arrived where the application sees it."""

    def release(self) -> None:
        """Host memory, garbage collected."""


def _prepare(msgs: list[Message] | None, pack: bool, decline: bool) -> _Parts | None:
    """The side of ``msgs`` (None for none), packed if ``pack``. A failure here is before
    any byte reached MPI: with ``decline`` :class:`Declined` (an MPI error as it is), so
    the system MPI can do the whole call (the interposer); else a :class:`_Failed` side,
    so the call completes on every rank and :func:`_raise_failure` raises on this one."""
    if msgs is None:
        return None
    side = None
    try:
        side = _Side(msgs)
        if pack:
            side.pack()
        return side
    except Exception as exc:
        if side is not None:
            side.release()
        if not decline:
            return _Failed(msgs, exc)
        if isinstance(exc, MPI.Exception):
            raise
        verb = "pack" if side is not None else "place the parts"
        raise Declined(f"tempi could not {verb}: {exc!r}") from exc


def _sides(
    outgoing: list[Message] | None, incoming: list[Message] | None, decline: bool
) -> tuple[_Parts | None, _Parts | None]:
    """The outgoing side, packed, and the incoming one (None where there are no parts);
    the outgoing side is released again if the incoming one cannot be placed."""
    out = _prepare(outgoing, True, decline)
    try:
        return out, _prepare(incoming, False, decline)
    except Declined:
        if out is not None:
            out.release()
        raise


def _raise_failure(*sides: _Parts | None) -> None:
    """Raise the failure of a side tempi could not prepare, once the call is complete."""
    for side in sides:
        if isinstance(side, _Failed):
            raise side.failure


def _whole(side: _Parts) -> list[Any]:
    return [side.data(), side.nbytes, MPI.BYTE]


def _each(side: _Parts, vector: bool) -> list[Any]:
    """The spec of one part per rank: sizes and displacements, or (``vector`` False, every
    part the same size) the size of each."""
    if vector:
        return [side.data(), (side.sizes, side.displs), MPI.BYTE]
    return [side.data(), side.sizes[0] if side.sizes else 0, MPI.BYTE]


def bcast(comm: MPI.Comm, msg: Message, root: int, *, decline: bool = False) -> None:
    """Bcast. ``decline`` (the interposer): a failure before anything reached MPI raises
    :class:`Declined` and the caller has the system MPI do the call; else every rank
    completes the call and this one raises the failure after it."""
    side = _prepare([msg], comm.Get_rank() == root, decline)
    try:
        comm.Bcast(_whole(side), root)
        if comm.Get_rank() != root:
            side.unpack()
    finally:
        side.release()
    _raise_failure(side)


def gather(
    comm: MPI.Comm,
    send: Message,
    recvs: list[Message] | None,
    root: int,
    vector: bool,
    *,
    decline: bool = False,
) -> None:
    """Gather (or with ``vector`` Gatherv: the call must be the one the other ranks make);
    ``recvs``: the part from each rank, at the root only; ``decline`` as for
    :func:`bcast`."""
    out, into = _sides([send], recvs, decline)
    try:
        recvspec = _each(into, vector) if into is not None else None
        (comm.Gatherv if vector else comm.Gather)(_whole(out), recvspec, root)
        if into is not None:
            into.unpack()
    finally:
        out.release()
        if into is not None:
            into.release()
    _raise_failure(out, into)


def scatter(
    comm: MPI.Comm,
    sends: list[Message] | None,
    recv: Message,
    root: int,
    vector: bool,
    *,
    decline: bool = False,
) -> None:
    """Scatter (Scatterv); ``sends``: the part for each rank, at the root only;
    ``decline`` as for :func:`bcast`."""
    out, into = _sides(sends, [recv], decline)
    try:
        sendspec = _each(out, vector) if out is not None else None
        (comm.Scatterv if vector else comm.Scatter)(sendspec, _whole(into), root)
        into.unpack()
    finally:
        into.release()
        if out is not None:
            out.release()
    _raise_failure(out, into)


def allgather(
    comm: MPI.Comm, send: Message, recvs: list[Message], vector: bool, *, decline: bool = False
) -> None:
    """Allgather (Allgatherv); ``decline`` as for :func:`bcast`."""
    out, into = _sides([send], recvs, decline)
    try:
        (comm.Allgatherv if vector else comm.Allgather)(_whole(out), _each(into, vector))
        into.unpack()
    finally:
        out.release()
        into.release()
    _raise_failure(out, into)
