/* The engine's "system" plans (engine_system.h): the system MPI's own path, chosen by the
 * performance model per size class of host messages, or for device messages a CUDA-aware
 * MPI moves itself (engine_device.c). */
#include <stdint.h>

#include <mpi.h>

#include "engine_system.h"
#include "internal.h"

static int tempi_i_system_rc(int err)
{
    tempi_i_count_pass(1);
    return err == MPI_SUCCESS ? TEMPI_I_OK : TEMPI_I_ERROR + err;
}

int tempi_i_pmpi_send(const void *buf, int n, MPI_Datatype datatype, int dest, int tag,
                      MPI_Comm comm, int mode)
{
    if (mode == TEMPI_I_SYNCHRONOUS)
        return PMPI_Ssend(buf, n, datatype, dest, tag, comm);
    if (mode == TEMPI_I_BUFFERED)
        return PMPI_Bsend(buf, n, datatype, dest, tag, comm);
    return PMPI_Send(buf, n, datatype, dest, tag, comm);
}

int tempi_i_pmpi_isend(const void *buf, int n, MPI_Datatype datatype, int dest, int tag,
                       MPI_Comm comm, int mode, int persistent, MPI_Request *request)
{
    if (persistent) {
        if (mode == TEMPI_I_SYNCHRONOUS)
            return PMPI_Ssend_init(buf, n, datatype, dest, tag, comm, request);
        if (mode == TEMPI_I_BUFFERED)
            return PMPI_Bsend_init(buf, n, datatype, dest, tag, comm, request);
        return PMPI_Send_init(buf, n, datatype, dest, tag, comm, request);
    }
    if (mode == TEMPI_I_SYNCHRONOUS)
        return PMPI_Issend(buf, n, datatype, dest, tag, comm, request);
    if (mode == TEMPI_I_BUFFERED)
        return PMPI_Ibsend(buf, n, datatype, dest, tag, comm, request);
    return PMPI_Isend(buf, n, datatype, dest, tag, comm, request);
}

int tempi_i_system_send(const void *buf, int64_t count, MPI_Datatype datatype, int dest,
                        int tag, MPI_Comm comm, int mode)
{
    /* a plan's count fits an int: its packed bytes do */
    return tempi_i_system_rc(tempi_i_pmpi_send(buf, (int)count, datatype, dest, tag, comm, mode));
}

int tempi_i_system_recv(void *buf, int64_t count, MPI_Datatype datatype, int source, int tag,
                        MPI_Comm comm, MPI_Status *status)
{
    return tempi_i_system_rc(PMPI_Recv(buf, (int)count, datatype, source, tag, comm, status));
}

int tempi_i_system_isend(const void *buf, int64_t count, MPI_Datatype datatype, int dest,
                         int tag, MPI_Comm comm, int mode, int persistent, MPI_Request *request)
{
    return tempi_i_system_rc(
        tempi_i_pmpi_isend(buf, (int)count, datatype, dest, tag, comm, mode, persistent, request));
}

int tempi_i_system_irecv(void *buf, int64_t count, MPI_Datatype datatype, int source, int tag,
                         MPI_Comm comm, int persistent, MPI_Request *request)
{
    int err = persistent ? PMPI_Recv_init(buf, (int)count, datatype, source, tag, comm, request)
                         : PMPI_Irecv(buf, (int)count, datatype, source, tag, comm, request);
    return tempi_i_system_rc(err);
}
