/* tempi.Comm's way into the C engine (engine.h): the same plans, staging and operations the
 * interposer runs, called by tempi.Comm's compiled binding (comm_binding.c: the steady
 * state) and from Python through cffi in ABI mode (tempi/comm/native.py, whose CDEF
 * declares these functions; engine_api.h too). Python holds the plans (made by tempi/shim/plans.py,
 * the one planner) and passes their address; MPI handles come as the integers mpi4py
 * gives (``comm.handle``: an int in MPICH, a pointer in Open MPI), statuses as the address
 * of an mpi4py ``MPI.Status`` (``MPI._addressof``) or 0.
 *
 * Results, so that Python creates no object to read them:
 *   tempi_engine_send/_recv: 0 done, -1 no run (not aligned to the plan's word: Python's
 *     path takes the message), else the MPI error code;
 *   tempi_engine_start: the operation's id (> 0), 0 no run, -(MPI error code) on failure;
 *   tempi_engine_wait/_test/_landed: the received bytes (>= 0), TEMPI_I_SENT (-1) a send,
 *     TEMPI_I_CANCELLED (-2), TEMPI_ENGINE_PENDING (test: not done), TEMPI_ENGINE_FAILED - code on failure; the
 *     source and tag of the last one this thread completed in tempi_engine_last(0/1). */
#include <stdint.h>
#include <stdlib.h>

#include <mpi.h>

#include "engine.h"
#include "engine_api.h"
#include "internal.h"
#include "plan_gen.h"

/* A handle as mpi4py gives it, through uintptr_t: a pointer (Open MPI), or an int (MPICH)
 * that mpi4py gives as an unsigned 64-bit number (0xffffffff84000000): its low 32 bits. */
#define TEMPI_I_COMM(h) ((MPI_Comm)(h))
#define TEMPI_I_PLAN(p) ((const struct tempi_plan *)(p))

static long tempi_i_api_runs = 0;
static __thread int tempi_i_api_last[2];

/* Once per process, before the first call: the engine's operations table takes its lock
 * under MPI_THREAD_MULTIPLE (mpi4py's default level), as the interposer's MPI_Init_thread
 * would have said. */
void tempi_engine_api_init(void)
{
    int level = MPI_THREAD_SINGLE;
    if (PMPI_Query_thread(&level) == MPI_SUCCESS && level == MPI_THREAD_MULTIPLE)
        tempi_i_threaded = 1;
}

/* Messages tempi.Comm ran in C. */
long tempi_engine_runs(void)
{
    return __atomic_load_n(&tempi_i_api_runs, __ATOMIC_RELAXED);
}

int tempi_engine_last(int which)
{
    return tempi_i_api_last[which != 0];
}

/* Both at once: the source in the high 32 bits, the tag (two's complement) in the low. */
int64_t tempi_engine_last_pair(void)
{
    return (int64_t)(((uint64_t)(uint32_t)tempi_i_api_last[0] << 32) |
                     (uint64_t)(uint32_t)tempi_i_api_last[1]);
}

static int tempi_i_api_result(int rc)
{
    if (rc == TEMPI_I_OK) {
        __atomic_fetch_add(&tempi_i_api_runs, 1, __ATOMIC_RELAXED);
        return 0;
    }
    return rc == TEMPI_I_PASS ? -1 : tempi_i_error(rc);
}

int tempi_engine_send(intptr_t plan, const void *buf, int dest, int tag, uintptr_t comm,
                      int mode)
{
    return tempi_i_api_result(
        tempi_i_engine_send_plan(TEMPI_I_PLAN(plan), buf, dest, tag, TEMPI_I_COMM(comm), mode));
}

int tempi_engine_recv(intptr_t plan, void *buf, int source, int tag, uintptr_t comm,
                      intptr_t status)
{
    MPI_Status *st = status ? (MPI_Status *)status : MPI_STATUS_IGNORE;
    return tempi_i_api_result(
        tempi_i_engine_recv_plan(TEMPI_I_PLAN(plan), buf, source, tag, TEMPI_I_COMM(comm), st));
}

