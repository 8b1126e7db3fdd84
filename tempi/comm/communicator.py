"""``tempi.Comm``: an mpi4py communicator whose point-to-point and (neighbor) all-to-all(v/w)
calls take non-contiguous device (and, with ``TEMPI_HOST=1``, host) data through tempi.

Method names and buffer specs are mpi4py's; everything else is delegated to the wrapped
communicator.
"""

from __future__ import annotations

from typing import Any

from mpi4py import MPI

from tempi import config
from tempi.comm import collectives, engine, locality, native, packed_collectives
from tempi.comm.message import resolve
from tempi.comm.requests import Joined, Prequest, Request
from tempi.pack.buffers import address_on_device


class Comm:
    """Wraps ``comm``; ``tempi.Comm(MPI.COMM_WORLD).Send(cupy_view, dest=1)`` just works."""

    def __init__(self, comm: MPI.Comm) -> None:
        self.comm = comm
        self._private: MPI.Comm | None = None
        self._local: frozenset[int] | None = None
        self._handle = comm.handle  # the C engine's (tempi.comm.native)
        self._neighbors: tuple | None = None  # sources, destinations, tags of a topology
        self._exchanges: dict = {}  # Neighbor_alltoallw's C arrays (native.exchange)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.comm, name)

    def __repr__(self) -> str:
        return f"tempi.Comm({self.comm!r})"

    # Point to point: a host message with a plan runs in the C engine (tempi.comm.native),
    # anything else through tempi.comm.engine. Once the compiled binding is loaded, Isend,
    # Issend, Ibsend and Irecv are its C functions (use_binding): a planned message costs
    # no Python frame; what it declines goes on to _isend / _irecv, what it cannot bind
    # (or while native.c is not the binding) to these Python methods.

    def Isend(self, buf: Any, dest: int, tag: int = 0) -> Any:
        request = native.c.isend(self.comm, buf, dest, tag, 0)
        return request if request is not None else self._isend(buf, dest, tag, 0)

    def Issend(self, buf: Any, dest: int, tag: int = 0) -> Any:
        request = native.c.isend(self.comm, buf, dest, tag, 1)
        return request if request is not None else self._isend(buf, dest, tag, 1)

    def Ibsend(self, buf: Any, dest: int, tag: int = 0) -> Any:
        request = native.c.isend(self.comm, buf, dest, tag, 2)
        return request if request is not None else self._isend(buf, dest, tag, 2)

    def Irsend(self, buf: Any, dest: int, tag: int = 0) -> Any:
        """Ready mode, sent as standard mode (which the standard allows)."""
        return self.Isend(buf, dest, tag)

    def Irecv(self, buf: Any, source: int = MPI.ANY_SOURCE, tag: int = MPI.ANY_TAG) -> Any:
        request = native.c.irecv(self.comm, buf, source, tag)
        return request if request is not None else self._irecv(buf, source, tag)

    def _isend(self, buf: Any, dest: int, tag: int, mode: int) -> Any:
        """A send (mode as :data:`tempi.comm.native.MODES`) the compiled binding did not
        take: the cffi path (which plans on a first sight), then Python's route."""
        request = native.isend(self.comm, self._handle, buf, dest, tag, mode)
        if request is not None:
            return request
        return engine.isend(
            self.comm, buf, dest, tag, mode=_MODE_NAMES[mode], local_ranks=self._local
        )

    def _irecv(self, buf: Any, source: int, tag: int) -> Any:
        """A receive the compiled binding did not take: the cffi path, then Python's."""
        request = native.irecv(self.comm, self._handle, buf, source, tag)
        if request is not None:
            return request
        return engine.irecv(self.comm, buf, source, tag, local_ranks=self._local)

    def Send_init(self, buf: Any, dest: int, tag: int = 0) -> Any:
        return self._send_init(buf, dest, tag, "standard")

    def Ssend_init(self, buf: Any, dest: int, tag: int = 0) -> Any:
        return self._send_init(buf, dest, tag, "synchronous")

    def Rsend_init(self, buf: Any, dest: int, tag: int = 0) -> Any:
        return self.Send_init(buf, dest, tag)

    def Bsend_init(self, buf: Any, dest: int, tag: int = 0) -> Any:
        return self._send_init(buf, dest, tag, "buffered")

    def _send_init(self, buf: Any, dest: int, tag: int, mode: str) -> Any:
        """A persistent send; with a plan in C, each Start posts one operation of it."""
        if native.planned(buf, writable=False):
            number, comm, local = native.MODES[mode], self.comm, self._local
            return Prequest(
                lambda: (
                    native.c.isend(comm, buf, dest, tag, number)
                    or native.isend(comm, self._handle, buf, dest, tag, number)
                    or engine.isend(comm, buf, dest, tag, mode=mode, local_ranks=local)
                )
            )
        return engine.send_init(self.comm, buf, dest, tag, mode=mode, local_ranks=self._local)

    def Recv_init(self, buf: Any, source: int = MPI.ANY_SOURCE, tag: int = MPI.ANY_TAG) -> Any:
        if native.planned(buf, writable=True):
            comm, local = self.comm, self._local
            return Prequest(
                lambda: (
                    native.c.irecv(comm, buf, source, tag)
                    or native.irecv(comm, self._handle, buf, source, tag)
                    or engine.irecv(comm, buf, source, tag, local_ranks=local)
                )
            )
        return engine.recv_init(self.comm, buf, source, tag, local_ranks=self._local)

    # Blocking calls: the compiled binding first (native.c: one C call for a planned host
    # message), then the cffi path (which plans on a first sight), then Python's route.

    def Send(self, buf: Any, dest: int, tag: int = 0) -> None:
        if native.c.send(self.comm, buf, dest, tag, 0):
            return
        if not native.send(self.comm, self._handle, buf, dest, tag, 0):
            self.Isend(buf, dest, tag).Wait()

    def Ssend(self, buf: Any, dest: int, tag: int = 0) -> None:
        if native.c.send(self.comm, buf, dest, tag, 1):
            return
        if not native.send(self.comm, self._handle, buf, dest, tag, 1):
            self.Issend(buf, dest, tag).Wait()

    def Bsend(self, buf: Any, dest: int, tag: int = 0) -> None:
        if native.c.send(self.comm, buf, dest, tag, 2):
            return
        if not native.send(self.comm, self._handle, buf, dest, tag, 2):
            self.Ibsend(buf, dest, tag).Wait()

    def Rsend(self, buf: Any, dest: int, tag: int = 0) -> None:
        self.Send(buf, dest, tag)

    def Recv(
        self,
        buf: Any,
        source: int = MPI.ANY_SOURCE,
        tag: int = MPI.ANY_TAG,
        status: MPI.Status | None = None,
    ) -> None:
        if native.c.recv(self.comm, buf, source, tag, status):
            return
        if not native.recv(self.comm, self._handle, buf, source, tag, status):
            self.Irecv(buf, source, tag).Wait(status)

    def Sendrecv(
        self,
        sendbuf: Any,
        dest: int,
        sendtag: int = 0,
        recvbuf: Any = None,
        source: int = MPI.ANY_SOURCE,
        recvtag: int = MPI.ANY_TAG,
        status: MPI.Status | None = None,
    ) -> None:
        if native.c.sendrecv(self.comm, sendbuf, dest, sendtag, recvbuf, source, recvtag, status):
            return  # both sides planned (or the MPI's own call): one C call
        receive = native.start(self._handle, recvbuf, source, recvtag, 0, True)
        if receive:  # in C: no request object at all
            try:
                self.Send(sendbuf, dest, sendtag)
            except BaseException:
                native.abandon(receive)
                raise
            native.wait(receive, status)
            return
        receive = self.Irecv(recvbuf, source, recvtag)
        self.Isend(sendbuf, dest, sendtag).Wait()
        receive.Wait(status)

    def Isendrecv(
        self,
        sendbuf: Any,
        dest: int,
        sendtag: int = 0,
        recvbuf: Any = None,
        source: int = MPI.ANY_SOURCE,
        recvtag: int = MPI.ANY_TAG,
    ) -> Joined:
        receive = self.Irecv(recvbuf, source, recvtag)
        return Joined(_tempi_request(receive), _tempi_request(self.Isend(sendbuf, dest, sendtag)))

    def Isendrecv_replace(
        self,
        buf: Any,
        dest: int,
        sendtag: int = 0,
        source: int = MPI.ANY_SOURCE,
        recvtag: int = MPI.ANY_TAG,
    ) -> Any:
        """The send packs the buffer before the receive is posted into it; a buffer tempi
        passes on goes to mpi4py's Isendrecv_replace whole."""
        msg = resolve(buf, writable=True)
        paths = self._replace_paths(msg, dest, source, typed=False)
        if paths is None:
            return self.comm.Isendrecv_replace(msg.spec, dest, sendtag, source, recvtag)
        send = engine.isend_message(self.comm, msg, dest, sendtag, path=paths[0])
        receive = engine.irecv_message(self.comm, msg, source, recvtag, path=paths[1])
        return Joined(_tempi_request(receive), _tempi_request(send))

    def Sendrecv_replace(
        self,
        buf: Any,
        dest: int,
        sendtag: int = 0,
        source: int = MPI.ANY_SOURCE,
        recvtag: int = MPI.ANY_TAG,
        status: MPI.Status | None = None,
    ) -> None:
        """tempi's send has packed the buffer when it returns, so the receive may land in
        it; a buffer tempi passes on goes to mpi4py's Sendrecv_replace whole. A planned
        host message is one C call (the engine's staging holds the send's bytes)."""
        if native.c.sendrecv_replace(self.comm, buf, dest, sendtag, source, recvtag, status):
            return None
        if native.planned(buf, writable=True):  # planned now: the binding's from now on
            if native.c.sendrecv_replace(self.comm, buf, dest, sendtag, source, recvtag, status):
                return None
        msg = resolve(buf, writable=True)
        paths = self._replace_paths(msg, dest, source)
        if paths is None:
            return self.comm.Sendrecv_replace(msg.spec, dest, sendtag, source, recvtag, status)
        send = engine.isend_message(self.comm, msg, dest, sendtag, path=paths[0])
        receive = engine.irecv_message(self.comm, msg, source, recvtag, path=paths[1])
        send.Wait()
        receive.Wait(status)

    def _replace_paths(
        self, msg: Any, dest: int, source: int, *, typed: bool = True
    ) -> tuple[str, str] | None:
        """The engine's route of a ``*_replace`` call's send and receive, each asked once
        (``typed``: :func:`tempi.comm.engine.route`'s); None when the send passes through
        (mpi4py then does the whole call)."""
        send = engine.route_to(self.comm, msg, dest, self._local, typed=typed)
        if send == "passthrough":
            return None
        return send, engine.route_to(self.comm, msg, source, self._local, typed=typed)

    def _collective_comm(self) -> MPI.Comm:
        """The duplicate that tempi's collective messages travel on, made at the first
        collective (every rank is there), which also learns which ranks share this node."""
        if self._private is None:
            self._private = self.comm.Dup()
            self._local = locality.node_ranks(self._private)
        return self._private

    def _ours(self, *specs: Any) -> bool:
        """Whether tempi should run a collective: a device buffer, or TEMPI_HOST."""
        return config.get("TEMPI_HOST") or any(resolve_buffer_on_device(s) for s in specs)

    def Alltoallv(self, sendbuf: Any, recvbuf: Any) -> None:
        if not self._ours(sendbuf, recvbuf):
            return self.comm.Alltoallv(sendbuf, recvbuf)
        collectives.alltoall(self._collective_comm(), sendbuf, recvbuf, False, self._local)

    def Alltoallw(self, sendbuf: Any, recvbuf: Any) -> None:
        if not self._ours(sendbuf, recvbuf):
            return self.comm.Alltoallw(sendbuf, recvbuf)
        collectives.alltoall(self._collective_comm(), sendbuf, recvbuf, True, self._local)

    def Bcast(self, buf: Any, root: int = 0) -> None:
        if not self._ours(buf):
            return self.comm.Bcast(buf, root)
        msg = resolve(buf, writable=self.comm.Get_rank() != root)
        if msg.desc is None:
            return self.comm.Bcast(buf, root)
        packed_collectives.bcast(self.comm, msg, root)

    def Gather(self, sendbuf: Any, recvbuf: Any, root: int = 0) -> None:
        self._rooted("Gather", sendbuf, recvbuf, root)

    def Gatherv(self, sendbuf: Any, recvbuf: Any, root: int = 0) -> None:
        self._rooted("Gatherv", sendbuf, recvbuf, root)

    def Scatter(self, sendbuf: Any, recvbuf: Any, root: int = 0) -> None:
        self._rooted("Scatter", sendbuf, recvbuf, root)

    def Scatterv(self, sendbuf: Any, recvbuf: Any, root: int = 0) -> None:
        self._rooted("Scatterv", sendbuf, recvbuf, root)

    def Allgather(self, sendbuf: Any, recvbuf: Any) -> None:
        self._rooted("Allgather", sendbuf, recvbuf, None)

    def Allgatherv(self, sendbuf: Any, recvbuf: Any) -> None:
        self._rooted("Allgatherv", sendbuf, recvbuf, None)

    def _rooted(self, name: str, sendbuf: Any, recvbuf: Any, root: int | None) -> None:
        """Gather(v), Scatter(v), Allgather(v) (``root`` None): tempi packs this rank's
        side and the system MPI's collective moves the bytes, so ranks meet there whatever
        each decided; arguments significant only at the root are read only there."""
        comm, size = self.comm, self.comm.Get_size()
        at_root = root is None or comm.Get_rank() == root
        scatter = name.startswith("Scatter")
        significant = [sendbuf] if at_root or not scatter else []
        significant += [recvbuf] if at_root or scatter else []
        args = (sendbuf, recvbuf) if root is None else (sendbuf, recvbuf, root)
        if sendbuf is MPI.IN_PLACE or recvbuf is MPI.IN_PLACE or not self._ours(*significant):
            return getattr(comm, name)(*args)
        vector = name.endswith("v")
        many_spec, one_spec = (sendbuf, recvbuf) if scatter else (recvbuf, sendbuf)
        one = resolve(one_spec, writable=scatter)
        many = None
        if at_root:
            parts = collectives.blocks(many_spec, size, vector)
            many = [resolve(part, writable=not scatter) for part in parts]
        if any(m.desc is None for m in [one, *(many or [])]):
            return getattr(comm, name)(*args)
        if root is None:
            packed_collectives.allgather(comm, one, many, vector)
        elif scatter:
            packed_collectives.scatter(comm, many, one, root, vector)
        else:
            packed_collectives.gather(comm, one, many, root, vector)

    def Neighbor_alltoallv(self, sendbuf: Any, recvbuf: Any) -> None:
        if not self._ours(sendbuf, recvbuf):
            return self.comm.Neighbor_alltoallv(sendbuf, recvbuf)
        private = self._collective_comm()
        collectives.neighbor_alltoall(private, self.comm, sendbuf, recvbuf, False, self._local)

    def Neighbor_alltoallw(self, sendbuf: Any, recvbuf: Any) -> None:
        if not self._ours(sendbuf, recvbuf):
            return self.comm.Neighbor_alltoallw(sendbuf, recvbuf)
        private = self._collective_comm()
        if self._neighbor_in_c(private, sendbuf, recvbuf):
            return
        collectives.neighbor_alltoall(private, self.comm, sendbuf, recvbuf, True, self._local)

    def _neighbor_in_c(self, private: MPI.Comm, sendbuf: Any, recvbuf: Any) -> bool:
        """Neighbor_alltoallw of host parts that all have a plan (or go to the MPI as they
        are: contiguous, strategy ``system``) as one call of the C engine
        (:func:`tempi.comm.native.exchange`, its arrays cached per distinct exchange) on the
        private communicator, with the tags Python's exchange gives the same parts
        (collectives.exchange: one message per part), so ranks that decide differently
        still match. False: Python's path."""
        if not native.enabled():
            return False
        for spec in (sendbuf, recvbuf):
            if not isinstance(spec, (list, tuple)) or len(spec) != 4 or spec[0] is MPI.BOTTOM:
                return False
        if self._neighbors is None:
            sources, dests, tags = collectives.neighbors(self.comm)
            tags = tags or (collectives._occurrences(dests), collectives._occurrences(sources))
            self._neighbors = (sources, dests, tags)
        sources, dests, (send_tags, recv_tags) = self._neighbors
        return native.exchange(
            self._exchanges,
            private.handle,
            sendbuf,
            recvbuf,
            dests,
            sources,
            send_tags,
            recv_tags,
        )

    def Create_cart(
        self, dims: Any, periods: Any = None, reorder: bool = False, *, stencil: Any = None
    ) -> Any:
        """mpi4py's Create_cart; with ``reorder``, tempi places the ranks so that heavy
        neighbours share a node (tempi.topology). ``stencil``: a tempi.topology.Stencil,
        its text form ("faces:4,1,1") or relative face weights per dimension."""
        from tempi.topology import reorder as placement

        return _wrap(placement.create_cart(self.comm, dims, periods, reorder, stencil))

    def Create_dist_graph_adjacent(
        self,
        sources: Any,
        destinations: Any,
        sourceweights: Any = None,
        destweights: Any = None,
        info: MPI.Info = MPI.INFO_NULL,
        reorder: bool = False,
    ) -> Any:
        """mpi4py's; with ``reorder``, the adjacency moves with the rank tempi places."""
        from tempi.topology import reorder as placement

        return _wrap(
            placement.create_dist_graph_adjacent(
                self.comm, sources, destinations, sourceweights, destweights, info, reorder
            )
        )

    def Create_dist_graph(
        self,
        sources: Any,
        degrees: Any,
        destinations: Any,
        weights: Any = None,
        info: MPI.Info = MPI.INFO_NULL,
        reorder: bool = False,
    ) -> Any:
        """mpi4py's; with ``reorder``, tempi places the ranks of the graph."""
        from tempi.topology import reorder as placement

        return _wrap(
            placement.create_dist_graph(
                self.comm, sources, degrees, destinations, weights, info, reorder
            )
        )

    def Free(self) -> None:
        if self._private is not None:
            self._private.Free()
            self._private = None


