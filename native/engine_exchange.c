/* The interposer's batched exchanges in C (issue 14, Deliver 2): MPI_Alltoallv,
 * MPI_Alltoallw, MPI_Neighbor_alltoallv and MPI_Neighbor_alltoallw after their first call
 * on a communicator run without Python, with the wire protocol of Python's path
 * (tempi.comm.collectives.exchange): one message per part, on tempi's private duplicate of
 * the communicator, with the tag Python gives that part, so a rank that takes Python's
 * path (TEMPI_PLANS=0, a part without a plan) still matches a rank that runs here.
 *
 * Python's first call hands C the communicator's context (tempi_exchange_learn: the
 * private communicator, the peers and tags of each side), kept per (communicator, kind)
 * until the communicator is freed (tempi_exchange_forget, from the attribute Python hangs
 * on it). Each later call looks every part up: a type tempi does not accelerate, or a part
 * of count 0, is the MPI's own message with the user's type; an accelerated one needs the
 * engine's plan (engine.c's host plans, engine_device.c's device plans: a freed type's
 * plans are gone, so it is planned again), else the whole call takes Python's path. Host
 * parts are engine operations (the cfunc packs at once); device parts are the device
 * engine's operations (sends posted by the progress step); all complete in requests.c's
 * Waitall, which runs that step.
 *
 * No rank asks the others anything (no agreement per call, which synchronised all ranks of
 * a neighbourhood collective): each decides its parts alone, because every route puts
 * bytes on the wire that every other route receives. tempi's packed message (MPI_PACKED
 * of MPI_Pack's bytes: the typemap's bytes in order, on these homogeneous MPIs) and the
 * MPI's own typed message of the same type signature match each other (MPI 4.1 section
 * 5.2: a message of any type may be received as MPI_PACKED, and one sent as MPI_PACKED by
 * any receive whose type signature matches what was packed). So a part whose type tempi
 * does not accelerate (one it declines, too) travels typed while its peer packs: here, in
 * Python's path alike, and on device memory the MPI cannot read through a host copy of
 * its span (tempi_i_exchange_stage, before either runs). What stays a per-rank decision,
 * never agreed, is whether tempi takes the call at all (collectives.c: some part of an
 * accelerated type, or on device memory): a rank whose parts are all of plain types in
 * host memory calls the system MPI's collective, so all ranks must take it or none (a
 * halo with the same kinds of types everywhere does). */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include "engine.h"
#include "internal.h"
#include "plan_gen.h"

#define TEMPI_I_CONTEXTS 64

struct tempi_i_xcontext {
    int used, fcomm, kind, nsend, nrecv;
    MPI_Comm private_comm;
    int *peers; /* nrecv sources, then nsend destinations */
    int *tags;  /* the same order */
};

static struct tempi_i_xcontext tempi_i_xcontexts[TEMPI_I_CONTEXTS];
static pthread_mutex_t tempi_i_xlock = PTHREAD_MUTEX_INITIALIZER;
static long tempi_i_xruns = 0; /* exchanges run here */

static void tempi_i_xtake(void)
{
    if (tempi_i_threaded)
        pthread_mutex_lock(&tempi_i_xlock);
}

static void tempi_i_xgive(void)
{
    if (tempi_i_threaded)
        pthread_mutex_unlock(&tempi_i_xlock);
}

static void tempi_i_xdrop(struct tempi_i_xcontext *x)
{
    free(x->peers);
    free(x->tags);
    memset(x, 0, sizeof *x);
}

