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
 * of count 0, is the MPI's own message with the user's type (host memory only); an
 * accelerated one needs the engine's plan (engine.c's host plans, engine_device.c's
 * device plans: a freed type's plans are gone, so it is planned again), else the whole
 * call takes Python's path. Host parts are engine operations (the cfunc packs at once);
 * device parts are the device engine's operations (sends posted by the progress step);
 * all complete in requests.c's Waitall, which runs that step. */
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
            if (tempi_i_data_on_device(buf, type))
                return TEMPI_I_PASS; /* staged by Python's path */
            routes[k] = TEMPI_I_X_SYSTEM;
            continue;
        }
        int route = tempi_i_engine_route(buf, count, type, c, peers[k], &plans[k]);
        if (route < 0)
            return TEMPI_I_PASS;
        routes[k] = route;
    }
    /* the ranks agree, as Python's path does on every call (tempi/shim/callbacks.py): one
     * that cannot describe its parts makes every rank hand the call to the system MPI */
    int described = 1;
    if (PMPI_Allreduce(MPI_IN_PLACE, &described, 1, MPI_INT, MPI_LAND, c) != MPI_SUCCESS)
        return TEMPI_I_PASS;
    if (!described)
        return TEMPI_I_EXCHANGE_DECLINED;
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
    for (int k = 0; k < n; ++k) {
        int err = all == MPI_SUCCESS         ? MPI_SUCCESS
                  : all == MPI_ERR_IN_STATUS ? statuses[k].MPI_ERROR
                                             : all;
        if (ids[k]) {
            int source, tag, rc_;
            int64_t nbytes;
            if (err == MPI_SUCCESS)
                rc_ = tempi_i_op_landed(ids[k], &statuses[k], &source, &tag, &nbytes);
            else if (err == MPI_ERR_PENDING)
                rc_ = tempi_i_op_wait(ids[k], &source, &tag, &nbytes);
            else
                rc_ = tempi_i_op_lost(ids[k], err);
            err = rc_ == TEMPI_I_OK ? MPI_SUCCESS : tempi_i_error(rc_);
        } else if (err == MPI_ERR_PENDING && requests[k] != MPI_REQUEST_NULL) {
            err = tempi_i_wait(&requests[k], MPI_STATUS_IGNORE);
        }
        if (err != MPI_SUCCESS && first == MPI_SUCCESS)
            first = err;
    }
    __atomic_fetch_add(&tempi_i_xruns, 1, __ATOMIC_RELAXED);
    return first == MPI_SUCCESS ? TEMPI_I_OK : TEMPI_I_ERROR + first;
}
