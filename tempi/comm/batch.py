"""Many messages packed by one kernel: every send of a collective, then every receive.

A halo exchange sends 26 pieces of one array. Packing each with its own kernel and
waiting for each costs 26 launches and 26 synchronisations, which dominate the exchange
when ranks share a GPU (each switch between their contexts is paid). Here the layouts of
all the messages become one :class:`BlockList`, addressed from the lowest byte any of
them touches, so one kernel packs every send into one staging buffer (each message's
packed bytes after the previous one's) and one kernel unpacks every receive. Each
message still travels as its own ``MPI_PACKED`` message in typemap order, so peers see
exactly what the one-message path sends. The fused layout is remembered per (layouts,
addresses): a steady exchange builds it once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from mpi4py import MPI

from tempi.comm import engine, locality
from tempi.comm.message import Message
from tempi.comm.settle import settle
from tempi.comm.strategy import datatype_strategy
from tempi.comm.transport import Staging, cuda_aware
from tempi.datatype.descriptor import BlockList, Descriptor, blocks
from tempi.pack.buffers import Buffer, host_range

_CACHE_SIZE = 64


@dataclass(frozen=True)
class Batch:
    """The fused layout of some messages: ``desc`` counts from address ``base``; message
    i's packed bytes are ``[starts[i], starts[i] + sizes[i])`` of the fused stream."""

    desc: BlockList
    base: int
    span: int
    starts: tuple[int, ...]
    sizes: tuple[int, ...]
    keep: tuple[Descriptor, ...]  # the layouts in the key stay alive, so ids stay unique

    @property
    def nbytes(self) -> int:
        return self.desc.nbytes

    def typed(self, on_device: bool) -> Buffer:
        """The memory the fused layout addresses (several arrays, perhaps: only the bytes
        of the pieces are ever touched)."""
        if on_device:
            return Buffer(self.base, self.span, True, None, None)
        return host_range(self.base, self.span, None)


_batches: dict[tuple, Batch] = {}


def fuse(msgs: list[Message]) -> Batch:
    """The fused layout of ``msgs``, in their order."""
    key = tuple((id(m.desc), m.buffer.ptr + m.origin) for m in msgs)
    found = _batches.get(key)
    if found is not None:
        return found
    origins = [m.buffer.ptr + m.origin for m in msgs]
    touched = [(o + m.desc.data_lb, o + m.desc.data_ub) for o, m in zip(origins, msgs)]
    touched = [t for t, m in zip(touched, msgs) if m.desc.nbytes]
    base = min(lo for lo, _ in touched)
    span = max(hi for _, hi in touched) - base
    offsets, lengths = [], []
    for origin, m in zip(origins, msgs):
        o, n = blocks(m.desc)
        offsets.append(o + (origin - base))
        lengths.append(n)
    sizes = tuple(m.desc.nbytes for m in msgs)
    starts = tuple(int(s) for s in np.cumsum((0,) + sizes[:-1]))
    desc = BlockList(
        np.concatenate(offsets), np.concatenate(lengths), size=sum(sizes), lb=0, extent=span
    )
    if len(_batches) >= _CACHE_SIZE:
        del _batches[next(iter(_batches))]
    batch = _batches[key] = Batch(desc, base, span, starts, sizes, tuple(m.desc for m in msgs))
    return batch


def _kind(msgs: list[Message], paths: list[str]) -> str | None:
    """'cuda' or 'host' when every message takes tempi's packed path (``paths``: the
    engine's route of each) in that memory."""
    kinds = set()
    for m, path in zip(msgs, paths):
        if m.desc is None or path == "passthrough":
            return None
        kinds.add("cuda" if m.on_device else "host")
    return kinds.pop() if len(kinds) == 1 else None


def exchange(
    comm: MPI.Comm,
    sends: list[Message],
    dests: list[int],
    send_tags: list[int],
    recvs: list[Message],
    sources: list[int],
    recv_tags: list[int],
    paths: list[str],
    local_ranks: frozenset[int] | None = None,
) -> bool:
    """Run the exchange with one pack and one unpack kernel, if every message is in the
    same memory and on tempi's packed path (``paths``: the engine's route of each send,
    then each receive); False (nothing done) otherwise. One strategy serves all: the one
    for a peer on another node when any is. Should tempi fail midway, every peer still
    gets and gives its bytes (:func:`tempi.comm.settle.settle`) before the failure is
    raised here."""
    kind = _kind(sends + recvs, paths)
    if (
        kind is None
        or not any(m.desc.nbytes for m in sends)
        or not any(m.desc.nbytes for m in recvs)
    ):
        return False
    posted_recvs: list[MPI.Request] = []
    posted_sends: list[MPI.Request] = []
    boxes: list[Staging] = []
    try:
        out, into = fuse(sends), fuse(recvs)
        on_device = kind == "cuda"
        path = datatype_strategy(
            out.desc,
            out.nbytes,
            cuda_aware=on_device and cuda_aware(),
            emulated=not on_device,
            peer_local=locality.all_local(comm, dests + sources, local_ranks),
        )
        for m in sends + recvs:
            engine.count(m, path)
        engine.count_batch()
        inbox = Staging(kind, path, into.nbytes)
        boxes.append(inbox)
        for start, size, source, tag in zip(into.starts, into.sizes, sources, recv_tags):
            posted_recvs.append(comm.Irecv(inbox.spec(start, size), source, tag))
        outbox = Staging(kind, path, out.nbytes)
        boxes.append(outbox)
        outbox.pack(out.desc, out.typed(on_device), 0)
        outbox.wait()
        for start, size, dest, tag in zip(out.starts, out.sizes, dests, send_tags):
            posted_sends.append(comm.Isend(outbox.spec(start, size), dest, tag))
        requests = posted_recvs + posted_sends
        statuses = [MPI.Status() for _ in requests]
        MPI.Request.Waitall(requests, statuses)

        got = [s.Get_count(MPI.BYTE) for s in statuses[: len(recvs)]]
        inbox.arrived(into.nbytes)
        if tuple(got) == into.sizes:
            inbox.unpack(into.desc, into.typed(on_device), 0)
        else:  # a short receive: each message unpacks what arrived
            for m, start, n in zip(recvs, into.starts, got):
                inbox.unpack(m.desc, m.buffer, m.origin, position=start, nbytes=n)
        inbox.wait()
    except Exception:
        settle(
            comm,
            [(m.nbytes, d, t) for m, d, t in zip(sends, dests, send_tags)][len(posted_sends) :],
            [(m.nbytes, s, t) for m, s, t in zip(recvs, sources, recv_tags)][len(posted_recvs) :],
            posted_recvs + posted_sends,
        )
        raise
    for box in boxes:
        box.release()
    return True
