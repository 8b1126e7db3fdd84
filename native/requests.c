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
static void tempi_i_empty_status(MPI_Status *status)
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

static int tempi_i_test_entry(MPI_Request *request, int entry, int *flag, MPI_Status *status)
{
    if (!(entry & TEMPI_I_ACTIVE)) {
        *flag = 1;
        tempi_i_empty_status(status);
        return MPI_SUCCESS;
    }
    int source = 0, tag = 0;
    int64_t nbytes = TEMPI_I_SENT;
    tempi_i_quiet_t quiet;
    tempi_i_quiet(tempi_i_comm_of(entry), &quiet);
    tempi_i_inside = 1;
    int rc = tempi_i_op_test(entry >> 2, flag, &source, &tag, &nbytes);
    tempi_i_inside = 0;
    tempi_i_loud(&quiet);
    if (rc != TEMPI_I_OK)
        return tempi_i_error(rc);
    if (*flag) {
        tempi_i_finish(request, entry);
        tempi_i_fill_status(status, source, tag, nbytes);
    }
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
    return tempi_i_raise(comm, tempi_i_test_entry(request, entry, flag, status));
}

static MPI_Status *tempi_i_nth(MPI_Status statuses[], int i)
{
    return statuses == MPI_STATUSES_IGNORE ? MPI_STATUS_IGNORE : &statuses[i];
}

/* A copy of requests with tempi's hidden (MPI_REQUEST_NULL) for a call of the system MPI,
 * which applies its own rules to the plain ones (an inactive persistent request counts as
 * none); NULL if out of memory. */
static MPI_Request *tempi_i_hide(int count, const MPI_Request requests[])
{
    MPI_Request *plain = malloc(sizeof(MPI_Request) * (count > 0 ? count : 1));
    if (plain)
        for (int i = 0; i < count; ++i)
            plain[i] = tempi_i_entry(requests[i]) ? MPI_REQUEST_NULL : requests[i];
    return plain;
}

/* After that call: the plain handles back into the application's array; frees the copy. */
static void tempi_i_unhide(int count, MPI_Request requests[], MPI_Request plain[])
{
    for (int i = 0; i < count; ++i)
        if (!tempi_i_entry(requests[i]))
            requests[i] = plain[i];
    free(plain);
}

/* Complete tempi's active requests in one Python call that drives them together, and fill
 * their statuses (an inactive one keeps the empty status its hidden slot got). A failure of
 * some: MPI_ERR_IN_STATUS, each status's MPI_ERROR its request's code (the other statuses'
 * MPI_SUCCESS unless `plain_set` says the system MPI has set them), and *failed the
 * communicator of the first failed request, *code its error. */
static int tempi_i_complete(int count, MPI_Request requests[], MPI_Status statuses[],
                            int plain_set, MPI_Comm *failed, int *code)
{
    int *ids = calloc(count, sizeof(int)), *where = calloc(count, sizeof(int));
    int *sources = calloc(count, sizeof(int)), *tags = calloc(count, sizeof(int));
    int *errors = calloc(count, sizeof(int));
    MPI_Comm *comms = calloc(count, sizeof(MPI_Comm));
    int64_t *nbytes = calloc(count, sizeof(int64_t));
    int err = MPI_SUCCESS;
    if (!ids || !where || !sources || !tags || !nbytes || !errors || !comms) {
        for (int i = 0; i < count && err == MPI_SUCCESS; ++i) {
            int entry = tempi_i_entry(requests[i]);
            *failed = tempi_i_comm_of(entry);
            if (entry & TEMPI_I_ACTIVE)
                err = tempi_i_wait_entry(&requests[i], entry, tempi_i_nth(statuses, i));
        }
        free(ids), free(where), free(sources), free(tags), free(nbytes), free(errors);
        free(comms);
        return err;
    }
    int n = 0;
    for (int i = 0; i < count; ++i) {
        int entry = tempi_i_entry(requests[i]);
        if (entry & TEMPI_I_ACTIVE) {
            ids[n] = entry >> 2;
            comms[n] = tempi_i_comm_of(entry);
            where[n++] = i;
            tempi_i_finish(&requests[i], entry);
        }
    }
    tempi_i_quiet_t *quiet = calloc(n > 0 ? n : 1, sizeof(tempi_i_quiet_t));
    for (int k = 0; quiet && k < n; ++k)
        tempi_i_quiet(comms[k], &quiet[k]);
    tempi_i_inside = 1;
    int rc = tempi_i_op_waitall(n, ids, sources, tags, nbytes, errors);
    tempi_i_inside = 0;
    for (int k = n - 1; quiet && k >= 0; --k)
        tempi_i_loud(&quiet[k]);
    free(quiet);
    if (rc == TEMPI_I_OK || rc == TEMPI_I_ERROR + MPI_ERR_IN_STATUS) {
        if (rc != TEMPI_I_OK && !plain_set && statuses != MPI_STATUSES_IGNORE)
            for (int i = 0; i < count; ++i)
                statuses[i].MPI_ERROR = MPI_SUCCESS;
        for (int k = 0; k < n; ++k) {
            MPI_Status *status = tempi_i_nth(statuses, where[k]);
            if (errors[k] == MPI_SUCCESS) {
                tempi_i_fill_status(status, sources[k], tags[k], nbytes[k]);
                continue;
            }
            if (status != MPI_STATUS_IGNORE)
                status->MPI_ERROR = errors[k];
            if (*failed == MPI_COMM_NULL) {
                *failed = comms[k];
                *code = errors[k];
            }
        }
        err = rc == TEMPI_I_OK ? MPI_SUCCESS : MPI_ERR_IN_STATUS;
    } else {
        err = tempi_i_error(rc);
        *failed = n > 0 ? comms[0] : MPI_COMM_NULL;
    }
    free(ids), free(where), free(sources), free(tags), free(nbytes), free(errors), free(comms);
    return err;
}