_MODE_NAMES = tuple(native.MODES)
_PYTHON_METHODS = tuple(Comm.__dict__[name] for name in ("Isend", "Issend", "Ibsend", "Irecv"))


def use_binding(binding: Any) -> None:
    """Make Comm's Isend, Issend, Ibsend and Irecv the compiled binding's (called by
    :mod:`tempi.comm.native` once it loaded ``binding``): method descriptors of C functions
    that bind the arguments as these Python methods do and fall back to them."""
    methods = binding.methods(Comm, vars(native), _PYTHON_METHODS)
    for name, method in zip(("Isend", "Issend", "Ibsend", "Irecv"), methods):
        setattr(Comm, name, method)


def _wrap(comm: MPI.Comm) -> Any:
    """A new topology communicator as a tempi.Comm (MPI.COMM_NULL stays itself)."""
    return comm if comm == MPI.COMM_NULL else Comm(comm)


def resolve_buffer_on_device(spec: Any) -> bool:
    """Whether a buffer spec is in device memory; for ``MPI.BOTTOM``, where the data of
    its datatype(s) starts."""
    buf = spec[0] if isinstance(spec, (list, tuple)) else spec
    if buf is MPI.BOTTOM:
        types = spec[-1] if isinstance(spec[-1], (list, tuple)) else [spec[-1]]
        return any(address_on_device(t.Get_true_extent()[0]) for t in types)
    return hasattr(buf, "__cuda_array_interface__")


def _tempi_request(request: Any) -> Request:
    """A passed-through operation's plain ``MPI.Request`` as a tempi request (one step that
    waits for it), so it joins another."""
    if isinstance(request, Request):
        return request

    def wait_for_it():
        status = yield request
        return (status.Get_source(), status.Get_tag(), status.Get_count(MPI.BYTE))

    return Request(wait_for_it(), None)
