/* Point to point: tempi's sends and receives. Each starts with a handle the application
 * will hold (requests.c) and hands the operation to tempi_py_isend/tempi_py_irecv
 * (tempi/shim/callbacks.py); the blocking forms start, then wait. Results are callback
 * results: TEMPI_I_OK, TEMPI_I_PASS or TEMPI_I_ERROR + an MPI error code. */
#include <limits.h>
#include <stdint.h>

#include <mpi.h>

#include "engine.h"
#include "interposer.h"
#include "internal.h"

/* Return CALL's result (a C engine function) unless it passed, COMM's errors coming back
 * to C meanwhile, which raises them once. */
#define TEMPI_I_ENGINE_QUIET(COMM, CALL)                                                        \
    do {                                                                                        \
        tempi_i_quiet_t quiet_;                                                                 \
        tempi_i_quiet((COMM), &quiet_);                                                         \
        int rc_ = (CALL);                                                                       \
        tempi_i_loud(&quiet_);                                                                  \
        if (rc_ != TEMPI_I_PASS)                                                                \
            return rc_;                                                                         \
    } while (0)

/* The same when the engine has a plan for BUF's type (no Python); go on when it passed. */
#define TEMPI_I_ENGINE_TRY(BUF, DATATYPE, COMM, CALL)                                          \
    do {                                                                                        \
        if (tempi_i_engine_takes((BUF), (DATATYPE)))                                            \
            TEMPI_I_ENGINE_QUIET(COMM, CALL);                                                   \
    } while (0)

/* The blocking forms on host memory: the engine's send or receive is one MPI call that can
 * fail (engine.c), made on the application's error handler as it stands, so an error it
 * returns has been raised by the MPI already: RAISED - code, returned as it is. No swap of
 * the handler per message (Open MPI locks the communicator at each get and set: about
 * 0.1 us a message; under MPI_THREAD_MULTIPLE the swap is counted under a lock). */
#define TEMPI_I_ENGINE_TRY_BLOCKING(BUF, DATATYPE, COMM, CALL)                                 \
    do {                                                                                        \
        if (!tempi_i_engine_takes((BUF), (DATATYPE)))                                           \
            break;                                                                              \
        if (!tempi_i_engine_on_host())                                                          \
            TEMPI_I_ENGINE_QUIET(COMM, CALL);                                                   \
        int rc_ = (CALL);                                                                       \
        if (rc_ >= TEMPI_I_ERROR)                                                               \
            return TEMPI_I_RAISED - tempi_i_error(rc_);                                         \
        if (rc_ != TEMPI_I_PASS)                                                                \
            return rc_;                                                                         \
    } while (0)

/* MPI_Isend, or with persistent MPI_Send_init. */
int tempi_i_isend(const void *buf, int64_t count, MPI_Datatype datatype, int dest,
                         int tag, MPI_Comm comm, int mode, int persistent,
                         MPI_Request *request)
{
    TEMPI_I_ENGINE_TRY(buf, datatype, comm,
                       tempi_i_engine_isend(buf, count, datatype, dest, tag, comm, mode,
                                            persistent, request));
    int id = 0, rc = tempi_i_new_handle(request);
    if (rc != TEMPI_I_OK)
        return rc;
    tempi_i_quiet_t quiet;
    tempi_i_quiet(comm, &quiet);
    tempi_i_inside = 1;
    rc = tempi_py_isend((intptr_t)buf, count, MPI_Type_c2f(datatype), dest, tag,
                        MPI_Comm_c2f(comm), mode, persistent, &id);
    tempi_i_inside = 0;
    tempi_i_loud(&quiet);
    return tempi_i_adopt(rc, id, persistent, comm, request);
}

