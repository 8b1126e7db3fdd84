/* tempi's requests and their completion. The application holds a generalized request for each of tempi's,
 * which the request table maps to tempi's id. Not the MPI request tempi waits on: tempi's
 * progress completes that one while the application still holds its handle, and MPI
 * hands a completed request's handle to the next plain request it makes. A generalized
 * request stays allocated until tempi completes and frees it when the application
 * completes tempi's request, or, for a persistent one (MPI_Send_init, MPI_Recv_init),
 * when the application frees it. The system MPI never sees these handles: the completion
 * calls hide them (MPI_REQUEST_NULL) in the arrays they pass on. */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include "engine.h"
#include "interposer.h"
#include "internal.h"

static uint64_t tempi_i_request_key(MPI_Request request)
{
    uint64_t key = 0;
    memcpy(&key, &request, sizeof request);
    return key;
}

/* The communicator each of tempi's requests was made on, by tempi's id (Fortran handle
 * + 1): a failure of the request raises that communicator's error handler, and tempi works
 * on it with MPI_ERRORS_RETURN meanwhile (errors.c). */
static struct tempi_i_table tempi_i_request_comms;

static void tempi_i_request_comm(int id, MPI_Comm comm)
{
    tempi_i_store(&tempi_i_request_comms, (uint64_t)id, MPI_Comm_c2f(comm) + 1);
}

/* The communicator of the request whose table entry is `entry`. */
static MPI_Comm tempi_i_comm_of(int entry)
{
    int handle = tempi_i_find(&tempi_i_request_comms, (uint64_t)(entry >> 2));
    return handle ? MPI_Comm_f2c(handle - 1) : MPI_COMM_NULL;
}

static int tempi_i_greq_query(void *extra, MPI_Status *status)
{
    (void)extra; /* tempi fills the application's statuses itself */
    PMPI_Status_set_elements(status, MPI_BYTE, 0);
    PMPI_Status_set_cancelled(status, 0);
    status->MPI_SOURCE = MPI_UNDEFINED;
    status->MPI_TAG = MPI_UNDEFINED;
    return MPI_SUCCESS;
}

static int tempi_i_greq_free(void *extra)
{
    (void)extra;
    return MPI_SUCCESS;
}

static int tempi_i_greq_cancel(void *extra, int complete)
{
    (void)extra, (void)complete; /* MPI_Cancel of tempi's requests never reaches MPI */
    return MPI_SUCCESS;
}

/* Complete and free a generalized request (now MPI_REQUEST_NULL). */
static void tempi_i_drop_handle(MPI_Request *request)
{
    PMPI_Grequest_complete(*request);
    PMPI_Wait(request, MPI_STATUS_IGNORE);
}

/* Release the application's handle of one of tempi's requests (now MPI_REQUEST_NULL). */
static void tempi_i_forget(MPI_Request *request)
{
    tempi_i_store(&tempi_i_requests, tempi_i_request_key(*request), 0);
    tempi_i_drop_handle(request);
}

/* tempi's table entry for the request the application holds, or 0 for a plain request. */
int tempi_i_entry(MPI_Request request)
{
    if (tempi_i_live(&tempi_i_requests) == 0 || request == MPI_REQUEST_NULL)
        return 0;
    return tempi_i_find(&tempi_i_requests, tempi_i_request_key(request));
}

/* The application's request completed: a one-shot handle is released (now
 * MPI_REQUEST_NULL), a persistent one becomes inactive. */
static void tempi_i_finish(MPI_Request *request, int entry)
{
    if (entry & TEMPI_I_PERSISTENT)
        tempi_i_store(&tempi_i_requests, tempi_i_request_key(*request), entry & ~TEMPI_I_ACTIVE);
    else
        tempi_i_forget(request);
}

/* Before tempi starts an operation: the handle the application will hold. */
int tempi_i_new_handle(MPI_Request *request)
{
    int err = PMPI_Grequest_start(tempi_i_greq_query, tempi_i_greq_free, tempi_i_greq_cancel,
                                  NULL, request);
    return err == MPI_SUCCESS ? TEMPI_I_OK : 1000 + err;
}

/* After: map the handle to tempi's id, or drop it when tempi started nothing (rc is
 * TEMPI_I_PASS or an error, which is returned). A persistent request starts inactive. */
int tempi_i_adopt(int rc, int id, int persistent, MPI_Comm comm, MPI_Request *request)
{
    if (rc == TEMPI_I_OK)
        tempi_i_request_comm(id, comm);
    if (rc == TEMPI_I_OK &&
        !tempi_i_store(&tempi_i_requests, tempi_i_request_key(*request),
                       id << 2 | (persistent ? TEMPI_I_PERSISTENT : TEMPI_I_ACTIVE)))
        rc = TEMPI_I_ERROR + MPI_ERR_NO_MEM; /* (the operation started completes unseen) */
    if (rc != TEMPI_I_OK)
        tempi_i_drop_handle(request);
    return rc;
}

/* nbytes: TEMPI_I_SENT for a send (its status stays as the system MPI left it),
 * TEMPI_I_CANCELLED if cancelled (both from tempi/shim/spec.py). */
