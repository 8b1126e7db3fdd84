"""The communication engine: one implementation of send and receive for every entry point.

For each message it decides the path -- straight to mpi4py (``passthrough``), or packed by
tempi with a strategy of :mod:`tempi.comm.strategy` -- and runs it as a
:class:`~tempi.comm.requests.Request`. Packed bytes travel as ``MPI_PACKED`` in typemap
order, so peers without tempi interoperate. Host-memory derived types take tempi's path
only with ``TEMPI_HOST=1`` (or when they are bare non-contiguous views, which mpi4py
cannot send); they then run every strategy's steps in host memory. Those steps (pack,
transport, unpack) are :mod:`tempi.comm.transport`'s recipe, shared with the fused
exchanges and the packed collectives; :func:`route_to` is the one routing decision of a
point-to-point message, for ``tempi.Comm`` and the interposer's callbacks alike.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from mpi4py import MPI

from tempi import config
from tempi.comm import locality
from tempi.comm.message import Message, as_message
from tempi.comm.requests import Prequest, Request
from tempi.comm.strategy import contiguous_strategy, datatype_strategy, host_strategy
from tempi.comm.transport import Staging, cuda_aware, space
from tempi.comm.transport import release as release  # tempi.comm's release(), as before
from tempi.errors import UnsupportedDatatype
from tempi.log import get_logger
from tempi.shim.spec import SEND_MODES  # MPI's send modes, numbered as the interposer's C

log = get_logger("comm")


MESSAGE_COUNTERS = (
    "passed_through",
    "packed_host",
    "packed_device",
    "device_direct",
    "oneshot",
    "staged",
    "staged_contiguous",
    "plan_misses",
    "in_python",
)
"""What happened to each message (one buffer of a send or a receive, one peer's part of a
collective; for the interposer also one MPI_Pack/MPI_Unpack buffer), in the order TEMPI_STATS
prints them: handed to the system MPI unchanged; packed by tempi in host memory (every
strategy runs on the CPU there); packed in device memory for MPI_Pack/MPI_Unpack; device
data packed on the GPU and sent from device memory by a CUDA-aware MPI, packed by the GPU
straight into pinned host memory, or packed on the GPU and copied to pinned host memory;
contiguous device data copied through pinned host memory for an MPI that cannot read it.
Under the interposer two more (issue 14): plan misses, the first sights of a (datatype,
count) for which the C engine asked Python for a plan, and the messages that entered
Python at all (every counter above but the interposer's C-side ones): about 0 after
warm-up when the C engine runs the steady state."""

_stats: Counter = Counter()
_paths: Counter = Counter()


def stats() -> dict[str, int]:
    """Messages since start by what happened to them (:data:`MESSAGE_COUNTERS`, every one
    present)."""
    return {name: _stats[name] for name in MESSAGE_COUNTERS}


def paths() -> dict[str, int]:
    """Messages since start by the engine path that ran (passthrough, contiguous, device,
    oneshot, staged; in host memory too, where every path runs on the CPU), host messages
    packed (host), and collectives whose parts were packed together (batched); with
    ``engine``, the host messages tempi.Comm ran in the C engine (:mod:`tempi.comm.native`),
    which never enter this module."""
    from tempi.comm import native

    found = dict(_paths)
    if native.runs():
        found["engine"] = native.runs()
    return found


def route(msg: Message, peer_local: bool | None = None, *, typed: bool = True) -> str:
    """'passthrough', 'contiguous' (staged contiguous device data) or a datatype strategy;
    ``peer_local``: whether the peer is on this node, if known; ``typed``: whether the MPI's
    own typed path may take a non-contiguous host message the host model measured faster
    there (not for MPI_Isendrecv_replace: MPICH 5.0.2 delivers wrong bytes for a vector
    there, where its Sendrecv_replace and Open MPI's are right)."""
    if msg.desc is None:
        if msg.on_device and not cuda_aware():
            raise UnsupportedDatatype(
                "tempi cannot describe this datatype and the MPI is not CUDA-aware"
            )
        return "passthrough"
    if not msg.on_device:
        if not (msg.is_view or config.get("TEMPI_HOST")) or (
            msg.desc.is_contiguous and not msg.is_view
        ):
            return "passthrough"
        if msg.is_view:  # mpi4py cannot send a bare non-contiguous view itself
            return datatype_strategy(
                msg.desc, msg.nbytes, cuda_aware=False, emulated=True, peer_local=peer_local
            )
        path = host_strategy(msg.desc, msg.nbytes, peer_local=peer_local)
        if path != "system":
            return path
        if typed:
            return "passthrough"
        return datatype_strategy(
            msg.desc, msg.nbytes, cuda_aware=False, emulated=True, peer_local=peer_local
        )
    if msg.desc.is_contiguous:
        return (
            "passthrough"
            if contiguous_strategy(cuda_aware=cuda_aware()) == "direct"
            else "contiguous"
        )
    return datatype_strategy(
        msg.desc, msg.nbytes, cuda_aware=cuda_aware(), emulated=False, peer_local=peer_local
    )


def route_to(
    comm: MPI.Comm,
    msg: Message,
    peer: int,
    local_ranks: frozenset[int] | None = None,
    *,
    typed: bool = True,
) -> str:
    """:func:`route` of a message to or from ``peer`` of ``comm`` (``local_ranks``: the
    ranks of ``comm`` on this node, where known). The one routing decision of a
    point-to-point message: the interposer's callbacks and ``tempi.Comm`` ask it once and
    hand the path to :func:`isend_message` / :func:`irecv_message` / the ``_init`` forms."""
    return route(msg, locality.peer_local(comm, peer, local_ranks), typed=typed)


def _send_steps(msg: Message, path: str, kind: str, post: Any, deferred: bool) -> Any:
    staging = Staging(kind, path, msg.nbytes)
    staging.pack(msg.desc, msg.buffer, msg.origin)
    if deferred:
        yield staging.fence()
    else:
        staging.wait()
    yield post(staging.spec())
    staging.release()


def _recv_steps(msg: Message, path: str, kind: str, post: Any) -> Any:
    staging = Staging(kind, path, msg.nbytes)
    status = yield post(staging.spec())
    got = 0 if status.Is_cancelled() else status.Get_count(MPI.BYTE)
    staging.arrived(got)
    staging.unpack(msg.desc, msg.buffer, msg.origin, nbytes=got)
    yield staging.fence()
    staging.release()
    return status.Get_source(), status.Get_tag(), got


_PUBLIC = {"passthrough": "passed_through", "device": "device_direct"}


def count(msg: Message, path: str) -> str:
    """Count ``msg`` under what ``path`` does with it (:func:`stats`, :func:`paths`); its
    memory kind, 'cuda' or 'host'."""
    kind = "cuda" if msg.on_device else "host"
    _paths[path] += 1
    if kind == "host" and path != "passthrough":
        _paths["host"] += 1
        _stats["packed_host"] += 1
    elif path == "contiguous":
        _stats["staged_contiguous"] += 1
    else:
        _stats[_PUBLIC.get(path, path)] += 1
    log.debug("%s message of %d bytes: %s", kind, msg.nbytes, path)
    return kind


def count_batch() -> None:
    """Count a collective whose parts were packed together (:func:`paths`' ``batched``)."""
    _paths["batched"] += 1


def isend(
    comm: MPI.Comm,
    spec: Any,
    dest: int,
    tag: int,
    *,
    mode: str = "standard",
    deferred: bool = False,
    local_ranks: frozenset[int] | None = None,
) -> Any:
    """Start a send of an mpi4py buffer spec (or a resolved :class:`Message`); an
    ``MPI.Request`` on the passthrough path, else a tempi Request. ``mode``: one of
    :data:`SEND_MODES` (MPI's send modes; a ready send is a standard one). ``local_ranks``:
    the ranks of ``comm`` on this node, where known (:mod:`tempi.comm.locality`).

    A packed send reaches MPI once its pack is done: at once (the pack is waited for
    here), or with ``deferred`` when a completion call finds the pack done, so that
    many packs run back to back. Only a caller that completes the request itself may
    defer (a collective): a deferred send is not visible to MPI until then."""
    msg = as_message(spec, writable=False)
    return isend_message(
        comm,
        msg,
        dest,
        tag,
        mode=mode,
        deferred=deferred,
        local_ranks=local_ranks,
    )


def irecv(
    comm: MPI.Comm,
    spec: Any,
    source: int,
    tag: int,
    *,
    local_ranks: frozenset[int] | None = None,
) -> Any:
    """Start a receive into a buffer spec (or a resolved :class:`Message`); an
    ``MPI.Request`` on the passthrough path, else a tempi Request."""
    msg = as_message(spec, writable=True)
    return irecv_message(comm, msg, source, tag, local_ranks=local_ranks)


def isend_message(
    comm: MPI.Comm,
    msg: Message,
    dest: int,
    tag: int,
    *,
    mode: str = "standard",
    deferred: bool = False,
    local_ranks: frozenset[int] | None = None,
    path: str | None = None,
) -> Any:
    """:func:`isend` of a resolved message (the interposer builds them from C pointers);
    ``path``: what :func:`route_to` said, when the caller has asked already."""
    if path is None:
        path = route_to(comm, msg, dest, local_ranks)
    kind = count(msg, path)
    start = getattr(comm, SEND_MODES[mode][0])
    if path == "passthrough":
        return start(msg.spec, dest, tag)
    steps = _send_steps(msg, path, kind, lambda wire: start(wire, dest, tag), deferred)
    return Request(steps, space(kind))


def irecv_message(
    comm: MPI.Comm,
    msg: Message,
    source: int,
    tag: int,
    *,
    local_ranks: frozenset[int] | None = None,
    path: str | None = None,
) -> Any:
    """:func:`irecv` of a resolved message; ``path`` as for :func:`isend_message`."""
    if path is None:
        path = route_to(comm, msg, source, local_ranks)
    kind = count(msg, path)
    if path == "passthrough":
        return comm.Irecv(msg.spec, source, tag)
    return Request(
        _recv_steps(msg, path, kind, lambda wire: comm.Irecv(wire, source, tag)), space(kind)
    )


def send_init(
    comm: MPI.Comm,
    spec: Any,
    dest: int,
    tag: int,
    *,
    mode: str = "standard",
    local_ranks: frozenset[int] | None = None,
    path: str | None = None,
) -> Any:
    """A persistent send: mpi4py's ``Prequest`` on the passthrough path, else a tempi
    :class:`Prequest` whose every ``Start`` is an :func:`isend` of the buffer's contents
    at that moment, on the path routed once here (or given: ``path``)."""
    msg = as_message(spec, writable=False)
    if path is None:
        path = route_to(comm, msg, dest, local_ranks)
    if path == "passthrough":
        return getattr(comm, SEND_MODES[mode][1])(msg.spec, dest, tag)
    return Prequest(lambda: isend_message(comm, msg, dest, tag, mode=mode, path=path))


def recv_init(
    comm: MPI.Comm,
    spec: Any,
    source: int,
    tag: int,
    *,
    local_ranks: frozenset[int] | None = None,
    path: str | None = None,
) -> Any:
    """A persistent receive, as :func:`send_init`."""
    msg = as_message(spec, writable=True)
    if path is None:
        path = route_to(comm, msg, source, local_ranks)
    if path == "passthrough":
        return comm.Recv_init(msg.spec, source, tag)
    return Prequest(lambda: irecv_message(comm, msg, source, tag, path=path))