/* Python (tempi/shim/callbacks.py) after its first exchange of `kind` on fcomm. */
void tempi_exchange_learn(int fcomm, int kind, int fprivate, int nrecv, const int *sources,
                          const int *recv_tags, int nsend, const int *dests,
                          const int *send_tags)
{
    int n = nrecv + nsend;
    int *peers = malloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
    int *tags = malloc(sizeof(int) * (size_t)(n > 0 ? n : 1));
    if (!peers || !tags) {
        free(peers);
        free(tags);
        return; /* Python's path keeps running these */
    }
    memcpy(peers, sources, sizeof(int) * (size_t)nrecv);
    memcpy(peers + nrecv, dests, sizeof(int) * (size_t)nsend);
    memcpy(tags, recv_tags, sizeof(int) * (size_t)nrecv);
    memcpy(tags + nrecv, send_tags, sizeof(int) * (size_t)nsend);
    tempi_i_xtake();
    int at = -1;
    for (int i = 0; i < TEMPI_I_CONTEXTS && at < 0; ++i)
        if (tempi_i_xcontexts[i].used && tempi_i_xcontexts[i].fcomm == fcomm &&
            tempi_i_xcontexts[i].kind == kind)
            at = i;
    for (int i = 0; i < TEMPI_I_CONTEXTS && at < 0; ++i)
        if (!tempi_i_xcontexts[i].used)
            at = i;
    if (at < 0)
        at = (int)((unsigned)fcomm % TEMPI_I_CONTEXTS); /* full: replace one */
    struct tempi_i_xcontext *x = &tempi_i_xcontexts[at];
    tempi_i_xdrop(x);
    *x = (struct tempi_i_xcontext){1, fcomm, kind, nsend, nrecv, MPI_Comm_f2c(fprivate), peers,
                                   tags};
    tempi_i_xgive();
}

/* The communicator is being freed (its handle may be reused): its contexts die. */
void tempi_exchange_forget(int fcomm)
{
    tempi_i_xtake();
    for (int i = 0; i < TEMPI_I_CONTEXTS; ++i)
        if (tempi_i_xcontexts[i].used && tempi_i_xcontexts[i].fcomm == fcomm)
            tempi_i_xdrop(&tempi_i_xcontexts[i]);
    tempi_i_xgive();
}

/* Exchanges of the interposer that ran here (TEMPI_STATS, tests). */
long tempi_exchange_runs(void)
{
    return __atomic_load_n(&tempi_i_xruns, __ATOMIC_RELAXED);
}

/* Per thread: the call's arrays, grown as needed. */
static __thread int *tempi_i_xints;
static __thread MPI_Request *tempi_i_xrequests;
static __thread MPI_Status *tempi_i_xstatuses;
static __thread struct tempi_plan *tempi_i_xplans;
static __thread int tempi_i_xroom;

static int tempi_i_xreserve(int n)
{
    if (n <= tempi_i_xroom)
        return 1;
    int *ints = realloc(tempi_i_xints, sizeof(int) * 4 * (size_t)n);
    if (ints)
        tempi_i_xints = ints;
    MPI_Request *requests = realloc(tempi_i_xrequests, sizeof(MPI_Request) * (size_t)n);
    if (requests)
        tempi_i_xrequests = requests;
    MPI_Status *statuses = realloc(tempi_i_xstatuses, sizeof(MPI_Status) * (size_t)n);
    if (statuses)
        tempi_i_xstatuses = statuses;
    struct tempi_plan *plans = realloc(tempi_i_xplans, sizeof(struct tempi_plan) * (size_t)n);
    if (plans)
        tempi_i_xplans = plans;
    if (!ints || !requests || !statuses || !plans)
        return 0;
    tempi_i_xroom = n;
    return 1;
}

/* Part routes: the MPI's own message, an engine operation (host plan), the device engine's
 * operation (through a request handle of requests.c). */
enum {
    TEMPI_I_X_SYSTEM = TEMPI_I_ROUTE_SYSTEM,
    TEMPI_I_X_HOST = TEMPI_I_ROUTE_HOST,
    TEMPI_I_X_DEVICE = TEMPI_I_ROUTE_DEVICE
};