static void tempi_i_fill_status(MPI_Status *status, int source, int tag, int64_t nbytes)
{
    if (status == MPI_STATUS_IGNORE || nbytes == TEMPI_I_SENT)
        return;
    if (nbytes == TEMPI_I_CANCELLED) {
        status->MPI_ERROR = MPI_SUCCESS;
        MPI_Status_set_elements_x(status, MPI_BYTE, 0);
        PMPI_Status_set_cancelled(status, 1);
        return;
    }
    status->MPI_SOURCE = source;
    status->MPI_TAG = tag;
    status->MPI_ERROR = MPI_SUCCESS;
    MPI_Status_set_elements_x(status, MPI_BYTE, (MPI_Count)nbytes);
}

/* MPI's empty status, which completing an inactive persistent request gives. */
void tempi_i_empty_status(MPI_Status *status)
{
    if (status == MPI_STATUS_IGNORE)
        return;
    status->MPI_SOURCE = MPI_ANY_SOURCE;
    status->MPI_TAG = MPI_ANY_TAG;
    status->MPI_ERROR = MPI_SUCCESS;
    MPI_Status_set_elements_x(status, MPI_BYTE, 0);
    PMPI_Status_set_cancelled(status, 0);
}

int tempi_i_wait_entry(MPI_Request *request, int entry, MPI_Status *status)
{
    if (!(entry & TEMPI_I_ACTIVE)) {
        tempi_i_empty_status(status);
        return MPI_SUCCESS;
    }
    int source = 0, tag = 0;
    int64_t nbytes = TEMPI_I_SENT;
    tempi_i_finish(request, entry);
    tempi_i_quiet_t quiet;
    tempi_i_quiet(tempi_i_comm_of(entry), &quiet);
    tempi_i_inside = 1;
    int rc = tempi_i_op_wait(entry >> 2, &source, &tag, &nbytes);
    tempi_i_inside = 0;
    tempi_i_loud(&quiet);
    if (rc != TEMPI_I_OK)
        return tempi_i_error(rc);
    tempi_i_fill_status(status, source, tag, nbytes);
    return MPI_SUCCESS;
}

/* Whether tempi's request is done, and its status if so: MPI_Test (complete: the request is
 * completed when done) or MPI_Request_get_status (it is not). */
static int tempi_i_test_entry(MPI_Request *request, int entry, int complete, int *flag,
                              MPI_Status *status)
{
    *flag = 1;
    if (!(entry & TEMPI_I_ACTIVE)) {
        tempi_i_empty_status(status);
        return MPI_SUCCESS;
    }
    int source = 0, tag = 0;
    int64_t nbytes = TEMPI_I_SENT;
    tempi_i_quiet_t quiet;
    tempi_i_quiet(tempi_i_comm_of(entry), &quiet);
    tempi_i_inside = 1;
    int rc = complete ? tempi_i_op_test(entry >> 2, flag, &source, &tag, &nbytes)
                      : tempi_i_op_ready(entry >> 2, &source, &tag, &nbytes);
    tempi_i_inside = 0;
    tempi_i_loud(&quiet);
    if (!complete && rc == TEMPI_I_PASS) {
        *flag = 0;
        return MPI_SUCCESS;
    }
    if (rc != TEMPI_I_OK)
        return tempi_i_error(rc);
    if (*flag && complete)
        tempi_i_finish(request, entry);
    if (*flag)
        tempi_i_fill_status(status, source, tag, nbytes);
    return MPI_SUCCESS;
}

/* A request the caller will not complete normally (a Sendrecv whose send failed):
 * cancelled, then completed, so neither tempi nor the system MPI keeps it. */
void tempi_i_abandon(MPI_Request *request)
{
    if (*request == MPI_REQUEST_NULL)
        return;
    MPI_Cancel(request);
    MPI_Wait(request, MPI_STATUS_IGNORE);
}

/* ---- persistent requests: each MPI_Start runs tempi's operation again ------------------ */

int tempi_i_start(MPI_Request *request)
{
    tempi_i_progress(0); /* the engine's pending work (internal.h) */
    int entry = tempi_i_bypass() ? 0 : tempi_i_entry(*request);
    if (!entry)
        return PMPI_Start(request);
    if (entry & TEMPI_I_ACTIVE)
        return tempi_i_raise(tempi_i_comm_of(entry), MPI_ERR_REQUEST);
    tempi_i_quiet_t quiet;
    tempi_i_quiet(tempi_i_comm_of(entry), &quiet);
    tempi_i_inside = 1;
    int rc = tempi_i_op_start(entry >> 2);
    tempi_i_inside = 0;
    tempi_i_loud(&quiet);
    if (rc != TEMPI_I_OK)
        return tempi_i_raise(tempi_i_comm_of(entry), tempi_i_error(rc));
    tempi_i_store(&tempi_i_requests, tempi_i_request_key(*request), entry | TEMPI_I_ACTIVE);
    return MPI_SUCCESS;
}

static int tempi_i_any_ours(int count, const MPI_Request requests[])
{
    if (tempi_i_bypass() || tempi_i_live(&tempi_i_requests) == 0)
        return 0;
    for (int i = 0; i < count; ++i)
        if (tempi_i_entry(requests[i]))
            return 1;
    return 0;
}

