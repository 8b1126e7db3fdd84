"""tests/c/completion_rules.c through tempi.Comm: the same requests (tempi's for the vector
type under TEMPI_HOST=1, mpi4py's for the ints), the same calls of tempi.Request, the same
printed lines (to stdout, or to DIR/rules.<rank> with DIR as the argument)."""

from __future__ import annotations

import sys
import time

import numpy as np
from mpi4py import MPI

import tempi

N, LEN = 9, 12
ACTIVE = (0, 1, 4, 6, 7, 8)
ROLE = ["r", "r", "-", "-", "s", "-", "s", "r", "s"]
world = MPI.COMM_WORLD
rank = world.rank
comm = tempi.Comm(world)
vector = MPI.DOUBLE.Create_vector(4, 1, 3).Commit()
vbuf = np.zeros((4, 2 * LEN))
ibuf = np.zeros((4, 2), dtype=np.intc)


_seq = [0]


_file = open(f"{sys.argv[1]}/rules.{rank}", "w") if len(sys.argv) > 1 else sys.stdout  # noqa: SIM115


def out(text: str) -> None:
    """A line as the C program prints it: rank, sequence number, text."""
    print(f"rank {rank} {_seq[0]:03d} {text}", file=_file, flush=True)
    _seq[0] += 1


def describe(status: MPI.Status, show_sends: bool, i: int) -> str:
    count = status.Get_count(MPI.BYTE)
    if ROLE[i] == "s" and not show_sends:
        return "send"
    if status.Get_source() == MPI.ANY_SOURCE and status.Get_tag() == MPI.ANY_TAG and count == 0:
        return "empty"
    source = 0 if status.Get_source() == rank else -1
    return f"src={source} tag={status.Get_tag()} bytes={count}"


def post(base: int) -> list:
    vbuf[:] = 0
    vbuf[2, :LEN] = base + np.arange(LEN)
    vbuf[3, :LEN] = 2 * base + np.arange(LEN)
    ibuf[2] = (base, base + 1)
    r: list = [None] * N
    r[0] = world.Irecv([ibuf[0], 2, MPI.INT], rank, base + 1)
    r[1] = comm.Irecv([vbuf[0], 1, vector], rank, base + 2)
    r[2] = MPI.Request()
    r[3] = comm.Recv_init([vbuf[1], 1, vector], rank, base + 9)
    r[7] = comm.Irecv([vbuf[1], 1, vector], rank, base + 3)
    r[5] = world.Recv_init([ibuf[1], 2, MPI.INT], rank, base + 9)
    r[4] = comm.Isend([vbuf[2], 1, vector], rank, base + 2)
    r[6] = world.Isend([ibuf[2], 2, MPI.INT], rank, base + 1)
    r[8] = comm.Isend([vbuf[3], 1, vector], rank, base + 3)
    assert isinstance(r[1], tempi.Request) and isinstance(r[3], tempi.Prequest), r
    for _ in range(1000000):  # every active one done before the calls look (as the C one)
        if all([r[i].ready() if i in (1, 4, 7, 8) else r[i].Get_status() for i in ACTIVE]):
            break
    return r


def unpost(r: list) -> None:
    r[3].Free()
    r[5].Free()


def print_all(call: str, statuses: list, show_sends: bool) -> None:
    line = "".join(f" | {describe(s, show_sends, i)}" for i, s in enumerate(statuses))
    out(f"{call}{line}")


def testall() -> None:
    r = post(100)
    statuses = [MPI.Status() for _ in range(N)]
    flag = False
    for _ in range(1000000):
        flag = tempi.Request.Testall(r, statuses)
        if flag:
            break
    out(f"testall err=0 flag={int(flag)}")
    print_all("testall", statuses, False)
    flag = tempi.Request.Testall(r, statuses)
    out(f"testall again err=0 flag={int(flag)}")
    print_all("testall again", statuses, True)
    unpost(r)


def any_(wait: bool) -> None:
    call = "waitany" if wait else "testany"
    r = post(200 if wait else 300)
    status = MPI.Status()
    for _ in range(1000000):
        if wait:
            index, flag = tempi.Request.Waitany(r, status), True
        else:
            index, flag = tempi.Request.Testany(r, status)
        if flag and index == MPI.UNDEFINED:
            out(f"{call} err=0 flag=1 index=undefined")
            break
        if flag:
            out(f"{call} index={index} {describe(status, False, index)}")
    unpost(r)


def some(wait: bool) -> None:
    call = "waitsome" if wait else "testsome"
    r = post(400 if wait else 500)
    statuses = [MPI.Status() for _ in range(N)]
    for _ in range(1000000):
        indices = (tempi.Request.Waitsome if wait else tempi.Request.Testsome)(r, statuses)
        if indices is None:
            out(f"{call} err=0 outcount=undefined")
            break
        if not indices:
            continue
        line = "".join(f" | {i} {describe(statuses[k], False, i)}" for k, i in enumerate(indices))
        out(f"{call} outcount={len(indices)}{line}")
    unpost(r)


def truncation() -> None:
    size = world.size
    nxt, prev = (rank + 1) % size, (rank + size - 1) % size
    vbuf[2] = np.arange(2 * LEN)
    r = [
        comm.Irecv([vbuf[0], 1, vector], prev, 600),
        world.Irecv([ibuf[0], 2, MPI.INT], prev, 601),
        comm.Isend([vbuf[2], 2, vector], nxt, 600),
        world.Isend([ibuf[2], 2, MPI.INT], nxt, 601),
    ]
    statuses = [MPI.Status() for _ in r]
    names = {MPI.ERR_TRUNCATE: "truncate", MPI.SUCCESS: "success", MPI.ERR_PENDING: "pending"}
    try:
        tempi.Request.Waitall(r, statuses)
        line = "waitall truncated class=success"
    except MPI.Exception as error:
        cls = error.Get_error_class()
        line = "waitall truncated class=" + ("in_status" if cls == MPI.ERR_IN_STATUS else "other")
        if cls == MPI.ERR_IN_STATUS:
            for s in statuses:
                line += " | " + names.get(MPI.Get_error_class(s.Get_error()), "other")
    out(line)
    world.Barrier()


def late(wait_some: bool) -> None:
    """As the C program's: a call that must block for the previous rank's delayed send."""
    call = "waitsome late" if wait_some else "waitany late"
    size, base = world.size, 700 if wait_some else 800
    nxt, prev = (rank + 1) % size, (rank + size - 1) % size
    r = [comm.Irecv([vbuf[0], 1, vector], prev, base), world.Irecv(ibuf[0], prev, base + 1)]
    time.sleep(0.1)
    sent = comm.Isend([vbuf[2], 1, vector], nxt, base)
    ack = np.ones(1, dtype=np.intc)
    for round_ in range(2):
        statuses = [MPI.Status(), MPI.Status()]
        if wait_some:
            indices = tempi.Request.Waitsome(r, statuses)
            index = indices[0] if indices and len(indices) == 1 else -len(indices or ())
        else:
            index = tempi.Request.Waitany(r, statuses[0])
        text = describe(statuses[0], False, 0 if index == 1 else 1)
        out(f"{call} err=0 index={index} {text}")
        if round_ == 0:  # the ack, then the ints the next rank waits to send
            world.Send(ack, prev, base + 2)
            world.Recv(ack, nxt, base + 2)
            world.Send(ibuf[2], nxt, base + 1)
    sent.Wait()


testall()
any_(False)
any_(True)
some(False)
some(True)
truncation()
late(False)
late(True)
vector.Free()
