/* The engine's "system" plans (engine_system.h): the system MPI's own path, chosen by the
 * performance model per size class of host messages. */
#include <stdint.h>

#include <mpi.h>

#include "engine_system.h"
#include "internal.h"

static int tempi_i_system_rc(int err)
{
    tempi_i_count_pass(1);
    return err == MPI_SUCCESS ? TEMPI_I_OK : TEMPI_I_ERROR + err;
}

int tempi_i_system_send(const void *buf, int64_t count, MPI_Datatype datatype, int dest,
                        int tag, MPI_Comm comm, int mode)
{
    int n = (int)count, err; /* a plan's count fits: its packed bytes do */
    if (mode == TEMPI_I_SYNCHRONOUS)
        err = PMPI_Ssend(buf, n, datatype, dest, tag, comm);
    else if (mode == TEMPI_I_BUFFERED)
        err = PMPI_Bsend(buf, n, datatype, dest, tag, comm);
    else
        err = PMPI_Send(buf, n, datatype, dest, tag, comm);
    return tempi_i_system_rc(err);
}

int tempi_i_system_recv(void *buf, int64_t count, MPI_Datatype datatype, int source, int tag,
                        MPI_Comm comm, MPI_Status *status)
{
    return tempi_i_system_rc(PMPI_Recv(buf, (int)count, datatype, source, tag, comm, status));
}

int tempi_i_system_isend(const void *buf, int64_t count, MPI_Datatype datatype, int dest,
                         int tag, MPI_Comm comm, int mode, int persistent, MPI_Request *request)
{
    int n = (int)count, err;
    if (persistent) {
        if (mode == TEMPI_I_SYNCHRONOUS)
            err = PMPI_Ssend_init(buf, n, datatype, dest, tag, comm, request);
        else if (mode == TEMPI_I_BUFFERED)
            err = PMPI_Bsend_init(buf, n, datatype, dest, tag, comm, request);
        else
            err = PMPI_Send_init(buf, n, datatype, dest, tag, comm, request);
    } else if (mode == TEMPI_I_SYNCHRONOUS) {
        err = PMPI_Issend(buf, n, datatype, dest, tag, comm, request);
    } else if (mode == TEMPI_I_BUFFERED) {
        err = PMPI_Ibsend(buf, n, datatype, dest, tag, comm, request);
    } else {
        err = PMPI_Isend(buf, n, datatype, dest, tag, comm, request);
    }
    return tempi_i_system_rc(err);
}

int tempi_i_system_irecv(void *buf, int64_t count, MPI_Datatype datatype, int source, int tag,
                         MPI_Comm comm, int persistent, MPI_Request *request)
{
    int err = persistent ? PMPI_Recv_init(buf, (int)count, datatype, source, tag, comm, request)
                         : PMPI_Irecv(buf, (int)count, datatype, source, tag, comm, request);
    return tempi_i_system_rc(err);
}