int tempi_i_startall(int count, MPI_Request requests[])
{
    if (!tempi_i_any_ours(count, requests))
        return PMPI_Startall(count, requests);
    for (int i = 0; i < count; ++i) {
        int err = tempi_i_start(&requests[i]);
        if (err != MPI_SUCCESS)
            return err;
    }
    return MPI_SUCCESS;
}

/* ---- completion: plain requests go to the system MPI; tempi's run their remaining steps */

int tempi_i_wait(MPI_Request *request, MPI_Status *status)
{
    tempi_i_progress(1); /* the engine's pending work (internal.h) */
    int entry = tempi_i_bypass() ? 0 : tempi_i_entry(*request);
    if (!entry)
        return PMPI_Wait(request, status);
    MPI_Comm comm = tempi_i_comm_of(entry);
    return tempi_i_raise(comm, tempi_i_wait_entry(request, entry, status));
}

int tempi_i_test(MPI_Request *request, int *flag, MPI_Status *status)
{
    tempi_i_progress(0); /* the engine's pending work (internal.h) */
    int entry = tempi_i_bypass() ? 0 : tempi_i_entry(*request);
    if (!entry)
        return PMPI_Test(request, flag, status);
    MPI_Comm comm = tempi_i_comm_of(entry);
    return tempi_i_raise(comm, tempi_i_test_entry(request, entry, 1, flag, status));
}

static MPI_Status *tempi_i_nth(MPI_Status statuses[], int i)
{
    return statuses == MPI_STATUSES_IGNORE ? MPI_STATUS_IGNORE : &statuses[i];
}

/* ---- the rules of MPI's multi-completion calls, once (issue 13, item 5) -------------------
 * Over a list of tempi_i_req (internal.h): plain requests, which the system MPI completes
 * with its own rules (an inactive persistent one counts as none, and MPI_Request_get_status
 * is never asked of it: MPICH then forgets its status); none (MPI_REQUEST_NULL, a completed
 * request of tempi's, an inactive persistent one: the empty status, never active); and
 * tempi's operations, either ids of tempi_i_op_* (the C engines', the shim's Python-driven
 * ones) or the caller's, run by its driver (tempi.Comm's Python requests). The interposer's
 * MPI_Waitall and friends and tempi.Comm's Request.Waitall and friends both call these.
 *
 * Each returns an MPI error code: MPI_SUCCESS, MPI_ERR_IN_STATUS (each failed request's
 * code in its status's MPI_ERROR, the others' MPI_SUCCESS), or one code; *f says on which
 * communicator the first of tempi's failures happened and whether the system MPI has raised
 * the error itself (a plain request's). */

static void tempi_i_no_failure(tempi_i_failure *f)
{
    f->comm = MPI_COMM_NULL;
    f->code = MPI_SUCCESS;
    f->raised = 0;
    f->set = 0;
}

static void tempi_i_failed(tempi_i_failure *f, MPI_Comm comm, int code)
{
    if (f->set)
        return;
    f->comm = comm, f->code = code, f->set = 1;
}

static int tempi_i_ours(const tempi_i_req *r)
{
    return r->kind == TEMPI_I_REQ_OP || r->kind == TEMPI_I_REQ_DRIVEN;
}

/* The handles of the plain requests for a call of the system MPI, every other entry hidden
 * (MPI_REQUEST_NULL, which gives the empty status); NULL if out of memory. */
static MPI_Request *tempi_i_plain_copy(int n, const tempi_i_req r[])
{
    MPI_Request *plain = malloc(sizeof(MPI_Request) * (size_t)(n > 0 ? n : 1));
    if (plain)
        for (int i = 0; i < n; ++i)
            plain[i] = r[i].kind == TEMPI_I_REQ_PLAIN ? *r[i].handle : MPI_REQUEST_NULL;
    return plain;
}

/* After that call: the plain handles back where they came from; frees the copy. */
static void tempi_i_plain_back(int n, const tempi_i_req r[], MPI_Request plain[])
{
    for (int i = 0; i < n; ++i)
        if (r[i].kind == TEMPI_I_REQ_PLAIN)
            *r[i].handle = plain[i];
    free(plain);
}

/* Whether any entry is for the system MPI (a plain request, or none: its empty status). */
static int tempi_i_any_plain(int n, const tempi_i_req r[])
{
    for (int i = 0; i < n; ++i)
        if (!tempi_i_ours(&r[i]))
            return 1;
    return 0;
}

/* One of tempi's completed: the interposer's handle is released (one-shot) or made
 * inactive (persistent); the entry counts as none from now on. */
static void tempi_i_req_done(tempi_i_req *r)
{
    if (r->entry)
        tempi_i_finish(r->handle, r->entry);
    r->kind = TEMPI_I_REQ_NONE;
}

/* What completing one of tempi's gave: its status's fields, or its error. */
typedef struct {
    int ours, source, tag, error;
    int64_t nbytes;
    MPI_Comm comm;
} tempi_i_outcome;

static tempi_i_outcome tempi_i_outcome_of(const tempi_i_req *r)
{
    return (tempi_i_outcome){1, MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_SUCCESS, TEMPI_I_SENT, r->comm};
}