int tempi_engine_start(intptr_t plan, void *buf, int peer, int tag, uintptr_t comm,
                       int mode, int recv, int persistent)
{
    int id = 0;
    int rc = tempi_i_engine_start_op(TEMPI_I_PLAN(plan), buf, peer, tag, TEMPI_I_COMM(comm), mode,
                                     recv, persistent, &id);
    if (rc == TEMPI_I_OK) {
        __atomic_fetch_add(&tempi_i_api_runs, !persistent, __ATOMIC_RELAXED);
        return id;
    }
    return rc == TEMPI_I_PASS ? 0 : -tempi_i_error(rc);
}

/* An operation's outcome (tempi_i_op_*'s) as the result above, into the status too. */
static int64_t tempi_i_api_report(int rc, intptr_t status, int source, int tag, int64_t nbytes)
{
    if (rc != TEMPI_I_OK)
        return TEMPI_ENGINE_FAILED - tempi_i_error(rc);
    tempi_i_api_last[0] = source, tempi_i_api_last[1] = tag;
    if (status) {
        MPI_Status *st = (MPI_Status *)status;
        if (nbytes >= 0) {
            st->MPI_SOURCE = source, st->MPI_TAG = tag;
            PMPI_Status_set_elements(st, MPI_BYTE, (int)nbytes);
        }
        PMPI_Status_set_cancelled(st, nbytes == TEMPI_I_CANCELLED);
    }
    return nbytes;
}

int64_t tempi_engine_wait(int id, intptr_t status)
{
    int source = MPI_ANY_SOURCE, tag = MPI_ANY_TAG;
    int64_t nbytes = TEMPI_I_SENT;
    int rc = tempi_i_op_wait(id, &source, &tag, &nbytes);
    return tempi_i_api_report(rc, status, source, tag, nbytes);
}

int64_t tempi_engine_test(int id, intptr_t status)
{
    int source = MPI_ANY_SOURCE, tag = MPI_ANY_TAG, flag = 0;
    int64_t nbytes = TEMPI_I_SENT;
    int rc = tempi_i_op_test(id, &flag, &source, &tag, &nbytes);
    if (rc == TEMPI_I_OK && !flag)
        return TEMPI_ENGINE_PENDING;
    return tempi_i_api_report(rc, status, source, tag, nbytes);
}

/* The operation's MPI request (tempi_engine_request) was completed by another call (an
 * MPI_Waitany over many) with the status at `landed`: finish the operation. */
int64_t tempi_engine_landed(int id, intptr_t landed, intptr_t status)
{
    int source = MPI_ANY_SOURCE, tag = MPI_ANY_TAG;
    int64_t nbytes = TEMPI_I_SENT;
    int rc = tempi_i_op_landed(id, (MPI_Status *)landed, &source, &tag, &nbytes);
    return tempi_i_api_report(rc, status, source, tag, nbytes);
}

uintptr_t tempi_engine_request(int id)
{
    return (uintptr_t)(intptr_t)tempi_i_op_request(id); /* as mpi4py gives handles */
}

/* Persistent operations: MPI_Start of one made by tempi_engine_start(persistent 1). */
int tempi_engine_restart(int id)
{
    int rc = tempi_i_op_start(id);
    if (rc != TEMPI_I_OK)
        return tempi_i_error(rc);
    __atomic_fetch_add(&tempi_i_api_runs, 1, __ATOMIC_RELAXED);
    return 0;
}

int tempi_engine_cancel(int id)
{
    int rc = tempi_i_op_cancel(id);
    return rc == TEMPI_I_OK ? 0 : tempi_i_error(rc);
}

/* MPI_Request_free: one in flight completes in the background. */
void tempi_engine_free(int id)
{
    tempi_i_op_request_free(id);
}

/* One batched exchange (tempi.Comm's Neighbor_alltoallw): parts [0, nrecv) are receives,
 * [nrecv, nrecv + nsend) sends. Part k: plans[k] a plan's address, or 0 for the system
 * MPI's own call with the user's datatype types[k] and counts[k] (contiguous parts, the
 * model's `system` pick, and a planned part whose buffer is not aligned to its plan's
 * word); its data at (recvbase or sendbase) + offsets[k]; peers[k], tags[k] on comm.
 * Every receive is posted, then every send, all are completed (receives unpacked), and
 * the first MPI error code is returned (0: all done): a part that could not be posted is
 * skipped, but every part that was is completed, so no peer waits for this rank's others. */