/* MPI_Irecv, or with persistent MPI_Recv_init. */
int tempi_i_irecv(void *buf, int64_t count, MPI_Datatype datatype, int source, int tag,
                         MPI_Comm comm, int persistent, MPI_Request *request)
{
    TEMPI_I_ENGINE_TRY(buf, datatype, comm,
                       tempi_i_engine_irecv(buf, count, datatype, source, tag, comm,
                                            persistent, request));
    int id = 0, rc = tempi_i_new_handle(request);
    if (rc != TEMPI_I_OK)
        return rc;
    tempi_i_quiet_t quiet;
    tempi_i_quiet(comm, &quiet);
    tempi_i_inside = 1;
    rc = tempi_py_irecv((intptr_t)buf, count, MPI_Type_c2f(datatype), source, tag,
                        MPI_Comm_c2f(comm), persistent, &id);
    tempi_i_inside = 0;
    tempi_i_loud(&quiet);
    return tempi_i_adopt(rc, id, persistent, comm, request);
}

/* Blocking forms: start, then wait, on tempi's path. */
int tempi_i_send(const void *buf, int64_t count, MPI_Datatype datatype, int dest, int tag,
                        MPI_Comm comm, int mode)
{
    TEMPI_I_ENGINE_TRY_BLOCKING(buf, datatype, comm,
                                tempi_i_engine_send(buf, count, datatype, dest, tag, comm, mode));
    MPI_Request request;
    int rc = tempi_i_isend(buf, count, datatype, dest, tag, comm, mode, 0, &request);
    if (rc != TEMPI_I_OK)
        return rc;
    int err = tempi_i_wait_entry(&request, tempi_i_entry(request), MPI_STATUS_IGNORE);
    return err == MPI_SUCCESS ? TEMPI_I_OK : err + TEMPI_I_ERROR;
}

int tempi_i_recv(void *buf, int64_t count, MPI_Datatype datatype, int source, int tag,
                 MPI_Comm comm, MPI_Status *status)
{
    TEMPI_I_ENGINE_TRY_BLOCKING(buf, datatype, comm,
                                tempi_i_engine_recv(buf, count, datatype, source, tag, comm,
                                                    status));
    MPI_Request request;
    int rc = tempi_i_irecv(buf, count, datatype, source, tag, comm, 0, &request);
    if (rc != TEMPI_I_OK)
        return rc;
    int err = tempi_i_wait_entry(&request, tempi_i_entry(request), status);
    return err == MPI_SUCCESS ? TEMPI_I_OK : err + TEMPI_I_ERROR;
}

/* Sendrecv_replace: tempi's send has packed the buffer before it returns, so the receive
 * may land in the same buffer; a send tempi passes on goes to the system MPI's
 * Sendrecv_replace whole. `ints`: the int form (else _c: the receive tempi passes on is
 * posted with PMPI_Irecv_c). */
int tempi_i_sendrecv_replace(void *buf, int64_t count, MPI_Datatype datatype, int dest,
                             int sendtag, int source, int recvtag, MPI_Comm comm,
                             MPI_Status *status, int ints)
{
    MPI_Request requests[2];
    int rc = tempi_i_isend(buf, count, datatype, dest, sendtag, comm, TEMPI_I_STANDARD, 0,
                           &requests[1]);
    if (rc != TEMPI_I_OK)
        return rc;
    rc = tempi_i_irecv(buf, count, datatype, source, recvtag, comm, 0, &requests[0]);
    int err = MPI_SUCCESS;
    if (rc == TEMPI_I_PASS && ints)
        err = PMPI_Irecv(buf, (int)count, datatype, source, recvtag, comm, &requests[0]);
#if MPI_VERSION >= 4
    else if (rc == TEMPI_I_PASS)
        err = PMPI_Irecv_c(buf, (MPI_Count)count, datatype, source, recvtag, comm, &requests[0]);
#endif
    else if (rc != TEMPI_I_OK)
        err = tempi_i_error(rc);
    int send_err = MPI_Wait(&requests[1], MPI_STATUS_IGNORE);
    if (err == MPI_SUCCESS)
        err = MPI_Wait(&requests[0], status);
    err = err != MPI_SUCCESS ? err : send_err;
    return err == MPI_SUCCESS ? TEMPI_I_OK : err + TEMPI_I_ERROR;
}