/* Complete m of tempi's (all of one kind: at[k] is r's index of the k-th) together, so one's
 * unpack overlaps another's transfer; errors[k] each one's code. The result: TEMPI_I_OK,
 * TEMPI_I_ERROR + MPI_ERR_IN_STATUS when some failed, or TEMPI_I_ERROR + a code for all. The
 * communicators of engine operations are quiet meanwhile (errors.c). */
static int tempi_i_run_complete(tempi_i_req r[], const tempi_i_driver *d, int m, const int *at,
                                const int *ids, int *sources, int *tags, int64_t *nbytes,
                                int *errors)
{
    if (r[at[0]].kind == TEMPI_I_REQ_DRIVEN)
        return d->complete(d->ctx, m, ids, sources, tags, nbytes, errors);
    /* once per run of one communicator (each swap is two calls that lock it in Open MPI) */
    tempi_i_quiet_t one, *quiet = m == 1 ? &one : calloc((size_t)m, sizeof(tempi_i_quiet_t));
    for (int k = 0; quiet && k < m; ++k) {
        if (k == 0 || r[at[k]].comm != r[at[k - 1]].comm)
            tempi_i_quiet(r[at[k]].comm, &quiet[k]);
        else
            quiet[k] = (tempi_i_quiet_t){r[at[k]].comm, MPI_ERRHANDLER_NULL};
    }
    int inside = tempi_i_inside;
    tempi_i_inside = 1;
    int rc = tempi_i_op_waitall(m, ids, sources, tags, nbytes, errors);
    tempi_i_inside = inside;
    for (int k = m - 1; quiet && k >= 0; --k)
        tempi_i_loud(&quiet[k]);
    if (quiet != &one)
        free(quiet);
    return rc;
}

/* Complete r[i] alone (blocking) into *o. */
static void tempi_i_complete_one(tempi_i_req r[], int i, const tempi_i_driver *d,
                                 tempi_i_outcome *o)
{
    *o = tempi_i_outcome_of(&r[i]);
    int error = MPI_SUCCESS;
    int rc = tempi_i_run_complete(r, d, 1, &i, &r[i].id, &o->source, &o->tag, &o->nbytes,
                                  &error);
    o->error = rc == TEMPI_I_OK ? MPI_SUCCESS
               : rc == TEMPI_I_ERROR + MPI_ERR_IN_STATUS ? error
                                                        : tempi_i_error(rc);
    tempi_i_req_done(&r[i]);
}

/* Complete every one of tempi's entries of `kind` together, their outcomes into out[]. */
static void tempi_i_complete_kind(int n, tempi_i_req r[], const tempi_i_driver *d, int kind,
                                  tempi_i_outcome out[])
{
    int m = 0;
    for (int i = 0; i < n; ++i)
        m += r[i].kind == kind;
    if (m == 0)
        return;
    int *ids = malloc(sizeof(int) * 5 * (size_t)m);
    int64_t *nbytes = malloc(sizeof(int64_t) * (size_t)m);
    if (!ids || !nbytes) { /* out of memory: one at a time */
        free(ids), free(nbytes);
        for (int i = 0; i < n; ++i)
            if (r[i].kind == kind)
                tempi_i_complete_one(r, i, d, &out[i]);
        return;
    }
    int *at = ids + m, *sources = at + m, *tags = sources + m, *errors = tags + m;
    m = 0;
    for (int i = 0; i < n; ++i)
        if (r[i].kind == kind) {
            out[i] = tempi_i_outcome_of(&r[i]);
            sources[m] = MPI_ANY_SOURCE, tags[m] = MPI_ANY_TAG, nbytes[m] = TEMPI_I_SENT;
            errors[m] = MPI_SUCCESS;
            at[m] = i, ids[m++] = r[i].id;
        }
    int rc = tempi_i_run_complete(r, d, m, at, ids, sources, tags, nbytes, errors);
    for (int k = 0; k < m; ++k) {
        tempi_i_outcome *o = &out[at[k]];
        o->source = sources[k], o->tag = tags[k], o->nbytes = nbytes[k];
        o->error = rc == TEMPI_I_OK ? MPI_SUCCESS
                   : rc == TEMPI_I_ERROR + MPI_ERR_IN_STATUS ? errors[k]
                                                            : tempi_i_error(rc);
        tempi_i_req_done(&r[at[k]]);
    }
    free(ids), free(nbytes);
}

/* One outcome into its status: the received message's fields, or the error. */
static void tempi_i_report(MPI_Status *status, const tempi_i_outcome *o)
{
    if (o->error == MPI_SUCCESS)
        tempi_i_fill_status(status, o->source, o->tag, o->nbytes);
    else if (status != MPI_STATUS_IGNORE)
        status->MPI_ERROR = o->error;
}

/* The statuses of tempi's completed entries (out[i].ours); a failure: MPI_ERR_IN_STATUS,
 * every other status's MPI_ERROR MPI_SUCCESS unless the system MPI has set them. */
static int tempi_i_report_all(int n, const tempi_i_outcome out[], MPI_Status statuses[],
                              int plain_set, tempi_i_failure *f)
{
    int failed = 0;
    for (int i = 0; i < n; ++i)
        if (out[i].ours && out[i].error != MPI_SUCCESS) {
            failed = 1;
            tempi_i_failed(f, out[i].comm, out[i].error);
        }
    if (failed && !plain_set && statuses != MPI_STATUSES_IGNORE)
        for (int i = 0; i < n; ++i)
            statuses[i].MPI_ERROR = MPI_SUCCESS;
    for (int i = 0; i < n; ++i)
        if (out[i].ours)
            tempi_i_report(tempi_i_nth(statuses, i), &out[i]);
    return failed ? MPI_ERR_IN_STATUS : MPI_SUCCESS;
}