#define TEMPI_I_TYPE(h) ((MPI_Datatype)(h))

static __thread MPI_Request *tempi_i_x_requests;
static __thread MPI_Status *tempi_i_x_statuses;
static __thread int *tempi_i_x_ids;
static __thread int tempi_i_x_room;

static int tempi_i_x_reserve(int n)
{
    if (n <= tempi_i_x_room)
        return 1;
    MPI_Request *requests = realloc(tempi_i_x_requests, sizeof(MPI_Request) * (size_t)n);
    if (requests)
        tempi_i_x_requests = requests;
    MPI_Status *statuses = realloc(tempi_i_x_statuses, sizeof(MPI_Status) * (size_t)n);
    if (statuses)
        tempi_i_x_statuses = statuses;
    int *ids = realloc(tempi_i_x_ids, sizeof(int) * (size_t)n);
    if (ids)
        tempi_i_x_ids = ids;
    if (!requests || !statuses || !ids)
        return 0;
    tempi_i_x_room = n;
    return 1;
}

int tempi_engine_exchange(int nrecv, int nsend, const intptr_t *plans, const intptr_t *offsets,
                          const int *counts, const uintptr_t *types, const int *peers,
                          const int *tags, void *recvbase, const void *sendbase, uintptr_t comm)
{
    int n = nrecv + nsend, first = MPI_SUCCESS, ran = 0;
    if (n <= 0)
        return MPI_SUCCESS;
    if (!tempi_i_x_reserve(n))
        return MPI_ERR_NO_MEM;
    MPI_Request *requests = tempi_i_x_requests;
    MPI_Status *statuses = tempi_i_x_statuses;
    int *ids = tempi_i_x_ids;
    MPI_Comm c = TEMPI_I_COMM(comm);
    for (int k = 0; k < n; ++k) {
        int recv = k < nrecv, err = MPI_SUCCESS;
        char *buf = (recv ? (char *)recvbase : (char *)sendbase) + offsets[k];
        ids[k] = 0, requests[k] = MPI_REQUEST_NULL;
        if (plans[k]) {
            int rc = tempi_i_engine_start_op(TEMPI_I_PLAN(plans[k]), buf, peers[k], tags[k], c,
                                             TEMPI_I_STANDARD, recv, 0, &ids[k]);
            if (rc == TEMPI_I_OK) {
                requests[k] = tempi_i_op_request(ids[k]);
                ++ran;
                continue;
            }
            ids[k] = 0;
            if (rc != TEMPI_I_PASS) {
                if (first == MPI_SUCCESS)
                    first = tempi_i_error(rc);
                continue;
            }
        }
        if (recv)
            err = PMPI_Irecv(buf, counts[k], TEMPI_I_TYPE(types[k]), peers[k], tags[k], c,
                             &requests[k]);
        else
            err = PMPI_Isend(buf, counts[k], TEMPI_I_TYPE(types[k]), peers[k], tags[k], c,
                             &requests[k]);
        if (err != MPI_SUCCESS) {
            requests[k] = MPI_REQUEST_NULL;
            if (first == MPI_SUCCESS)
                first = err;
        }
    }
    int all = PMPI_Waitall(n, requests, statuses);
    first = tempi_i_exchange_finish(n, requests, statuses, ids, all, first);
    __atomic_fetch_add(&tempi_i_api_runs, ran, __ATOMIC_RELAXED);
    return first;
}

/* ---- Sendrecv and Sendrecv_replace (tempi.Comm's binding, native/comm_binding.c) --------
 * Each side: a plan's address, or TEMPI_ENGINE_SYSTEM for the MPI's own call with the
 * user's count and datatype (contiguous data, the model's `system` pick); a plan the
 * engine refuses (a buffer not aligned to its word) is sent or received that way too, so
 * these never pass a message back half done. Results: 0, or the MPI error code. The
 * status (0: ignore) counts bytes where the engine received, as tempi_engine_recv's. */
