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
"""

from __future__ import annotations

from typing import Any

import numpy as np
from mpi4py import MPI

from tempi.comm import batch, engine
from tempi.comm.message import Message
from tempi.comm.strategy import datatype_strategy
from tempi.errors import Declined


class _Side:
    """One rank's parts of a collective and the staging buffer of their packed bytes,
    placed by the strategy of :mod:`tempi.comm.strategy` for their fused layout: device
    memory handed to a CUDA-aware MPI (``device``), host memory the packing kernel writes
    across the link (``oneshot``), or packed on the device and copied (``staged``)."""

    def __init__(self, msgs: list[Message]) -> None:
        self.msgs = msgs
        self.sizes = [m.nbytes for m in msgs]
        self.displs = [int(d) for d in np.cumsum([0] + self.sizes[:-1])] if msgs else []
        self.nbytes = sum(self.sizes)
        self.on_device = any(m.on_device for m in msgs)
        kind = "cuda" if self.on_device else "host"
        self.space = engine._space(kind)
        self.path = "oneshot"
        if self.nbytes:
            self.path = datatype_strategy(
                self._layout()[0],
                self.nbytes,
                cuda_aware=self.on_device and engine._cuda_aware(),
                emulated=not self.on_device,
            )
        self.device, pinned = engine._pool(kind, "device"), engine._pool(kind, "pinned")
        self.wires = self.device if self.path == "device" else pinned
        self.stage = self.wires.get(self.nbytes)
        self.scratch = self.device.get(self.nbytes) if self.path == "staged" else None
        for m in msgs:
            engine._count(m, self.path)

    def data(self) -> Any:
        """The packed bytes, as the buffer object mpi4py takes."""
        stage = self.stage
        return stage.owner[: self.nbytes] if stage.on_device else stage.host[: self.nbytes]

    def _layout(self) -> tuple[Any, Any, int]:
        if len(self.msgs) == 1:
            m = self.msgs[0]
            return m.desc, m.buffer, m.origin
        fused = batch.fuse(self.msgs)
        return fused.desc, fused.typed(self.on_device), 0

    def pack(self) -> None:
        if self.nbytes:
            desc, typed, origin = self._layout()
            if self.scratch is not None:
                self.space.pack(desc, typed, origin, self.scratch, 0)
                self.space.copy(self.stage.ptr, self.scratch.ptr, self.nbytes)
            else:
                self.space.pack(desc, typed, origin, self.stage, 0)
            self.space.wait(self.space.fence())

    def unpack(self) -> None:
        if self.nbytes:
            desc, typed, origin = self._layout()
            source = self.stage
            if self.scratch is not None:
                self.space.copy(self.scratch.ptr, self.stage.ptr, self.nbytes)
                source = self.scratch
            self.space.unpack(desc, source, 0, typed, origin)
            self.space.wait(self.space.fence())

    def release(self) -> None:
        self.wires.put(self.stage)
        if self.scratch is not None:
            self.device.put(self.scratch)


def _prepare(msgs: list[Message] | None, pack: bool) -> _Side | None:
    """The side of ``msgs`` (None for none), packed if ``pack``. A failure here is before
    any byte reached MPI: :class:`Declined`, so the system MPI can do the whole call."""
    if msgs is None:
        return None
    try:
        side = _Side(msgs)
    except MPI.Exception:
        raise
    except Exception as exc:
        raise Declined(f"tempi could not place the parts: {exc!r}") from exc
    if pack:
        try:
            side.pack()
        except Exception as exc:
            side.release()
            if isinstance(exc, MPI.Exception):
                raise
            raise Declined(f"tempi could not pack: {exc!r}") from exc
    return side


def _sides(
    outgoing: list[Message] | None, incoming: list[Message] | None
) -> tuple[_Side | None, _Side | None]:
    """The outgoing side, packed, and the incoming one (None where there are no parts);
    the outgoing side is released again if the incoming one cannot be placed."""
    out = _prepare(outgoing, True)
    try:
        return out, _prepare(incoming, False)
    except Declined:
        if out is not None:
            out.release()
        raise


def _whole(side: _Side) -> list[Any]:
    return [side.data(), side.nbytes, MPI.BYTE]


def _each(side: _Side, vector: bool) -> list[Any]:
    """The spec of one part per rank: sizes and displacements, or (``vector`` False, every
    part the same size) the size of each."""
    if vector:
        return [side.data(), (side.sizes, side.displs), MPI.BYTE]
    return [side.data(), side.sizes[0] if side.sizes else 0, MPI.BYTE]


def bcast(comm: MPI.Comm, msg: Message, root: int) -> None:
    side = _prepare([msg], comm.Get_rank() == root)
    try:
        comm.Bcast(_whole(side), root)
        if comm.Get_rank() != root:
            side.unpack()
    finally:
        side.release()


def gather(
    comm: MPI.Comm, send: Message, recvs: list[Message] | None, root: int, vector: bool
) -> None:
    """Gather (or with ``vector`` Gatherv: the call must be the one the other ranks make);
    ``recvs``: the part from each rank, at the root only."""
    out, into = _sides([send], recvs)
    try:
        recvspec = _each(into, vector) if into is not None else None
        (comm.Gatherv if vector else comm.Gather)(_whole(out), recvspec, root)
        if into is not None:
            into.unpack()
    finally:
        out.release()
        if into is not None:
            into.release()


def scatter(
    comm: MPI.Comm, sends: list[Message] | None, recv: Message, root: int, vector: bool
) -> None:
    """Scatter (Scatterv); ``sends``: the part for each rank, at the root only."""
    out, into = _sides(sends, [recv])
    try:
        sendspec = _each(out, vector) if out is not None else None
        (comm.Scatterv if vector else comm.Scatter)(sendspec, _whole(into), root)
        into.unpack()
    finally:
        into.release()
        if out is not None:
            out.release()


def allgather(comm: MPI.Comm, send: Message, recvs: list[Message], vector: bool) -> None:
    """Allgather (Allgatherv)."""
    out, into = _sides([send], recvs)
    try:
        (comm.Allgatherv if vector else comm.Allgather)(_whole(out), _each(into, vector))
        into.unpack()
    finally:
        out.release()
        into.release()