/* Whether one of tempi's is done, without completing it: TEMPI_I_OK, TEMPI_I_PASS (not
 * yet), or an error. */
static int tempi_i_req_ready(const tempi_i_req *r, const tempi_i_driver *d)
{
    int source = 0, tag = 0;
    int64_t nbytes = TEMPI_I_SENT;
    if (r->kind == TEMPI_I_REQ_DRIVEN)
        return d->ready(d->ctx, r->id, &source, &tag, &nbytes);
    tempi_i_quiet_t quiet;
    tempi_i_quiet(r->comm, &quiet);
    int inside = tempi_i_inside;
    tempi_i_inside = 1;
    int rc = tempi_i_op_ready(r->id, &source, &tag, &nbytes);
    tempi_i_inside = inside;
    tempi_i_loud(&quiet);
    return rc;
}

/* Complete r[i] if it is done (a failure is done too): 1 and *o, else 0. */
static int tempi_i_test_one(tempi_i_req r[], int i, const tempi_i_driver *d, tempi_i_outcome *o)
{
    if (r[i].kind == TEMPI_I_REQ_DRIVEN) {
        if (tempi_i_req_ready(&r[i], d) == TEMPI_I_PASS)
            return 0;
        tempi_i_complete_one(r, i, d, o); /* a failure is raised by its completion */
        return 1;
    }
    *o = tempi_i_outcome_of(&r[i]);
    int flag = 0;
    tempi_i_quiet_t quiet;
    tempi_i_quiet(r[i].comm, &quiet);
    int inside = tempi_i_inside;
    tempi_i_inside = 1;
    int rc = tempi_i_op_test(r[i].id, &flag, &o->source, &o->tag, &o->nbytes);
    tempi_i_inside = inside;
    tempi_i_loud(&quiet);
    if (rc == TEMPI_I_OK && !flag)
        return 0;
    o->error = rc == TEMPI_I_OK ? MPI_SUCCESS : tempi_i_error(rc);
    tempi_i_req_done(&r[i]);
    return 1;
}

/* MPI_Waitall: the caller's operations first and together (their sends may not have
 * reached MPI yet), then the plain requests by the system MPI, then tempi's operations
 * (each posted when it started, so that order cannot deadlock). */
static int tempi_i_rule_waitall(int n, tempi_i_req r[], const tempi_i_driver *d, MPI_Status statuses[],
                         tempi_i_failure *f)
{
    tempi_i_no_failure(f);
    tempi_i_progress(1);
    tempi_i_outcome *out = calloc((size_t)(n > 0 ? n : 1), sizeof(tempi_i_outcome));
    if (!out)
        return MPI_ERR_NO_MEM;
    tempi_i_complete_kind(n, r, d, TEMPI_I_REQ_DRIVEN, out);
    int err = MPI_SUCCESS;
    if (tempi_i_any_plain(n, r)) {
        MPI_Request *plain = tempi_i_plain_copy(n, r);
        err = plain ? PMPI_Waitall(n, plain, statuses) : MPI_ERR_NO_MEM;
        if (plain)
            tempi_i_plain_back(n, r, plain);
    }
    tempi_i_complete_kind(n, r, d, TEMPI_I_REQ_OP, out);
    int ours = tempi_i_report_all(n, out, statuses, err == MPI_ERR_IN_STATUS, f);
    free(out);
    if (err != MPI_SUCCESS) { /* the system MPI has raised its own */
        f->raised = 1;
        return err;
    }
    return ours;
}

/* MPI_Testall completes nothing unless all are done (their statuses are filled only by the
 * call that succeeds): tempi's are asked first without completing them, then the system
 * MPI's Testall decides for the plain ones, and only then are tempi's completed. */
static int tempi_i_rule_testall(int n, tempi_i_req r[], const tempi_i_driver *d, int *flag,
                         MPI_Status statuses[], tempi_i_failure *f)
{
    tempi_i_no_failure(f);
    tempi_i_progress(0);
    *flag = 0;
    for (int i = 0; i < n; ++i) {
        if (!tempi_i_ours(&r[i]))
            continue;
        int rc = tempi_i_req_ready(&r[i], d);
        if (rc == TEMPI_I_PASS)
            return MPI_SUCCESS;
        if (rc != TEMPI_I_OK) {
            tempi_i_failed(f, r[i].comm, tempi_i_error(rc));
            return tempi_i_error(rc);
        }
    }
    *flag = 1;
    if (tempi_i_any_plain(n, r)) {
        MPI_Request *plain = tempi_i_plain_copy(n, r);
        if (!plain)
            return MPI_ERR_NO_MEM;
        int err = PMPI_Testall(n, plain, flag, statuses);
        tempi_i_plain_back(n, r, plain);
        if (err != MPI_SUCCESS || !*flag) {
            f->raised = err != MPI_SUCCESS;
            return err;
        }
    }
    tempi_i_outcome *out = calloc((size_t)(n > 0 ? n : 1), sizeof(tempi_i_outcome));
    if (!out)
        return MPI_ERR_NO_MEM;
    tempi_i_complete_kind(n, r, d, TEMPI_I_REQ_DRIVEN, out);
    tempi_i_complete_kind(n, r, d, TEMPI_I_REQ_OP, out);
    int err = tempi_i_report_all(n, out, statuses, 0, f);
    free(out);
    return err;
}