int tempi_i_exchange(int kind, const void *sendbuf, int nsend, const int64_t *sc,
                     const int64_t *sd, const int *st, const void *recvbuf, int nrecv,
                     const int64_t *rc, const int64_t *rd, const int *rt, MPI_Comm comm)
{
    int n = nrecv + nsend, fcomm = MPI_Comm_c2f(comm);
    if (n <= 0 || !tempi_i_xreserve(n))
        return TEMPI_I_PASS;
    int *peers = tempi_i_xints, *tags = peers + n, *routes = tags + n, *ids = routes + n;
    MPI_Comm c = MPI_COMM_NULL;
    tempi_i_xtake();
    for (int i = 0; i < TEMPI_I_CONTEXTS; ++i) {
        struct tempi_i_xcontext *x = &tempi_i_xcontexts[i];
        if (x->used && x->fcomm == fcomm && x->kind == kind && x->nsend == nsend &&
            x->nrecv == nrecv) {
            memcpy(peers, x->peers, sizeof(int) * (size_t)n);
            memcpy(tags, x->tags, sizeof(int) * (size_t)n);
            c = x->private_comm;
            break;
        }
    }
    tempi_i_xgive();
    if (c == MPI_COMM_NULL)
        return TEMPI_I_PASS; /* Python's first call learns it */
    /* every part must run here, else Python's path takes the whole call */
    struct tempi_plan *plans = tempi_i_xplans;
    for (int k = 0; k < n; ++k) {
        int recv = k < nrecv, j = recv ? k : k - nrecv;
        const char *buf = (const char *)(recv ? recvbuf : sendbuf) + (recv ? rd[j] : sd[j]);
        int64_t count = recv ? rc[j] : sc[j];
        int ftype = recv ? rt[j] : st[j];
        MPI_Datatype type = MPI_Type_f2c(ftype);
        if (count > INT32_MAX)
            return TEMPI_I_PASS;
        int accelerated = tempi_i_find(&tempi_i_types, (uint64_t)(uint32_t)ftype) != 0;
        if (count == 0 || !accelerated) {
            /* typed; on device memory only where the MPI reads it (tempi_i_exchange_stage
             * copied the rest) or of count 0: Python's path routes those, as before */
            if (tempi_i_data_on_device(buf, type))
                return TEMPI_I_PASS;
            routes[k] = TEMPI_I_X_SYSTEM;
            continue;
        }
        int route = tempi_i_engine_route(buf, count, type, c, peers[k], &plans[k]);
        if (route < 0)
            return TEMPI_I_PASS;
        routes[k] = route;
    }
    /* post every receive, then every send */
    MPI_Request *requests = tempi_i_xrequests;
    MPI_Status *statuses = tempi_i_xstatuses;
    int first = MPI_SUCCESS;
    for (int k = 0; k < n; ++k) {
        int recv = k < nrecv, j = recv ? k : k - nrecv, err = MPI_SUCCESS, rc_ = TEMPI_I_PASS;
        char *buf = (char *)(recv ? recvbuf : sendbuf) + (recv ? rd[j] : sd[j]);
        int count = (int)(recv ? rc[j] : sc[j]);
        MPI_Datatype type = MPI_Type_f2c(recv ? rt[j] : st[j]);
        requests[k] = MPI_REQUEST_NULL, ids[k] = 0;
        if (routes[k] == TEMPI_I_X_HOST) {
            rc_ = tempi_i_engine_start_op(&plans[k], buf, peers[k], tags[k], c,
                                          TEMPI_I_STANDARD, recv, 0, &ids[k]);
            if (rc_ == TEMPI_I_OK) {
                requests[k] = tempi_i_op_request(ids[k]);
                continue;
            }
            ids[k] = 0;
            routes[k] = TEMPI_I_X_SYSTEM; /* host data: the MPI's typed path, same bytes */
        } else if (routes[k] == TEMPI_I_X_DEVICE) {
            tempi_i_engine_takes(buf, type); /* this thread's device mark, for the call */
            rc_ = recv ? tempi_i_engine_irecv(buf, count, type, peers[k], tags[k], c, 0,
                                              &requests[k])
                       : tempi_i_engine_isend(buf, count, type, peers[k], tags[k], c,
                                              TEMPI_I_STANDARD, 0, &requests[k]);
            if (rc_ == TEMPI_I_OK)
                continue;
            /* nothing posted for this part (no slot, a failed launch): it fails, the
             * others complete; its peer's part is left as when a rank fails to post */
            requests[k] = MPI_REQUEST_NULL;
            if (first == MPI_SUCCESS)
                first = rc_ == TEMPI_I_PASS ? MPI_ERR_INTERN : tempi_i_error(rc_);
            continue;
        }
        if (recv)
            err = PMPI_Irecv(buf, count, type, peers[k], tags[k], c, &requests[k]);
        else
            err = PMPI_Isend(buf, count, type, peers[k], tags[k], c, &requests[k]);
        if (err != MPI_SUCCESS) {
            requests[k] = MPI_REQUEST_NULL;
            if (first == MPI_SUCCESS)
                first = err;
        } else {
            tempi_i_count_pass(1);
        }
    }
    int all = tempi_i_waitall(n, requests, statuses);
    first = tempi_i_exchange_finish(n, requests, statuses, ids, all, first);
    __atomic_fetch_add(&tempi_i_xruns, 1, __ATOMIC_RELAXED);
    return first == MPI_SUCCESS ? TEMPI_I_OK : TEMPI_I_ERROR + first;
}