int tempi_engine_sendrecv(intptr_t splan, const void *sbuf, int scount, uintptr_t stype,
                          int dest, int sendtag, intptr_t rplan, void *rbuf, int rcount,
                          uintptr_t rtype, int source, int recvtag, uintptr_t comm,
                          intptr_t status)
{
    MPI_Comm c = TEMPI_I_COMM(comm);
    MPI_Status *st = status ? (MPI_Status *)status : MPI_STATUS_IGNORE;
    MPI_Request request = MPI_REQUEST_NULL;
    int id = 0, err = MPI_SUCCESS, rc = TEMPI_I_PASS;
    if (rplan != TEMPI_ENGINE_SYSTEM)
        rc = tempi_i_engine_start_op(TEMPI_I_PLAN(rplan), rbuf, source, recvtag, c,
                                     TEMPI_I_STANDARD, 1, 0, &id);
    if (rc == TEMPI_I_PASS)
        err = PMPI_Irecv(rbuf, rcount, TEMPI_I_TYPE(rtype), source, recvtag, c, &request);
    else if (rc != TEMPI_I_OK)
        err = tempi_i_error(rc);
    if (err != MPI_SUCCESS)
        return err;
    rc = TEMPI_I_PASS;
    if (splan != TEMPI_ENGINE_SYSTEM)
        rc = tempi_i_engine_send_plan(TEMPI_I_PLAN(splan), sbuf, dest, sendtag, c,
                                      TEMPI_I_STANDARD);
    if (rc == TEMPI_I_PASS)
        err = PMPI_Send(sbuf, scount, TEMPI_I_TYPE(stype), dest, sendtag, c);
    else if (rc != TEMPI_I_OK)
        err = tempi_i_error(rc);
    else
        __atomic_fetch_add(&tempi_i_api_runs, 1, __ATOMIC_RELAXED);
    if (err != MPI_SUCCESS) { /* the receive will not be waited for: retire it */
        if (id) {
            tempi_i_op_abandon(id);
        } else {
            PMPI_Cancel(&request);
            PMPI_Wait(&request, MPI_STATUS_IGNORE);
        }
        return err;
    }
    if (!id)
        return PMPI_Wait(&request, st);
    __atomic_fetch_add(&tempi_i_api_runs, 1, __ATOMIC_RELAXED);
    int64_t done = tempi_engine_wait(id, status);
    return done <= TEMPI_ENGINE_FAILED ? (int)(TEMPI_ENGINE_FAILED - done) : MPI_SUCCESS;
}

/* Sendrecv_replace as the interposer's (p2p.c's tempi_i_sendrecv_replace): the send is
 * packed into its operation's staging and posted before the receive is posted into the
 * same buffer (the receive lands in its own staging and is unpacked at completion). A
 * send the engine refuses goes to the MPI's Sendrecv_replace whole. */
int tempi_engine_sendrecv_replace(intptr_t plan, void *buf, int count, uintptr_t type,
                                  int dest, int sendtag, int source, int recvtag,
                                  uintptr_t comm, intptr_t status)
{
    MPI_Comm c = TEMPI_I_COMM(comm);
    MPI_Status *st = status ? (MPI_Status *)status : MPI_STATUS_IGNORE;
    MPI_Datatype datatype = TEMPI_I_TYPE(type);
    int send = 0, receive = 0, err = MPI_SUCCESS, rc = TEMPI_I_PASS;
    if (plan != TEMPI_ENGINE_SYSTEM)
        rc = tempi_i_engine_start_op(TEMPI_I_PLAN(plan), buf, dest, sendtag, c,
                                     TEMPI_I_STANDARD, 0, 0, &send);
    if (rc == TEMPI_I_PASS)
        return PMPI_Sendrecv_replace(buf, count, datatype, dest, sendtag, source, recvtag, c,
                                     st);
    if (rc != TEMPI_I_OK)
        return tempi_i_error(rc);
    MPI_Request request = MPI_REQUEST_NULL;
    rc = tempi_i_engine_start_op(TEMPI_I_PLAN(plan), buf, source, recvtag, c, TEMPI_I_STANDARD,
                                 1, 0, &receive);
    if (rc == TEMPI_I_PASS) /* the send's bytes are in its staging already */
        err = PMPI_Irecv(buf, count, datatype, source, recvtag, c, &request);
    else if (rc != TEMPI_I_OK)
        err = tempi_i_error(rc);
    int64_t sent = tempi_engine_wait(send, 0);
    int send_err = sent <= TEMPI_ENGINE_FAILED ? (int)(TEMPI_ENGINE_FAILED - sent) : 0;
    __atomic_fetch_add(&tempi_i_api_runs, 1 + (receive != 0), __ATOMIC_RELAXED);
    if (err == MPI_SUCCESS && receive) {
        int64_t got = tempi_engine_wait(receive, status);
        err = got <= TEMPI_ENGINE_FAILED ? (int)(TEMPI_ENGINE_FAILED - got) : MPI_SUCCESS;
    } else if (err == MPI_SUCCESS) {
        err = PMPI_Wait(&request, st);
    }
    return err != MPI_SUCCESS ? err : send_err;
}