/* MPI_Testany: tempi's active ones first, then the plain ones by the system MPI's own
 * Testany (which alone knows whether a plain persistent request is active). *index is
 * MPI_UNDEFINED with *flag true only when nothing is active; a failed request of tempi's
 * is the one completed, with its code returned. */
static int tempi_i_rule_testany(int n, tempi_i_req r[], const tempi_i_driver *d, int *index,
                         int *flag, MPI_Status *status, tempi_i_failure *f)
{
    tempi_i_no_failure(f);
    tempi_i_progress(0);
    int ours = 0;
    *index = MPI_UNDEFINED;
    *flag = 0;
    for (int i = 0; i < n; ++i) {
        if (!tempi_i_ours(&r[i]))
            continue;
        ours = 1;
        tempi_i_outcome o;
        if (!tempi_i_test_one(r, i, d, &o))
            continue;
        *index = i, *flag = 1;
        if (o.error != MPI_SUCCESS) {
            tempi_i_failed(f, o.comm, o.error);
            return o.error;
        }
        tempi_i_report(status, &o);
        return MPI_SUCCESS;
    }
    MPI_Request *plain = tempi_i_plain_copy(n, r);
    if (!plain)
        return MPI_ERR_NO_MEM;
    int err = PMPI_Testany(n, plain, index, flag, status);
    tempi_i_plain_back(n, r, plain);
    f->raised = err != MPI_SUCCESS;
    if (err == MPI_SUCCESS && *index == MPI_UNDEFINED && ours)
        *flag = 0; /* none done, but tempi's are still active */
    return err;
}

/* Wait, without spinning, until something in the list can move: MPI's own Waitany over
 * the plain requests and the MPI requests tempi's operations wait on (local device work
 * first: the driver blocks on it itself). 1 when that completed an entry (*index, its
 * status; an error returned), 0 to test again -- at once when some operation of tempi's has
 * nothing to block on (the device engine's, the shim's Python-driven ones: a round of
 * tests progresses them). */
static int tempi_i_block(int n, tempi_i_req r[], const tempi_i_driver *d, int *index,
                         MPI_Status *status, tempi_i_failure *f, int *err)
{
    *err = MPI_SUCCESS;
    tempi_i_progress(1);
    MPI_Request *pool = tempi_i_plain_copy(n, r);
    MPI_Request **back = calloc((size_t)(n > 0 ? n : 1), sizeof(MPI_Request *));
    int ready = pool && back;
    for (int i = 0; ready && i < n; ++i) {
        if (r[i].kind == TEMPI_I_REQ_OP) {
            ready = r[i].id >= TEMPI_I_ENGINE_IDS && r[i].id < TEMPI_I_DEVICE_IDS;
            if (ready)
                pool[i] = tempi_i_op_request(r[i].id);
        } else if (r[i].kind == TEMPI_I_REQ_DRIVEN) {
            int how = d->blocker(d->ctx, r[i].id, &back[i]);
            ready = how == 1 && back[i];
            if (ready)
                pool[i] = *back[i];
        }
    }
    if (!ready) {
        free(pool), free(back);
        return 0;
    }
    MPI_Status st;
    int k = MPI_UNDEFINED;
    int rc = PMPI_Waitany(n, pool, &k, &st);
    if (k == MPI_UNDEFINED || k < 0 || k >= n) {
        free(back);
        tempi_i_plain_back(n, r, pool);
        if (rc != MPI_SUCCESS) {
            f->raised = 1;
            *err = rc;
            return 1;
        }
        return 0;
    }
    int kind = r[k].kind;
    if (kind == TEMPI_I_REQ_DRIVEN)
        *back[k] = pool[k];
    free(back);
    tempi_i_plain_back(n, r, pool);
    if (kind == TEMPI_I_REQ_PLAIN) {
        *index = k;
        if (status != MPI_STATUS_IGNORE)
            *status = st;
        f->raised = rc != MPI_SUCCESS;
        *err = rc;
        return 1;
    }
    if (kind == TEMPI_I_REQ_DRIVEN) { /* its next step may finish it: test again */
        d->landed(d->ctx, r[k].id, rc == MPI_SUCCESS ? &st : NULL);
        return 0;
    }
    tempi_i_outcome o = tempi_i_outcome_of(&r[k]);
    int inside = tempi_i_inside;
    tempi_i_inside = 1;
    int done = rc == MPI_SUCCESS
                   ? tempi_i_op_landed(r[k].id, &st, &o.source, &o.tag, &o.nbytes)
                   : tempi_i_op_lost(r[k].id, rc);
    tempi_i_inside = inside;
    o.error = done == TEMPI_I_OK ? MPI_SUCCESS : tempi_i_error(done);
    tempi_i_req_done(&r[k]);
    *index = k;
    if (o.error != MPI_SUCCESS)
        tempi_i_failed(f, o.comm, o.error);
    else
        tempi_i_report(status, &o);
    *err = o.error;
    return 1;
}

