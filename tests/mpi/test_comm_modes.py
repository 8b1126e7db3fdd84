"""tempi.Comm's ready-mode sends (sent as standard mode, which the standard allows) and the
non-blocking Isendrecv / Isendrecv_replace, on host memory through the engine
(TEMPI_HOST=1, every strategy) and between tempi and plain mpi4py. The expected bytes are
MPI_Unpack(MPI_Pack(sent)) into the receiver's initial bytes."""

from __future__ import annotations

import numpy as np
import pytest
from mpi4py import MPI

import tempi


def _check_status(status: MPI.Status, source: int, tag: int, count: int, datatype) -> None:
    assert (status.Get_source(), status.Get_tag()) == (source, tag)
    assert status.Get_count(datatype) == count


@pytest.mark.mpi(min_size=1)
@pytest.mark.parametrize("mode", ["Irsend", "Rsend_init"])
def test_ready_mode_sends(strategy, usertype, wire, neighbours, engine_ran, mode):
    """The receive is posted (and the ranks synchronised) before the ready send, as ready
    mode requires."""
    dest, source = neighbours
    comm, rank, count, tag = tempi.Comm(MPI.COMM_WORLD), MPI.COMM_WORLD.rank, 2, 31
    target = wire.payload(usertype, count, rank, -tag)
    expected = wire.delivered(wire.payload(usertype, count, source, tag), count, usertype, target)
    receive = comm.Irecv([target, count, usertype], source, tag)
    MPI.COMM_WORLD.Barrier()
    mine = [wire.payload(usertype, count, rank, tag), count, usertype]
    if mode == "Irsend":
        send = comm.Irsend(mine, dest, tag)
    else:
        send = comm.Rsend_init(mine, dest, tag)
        send.Start()
    status = MPI.Status()
    tempi.Request.Waitall([receive, send], [status, MPI.Status()])
    if mode == "Rsend_init":
        send.Free()
    assert np.array_equal(target, expected)
    _check_status(status, source, tag, count, usertype)
    engine_ran()


@pytest.mark.mpi(min_size=1)
def test_blocking_ready_send(strategy, usertype, wire, neighbours):
    dest, source = neighbours
    comm, rank, count, tag = tempi.Comm(MPI.COMM_WORLD), MPI.COMM_WORLD.rank, 2, 32
    target = wire.payload(usertype, count, rank, -tag)
    expected = wire.delivered(wire.payload(usertype, count, source, tag), count, usertype, target)
    receive = comm.Irecv([target, count, usertype], source, tag)
    MPI.COMM_WORLD.Barrier()
    if dest == rank:  # one rank: a blocking send to itself must not wait for itself
        send = comm.Irsend([wire.payload(usertype, count, rank, tag), count, usertype], dest, tag)
    else:
        comm.Rsend([wire.payload(usertype, count, rank, tag), count, usertype], dest, tag)
        send = None
    receive.Wait()
    if send is not None:
        send.Wait()
    assert np.array_equal(target, expected)


@pytest.mark.mpi(min_size=1)
@pytest.mark.parametrize("plain_peer", [False, True], ids=["tempi-peer", "plain-peer"])
def test_isendrecv(strategy, usertype, wire, neighbours, engine_ran, plain_peer):
    """Isendrecv completed by Test until done, then Wait; the peer is tempi or plain
    mpi4py (which then sends to us with its own Isendrecv)."""
    dest, source = neighbours
    rank, count, tag = MPI.COMM_WORLD.rank, 3, 33
    comm = MPI.COMM_WORLD if plain_peer and rank % 2 else tempi.Comm(MPI.COMM_WORLD)
    target = wire.payload(usertype, count, rank, -tag)
    expected = wire.delivered(wire.payload(usertype, count, source, tag), count, usertype, target)
    mine = [wire.payload(usertype, count, rank, tag), count, usertype]
    request = comm.Isendrecv(mine, dest, tag, [target, count, usertype], source, tag)
    status = MPI.Status()
    while not request.Test(status):
        pass
    assert np.array_equal(target, expected)
    _check_status(status, source, tag, count, usertype)
    if comm is not MPI.COMM_WORLD:
        engine_ran(usertype.Get_size() * count)


@pytest.mark.mpi(min_size=1)
def test_isendrecv_replace(strategy, usertype, wire, neighbours, engine_ran):
    dest, source = neighbours
    comm, rank, count, tag = tempi.Comm(MPI.COMM_WORLD), MPI.COMM_WORLD.rank, 3, 34
    buf = wire.payload(usertype, count, rank, tag)
    expected = wire.delivered(wire.payload(usertype, count, source, tag), count, usertype, buf)
    request = comm.Isendrecv_replace([buf, count, usertype], dest, tag, source, tag)
    status = MPI.Status()
    tempi.Request.Waitall([request], [status])
    assert np.array_equal(buf, expected)
    _check_status(status, source, tag, count, usertype)
    engine_ran()  # packed even where the host model picks MPI's typed path (engine.route)