int tempi_i_exchange_finish(int n, MPI_Request *requests, MPI_Status *statuses, const int *ids,
                            int all, int first)
{
    for (int k = 0; k < n; ++k) {
        int err = all == MPI_SUCCESS         ? MPI_SUCCESS
                  : all == MPI_ERR_IN_STATUS ? statuses[k].MPI_ERROR
                                             : all;
        if (ids[k]) {
            int source, tag, rc;
            int64_t nbytes;
            if (err == MPI_SUCCESS)
                rc = tempi_i_op_landed(ids[k], &statuses[k], &source, &tag, &nbytes);
            else if (err == MPI_ERR_PENDING) /* not completed: complete it now */
                rc = tempi_i_op_wait(ids[k], &source, &tag, &nbytes);
            else
                rc = tempi_i_op_lost(ids[k], err);
            err = rc == TEMPI_I_OK ? MPI_SUCCESS : tempi_i_error(rc);
        } else if (err == MPI_ERR_PENDING && requests[k] != MPI_REQUEST_NULL) {
            err = tempi_i_wait(&requests[k], MPI_STATUS_IGNORE);
        }
        if (err != MPI_SUCCESS && first == MPI_SUCCESS)
            first = err;
    }
    return first;
}

/* ---- the parts tempi cannot describe, on device memory the MPI cannot read ------------
 * Each is the MPI's typed message on a host copy of its span (stage.c's copies, gaps
 * included, as for a declined device collective): copied in before the call (a receive's
 * too, so its gaps come back unchanged), a receive's copied back after. The one rule, for
 * C's exchange and Python's (which then sees host memory): tempi_i_collective (collectives.c)
 * stages before either runs. */

/* Whether part j of one side (counts c, byte displacements d from buf, Fortran types t)
 * takes a copy. */
static int tempi_i_xcopied(const char *buf, const int64_t *c, const int64_t *d, const int *t,
                           int j)
{
    return c[j] > 0 && !tempi_i_find(&tempi_i_types, (uint64_t)(uint32_t)t[j]) &&
           tempi_i_data_on_device(buf + d[j], MPI_Type_f2c(t[j]));
}

tempi_i_stage_t *tempi_i_exchange_stage(const void *sendbuf, int nsend, const int64_t *sc,
                                        int64_t *sd, const int *st, const void *recvbuf,
                                        int nrecv, const int64_t *rc, int64_t *rd,
                                        const int *rt, int *err)
{
    int n = nrecv + nsend;
    tempi_i_stage_t *stages = NULL;
    *err = MPI_SUCCESS;
    if (!tempi_i_stage_device)
        return NULL;
    for (int k = 0; k < n; ++k) {
        int recv = k < nrecv, j = recv ? k : k - nrecv;
        const char *buf = recv ? recvbuf : sendbuf;
        const int64_t *c = recv ? rc : sc;
        const int *t = recv ? rt : st;
        int64_t *d = recv ? rd : sd;
        if (!tempi_i_xcopied(buf, c, d, t, j))
            continue;
        if (!stages && !(stages = calloc((size_t)n, sizeof *stages))) {
            *err = MPI_ERR_NO_MEM;
            return NULL;
        }
        stages[k].owned = 1; /* memory of its own: the thread's pool has 4 slots */
        const char *host = tempi_i_stage_in(&stages[k], buf + d[j], c[j], MPI_Type_f2c(t[j]),
                                            recv);
        if (stages[k].failed) {
            *err = tempi_i_exchange_unstage(stages, n, MPI_ERR_NO_MEM);
            return NULL;
        }
        d[j] = (int64_t)((intptr_t)host - (intptr_t)buf); /* the part is at its copy now */
    }
    return stages;
}

int tempi_i_exchange_unstage(tempi_i_stage_t *stages, int n, int err)
{
    for (int k = 0; stages && k < n; ++k) {
        if (!stages[k].n)
            continue;
        tempi_i_stage_out(&stages[k], err); /* (an owned copy is counted here, not there) */
        tempi_i_count_staged(&stages[k], 0);
        tempi_i_stage_release(&stages[k]);
    }
    free(stages);
    return err;
}