static int tempi_i_rule_waitany(int n, tempi_i_req r[], const tempi_i_driver *d, int *index,
                         MPI_Status *status, tempi_i_failure *f)
{
    for (;;) {
        int flag = 0, err = tempi_i_rule_testany(n, r, d, index, &flag, status, f);
        if (err != MPI_SUCCESS || flag)
            return err;
        if (tempi_i_block(n, r, d, index, status, f, &err))
            return err;
    }
}

/* MPI_Testsome: the system MPI's Testsome on the plain requests, then tempi's that are
 * done; *outcount MPI_UNDEFINED when nothing is active. A failure of tempi's:
 * MPI_ERR_IN_STATUS, each completed one's status with its MPI_ERROR. */
static int tempi_i_rule_testsome(int n, tempi_i_req r[], const tempi_i_driver *d, int *outcount,
                          int indices[], MPI_Status statuses[], tempi_i_failure *f)
{
    tempi_i_no_failure(f);
    tempi_i_progress(0);
    int done = 0, err = MPI_SUCCESS;
    if (tempi_i_any_plain(n, r)) {
        MPI_Request *plain = tempi_i_plain_copy(n, r);
        if (!plain)
            return MPI_ERR_NO_MEM;
        err = PMPI_Testsome(n, plain, &done, indices, statuses);
        tempi_i_plain_back(n, r, plain);
        if (err != MPI_SUCCESS) {
            *outcount = done;
            f->raised = 1;
            return err;
        }
    } else {
        done = MPI_UNDEFINED;
    }
    int plain_done = done == MPI_UNDEFINED ? 0 : done, active = done != MPI_UNDEFINED;
    done = plain_done;
    for (int i = 0; i < n; ++i) {
        if (!tempi_i_ours(&r[i]))
            continue;
        active = 1;
        tempi_i_outcome o;
        if (!tempi_i_test_one(r, i, d, &o))
            continue;
        MPI_Status *status = tempi_i_nth(statuses, done);
        tempi_i_report(status, &o);
        if (status != MPI_STATUS_IGNORE)
            status->MPI_ERROR = o.error;
        if (o.error != MPI_SUCCESS) {
            tempi_i_failed(f, o.comm, o.error);
            err = MPI_ERR_IN_STATUS;
        }
        indices[done++] = i;
    }
    if (err != MPI_SUCCESS && statuses != MPI_STATUSES_IGNORE)
        for (int k = 0; k < plain_done; ++k)
            statuses[k].MPI_ERROR = MPI_SUCCESS;
    *outcount = active ? done : MPI_UNDEFINED;
    return err;
}

static int tempi_i_rule_waitsome(int n, tempi_i_req r[], const tempi_i_driver *d, int *outcount,
                          int indices[], MPI_Status statuses[], tempi_i_failure *f)
{
    for (;;) {
        int err = tempi_i_rule_testsome(n, r, d, outcount, indices, statuses, f);
        if (err != MPI_SUCCESS || *outcount != 0)
            return err;
        int index = MPI_UNDEFINED;
        if (tempi_i_block(n, r, d, &index, tempi_i_nth(statuses, 0), f, &err)) {
            *outcount = 1;
            indices[0] = index;
            return err;
        }
    }
}

/* Rule `call` (TEMPI_I_WAITALL ...): *flag (Testall, Testany), *value (the index, the
 * outcount), indices (Waitsome, Testsome), statuses (one for Waitany, Testany). */
int tempi_i_rule(int call, int n, tempi_i_req r[], const tempi_i_driver *d, int *flag,
                 int *value, int indices[], MPI_Status *statuses, tempi_i_failure *f)
{
    *flag = 1, *value = MPI_UNDEFINED;
    switch (call) {
    case TEMPI_I_WAITALL:
        return tempi_i_rule_waitall(n, r, d, statuses, f);
    case TEMPI_I_TESTALL:
        return tempi_i_rule_testall(n, r, d, flag, statuses, f);
    case TEMPI_I_WAITANY:
        return tempi_i_rule_waitany(n, r, d, value, statuses, f);
    case TEMPI_I_TESTANY:
        return tempi_i_rule_testany(n, r, d, value, flag, statuses, f);
    case TEMPI_I_WAITSOME:
        return tempi_i_rule_waitsome(n, r, d, value, indices, statuses, f);
    case TEMPI_I_TESTSOME:
        return tempi_i_rule_testsome(n, r, d, value, indices, statuses, f);
    default:
        tempi_i_no_failure(f);
        return MPI_ERR_ARG;
    }
}

/* ---- the interposer's completion calls: the application's array as the rules' list ---- */

/* Rule `call` over the application's requests[] (tempi's entries found in the request
 * table), tempi's failure raised on its communicator's handler (the system MPI has raised
 * its own). */
