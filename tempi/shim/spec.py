"""The interposer's one description: every MPI entry point it defines, the rule that decides
whether tempi takes the call, and the constants C and Python share.

:mod:`tempi.shim.generate` turns this module into C at shim build time (``spec_gen.h``:
the constants; ``entry_points_gen.c``: one plainly written function per entry point, the
int form and, where the MPI has them, the MPI-4 ``_c`` form). Nothing generated is
committed; ``tempi build-shim --show-source`` prints where the generated C lies, and
``python -m tempi.shim.generate`` prints it. Python reads the same constants from here
(:mod:`tempi.shim.callbacks`, :mod:`tempi.comm.engine`), so the two languages cannot drift.

Each :class:`Entry` names its MPI function and parameters exactly as ``mpi.h`` does,
with ``COUNT`` for a count (``int``, ``MPI_Count`` in the ``_c`` form) and ``DISPL`` for a
displacement array of the v forms (``int``, ``MPI_Aint``); its ``rule`` names a row of
:data:`RULES`, the C body: "does tempi take it, and how", then the system MPI's same call
(``PMPI_...``) when tempi passes. This module imports nothing: C-side policy lives here
and in ``native/``, never in a second copy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# ---- constants shared by C (spec_gen.h) and Python ------------------------------------------

OK, PASS, FAILED, ERROR = 1, 2, 3, 1000
"""Callback return codes: done; declined (the system MPI does the call); an internal
error (C returns MPI_ERR_INTERN); ERROR + an MPI error code. Never 0: cffi returns 0 from
an embedded function whose start-up failed."""

RAISED = -1000
"""RAISED - an MPI error code: an error the system MPI has raised already on the
application's error handler (tempi made the failing call without swapping the handler),
which the entry point returns as it is. Only C returns it (native/p2p.c's blocking forms)."""

COLLECTIVE_KINDS = (
    "ALLTOALL",
    "NEIGHBOR",
    "BCAST",
    "GATHER",
    "GATHERV",
    "SCATTER",
    "SCATTERV",
    "ALLGATHER",
    "ALLGATHERV",
)
"""The ``kind`` of ``tempi_py_collective``, numbered in this order (``TEMPI_I_<KIND>``)."""

SEND_MODES = {
    "standard": ("Isend", "Send_init"),
    "synchronous": ("Issend", "Ssend_init"),
    "buffered": ("Ibsend", "Bsend_init"),
}
"""MPI's send modes, numbered in this order (``mode`` of ``tempi_py_isend``,
``TEMPI_I_<MODE>``), with the mpi4py methods that post one and that make a persistent
one. A ready send is a standard one (MPI 4.1, 3.4); a buffered one posts tempi's packed
bytes with MPI_Ibsend."""

SENT, CANCELLED = -1, -2
"""What a completed operation reports in place of its received byte count: a send (its
status stays as the system MPI left it), or a cancelled operation."""

COMPLETIONS = ("WAITALL", "TESTALL", "WAITANY", "TESTANY", "WAITSOME", "TESTSOME")
"""The multi-completion calls whose rules live in native/requests.c, numbered in this order
(``TEMPI_I_<CALL>``, the ``call`` of ``tempi_engine_complete``)."""

REQUEST_KINDS = ("PLAIN", "NONE", "OP", "DRIVEN")
"""What an entry of those calls' list is (``TEMPI_I_REQ_<KIND>``): a plain request, none
(its empty status), an operation of tempi's C side by id, one the caller's driver runs."""

TOPOLOGY_KINDS = ("CART", "ADJACENT", "GRAPH")
"""The ``kind`` of ``tempi_py_topology``, numbered in this order."""


def constants() -> dict[str, int]:
    """Every shared constant by its C name (``TEMPI_I_...``)."""
    named = {"OK": OK, "PASS": PASS, "FAILED": FAILED, "ERROR": ERROR, "RAISED": RAISED}
    named.update({"SENT": SENT, "CANCELLED": CANCELLED})
    named.update({kind: n for n, kind in enumerate(COLLECTIVE_KINDS)})
    named.update({mode.upper(): n for n, mode in enumerate(SEND_MODES)})
    named.update({f"TOPO_{kind}": n for n, kind in enumerate(TOPOLOGY_KINDS)})
    named.update({call: n for n, call in enumerate(COMPLETIONS)})
    named.update({f"REQ_{kind}": n for n, kind in enumerate(REQUEST_KINDS)})
    return {f"TEMPI_I_{name}": value for name, value in named.items()}


# ---- the rules: C bodies ------------------------------------------------------------------------
#
# Fields: {pmpi} the system MPI's call with every argument, {S} "" or "_c", {COUNT} the
# count type, {ints} 1 in the int form (int counts), 0 in the _c form, and an entry's own
# values. TEMPI_I_TRY returns from the entry point unless tempi passed; tempi_i_takes is
# the fast path's test (native/types.c), tempi_i_count_pass TEMPI_STATS's count.


_DECLINED = """
        if (tempi_i_stages(buf, datatype)) {{ /* tempi declined device memory: staged, never passed */
            tempi_i_stage_t stage_ = {{0}};
{stage_in}
            tempi_i_count_pass(MESSAGES);
            int err_ = stage_.failed ? tempi_i_raise(comm, MPI_ERR_NO_MEM) : P{name}({staged_args});
            return tempi_i_stage_out(&stage_, err_);
        }}"""
_DECLINED_LATER = """
        if (tempi_i_stages(buf, datatype)) {{ /* tempi declined device memory: staged, never passed */
            tempi_i_stage_t stage_ = {{0}};
            stage_.owned = 1;
{stage_in}
            tempi_i_count_pass(1);
            int err_ = stage_.failed ? tempi_i_raise(comm, MPI_ERR_NO_MEM) : P{name}({staged_args});
            return tempi_i_stage_hold(&stage_, err_, request, {persistent});
        }}"""
"""What the point-to-point rules do with a device buffer tempi took, then declined (a
datatype it cannot describe): the system MPI's call on a host copy (non-blocking: kept
until the completion call)."""
_DECLINED_COLLECTIVE = """
    if (tempi_i_collective_declined()) {{ /* tempi declined device memory: staged, never passed */
        tempi_i_stage_t stage_ = {{0}};
{stage_in}
        tempi_i_count_pass(tempi_i_collective_passed());
        int err_ = stage_.failed ? tempi_i_raise(comm, MPI_ERR_NO_MEM) : P{name}({staged_args});
        return tempi_i_stage_out(&stage_, err_);
    }}"""
"""The blocking v and w collectives' case of the same: every buffer's span on a host copy
(native/collectives.c tells the entry point, tempi_i_collective_declined)."""


@dataclass(frozen=True)
class Rule:
    takes: str  # what tempi takes, for docs/shim.md
    body: str


RULES = {
    "send": Rule(
        "an accelerated type (or any type on device memory the MPI cannot read)",
        """    if (tempi_i_takes(buf, datatype)) {{
        TEMPI_I_TRY(tempi_i_send(buf, count, datatype, dest, tag, comm, {mode}), comm);"""
        + _DECLINED.replace("MESSAGES", "1")
        + """
    }}
    tempi_i_count_pass(1);
    return {pmpi};""",
    ),
    "isend": Rule(
        "an accelerated type (or any type on device memory the MPI cannot read)",
        """    if (tempi_i_takes(buf, datatype)) {{
        TEMPI_I_TRY(tempi_i_isend(buf, count, datatype, dest, tag, comm, {mode}, {persistent},
                                  request), comm);"""
        + _DECLINED_LATER
        + """
    }}
    tempi_i_count_pass(1);
    return {pmpi};""",
    ),
    "recv": Rule(
        "an accelerated type (or any type on device memory the MPI cannot read)",
        """    if (tempi_i_takes(buf, datatype)) {{
        TEMPI_I_TRY(tempi_i_recv(buf, count, datatype, source, tag, comm, status), comm);"""
        + _DECLINED.replace("MESSAGES", "1")
        + """
    }}
    tempi_i_count_pass(1);
    return {pmpi};""",
    ),
    "irecv": Rule(
        "an accelerated type (or any type on device memory the MPI cannot read)",
        """    if (tempi_i_takes(buf, datatype)) {{
        TEMPI_I_TRY(tempi_i_irecv(buf, count, datatype, source, tag, comm, {persistent},
                                  request), comm);"""
        + _DECLINED_LATER
        + """
    }}
    tempi_i_count_pass(1);
    return {pmpi};""",
    ),
    "sendrecv": Rule(
        "either side as MPI_Isend/MPI_Irecv would (each side takes its own path)",
        """    if (!tempi_i_takes(sendbuf, sendtype) && !tempi_i_takes(recvbuf, recvtype)) {{
        tempi_i_count_pass(2);
        return {pmpi};
    }}
    MPI_Request requests[2];
    tempi_i_defer_errors(1);
    int err = MPI_Irecv{S}(recvbuf, recvcount, recvtype, source, recvtag, comm, &requests[0]);
    if (err == MPI_SUCCESS) {{
        err = MPI_Isend{S}(sendbuf, sendcount, sendtype, dest, sendtag, comm, &requests[1]);
        if (err != MPI_SUCCESS)
            tempi_i_abandon(&requests[0]);
    }}
    if (err == MPI_SUCCESS) {{
        err = MPI_Wait(&requests[1], MPI_STATUS_IGNORE);
        int recv_err = MPI_Wait(&requests[0], status);
        err = err != MPI_SUCCESS ? err : recv_err;
    }}
    tempi_i_defer_errors(0);
    return tempi_i_raise(comm, err);""",
    ),
    "sendrecv_replace": Rule(
        "as MPI_Isend would (tempi packs the send before the receive is posted)",
        """    if (tempi_i_takes(buf, datatype)) {{
        TEMPI_I_TRY(tempi_i_sendrecv_replace(buf, count, datatype, dest, sendtag, source, recvtag,
                                             comm, status, {ints}), comm);"""
        + _DECLINED.replace("MESSAGES", "2")
        + """
    }}
    tempi_i_count_pass(2);
    return {pmpi};""",
    ),
    "pack": Rule(
        "an accelerated type (unless TEMPI_NO_PACK)",
        """    if (tempi_i_takes_pack(inbuf, datatype)) {{
        int64_t pos = *position;
        int rc = tempi_i_pack(inbuf, incount, datatype, outbuf, outsize, &pos, comm);
        if (rc == TEMPI_I_OK)
            *position = ({COUNT})pos;
        TEMPI_I_TRY(rc, comm);
    }}
    tempi_i_count_pass(1);
    return {pmpi};""",
    ),
    "unpack": Rule(
        "an accelerated type (unless TEMPI_NO_PACK)",
        """    if (tempi_i_takes_pack(outbuf, datatype)) {{
        int64_t pos = *position;
        int rc = tempi_i_unpack(inbuf, insize, &pos, outbuf, outcount, datatype, comm);
        if (rc == TEMPI_I_OK)
            *position = ({COUNT})pos;
        TEMPI_I_TRY(rc, comm);
    }}
    tempi_i_count_pass(1);
    return {pmpi};""",
    ),
    "bcast": Rule(
        "an accelerated type or a device buffer the MPI cannot read: packed, then the system "
        "MPI's own collective on bytes",
        """    TEMPI_I_TRY(tempi_i_bcast(buffer, count, datatype, root, comm), comm);"""
        + _DECLINED_COLLECTIVE
        + """
    tempi_i_count_pass(1);
    return {pmpi};""",
    ),
    "blocks": Rule(
        "as MPI_Bcast, part by part (the root's many parts, every rank's one part)",
        """    TEMPI_I_TRY(tempi_i_blocks({kind}, sendbuf, sendcount, sendtype, recvbuf, recvcount,
                               recvtype, {root}, comm), comm);"""
        + _DECLINED_COLLECTIVE
        + """
    tempi_i_count_pass(tempi_i_collective_passed());
    return {pmpi};""",
    ),
    "vector": Rule(
        "as MPI_Bcast, part by part (the root's many parts, every rank's one part)",
        """    TEMPI_I_TRY(tempi_i_vector({kind}, {one}, TEMPI_I_PARTS({many}, {ints}, {ints}, 0, 1),
                               {root}, comm), comm);"""
        + _DECLINED_COLLECTIVE
        + """
    tempi_i_count_pass(tempi_i_collective_passed());
    return {pmpi};""",
    ),
    "alltoall": Rule(
        "any part tempi takes: every part a message of tempi's engine",
        """    TEMPI_I_TRY(tempi_i_alltoall({neighbor}, TEMPI_I_PARTS({send}, {ints}, {idispls}, {bytes}, {one}),
                                 TEMPI_I_PARTS({recv}, {ints}, {idispls}, {bytes}, {one}), comm), comm);"""
        + _DECLINED_COLLECTIVE
        + """
    tempi_i_count_pass(tempi_i_collective_passed());
    return {pmpi};""",
    ),
    "stage": Rule(
        "nothing: device buffers (any type) the MPI cannot read are staged through pooled "
        "pinned host memory around the system MPI's call (host buffers too with TEMPI_HOST=1)",
        """    if ({stages}) {{
        tempi_i_stage_t stage_ = {{0}};
{stage_in}
        int err_ = stage_.failed ? {fail} : P{name}({staged_args});
        return tempi_i_stage_out(&stage_, err_);
    }}
    return {pmpi};""",
    ),
    "istage": Rule(
        "nothing: as the blocking form, the host copies kept until the completion call, which "
        "copies back (a persistent one's copied in again at each MPI_Start)",
        """    if ({stages}) {{
        tempi_i_stage_t stage_ = {{0}};
        stage_.owned = 1;
{stage_in}
        int err_ = stage_.failed ? {fail} : P{name}({staged_args});
        return tempi_i_stage_hold(&stage_, err_, request, {persistent});
    }}
    return {pmpi};""",
    ),
    "epoch": Rule(
        "nothing: device origin and result buffers the MPI cannot read are staged; the host "
        "copies live until the call that completes the operation (MPI_Win_fence, "
        "MPI_Win_unlock(_all), MPI_Win_flush(_local)(_all), MPI_Win_complete), which copies a "
        "result back (a per-window list, native/stage_rma.c)",
        """    if ({stages}) {{
        tempi_i_stage_t stage_ = {{0}};
        stage_.owned = 1;
{stage_in}
        int err_ = stage_.failed ? {fail} : P{name}({staged_args});
        return tempi_i_stage_epoch(&stage_, err_, win, target_rank);
    }}
    return {pmpi};""",
    ),
    "split": Rule(
        "nothing: a device buffer the MPI cannot read is staged; the host copy is kept with "
        "the file handle (one split collective at a time per handle) until the matching "
        "_end, which the MPI completes on it (native/stage_rma.c)",
        """    if ({stages}) {{
        tempi_i_stage_t stage_ = {{0}};
        stage_.owned = 1;
{stage_in}
        void *node_ = tempi_i_split_node(&stage_); /* NULL: no memory, the copy released */
        if (node_ == NULL)
            return {fail};
        return tempi_i_stage_split(node_, &stage_, P{name}({staged_args}), fh, buf_h);
    }}
    return {pmpi};""",
    ),
    "split_end": Rule(
        "nothing: the system MPI's _end on the host copy its _begin staged, which is then "
        "copied back (a read) and released",
        """    tempi_i_stage_t stage_;
    void *held_ = NULL;
    if (tempi_i_split_take(fh, &stage_, &held_)) {{
        int err_ = P{name}(fh, held_, status);
        tempi_i_stage_out(&stage_, err_);
        tempi_i_stage_release(&stage_);
        return err_;
    }}
    return {pmpi};""",
    ),
    "sync": Rule(
        "nothing: the system MPI's call, then the window's staged operations it completed "
        "copied back and released",
        """    int err_ = {pmpi};
    tempi_i_epoch_done({win}, {rank}, err_);
    return err_;""",
    ),
    "window": Rule(
        "refuses device memory the MPI cannot read (a window cannot be staged): an error of "
        "class MPI_ERR_BUFFER that says so, through the error handler, on every rank of a "
        "collective call",
        """    int err_ = tempi_i_window_refused(base, {comm});
    if (err_ != MPI_SUCCESS) {{
{refused}
    }}
    return {pmpi};""",
    ),
    "attach": Rule(
        "refuses device memory the MPI cannot read (the MPI copies every buffered send "
        "into it): an error of class MPI_ERR_BUFFER that says so, through MPI_COMM_SELF's "
        "error handler",
        """    if (tempi_i_refuses_attach(buffer)) {{
        int code_ = tempi_i_refused_code(TEMPI_I_REFUSED_BSEND);
        return {raise};
    }}
    return {pmpi};""",
    ),
    "own": Rule(
        "see native/ (tempi_i_<name>)",
        """    return tempi_i_{helper}({args});""",
    ),
    "plain": Rule("nothing: the system MPI's answer", """    return {pmpi};"""),
}


@dataclass(frozen=True)
class Entry:
    name: str
    params: str
    family: str
    rule: str
    large: bool = True  # an MPI-4 _c form exists
    values: dict = field(default_factory=dict)
    takes: str = ""  # for docs/shim.md, where the rule's own words do not say it
    guarded: bool = False  # emitted only where the MPI's mpi.h declares it (each form)

    def form(self, suffix: str) -> tuple[str, str]:
        """(name, C parameter list) of the int form (suffix "") or the _c form
        (EXTSIZE: MPI_Aint there, MPI_Count here, as MPI_Pack_external's sizes)."""
        count, displ = ("int", "int") if suffix == "" else ("MPI_Count", "MPI_Aint")
        extsize = "MPI_Aint" if suffix == "" else "MPI_Count"
        params = self.params.replace("COUNT", count).replace("DISPL", displ)
        params = params.replace("EXTSIZE", extsize)
        return self.name + suffix, params


_SENT = (("buf", "count", "datatype", 0),)
_RECEIVED = (("buf", "count", "datatype", 1),)


def _send(name: str, mode: str) -> Entry:
    params = "const void *buf, COUNT count, MPI_Datatype datatype, int dest, int tag, MPI_Comm comm"
    values = {"mode": f"TEMPI_I_{mode}", "buffers": _SENT}
    return Entry(name, params, "point to point", "send", values=values)


def _isend(name: str, mode: str, persistent: int) -> Entry:
    params = (
        "const void *buf, COUNT count, MPI_Datatype datatype, int dest, int tag,"
        " MPI_Comm comm, MPI_Request *request"
    )
    family = "persistent point to point" if persistent else "point to point"
    values = {"mode": f"TEMPI_I_{mode}", "persistent": persistent, "buffers": _SENT}
    return Entry(name, params, family, "isend", values=values)


_RECV = "void *buf, COUNT count, MPI_Datatype datatype, int source, int tag, MPI_Comm comm"
_BLOCKS = (
    "const void *sendbuf, COUNT sendcount, MPI_Datatype sendtype, void *recvbuf,"
    " COUNT recvcount, MPI_Datatype recvtype"
)


def _blocks(name: str, kind: str, rooted: bool) -> Entry:
    params = _BLOCKS + (", int root, MPI_Comm comm" if rooted else ", MPI_Comm comm")
    at_root = f"tempi_i_is_root(root, comm) ? (MPI_Count){{c}} * {_SIZE} : 0"
    send, recv = ("sendbuf", "sendcount", "sendtype", 0), ("recvbuf", "recvcount", "recvtype", 1)
    if kind == "GATHER":
        recv = ("recvbuf", at_root.format(c="recvcount"), "recvtype", 1)
    elif kind == "SCATTER":
        send = ("sendbuf", at_root.format(c="sendcount"), "sendtype", 0)
    else:
        recv = ("recvbuf", f"(MPI_Count)recvcount * {_SIZE}", "recvtype", 1)
    return Entry(
        name,
        params,
        "collectives",
        "blocks",
        values={
            "kind": f"TEMPI_I_{kind}",
            "root": "root" if rooted else "0",
            "buffers": (send, recv),  # staged if tempi declines device memory
        },
    )


def _alltoall(name: str, neighbor: int, w: bool) -> Entry:
    # Alltoallw's displacements are int bytes; Neighbor_alltoallw's MPI_Aint bytes; the v
    # forms' elements (MPI_Aint in the _c forms).
    displ = "const MPI_Aint" if (w and neighbor) else "const DISPL"
    sendtype = "const MPI_Datatype sendtypes[]" if w else "MPI_Datatype sendtype"
    recvtype = "const MPI_Datatype recvtypes[]" if w else "MPI_Datatype recvtype"
    params = (
        f"const void *sendbuf, const COUNT sendcounts[], {displ} sdispls[], {sendtype},"
        f" void *recvbuf, const COUNT recvcounts[], {displ} rdispls[], {recvtype},"
        " MPI_Comm comm"
    )
    send = "sendbuf, sendcounts, sdispls, " + ("sendtypes" if w else "&sendtype")
    recv = "recvbuf, recvcounts, rdispls, " + ("recvtypes" if w else "&recvtype")
    outs, ins = (
        ("tempi_i_neighbors(comm, 1)", "tempi_i_neighbors(comm, 0)") if neighbor else (_ALL, _ALL)
    )
    idispls = "0" if (w and neighbor) else "{ints}"
    sendtypes, recvtypes = ("sendtypes", "recvtypes") if w else ("&sendtype", "&recvtype")
    buffers = (  # staged if tempi declines device memory
        ("sendbuf", _parts(outs, "sendcounts", "sdispls", sendtypes, idispls), None, 0),
        ("recvbuf", _parts(ins, "recvcounts", "rdispls", recvtypes, idispls), None, 1),
    )
    values = {
        "neighbor": neighbor,
        "send": send,
        "recv": recv,
        "bytes": int(w),
        "one": int(not w),
        "idispls": idispls,
        "buffers": buffers,
    }
    return Entry(name, params, "collectives", "alltoall", values=values)


def _stage(
    name: str,
    params: str,
    family: str,
    buffers: tuple,
    comm: str = "comm",
    fail: str = "",
    request: bool | None = None,
) -> Entry:
    """An entry point whose buffers are staged: (parameter, element count, datatype
    parameter, written by the call) for each (C expressions; {ints} as in RULES). A
    non-blocking form (MPI_I..., or `request`) or persistent one (..._init) keeps its
    copies until its completion call. `fail`: what the entry point returns when there is
    no host memory (an error raised on `comm`, unless given)."""
    persistent = name.endswith("_init")
    fail = fail or f"tempi_i_raise({comm}, MPI_ERR_NO_MEM)"
    if request is None:
        request = name.startswith("MPI_I")
    if not (persistent or request):
        return Entry(name, params, family, "stage", values={"buffers": buffers, "fail": fail})
    values = {"buffers": buffers, "fail": fail, "persistent": int(persistent)}
    tail = ", MPI_Info info, MPI_Request *request" if persistent else ", MPI_Request *request"
    return Entry(name, params + tail, family, "istage", values=values)


_REDUCE = "const void *sendbuf, void *recvbuf, COUNT count, MPI_Datatype datatype, MPI_Op op"
_BOTH = (("sendbuf", "count", "datatype", 0), ("recvbuf", "count", "datatype", 1))
_ROOTED_REDUCE = (
    ("sendbuf", "count", "datatype", 0),
    ("recvbuf", "tempi_i_is_root(root, comm) ? count : 0", "datatype", 1),
)
_SIZE = "tempi_i_comm_size(comm)"
_SUM = "tempi_i_count_sum(recvcounts, {ints}, comm)"


_OWN_TAKES = {
    "start-up": "Init: reads the switches, learns the nodes and the MPI's error conventions;"
    " Finalize: completes tempi's leftovers, prints TEMPI_STATS",
    "datatypes": "records whether tempi accelerates the type (a dup as its original)",
    "completion": "tempi's requests (the plain ones go to the system MPI's same call, with"
    " tempi's hidden)",
    "topologies": "reorder = 1: tempi's placement of the ranks over the nodes",
    "partitioned communication": "device memory the MPI cannot read: the request made on a"
    " host copy, each send partition copied to it at MPI_Pready(_range, _list), each received"
    " one copied back when MPI_Parrived reports it (the rest at the completion call)",
}


_STAGED_COMPLETION = {
    "MPI_Start", "MPI_Startall", "MPI_Wait", "MPI_Test", "MPI_Waitall", "MPI_Testall",
    "MPI_Waitany", "MPI_Testany", "MPI_Waitsome", "MPI_Testsome", "MPI_Request_free",
}  # fmt: skip
"""Completion calls that also finish staged non-blocking calls (native/stage.c), around
requests.c's own."""


def _parts(n: str, counts: str, displs: str, types: str, idispls: str = "{ints}") -> str:
    """The arguments of tempi_i_stage_parts for n parts (a w form: per-part types)."""
    w = types.endswith("types")
    return f"{n}, {counts}, {{ints}}, {displs}, {idispls}, {int(w)}, {types}, {int(not w)}"


_ALL = f"(int){_SIZE}"
_AT_ROOT = f"tempi_i_is_root(root, comm) ? (int){_SIZE} : 0"
_V_PARAMS = (
    "const void *sendbuf, const COUNT sendcounts[], const DISPL sdispls[], {s},"
    " void *recvbuf, const COUNT recvcounts[], const DISPL rdispls[], {r}, MPI_Comm comm"
)
_V_FAMILY = "non-blocking and persistent collectives"


def _vector_forms() -> list[Entry]:
    """The non-blocking and persistent v and w collectives, and Igather/Iscatter: staged."""
    entries = []
    for base in ("Ialltoallv", "Alltoallv_init"):
        params = _V_PARAMS.format(s="MPI_Datatype sendtype", r="MPI_Datatype recvtype")
        buffers = (
            ("sendbuf", _parts(_ALL, "sendcounts", "sdispls", "&sendtype"), None, 0),
            ("recvbuf", _parts(_ALL, "recvcounts", "rdispls", "&recvtype"), None, 1),
        )
        entries.append(_stage(f"MPI_{base}", params, _V_FAMILY, buffers))
    for base in ("Ialltoallw", "Alltoallw_init"):
        params = _V_PARAMS.format(
            s="const MPI_Datatype sendtypes[]", r="const MPI_Datatype recvtypes[]"
        )
        buffers = (
            ("sendbuf", _parts(_ALL, "sendcounts", "sdispls", "sendtypes"), None, 0),
            ("recvbuf", _parts(_ALL, "recvcounts", "rdispls", "recvtypes"), None, 1),
        )
        entries.append(_stage(f"MPI_{base}", params, _V_FAMILY, buffers))
    one_send = ("sendbuf", "sendcount", "sendtype", 0)
    one_recv = ("recvbuf", "recvcount", "recvtype", 1)
    many = (
        "const void *sendbuf, COUNT sendcount, MPI_Datatype sendtype, void *recvbuf,"
        " const COUNT recvcounts[], const DISPL displs[], MPI_Datatype recvtype"
    )
    for base, n in (("Igatherv", _AT_ROOT), ("Gatherv_init", _AT_ROOT)):
        recv = ("recvbuf", _parts(n, "recvcounts", "displs", "&recvtype"), None, 1)
        params = many + ", int root, MPI_Comm comm"
        entries.append(_stage(f"MPI_{base}", params, _V_FAMILY, (one_send, recv)))
    for base in ("Iallgatherv", "Allgatherv_init"):
        recv = ("recvbuf", _parts(_ALL, "recvcounts", "displs", "&recvtype"), None, 1)
        entries.append(_stage(f"MPI_{base}", many + ", MPI_Comm comm", _V_FAMILY, (one_send, recv)))
    for base in ("Iscatterv", "Scatterv_init"):
        params = (
            "const void *sendbuf, const COUNT sendcounts[], const DISPL displs[],"
            " MPI_Datatype sendtype, void *recvbuf, COUNT recvcount, MPI_Datatype recvtype,"
            " int root, MPI_Comm comm"
        )
        send = ("sendbuf", _parts(_AT_ROOT, "sendcounts", "displs", "&sendtype"), None, 0)
        entries.append(_stage(f"MPI_{base}", params, _V_FAMILY, (send, one_recv)))
    rooted = f"tempi_i_is_root(root, comm) ? (MPI_Count){{c}} * {_SIZE} : 0"
    for base in ("Igather", "Gather_init"):
        recv = ("recvbuf", rooted.format(c="recvcount"), "recvtype", 1)
        params = _BLOCKS + ", int root, MPI_Comm comm"
        entries.append(_stage(f"MPI_{base}", params, _V_FAMILY, (one_send, recv)))
    for base in ("Iscatter", "Scatter_init"):
        send = ("sendbuf", rooted.format(c="sendcount"), "sendtype", 0)
        params = _BLOCKS + ", int root, MPI_Comm comm"
        entries.append(_stage(f"MPI_{base}", params, _V_FAMILY, (send, one_recv)))
    outs, ins = "tempi_i_neighbors(comm, 1)", "tempi_i_neighbors(comm, 0)"
    neighbors = "neighbourhood collectives"
    for base in ("Neighbor_allgather", "Ineighbor_allgather", "Neighbor_allgather_init"):
        recv = ("recvbuf", f"(MPI_Count)recvcount * {ins}", "recvtype", 1)
        entries.append(
            _stage(f"MPI_{base}", _BLOCKS + ", MPI_Comm comm", neighbors, (one_send, recv))
        )
    for base in ("Neighbor_alltoall", "Ineighbor_alltoall", "Neighbor_alltoall_init"):
        send = ("sendbuf", f"(MPI_Count)sendcount * {outs}", "sendtype", 0)
        recv = ("recvbuf", f"(MPI_Count)recvcount * {ins}", "recvtype", 1)
        entries.append(_stage(f"MPI_{base}", _BLOCKS + ", MPI_Comm comm", neighbors, (send, recv)))
    for base in ("Neighbor_allgatherv", "Ineighbor_allgatherv", "Neighbor_allgatherv_init"):
        recv = ("recvbuf", _parts(ins, "recvcounts", "displs", "&recvtype"), None, 1)
        entries.append(_stage(f"MPI_{base}", many + ", MPI_Comm comm", neighbors, (one_send, recv)))
    for base in ("Ineighbor_alltoallv", "Neighbor_alltoallv_init"):
        params = _V_PARAMS.format(s="MPI_Datatype sendtype", r="MPI_Datatype recvtype")
        buffers = (
            ("sendbuf", _parts(outs, "sendcounts", "sdispls", "&sendtype"), None, 0),
            ("recvbuf", _parts(ins, "recvcounts", "rdispls", "&recvtype"), None, 1),
        )
        entries.append(_stage(f"MPI_{base}", params, neighbors, buffers))
    for base in ("Ineighbor_alltoallw", "Neighbor_alltoallw_init"):
        params = _V_PARAMS.format(
            s="const MPI_Datatype sendtypes[]", r="const MPI_Datatype recvtypes[]"
        ).replace("const DISPL", "const MPI_Aint")
        buffers = (
            ("sendbuf", _parts(outs, "sendcounts", "sdispls", "sendtypes", "0"), None, 0),
            ("recvbuf", _parts(ins, "recvcounts", "rdispls", "recvtypes", "0"), None, 1),
        )
        entries.append(_stage(f"MPI_{base}", params, neighbors, buffers))
    for base in ("Ireduce_scatter", "Reduce_scatter_init", "Reduce_scatter_block_init"):
        block = base.startswith("Reduce_scatter_block")
        counts = "COUNT recvcount" if block else "const COUNT recvcounts[]"
        params = (
            f"const void *sendbuf, void *recvbuf, {counts}, MPI_Datatype datatype,"
            " MPI_Op op, MPI_Comm comm"
        )
        total = f"(MPI_Count)recvcount * {_SIZE}" if block else _SUM
        mine = (
            "recvcount"
            if block
            else "tempi_i_count_at(recvcounts, {ints}, tempi_i_comm_rank(comm))"
        )
        buffers = (
            ("sendbuf", total, "datatype", 0),
            ("recvbuf", f"sendbuf == MPI_IN_PLACE ? {total} : {mine}", "datatype", 1),
        )
        entries.append(_stage(f"MPI_{base}", params, _V_FAMILY, buffers))
    return entries


_WIN_FAIL = "tempi_i_raise_win(win, MPI_ERR_NO_MEM)"
_FILE_FAIL = "tempi_i_raise_file(fh, MPI_ERR_NO_MEM)"
_ORIGIN = "const void *origin_addr, COUNT origin_count, MPI_Datatype origin_datatype"
_TARGET = "int target_rank, MPI_Aint target_disp, COUNT target_count, MPI_Datatype target_datatype"
_RESULT = "void *result_addr, COUNT result_count, MPI_Datatype result_datatype"


def _rma_forms() -> list[Entry]:
    """One-sided communication: the origin and result buffers staged. A blocking call's
    copies live until the synchronising call that completes it (rule "epoch"); a request
    form's until its completion call (rule "istage")."""
    family = "one-sided communication"
    origin = ("origin_addr", "origin_count", "origin_datatype", 0)
    got = ("origin_addr", "origin_count", "origin_datatype", 1)
    unless_no_op = ("origin_addr", "op == MPI_NO_OP ? 0 : origin_count", "origin_datatype", 0)
    result = ("result_addr", "result_count", "result_datatype", 1)
    forms = (
        ("Put", f"{_ORIGIN}, {_TARGET}, MPI_Win win", (origin,), True),
        ("Get", f"{_ORIGIN.replace('const ', '')}, {_TARGET}, MPI_Win win", (got,), True),
        ("Accumulate", f"{_ORIGIN}, {_TARGET}, MPI_Op op, MPI_Win win", (origin,), True),
        (
            "Get_accumulate",
            f"{_ORIGIN}, {_RESULT}, {_TARGET}, MPI_Op op, MPI_Win win",
            (unless_no_op, result),
            True,
        ),
        (
            "Fetch_and_op",
            "const void *origin_addr, void *result_addr, MPI_Datatype datatype,"
            " int target_rank, MPI_Aint target_disp, MPI_Op op, MPI_Win win",
            (
                ("origin_addr", "op == MPI_NO_OP ? 0 : 1", "datatype", 0),
                ("result_addr", "1", "datatype", 1),
            ),
            False,
        ),
        (
            "Compare_and_swap",
            "const void *origin_addr, const void *compare_addr, void *result_addr,"
            " MPI_Datatype datatype, int target_rank, MPI_Aint target_disp, MPI_Win win",
            (
                ("origin_addr", "1", "datatype", 0),
                ("compare_addr", "1", "datatype", 0),
                ("result_addr", "1", "datatype", 1),
            ),
            False,
        ),
    )
    entries = []
    for base, params, buffers, large in forms:
        values = {"buffers": buffers, "fail": _WIN_FAIL}
        entries.append(Entry(f"MPI_{base}", params, family, "epoch", large=large, values=values))
        if large:  # the request forms: Rput, Rget, Raccumulate, Rget_accumulate
            entries.append(
                _stage(
                    f"MPI_R{base.lower()}", params, family, buffers, fail=_WIN_FAIL, request=True
                )
            )
    completing = (
        ("Win_fence", "int mpi_assert, MPI_Win win", "-1"),
        ("Win_unlock", "int rank, MPI_Win win", "rank"),
        ("Win_unlock_all", "MPI_Win win", "-1"),
        ("Win_flush", "int rank, MPI_Win win", "rank"),
        ("Win_flush_all", "MPI_Win win", "-1"),
        ("Win_flush_local", "int rank, MPI_Win win", "rank"),
        ("Win_flush_local_all", "MPI_Win win", "-1"),
        ("Win_complete", "MPI_Win win", "-1"),
    )
    for base, params, rank in completing:
        values = {"win": "win", "rank": rank}
        entries.append(Entry(f"MPI_{base}", params, family, "sync", large=False, values=values))
    entries.append(
        Entry(
            "MPI_Win_free",
            "MPI_Win *win",
            family,
            "own",
            large=False,
            values={"helper": "win_free"},
            takes="nothing: the system MPI's call; a window's leftover staged copies released",
        )
    )
    entries.append(
        Entry(
            "MPI_Win_create",
            "void *base, MPI_Aint size, DISPL disp_unit, MPI_Info info, MPI_Comm comm,"
            " MPI_Win *win",
            family,
            "window",
            values={
                "comm": "comm",
                "refused": "        *win = MPI_WIN_NULL;\n        return tempi_i_raise(comm, err_);",
            },
        )
    )
    entries.append(
        Entry(
            "MPI_Win_attach",
            "MPI_Win win, void *base, MPI_Aint size",
            family,
            "window",
            large=False,
            values={
                "comm": "MPI_COMM_NULL",
                "refused": "        return tempi_i_raise_win(win, err_);",
            },
        )
    )
    return entries


def _file_forms() -> list[Entry]:
    """File I/O: the buffer staged; a non-blocking form's copy lives until its completion
    call, which copies back what a read wrote; a split collective's _begin copy until its
    _end (rules "split", "split_end")."""
    family = "file I/O"
    entries = []
    for how, at, blocking, nonblocking in (
        ("", "", True, True),
        ("_all", "", True, True),
        ("_at", "MPI_Offset offset, ", True, True),
        ("_at_all", "MPI_Offset offset, ", True, True),
        ("_shared", "", True, True),
        ("_ordered", "", True, False),
    ):
        for read in (True, False):
            verb = "read" if read else "write"
            buf = "void *buf" if read else "const void *buf"
            params = f"MPI_File fh, {at}{buf}, COUNT count, MPI_Datatype datatype"
            buffers = (("buf", "count", "datatype", int(read)),)
            if blocking:
                entries.append(
                    _stage(
                        f"MPI_File_{verb}{how}",
                        params + ", MPI_Status *status",
                        family,
                        buffers,
                        fail=_FILE_FAIL,
                    )
                )
            if nonblocking:
                entries.append(
                    _stage(
                        f"MPI_File_i{verb}{how}",
                        params,
                        family,
                        buffers,
                        fail=_FILE_FAIL,
                        request=True,
                    )
                )
    for how, at in (("_all", ""), ("_at_all", "MPI_Offset offset, "), ("_ordered", "")):
        for read in (True, False):
            verb = "read" if read else "write"
            buf = "void *buf" if read else "const void *buf"
            values = {"buffers": (("buf", "count", "datatype", int(read)),), "fail": _FILE_FAIL}
            entries.append(
                Entry(
                    f"MPI_File_{verb}{how}_begin",
                    f"MPI_File fh, {at}{buf}, COUNT count, MPI_Datatype datatype",
                    family,
                    "split",
                    values=values,
                )
            )
            entries.append(
                Entry(
                    f"MPI_File_{verb}{how}_end",
                    f"MPI_File fh, {buf}, MPI_Status *status",
                    family,
                    "split_end",
                    large=False,
                )
            )
    return entries


def _progress_forms() -> list[Entry]:
    """Calls tempi takes nothing from but that can wait on a peer (``generate.PROGRESS_NEEDS``):
    entry points only so that tempi's progress step runs first, which posts every device send
    whose pack has finished before the call can block; then the system MPI's call."""
    family = "progress step"
    takes = (
        "nothing: tempi's progress step first (device sends tempi holds reach MPI before the "
        "call can wait on a peer), then the system MPI's call"
    )
    comm_out = "MPI_Comm *newcomm"
    forms = (
        ("Barrier", "MPI_Comm comm", False),
        ("Probe", "int source, int tag, MPI_Comm comm, MPI_Status *status", False),
        ("Iprobe", "int source, int tag, MPI_Comm comm, int *flag, MPI_Status *status", False),
        (
            "Mprobe",
            "int source, int tag, MPI_Comm comm, MPI_Message *message, MPI_Status *status",
            False,
        ),
        (
            "Improbe",
            "int source, int tag, MPI_Comm comm, int *flag, MPI_Message *message,"
            " MPI_Status *status",
            False,
        ),
        ("Comm_dup", f"MPI_Comm comm, {comm_out}", False),
        ("Comm_dup_with_info", f"MPI_Comm comm, MPI_Info info, {comm_out}", False),
        ("Comm_split", f"MPI_Comm comm, int color, int key, {comm_out}", False),
        ("Comm_create", f"MPI_Comm comm, MPI_Group group, {comm_out}", False),
        ("Comm_create_group", f"MPI_Comm comm, MPI_Group group, int tag, {comm_out}", False),
        (
            "Comm_split_type",
            f"MPI_Comm comm, int split_type, int key, MPI_Info info, {comm_out}",
            False,
        ),
        (
            "Comm_create_from_group",
            "MPI_Group group, const char *stringtag, MPI_Info info, MPI_Errhandler errhandler,"
            f" {comm_out}",
            False,
        ),
        (
            "Intercomm_create",
            "MPI_Comm local_comm, int local_leader, MPI_Comm peer_comm, int remote_leader,"
            " int tag, MPI_Comm *newintercomm",
            False,
        ),
        (
            "Intercomm_create_from_groups",
            "MPI_Group local_group, int local_leader, MPI_Group remote_group, int remote_leader,"
            " const char *stringtag, MPI_Info info, MPI_Errhandler errhandler,"
            " MPI_Comm *newintercomm",
            False,
        ),
        ("Intercomm_merge", "MPI_Comm intercomm, int high, MPI_Comm *newintracomm", False),
        ("Cart_sub", f"MPI_Comm comm, const int remain_dims[], {comm_out}", False),
        (
            "Graph_create",
            "MPI_Comm comm_old, int nnodes, const int index[], const int edges[], int reorder,"
            " MPI_Comm *comm_graph",
            False,
        ),
        ("Comm_disconnect", "MPI_Comm *comm", False),
        (
            "Comm_accept",
            f"const char *port_name, MPI_Info info, int root, MPI_Comm comm, {comm_out}",
            False,
        ),
        (
            "Comm_connect",
            f"const char *port_name, MPI_Info info, int root, MPI_Comm comm, {comm_out}",
            False,
        ),
        (
            "Comm_spawn",
            "const char *command, char *argv[], int maxprocs, MPI_Info info, int root,"
            " MPI_Comm comm, MPI_Comm *intercomm, int array_of_errcodes[]",
            False,
        ),
        (
            "Comm_spawn_multiple",
            "int count, char *array_of_commands[], char **array_of_argv[],"
            " const int array_of_maxprocs[], const MPI_Info array_of_info[], int root,"
            " MPI_Comm comm, MPI_Comm *intercomm, int array_of_errcodes[]",
            False,
        ),
        ("Comm_join", "int fd, MPI_Comm *intercomm", False),
        (
            "Win_allocate",
            "MPI_Aint size, DISPL disp_unit, MPI_Info info, MPI_Comm comm, void *baseptr,"
            " MPI_Win *win",
            True,
        ),
        (
            "Win_allocate_shared",
            "MPI_Aint size, DISPL disp_unit, MPI_Info info, MPI_Comm comm, void *baseptr,"
            " MPI_Win *win",
            True,
        ),
        ("Win_create_dynamic", "MPI_Info info, MPI_Comm comm, MPI_Win *win", False),
        ("Win_lock", "int lock_type, int rank, int mpi_assert, MPI_Win win", False),
        ("Win_lock_all", "int mpi_assert, MPI_Win win", False),
        ("Win_start", "MPI_Group group, int mpi_assert, MPI_Win win", False),
        ("Win_wait", "MPI_Win win", False),
        (
            "File_open",
            "MPI_Comm comm, const char *filename, int amode, MPI_Info info, MPI_File *fh",
            False,
        ),
        ("File_close", "MPI_File *fh", False),
        (
            "File_set_view",
            "MPI_File fh, MPI_Offset disp, MPI_Datatype etype, MPI_Datatype filetype,"
            " const char *datarep, MPI_Info info",
            False,
        ),
        ("File_set_size", "MPI_File fh, MPI_Offset size", False),
        ("File_preallocate", "MPI_File fh, MPI_Offset size", False),
        ("File_sync", "MPI_File fh", False),
        ("File_set_atomicity", "MPI_File fh, int flag", False),
        ("File_seek_shared", "MPI_File fh, MPI_Offset offset, int whence", False),
        ("Buffer_detach", "void *buffer_addr, COUNT *size", True),
    )
    return [
        Entry(f"MPI_{base}", params, family, "plain", large=large, takes=takes)
        for base, params, large in forms
    ]


def _own(name: str, params: str, family: str, large: bool = False) -> Entry:
    helper = name.removeprefix("MPI_").lower()
    if name in _STAGED_COMPLETION:
        helper = "staged_" + helper
    values = {"helper": helper}
    return Entry(name, params, family, "own", large=large, values=values, takes=_OWN_TAKES[family])


_VECTOR_FORMS = _vector_forms()

ENTRIES: tuple[Entry, ...] = (
    # start-up and state (native/interposer.c)
    _own("MPI_Init", "int *argc, char ***argv", "start-up"),
    _own(
        "MPI_Init_thread",
        "int *argc, char ***argv, int required, int *provided",
        "start-up",
    ),
    _own("MPI_Finalize", "void", "start-up"),
    # the type table (native/types.c)
    _own("MPI_Type_commit", "MPI_Datatype *datatype", "datatypes"),
    _own("MPI_Type_free", "MPI_Datatype *datatype", "datatypes"),
    # point to point (native/p2p.c)
    _send("MPI_Send", "STANDARD"),
    _send("MPI_Ssend", "SYNCHRONOUS"),
    _send("MPI_Rsend", "STANDARD"),
    _send("MPI_Bsend", "BUFFERED"),
    _isend("MPI_Isend", "STANDARD", 0),
    _isend("MPI_Issend", "SYNCHRONOUS", 0),
    _isend("MPI_Irsend", "STANDARD", 0),
    _isend("MPI_Ibsend", "BUFFERED", 0),
    _isend("MPI_Send_init", "STANDARD", 1),
    _isend("MPI_Ssend_init", "SYNCHRONOUS", 1),
    _isend("MPI_Rsend_init", "STANDARD", 1),
    _isend("MPI_Bsend_init", "BUFFERED", 1),
    Entry(
        "MPI_Recv",
        _RECV + ", MPI_Status *status",
        "point to point",
        "recv",
        values={"buffers": _RECEIVED},
    ),
    Entry(
        "MPI_Irecv",
        _RECV + ", MPI_Request *request",
        "point to point",
        "irecv",
        values={"persistent": 0, "buffers": _RECEIVED},
    ),
    Entry(
        "MPI_Recv_init",
        _RECV + ", MPI_Request *request",
        "persistent point to point",
        "irecv",
        values={"persistent": 1, "buffers": _RECEIVED},
    ),
    Entry(
        "MPI_Sendrecv",
        "const void *sendbuf, COUNT sendcount, MPI_Datatype sendtype, int dest, int sendtag,"
        " void *recvbuf, COUNT recvcount, MPI_Datatype recvtype, int source, int recvtag,"
        " MPI_Comm comm, MPI_Status *status",
        "point to point",
        "sendrecv",
    ),
    Entry(
        "MPI_Sendrecv_replace",
        "void *buf, COUNT count, MPI_Datatype datatype, int dest, int sendtag, int source,"
        " int recvtag, MPI_Comm comm, MPI_Status *status",
        "point to point",
        "sendrecv_replace",
        values={"buffers": _RECEIVED},
    ),
    # requests and completion (native/requests.c)
    _own("MPI_Start", "MPI_Request *request", "completion"),
    _own("MPI_Startall", "int count, MPI_Request requests[]", "completion"),
    _own("MPI_Wait", "MPI_Request *request, MPI_Status *status", "completion"),
    _own("MPI_Test", "MPI_Request *request, int *flag, MPI_Status *status", "completion"),
    _own("MPI_Waitall", "int count, MPI_Request requests[], MPI_Status statuses[]", "completion"),
    _own(
        "MPI_Testall",
        "int count, MPI_Request requests[], int *flag, MPI_Status statuses[]",
        "completion",
    ),
    _own(
        "MPI_Waitany",
        "int count, MPI_Request requests[], int *index, MPI_Status *status",
        "completion",
    ),
    _own(
        "MPI_Testany",
        "int count, MPI_Request requests[], int *index, int *flag, MPI_Status *status",
        "completion",
    ),
    _own(
        "MPI_Waitsome",
        "int incount, MPI_Request requests[], int *outcount, int indices[], MPI_Status statuses[]",
        "completion",
    ),
    _own(
        "MPI_Testsome",
        "int incount, MPI_Request requests[], int *outcount, int indices[], MPI_Status statuses[]",
        "completion",
    ),
    _own(
        "MPI_Request_get_status",
        "MPI_Request request, int *flag, MPI_Status *status",
        "completion",
    ),
    _own("MPI_Cancel", "MPI_Request *request", "completion"),
    _own("MPI_Request_free", "MPI_Request *request", "completion"),
    # collectives (native/collectives.c)
    Entry(
        "MPI_Bcast",
        "void *buffer, COUNT count, MPI_Datatype datatype, int root, MPI_Comm comm",
        "collectives",
        "bcast",
        values={"buffers": (("buffer", "count", "datatype", 1),)},
    ),
    _blocks("MPI_Gather", "GATHER", True),
    _blocks("MPI_Scatter", "SCATTER", True),
    _blocks("MPI_Allgather", "ALLGATHER", False),
    Entry(
        "MPI_Gatherv",
        "const void *sendbuf, COUNT sendcount, MPI_Datatype sendtype, void *recvbuf,"
        " const COUNT recvcounts[], const DISPL displs[], MPI_Datatype recvtype, int root,"
        " MPI_Comm comm",
        "collectives",
        "vector",
        values={
            "kind": "TEMPI_I_GATHERV",
            "one": "sendbuf, sendcount, sendtype",
            "many": "recvbuf, recvcounts, displs, &recvtype",
            "root": "root",
            "buffers": (
                ("sendbuf", "sendcount", "sendtype", 0),
                ("recvbuf", _parts(_AT_ROOT, "recvcounts", "displs", "&recvtype"), None, 1),
            ),
        },
    ),
    Entry(
        "MPI_Scatterv",
        "const void *sendbuf, const COUNT sendcounts[], const DISPL displs[],"
        " MPI_Datatype sendtype, void *recvbuf, COUNT recvcount, MPI_Datatype recvtype,"
        " int root, MPI_Comm comm",
        "collectives",
        "vector",
        values={
            "kind": "TEMPI_I_SCATTERV",
            "one": "recvbuf, recvcount, recvtype",
            "many": "sendbuf, sendcounts, displs, &sendtype",
            "root": "root",
            "buffers": (
                ("sendbuf", _parts(_AT_ROOT, "sendcounts", "displs", "&sendtype"), None, 0),
                ("recvbuf", "recvcount", "recvtype", 1),
            ),
        },
    ),
    Entry(
        "MPI_Allgatherv",
        "const void *sendbuf, COUNT sendcount, MPI_Datatype sendtype, void *recvbuf,"
        " const COUNT recvcounts[], const DISPL displs[], MPI_Datatype recvtype,"
        " MPI_Comm comm",
        "collectives",
        "vector",
        values={
            "kind": "TEMPI_I_ALLGATHERV",
            "one": "sendbuf, sendcount, sendtype",
            "many": "recvbuf, recvcounts, displs, &recvtype",
            "root": "0",
            "buffers": (
                ("sendbuf", "sendcount", "sendtype", 0),
                ("recvbuf", _parts(_ALL, "recvcounts", "displs", "&recvtype"), None, 1),
            ),
        },
    ),
    _alltoall("MPI_Alltoallv", 0, False),
    _alltoall("MPI_Alltoallw", 0, True),
    _alltoall("MPI_Neighbor_alltoallv", 1, False),
    _alltoall("MPI_Neighbor_alltoallw", 1, True),
    # staged when the MPI cannot read device memory (native/stage.c)
    _stage(
        "MPI_Alltoall",
        _BLOCKS + ", MPI_Comm comm",
        "staged collectives",
        (
            ("sendbuf", f"(MPI_Count)sendcount * {_SIZE}", "sendtype", 0),
            ("recvbuf", f"(MPI_Count)recvcount * {_SIZE}", "recvtype", 1),
        ),
    ),
    _stage(
        "MPI_Reduce",
        _REDUCE + ", int root, MPI_Comm comm",
        "staged collectives",
        (
            ("sendbuf", "count", "datatype", 0),
            ("recvbuf", "tempi_i_is_root(root, comm) ? count : 0", "datatype", 1),
        ),
    ),
    _stage("MPI_Allreduce", _REDUCE + ", MPI_Comm comm", "staged collectives", _BOTH),
    _stage("MPI_Scan", _REDUCE + ", MPI_Comm comm", "staged collectives", _BOTH),
    _stage("MPI_Exscan", _REDUCE + ", MPI_Comm comm", "staged collectives", _BOTH),
    _stage(
        "MPI_Reduce_scatter_block",
        "const void *sendbuf, void *recvbuf, COUNT recvcount, MPI_Datatype datatype,"
        " MPI_Op op, MPI_Comm comm",
        "staged collectives",
        (
            ("sendbuf", f"(MPI_Count)recvcount * {_SIZE}", "datatype", 0),
            (
                "recvbuf",
                f"sendbuf == MPI_IN_PLACE ? (MPI_Count)recvcount * {_SIZE} : recvcount",
                "datatype",
                1,
            ),
        ),
    ),
    _stage(
        "MPI_Reduce_scatter",
        "const void *sendbuf, void *recvbuf, const COUNT recvcounts[], MPI_Datatype datatype,"
        " MPI_Op op, MPI_Comm comm",
        "staged collectives",
        (
            ("sendbuf", _SUM, "datatype", 0),
            (
                "recvbuf",
                f"sendbuf == MPI_IN_PLACE ? {_SUM}"
                " : tempi_i_count_at(recvcounts, {ints}, tempi_i_comm_rank(comm))",
                "datatype",
                1,
            ),
        ),
    ),
    *(
        _stage(f"MPI_{form}", _REDUCE + tail, "non-blocking and persistent collectives", both)
        for form, tail, both in (
            ("Iallreduce", ", MPI_Comm comm", _BOTH),
            ("Iscan", ", MPI_Comm comm", _BOTH),
            ("Iexscan", ", MPI_Comm comm", _BOTH),
            ("Allreduce_init", ", MPI_Comm comm", _BOTH),
            ("Scan_init", ", MPI_Comm comm", _BOTH),
            ("Exscan_init", ", MPI_Comm comm", _BOTH),
            ("Ireduce", ", int root, MPI_Comm comm", _ROOTED_REDUCE),
            ("Reduce_init", ", int root, MPI_Comm comm", _ROOTED_REDUCE),
        )
    ),
    *(
        _stage(
            f"MPI_{form}",
            "void *buffer, COUNT count, MPI_Datatype datatype, int root, MPI_Comm comm",
            "non-blocking and persistent collectives",
            (("buffer", "count", "datatype", 1),),
        )
        for form in ("Ibcast", "Bcast_init")
    ),
    *(
        _stage(
            f"MPI_{form}",
            _BLOCKS + ", MPI_Comm comm",
            "non-blocking and persistent collectives",
            (
                ("sendbuf", f"(MPI_Count)sendcount * {many}", "sendtype", 0),
                ("recvbuf", f"(MPI_Count)recvcount * {_SIZE}", "recvtype", 1),
            ),
        )
        for form, many in (
            ("Ialltoall", _SIZE),
            ("Alltoall_init", _SIZE),
            ("Iallgather", "1"),
            ("Allgather_init", "1"),
        )
    ),
    _stage(
        "MPI_Ireduce_scatter_block",
        "const void *sendbuf, void *recvbuf, COUNT recvcount, MPI_Datatype datatype,"
        " MPI_Op op, MPI_Comm comm",
        "non-blocking and persistent collectives",
        (
            ("sendbuf", f"(MPI_Count)recvcount * {_SIZE}", "datatype", 0),
            (
                "recvbuf",
                f"sendbuf == MPI_IN_PLACE ? (MPI_Count)recvcount * {_SIZE} : recvcount",
                "datatype",
                1,
            ),
        ),
    ),
    *_VECTOR_FORMS,
    _stage(
        "MPI_Imrecv",
        "void *buf, COUNT count, MPI_Datatype datatype, MPI_Message *message",
        "staged point to point",
        (("buf", "count", "datatype", 1),),
        comm="MPI_COMM_NULL",
    ),
    _stage(
        "MPI_Mrecv",
        "void *buf, COUNT count, MPI_Datatype datatype, MPI_Message *message, MPI_Status *status",
        "staged point to point",
        (("buf", "count", "datatype", 1),),
        comm="MPI_COMM_NULL",
    ),
    _stage(
        "MPI_Isendrecv",
        "const void *sendbuf, COUNT sendcount, MPI_Datatype sendtype, int dest, int sendtag,"
        " void *recvbuf, COUNT recvcount, MPI_Datatype recvtype, int source, int recvtag,"
        " MPI_Comm comm",
        "staged point to point",
        (("sendbuf", "sendcount", "sendtype", 0), ("recvbuf", "recvcount", "recvtype", 1)),
    ),
    _stage(
        "MPI_Isendrecv_replace",
        "void *buf, COUNT count, MPI_Datatype datatype, int dest, int sendtag, int source,"
        " int recvtag, MPI_Comm comm",
        "staged point to point",
        (("buf", "count", "datatype", 1),),
    ),
    # partitioned communication staged through a host copy (native/stage_partitioned.c)
    *(
        _own(
            f"MPI_{name}",
            f"{buf}, int partitions, MPI_Count count, MPI_Datatype datatype, int {peer}, int tag,"
            " MPI_Comm comm, MPI_Info info, MPI_Request *request",
            "partitioned communication",
        )
        for name, buf, peer in (
            ("Psend_init", "const void *buf", "dest"),
            ("Precv_init", "void *buf", "source"),
        )
    ),
    _own("MPI_Pready", "int partition, MPI_Request request", "partitioned communication"),
    _own(
        "MPI_Pready_range",
        "int partition_low, int partition_high, MPI_Request request",
        "partitioned communication",
    ),
    _own(
        "MPI_Pready_list",
        "int length, TEMPI_I_PARTITION_LIST array_of_partitions[], MPI_Request request",
        "partitioned communication",
    ),
    _own(
        "MPI_Parrived", "MPI_Request request, int partition, int *flag", "partitioned communication"
    ),
    Entry(
        "MPI_Buffer_attach",
        "void *buffer, COUNT size",
        "buffered mode",
        "attach",
        values={"raise": "tempi_i_raise(MPI_COMM_SELF, code_)"},
    ),
    # MPI-4.1: where the MPI declares them (generate.declared)
    Entry(
        "MPI_Comm_attach_buffer",
        "MPI_Comm comm, void *buffer, COUNT size",
        "buffered mode",
        "attach",
        values={"raise": "tempi_i_raise(comm, code_)"},
        takes="as MPI_Buffer_attach, through the communicator's error handler (only where"
        " the MPI's mpi.h declares it)",
        guarded=True,
    ),
    Entry(
        "MPI_Session_attach_buffer",
        "MPI_Session session, void *buffer, COUNT size",
        "buffered mode",
        "attach",
        values={"raise": "(PMPI_Session_call_errhandler(session, code_), code_)"},
        takes="as MPI_Buffer_attach, through the session's error handler (only where the"
        " MPI's mpi.h declares it)",
        guarded=True,
    ),
    _stage(
        "MPI_Pack_external",
        "const char datarep[], const void *inbuf, COUNT incount, MPI_Datatype datatype,"
        " void *outbuf, EXTSIZE outsize, EXTSIZE *position",
        "pack",
        (("inbuf", "incount", "datatype", 0), ("outbuf", "outsize", "MPI_BYTE", 1)),
        comm="MPI_COMM_SELF",
    ),
    _stage(
        "MPI_Unpack_external",
        "const char datarep[], const void *inbuf, EXTSIZE insize, EXTSIZE *position,"
        " void *outbuf, COUNT outcount, MPI_Datatype datatype",
        "pack",
        (("inbuf", "insize", "MPI_BYTE", 0), ("outbuf", "outcount", "datatype", 1)),
        comm="MPI_COMM_SELF",
    ),
    _stage(
        "MPI_Reduce_local",
        "const void *inbuf, void *inoutbuf, COUNT count, MPI_Datatype datatype, MPI_Op op",
        "staged collectives",
        (("inbuf", "count", "datatype", 0), ("inoutbuf", "count", "datatype", 1)),
        comm="MPI_COMM_NULL",
    ),
    *_rma_forms(),
    *_file_forms(),
    _own("MPI_Type_dup", "MPI_Datatype oldtype, MPI_Datatype *newtype", "datatypes"),
    # pack (native/pack.c)
    Entry(
        "MPI_Pack",
        "const void *inbuf, COUNT incount, MPI_Datatype datatype, void *outbuf,"
        " COUNT outsize, COUNT *position, MPI_Comm comm",
        "pack",
        "pack",
    ),
    Entry(
        "MPI_Unpack",
        "const void *inbuf, COUNT insize, COUNT *position, void *outbuf, COUNT outcount,"
        " MPI_Datatype datatype, MPI_Comm comm",
        "pack",
        "unpack",
    ),
    Entry(
        "MPI_Pack_size",
        "COUNT incount, MPI_Datatype datatype, MPI_Comm comm, COUNT *size",
        "pack",
        "plain",
    ),
    # process topologies with reorder = 1 (native/topology.c)
    _own(
        "MPI_Cart_create",
        "MPI_Comm comm_old, int ndims, const int dims[], const int periods[], int reorder,"
        " MPI_Comm *comm_cart",
        "topologies",
    ),
    _own(
        "MPI_Dist_graph_create_adjacent",
        "MPI_Comm comm_old, int indegree, const int sources[], const int sourceweights[],"
        " int outdegree, const int destinations[], const int destweights[], MPI_Info info,"
        " int reorder, MPI_Comm *comm_dist_graph",
        "topologies",
    ),
    _own(
        "MPI_Dist_graph_create",
        "MPI_Comm comm_old, int n, const int sources[], const int degrees[],"
        " const int destinations[], const int weights[], MPI_Info info, int reorder,"
        " MPI_Comm *comm_dist_graph",
        "topologies",
    ),
    # calls that can wait on a peer: the progress step, then the system MPI's call
    *_progress_forms(),
)
"""Every MPI function the interposer defines, in the order of the generated source."""