/* ---- tempi.Comm's completion calls (tempi/comm/requests.py) ------------------------------
 * The rules of requests.c over tempi.Comm's requests, so that they live once, in C. call:
 * 0 Waitall, 1 Testall, 2 Waitany, 3 Testany, 4 Waitsome, 5 Testsome. Entry i: kinds[i]
 * (TEMPI_I_REQ_PLAIN 0, _NONE 1, _OP 2: an engine operation, ids[i] its id, _DRIVEN 3: one
 * of Python's, ids[i] the driver's index); handles[i] a plain request's address (mpi4py's
 * MPI._addressof(request): the MPI completes it in place). statuses: the addresses of n
 * mpi4py statuses (Waitany/Testany: one), 0 for one ignored, or NULL for all. out[0] the
 * flag, out[1] the index or outcount, out[2...] the indices. Returns the MPI error code. */
int tempi_engine_complete(int call, int n, const int *kinds, const int *ids,
                          const intptr_t *handles, const tempi_engine_driver *driver,
                          void *ctx, const intptr_t *statuses, int *out)
{
    tempi_i_req few[16];
    MPI_Status few_statuses[16];
    int m = call == TEMPI_I_WAITANY || call == TEMPI_I_TESTANY ? 1 : n;
    tempi_i_req *r = n <= 16 ? few : malloc(sizeof(tempi_i_req) * (size_t)n);
    MPI_Status *st = m <= 16 ? few_statuses : malloc(sizeof(MPI_Status) * (size_t)m);
    if (!r || !st) {
        if (r != few)
            free(r);
        if (st != few_statuses)
            free(st);
        return MPI_ERR_NO_MEM;
    }
    for (int i = 0; i < n; ++i)
        r[i] = (tempi_i_req){kinds[i], ids[i],
                             kinds[i] == TEMPI_I_REQ_PLAIN ? (MPI_Request *)handles[i] : NULL, 0,
                             MPI_COMM_NULL};
    for (int k = 0; statuses && k < m; ++k)
        if (statuses[k])
            st[k] = *(MPI_Status *)statuses[k];
    tempi_i_driver d = {0};
    if (driver) { /* the same functions, MPI's pointers passed as addresses */
        d.ready = driver->ready;
        d.complete = driver->complete;
        d.blocker = (int (*)(void *, int, MPI_Request **))driver->blocker;
        d.landed = (int (*)(void *, int, MPI_Status *))driver->landed;
    }
    d.ctx = ctx;
    MPI_Status *all = statuses ? st : MPI_STATUSES_IGNORE;
    MPI_Status *one = statuses ? st : MPI_STATUS_IGNORE;
    tempi_i_failure f;
    int err = tempi_i_rule(call, n, r, &d, &out[0], &out[1], out + 2,
                           call == TEMPI_I_WAITANY || call == TEMPI_I_TESTANY ? one : all, &f);
    for (int k = 0; statuses && k < m; ++k)
        if (statuses[k])
            *(MPI_Status *)statuses[k] = st[k];
    if (r != few)
        free(r);
    if (st != few_statuses)
        free(st);
    return err;
}

/* MPI's empty status (a Wait or Test of an inactive persistent request). */
void tempi_engine_empty_status(intptr_t status)
{
    tempi_i_empty_status((MPI_Status *)status);
}