/* Plain requests to PMPI_Waitall, then tempi's to one Python call. Every operation was
 * posted when it started, so the order of the two cannot deadlock. */
int tempi_i_waitall(int count, MPI_Request requests[], MPI_Status statuses[])
{
    tempi_i_progress(1); /* the engine's pending work (internal.h) */
    if (!tempi_i_any_ours(count, requests))
        return PMPI_Waitall(count, requests, statuses);
    MPI_Request *plain = tempi_i_hide(count, requests);
    if (!plain)
        return MPI_ERR_NO_MEM;
    int err = PMPI_Waitall(count, plain, statuses);
    tempi_i_unhide(count, requests, plain);
    MPI_Comm failed = MPI_COMM_NULL;
    int code = MPI_SUCCESS;
    int rc = tempi_i_complete(count, requests, statuses, err == MPI_ERR_IN_STATUS, &failed,
                              &code);
    if (rc == MPI_SUCCESS || err != MPI_SUCCESS) /* the system MPI has raised its own */
        return err != MPI_SUCCESS ? err : rc;
    return rc == MPI_ERR_IN_STATUS ? tempi_i_raise_in_status(failed, code)
                                   : tempi_i_raise(failed, rc);
}

/* Whether tempi's request is done, without completing it; its status if so. */
static int tempi_i_request_ready(int entry, int *flag, MPI_Status *status)
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
    int rc = tempi_i_op_ready(entry >> 2, &source, &tag, &nbytes);
    tempi_i_inside = 0;
    tempi_i_loud(&quiet);
    if (rc != TEMPI_I_OK && rc != TEMPI_I_PASS)
        return tempi_i_error(rc);
    *flag = rc == TEMPI_I_OK;
    if (*flag)
        tempi_i_fill_status(status, source, tag, nbytes);
    return MPI_SUCCESS;
}

int tempi_i_request_get_status(MPI_Request request, int *flag, MPI_Status *status)
{
    tempi_i_progress(0); /* the engine's pending work (internal.h) */
    int entry = tempi_i_bypass() ? 0 : tempi_i_entry(request);
    if (!entry)
        return PMPI_Request_get_status(request, flag, status);
    return tempi_i_raise(tempi_i_comm_of(entry), tempi_i_request_ready(entry, flag, status));
}

/* MPI_Testall completes nothing unless all are done: tempi's are asked first, without
 * completing them, then the system MPI's Testall decides for the plain ones. */
int tempi_i_testall(int count, MPI_Request requests[], int *flag, MPI_Status statuses[])
{
    tempi_i_progress(0); /* the engine's pending work (internal.h) */
    if (!tempi_i_any_ours(count, requests))
        return PMPI_Testall(count, requests, flag, statuses);
    for (int i = 0; i < count; ++i) {
        int entry = tempi_i_entry(requests[i]), err = MPI_SUCCESS;
        if (entry & TEMPI_I_ACTIVE)
            err = tempi_i_request_ready(entry, flag, MPI_STATUS_IGNORE);
        if (err != MPI_SUCCESS || ((entry & TEMPI_I_ACTIVE) && !*flag)) {
            *flag = 0;
            return tempi_i_raise(tempi_i_comm_of(entry), err);
        }
    }
    MPI_Request *plain = tempi_i_hide(count, requests);
    if (!plain)
        return MPI_ERR_NO_MEM;
    int err = PMPI_Testall(count, plain, flag, statuses);
    tempi_i_unhide(count, requests, plain);
    if (err != MPI_SUCCESS || !*flag)
        return err;
    MPI_Comm failed = MPI_COMM_NULL;
    int code = MPI_SUCCESS;
    err = tempi_i_complete(count, requests, statuses, 0, &failed, &code);
    return err == MPI_ERR_IN_STATUS ? tempi_i_raise_in_status(failed, code)
                                    : tempi_i_raise(failed, err);
}