static int tempi_i_app_rule(int call, int count, MPI_Request requests[], int *flag, int *value,
                            int indices[], MPI_Status *statuses)
{
    tempi_i_req *r = malloc(sizeof(tempi_i_req) * (size_t)(count > 0 ? count : 1));
    if (!r)
        return MPI_ERR_NO_MEM;
    for (int i = 0; i < count; ++i) {
        int entry = tempi_i_entry(requests[i]);
        int kind = !entry                     ? TEMPI_I_REQ_PLAIN
                   : entry & TEMPI_I_ACTIVE ? TEMPI_I_REQ_OP
                                            : TEMPI_I_REQ_NONE;
        r[i] = (tempi_i_req){kind, entry >> 2, &requests[i], entry,
                             entry ? tempi_i_comm_of(entry) : MPI_COMM_NULL};
    }
    tempi_i_failure f;
    int err = tempi_i_rule(call, count, r, NULL, flag, value, indices, statuses, &f);
    free(r);
    if (err == MPI_SUCCESS || f.raised)
        return err;
    return err == MPI_ERR_IN_STATUS ? tempi_i_raise_in_status(f.comm, f.code)
                                    : tempi_i_raise(f.comm, err);
}

int tempi_i_waitall(int count, MPI_Request requests[], MPI_Status statuses[])
{
    tempi_i_progress(1); /* the engine's pending work (internal.h) */
    if (!tempi_i_any_ours(count, requests))
        return PMPI_Waitall(count, requests, statuses);
    int flag, value;
    return tempi_i_app_rule(TEMPI_I_WAITALL, count, requests, &flag, &value, NULL, statuses);
}

int tempi_i_testall(int count, MPI_Request requests[], int *flag, MPI_Status statuses[])
{
    tempi_i_progress(0);
    if (!tempi_i_any_ours(count, requests))
        return PMPI_Testall(count, requests, flag, statuses);
    int value;
    return tempi_i_app_rule(TEMPI_I_TESTALL, count, requests, flag, &value, NULL, statuses);
}

int tempi_i_waitany(int count, MPI_Request requests[], int *index, MPI_Status *status)
{
    tempi_i_progress(1);
    if (!tempi_i_any_ours(count, requests))
        return PMPI_Waitany(count, requests, index, status);
    int flag;
    return tempi_i_app_rule(TEMPI_I_WAITANY, count, requests, &flag, index, NULL, status);
}

int tempi_i_testany(int count, MPI_Request requests[], int *index, int *flag, MPI_Status *status)
{
    tempi_i_progress(0);
    if (!tempi_i_any_ours(count, requests))
        return PMPI_Testany(count, requests, index, flag, status);
    return tempi_i_app_rule(TEMPI_I_TESTANY, count, requests, flag, index, NULL, status);
}

/* MPI_Waitsome (wait 1) or MPI_Testsome (0). */
static int tempi_i_some(int wait, int incount, MPI_Request requests[], int *outcount,
                        int indices[], MPI_Status statuses[])
{
    tempi_i_progress(wait);
    if (!tempi_i_any_ours(incount, requests))
        return wait ? PMPI_Waitsome(incount, requests, outcount, indices, statuses)
                    : PMPI_Testsome(incount, requests, outcount, indices, statuses);
    int flag;
    return tempi_i_app_rule(wait ? TEMPI_I_WAITSOME : TEMPI_I_TESTSOME, incount, requests, &flag,
                            outcount, indices, statuses);
}

int tempi_i_waitsome(int incount, MPI_Request requests[], int *outcount, int indices[],
                     MPI_Status statuses[])
{
    return tempi_i_some(1, incount, requests, outcount, indices, statuses);
}

int tempi_i_testsome(int incount, MPI_Request requests[], int *outcount, int indices[],
                     MPI_Status statuses[])
{
    return tempi_i_some(0, incount, requests, outcount, indices, statuses);
}

int tempi_i_request_get_status(MPI_Request request, int *flag, MPI_Status *status)
{
    tempi_i_progress(0); /* the engine's pending work (internal.h) */
    int entry = tempi_i_bypass() ? 0 : tempi_i_entry(request);
    if (!entry)
        return PMPI_Request_get_status(request, flag, status);
    return tempi_i_raise(tempi_i_comm_of(entry),
                         tempi_i_test_entry(NULL, entry, 0, flag, status));
}

/* A receive not yet matched is cancelled (MPI_Test_cancelled then says so); the request
 * must still be completed. */
int tempi_i_cancel(MPI_Request *request)
{
    int entry = tempi_i_bypass() ? 0 : tempi_i_entry(*request);
    if (!entry)
        return PMPI_Cancel(request);
    if (!(entry & TEMPI_I_ACTIVE))
        return MPI_SUCCESS;
    tempi_i_quiet_t quiet;
    tempi_i_quiet(tempi_i_comm_of(entry), &quiet);
    tempi_i_inside = 1;
    int rc = tempi_i_op_cancel(entry >> 2);
    tempi_i_inside = 0;
    tempi_i_loud(&quiet);
    return rc == TEMPI_I_OK ? MPI_SUCCESS : tempi_i_raise(tempi_i_comm_of(entry), tempi_i_error(rc));
}

int tempi_i_request_free(MPI_Request *request)
{
    int entry = tempi_i_bypass() ? 0 : tempi_i_entry(*request);
    if (!entry)
        return PMPI_Request_free(request);
    tempi_i_forget(request);
    tempi_i_inside = 1;
    tempi_i_op_request_free(entry >> 2); /* an operation in flight completes in the background */
    tempi_i_inside = 0;
    return MPI_SUCCESS;
}
