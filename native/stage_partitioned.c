/* Device staging for partitioned communication (MPI-4.0 chapter 4): MPI_Psend_init and
 * MPI_Precv_init on device memory the MPI cannot read (or any memory with TEMPI_HOST=1).
 *
 * The request is made on a host copy of the whole buffer (the span its partitions touch,
 * gaps included), kept with the request until MPI_Request_free (stage.c's held requests).
 * The application fills a send partition after MPI_Start and marks it with MPI_Pready,
 * MPI_Pready_range or MPI_Pready_list: each partition is copied device -> host just before
 * the MPI is told it is ready. A receive's copy is refreshed at each MPI_Start (so the
 * gaps come back unchanged); a partition MPI_Parrived reports arrived is copied host ->
 * device before the flag is returned, and the completion call (MPI_Wait, MPI_Test and
 * their families, through stage.c's staged completion) copies back every partition not
 * yet copied. Each partition's flag is its own byte: threads may mark different
 * partitions at once, as MPI allows. */
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include "internal.h"

struct tempi_i_partitioned {
    const char *buf;  /* the application's buffer */
    int partitions, recv;
    MPI_Count count;  /* elements per partition */
    tempi_i_extents_t extents;
    char copied[];    /* per partition: copied (send: to host; receive: back) this round */
};

/* Partition p: its bytes between the application's buffer and the host copy, either way. */
static void tempi_i_partition_copy(tempi_i_partitioned_t *parts, const tempi_i_stage_t *stage,
                                   int p)
{
    MPI_Aint lo, hi, at = (MPI_Aint)p * parts->count * parts->extents.extent;
    if (!tempi_i_span_of(parts->count, &parts->extents, at, &lo, &hi))
        return;
    char *user = (char *)parts->buf + lo;
    char *host = stage->host[0] + (user - stage->user[0]);
    if (parts->recv)
        tempi_i_copy(user, host, (size_t)(hi - lo), stage->on_device[0]);
    else
        tempi_i_copy(host, user, (size_t)(hi - lo), stage->on_device[0]);
    parts->copied[p] = 1;
}

static int tempi_i_partitioned_init(int recv, const void *buf, int partitions,
                                    MPI_Count count, MPI_Datatype datatype, int peer, int tag,
                                    MPI_Comm comm, MPI_Info info, MPI_Request *request)
{
    tempi_i_find_cuda(); /* not a fast path: a driver loaded since the last look is seen */
    if (!tempi_i_stages(buf, datatype) || partitions <= 0)
        goto fn_pass;
    tempi_i_stage_t stage = {0};
    stage.owned = 1;
    void *host = tempi_i_stage_in(&stage, buf, (MPI_Count)partitions * count, datatype, recv);
    if (stage.n == 0 && !stage.failed) /* nothing to copy (no bytes, MPI_BOTTOM near 0) */
        goto fn_pass;
    tempi_i_partitioned_t *parts = malloc(sizeof *parts + (size_t)partitions);
    if (stage.failed || parts == NULL) {
        free(parts);
        tempi_i_stage_release(&stage);
        *request = MPI_REQUEST_NULL;
        return tempi_i_raise(comm, MPI_ERR_NO_MEM);
    }
    parts->buf = buf;
    parts->partitions = partitions;
    parts->recv = recv;
    parts->count = count;
    tempi_i_extents(datatype, &parts->extents);
    memset(parts->copied, 0, (size_t)partitions);
    int err = recv ? PMPI_Precv_init(host, partitions, count, datatype, peer, tag, comm, info,
                                     request)
                   : PMPI_Psend_init(host, partitions, count, datatype, peer, tag, comm, info,
                                     request);
    return tempi_i_stage_hold_partitioned(&stage, err, request, parts, comm);
fn_pass:
    return recv ? PMPI_Precv_init((void *)buf, partitions, count, datatype, peer, tag, comm,
                                  info, request)
                : PMPI_Psend_init(buf, partitions, count, datatype, peer, tag, comm, info,
                                  request);
}

int tempi_i_psend_init(const void *buf, int partitions, MPI_Count count, MPI_Datatype datatype,
                       int dest, int tag, MPI_Comm comm, MPI_Info info, MPI_Request *request)
{
    return tempi_i_partitioned_init(0, buf, partitions, count, datatype, dest, tag, comm, info,
                                    request);
}

int tempi_i_precv_init(void *buf, int partitions, MPI_Count count, MPI_Datatype datatype,
                       int source, int tag, MPI_Comm comm, MPI_Info info, MPI_Request *request)
{
    return tempi_i_partitioned_init(1, buf, partitions, count, datatype, source, tag, comm,
                                    info, request);
}

void tempi_i_partitioned_start(tempi_i_partitioned_t *parts, tempi_i_stage_t *stage)
{
    memset(parts->copied, 0, (size_t)parts->partitions);
    if (parts->recv) /* the whole span, so that the gaps copied back are the application's */
        tempi_i_copy(stage->host[0], stage->user[0], stage->nbytes[0], stage->on_device[0]);
}

void tempi_i_partitioned_done(tempi_i_partitioned_t *parts, tempi_i_stage_t *stage, int err)
{
    for (int p = 0; parts->recv && err == MPI_SUCCESS && p < parts->partitions; ++p)
        if (!parts->copied[p])
            tempi_i_partition_copy(parts, stage, p);
}

/* A send partition to the host copy before the MPI may send it (an invalid partition is
 * left to the MPI to report). */
static void tempi_i_partition_ready(MPI_Request request, int partition)
{
    tempi_i_stage_t *stage = NULL;
    tempi_i_partitioned_t *parts = tempi_i_held_partitioned(request, &stage);
    if (parts != NULL && !parts->recv && partition >= 0 && partition < parts->partitions)
        tempi_i_partition_copy(parts, stage, partition);
}

int tempi_i_pready(int partition, MPI_Request request)
{
    tempi_i_partition_ready(request, partition);
    return PMPI_Pready(partition, request);
}

int tempi_i_pready_range(int partition_low, int partition_high, MPI_Request request)
{
    for (int p = partition_low; p <= partition_high; ++p)
        tempi_i_partition_ready(request, p);
    return PMPI_Pready_range(partition_low, partition_high, request);
}

int tempi_i_pready_list(int length, TEMPI_I_PARTITION_LIST array_of_partitions[],
                        MPI_Request request)
{
    for (int i = 0; i < length; ++i)
        tempi_i_partition_ready(request, array_of_partitions[i]);
    return PMPI_Pready_list(length, array_of_partitions, request);
}

int tempi_i_parrived(MPI_Request request, int partition, int *flag)
{
    int err = PMPI_Parrived(request, partition, flag);
    if (err != MPI_SUCCESS || !*flag)
        return err;
    tempi_i_stage_t *stage = NULL;
    tempi_i_partitioned_t *parts = tempi_i_held_partitioned(request, &stage);
    if (parts != NULL && parts->recv && partition >= 0 && partition < parts->partitions &&
        !parts->copied[partition])
        tempi_i_partition_copy(parts, stage, partition);
    return err;
}