int tempi_i_testany(int count, MPI_Request requests[], int *index, int *flag, MPI_Status *status)
{
    tempi_i_progress(0); /* the engine's pending work (internal.h) */
    if (!tempi_i_any_ours(count, requests))
        return PMPI_Testany(count, requests, index, flag, status);
    int ours = 0;
    for (int i = 0; i < count; ++i) {
        int entry = tempi_i_entry(requests[i]);
        if (!(entry & TEMPI_I_ACTIVE))
            continue;
        ours = 1;
        MPI_Comm comm = tempi_i_comm_of(entry);
        int err = tempi_i_test_entry(&requests[i], entry, flag, status);
        if (err != MPI_SUCCESS) {
            *index = i;
            return tempi_i_raise(comm, err);
        }
        if (*flag) {
            *index = i;
            return MPI_SUCCESS;
        }
    }
    MPI_Request *plain = tempi_i_hide(count, requests);
    if (!plain)
        return MPI_ERR_NO_MEM;
    int err = PMPI_Testany(count, plain, index, flag, status);
    tempi_i_unhide(count, requests, plain);
    if (err == MPI_SUCCESS && *index == MPI_UNDEFINED && ours)
        *flag = 0; /* none done, but tempi's are still active */
    return err;
}

int tempi_i_waitany(int count, MPI_Request requests[], int *index, MPI_Status *status)
{
    if (!tempi_i_any_ours(count, requests))
        return PMPI_Waitany(count, requests, index, status);
    int flag = 0, err = MPI_SUCCESS;
    while (!flag && err == MPI_SUCCESS) /* each round progresses the engine's pending work */
        err = tempi_i_testany(count, requests, index, &flag, status);
    return err;
}

/* The system MPI's Testsome on the plain requests, then tempi's that are done. */
int tempi_i_testsome(int incount, MPI_Request requests[], int *outcount, int indices[],
                 MPI_Status statuses[])
{
    tempi_i_progress(0); /* the engine's pending work (internal.h) */
    if (!tempi_i_any_ours(incount, requests))
        return PMPI_Testsome(incount, requests, outcount, indices, statuses);
    MPI_Request *plain = tempi_i_hide(incount, requests);
    if (!plain)
        return MPI_ERR_NO_MEM;
    int done = 0, err = PMPI_Testsome(incount, plain, &done, indices, statuses);
    tempi_i_unhide(incount, requests, plain);
    int active = done != MPI_UNDEFINED;
    if (!active)
        done = 0;
    for (int i = 0; i < incount && err == MPI_SUCCESS; ++i) {
        int entry = tempi_i_entry(requests[i]), flag = 0;
        if (!(entry & TEMPI_I_ACTIVE))
            continue;
        active = 1;
        MPI_Comm comm = tempi_i_comm_of(entry);
        int failed = tempi_i_request_ready(entry, &flag, MPI_STATUS_IGNORE);
        if (failed == MPI_SUCCESS && flag)
            failed = tempi_i_wait_entry(&requests[i], entry, tempi_i_nth(statuses, done));
        if (failed != MPI_SUCCESS || flag) {
            MPI_Status *status = tempi_i_nth(statuses, done);
            if (status != MPI_STATUS_IGNORE)
                status->MPI_ERROR = failed;
            indices[done++] = i;
        }
        if (failed != MPI_SUCCESS && err == MPI_SUCCESS)
            err = tempi_i_raise_in_status(comm, failed);
    }
    *outcount = active ? done : MPI_UNDEFINED;
    return err;
}

int tempi_i_waitsome(int incount, MPI_Request requests[], int *outcount, int indices[],
                 MPI_Status statuses[])
{
    if (!tempi_i_any_ours(incount, requests))
        return PMPI_Waitsome(incount, requests, outcount, indices, statuses);
    int err = MPI_SUCCESS;
    do
        err = tempi_i_testsome(incount, requests, outcount, indices, statuses); /* progresses */
    while (err == MPI_SUCCESS && *outcount == 0);
    return err;
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
