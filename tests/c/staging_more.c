/* More calls the shim stages when the MPI cannot read device memory (issue 13): MPI_Isendrecv
 * (doubles, a vector type, and MPI_BOTTOM with an absolute struct type), MPI_Isendrecv_replace,
 * MPI_Reduce_local, MPI_Pack_external, MPI_Unpack_external, MPI_Scan_init, MPI_Exscan_init,
 * MPI_Ibcast, MPI_Ialltoallw and MPI_Iallgatherv from MPI_BOTTOM (absolute types);
 * partitioned communication (MPI_Psend_init, MPI_Precv_init,
 * MPI_Pready; staged with TEMPI_HOST=1, partitioned.c does more); and what
 * tempi refuses on device memory: MPI_Win_create,
 * MPI_Win_attach, MPI_Buffer_attach and (MPI-4.1) MPI_Comm_attach_buffer (host memory: a
 * buffered send through each) return an error of class MPI_ERR_BUFFER on every rank
 * (printed), instead of giving the MPI device memory. Results are printed as checksums so runs with and
 * without the shim can be compared; stderr says how many calls the shim staged. Buffers
 * are device memory with "device" as the first argument (native/devmem.h), host memory
 * otherwise (staged with TEMPI_HOST=1). */
#include "staged.h"
#include <string.h>

#define N 12



int main(int argc, char **argv)
{
    int device = staged_start(&argc, &argv);
    int right = (rank + 1) % size, left = (rank + size - 1) % size;
    double *send = filled(2 * N, 100.0 * (rank + 1)), *recv = filled(2 * N, -1.0);
    MPI_Request requests[2];

    MPI_Isendrecv(send, N, MPI_DOUBLE, right, 1, recv, N, MPI_DOUBLE, left, 1, MPI_COMM_WORLD,
                  &requests[0]);
    MPI_Wait(&requests[0], MPI_STATUS_IGNORE); /* (MPICH's status of it has no count) */
    say("isendrecv", recv, 2 * N);

    MPI_Datatype vec;
    MPI_Type_vector(N / 2, 1, 2, MPI_DOUBLE, &vec);
    MPI_Type_commit(&vec);
    fill_values(recv, 2 * N, -2.0);
    MPI_Isendrecv(send, 1, vec, right, 2, recv, 1, vec, left, 2, MPI_COMM_WORLD, &requests[0]);
    MPI_Waitall(1, requests, MPI_STATUSES_IGNORE);
    say("isendrecv-vector", recv, 2 * N);

    fill_values(recv, 2 * N, 7.0 * rank);
    MPI_Isendrecv_replace(recv, N, MPI_DOUBLE, right, 3, left, 3, MPI_COMM_WORLD, &requests[0]);
    int flag = 0;
    do
        MPI_Test(&requests[0], &flag, MPI_STATUS_IGNORE);
    while (!flag);
    say("isendrecv-replace", recv, 2 * N);

    fill_values(recv, 2 * N, 1.0);
    MPI_Reduce_local(send, recv, 2 * N, MPI_DOUBLE, MPI_SUM);
    say("reduce-local", recv, 2 * N);

    /* external32 packing: the typed side and the packed bytes staged */
    double *packed = filled(N, 0.0);
    MPI_Aint packed_at = 0;
    MPI_Pack_external("external32", send, 1, vec, packed, N * sizeof(double), &packed_at);
    printf("rank %d pack-external position %ld\n", rank, (long)packed_at);
    say("pack-external", packed, N);
    fill_values(recv, 2 * N, -5.0);
    packed_at = 0;
    MPI_Unpack_external("external32", packed, N * sizeof(double), &packed_at, recv, 1, vec);
    say("unpack-external", recv, 2 * N);
    devmem_free(packed);

    /* the persistent prefix reductions (MPI-4): copied in packed_at MPI_Start, back packed_at the wait */
    MPI_Scan_init(send, recv, N, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD, MPI_INFO_NULL,
                  &requests[0]);
    MPI_Exscan_init(send, recv + N, N, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD, MPI_INFO_NULL,
                    &requests[1]);
    fill_values(recv, 2 * N, -3.0);
    MPI_Start(&requests[0]);
    MPI_Wait(&requests[0], MPI_STATUS_IGNORE);
    say("scan-init", recv, 2 * N);
    MPI_Start(&requests[1]);
    MPI_Wait(&requests[1], MPI_STATUS_IGNORE);
    say("exscan-init", recv, 2 * N); /* rank 0's second half: left as it was */
    MPI_Request_free(&requests[0]);
    MPI_Request_free(&requests[1]);

    /* MPI_BOTTOM with absolute addresses on staged calls */
    MPI_Aint at[2];
    MPI_Get_address(send + 1, &at[0]);
    MPI_Get_address(send + 6, &at[1]);
    int lengths[2] = {3, 2};
    MPI_Datatype doubles[2] = {MPI_DOUBLE, MPI_DOUBLE}, from, into;
    MPI_Type_create_struct(2, lengths, at, doubles, &from);
    MPI_Type_commit(&from);
    MPI_Get_address(recv + 2, &at[0]);
    MPI_Get_address(recv + 9, &at[1]);
    MPI_Type_create_struct(2, lengths, at, doubles, &into);
    MPI_Type_commit(&into);
    fill_values(recv, 2 * N, -3.0);
    MPI_Isendrecv(MPI_BOTTOM, 1, from, right, 4, MPI_BOTTOM, 1, into, left, 4, MPI_COMM_WORLD,
                  &requests[0]);
    MPI_Wait(&requests[0], MPI_STATUS_IGNORE);
    say("isendrecv-bottom", recv, 2 * N);
    fill_values(recv, 2 * N, -4.0);
    MPI_Ibcast(MPI_BOTTOM, 1, rank == 0 ? from : into, 0, MPI_COMM_WORLD, &requests[0]);
    MPI_Wait(&requests[0], MPI_STATUS_IGNORE);
    say("ibcast-bottom", rank == 0 ? send : recv, 2 * N);

    /* the v and w forms from MPI_BOTTOM: every part an absolute type (Ialltoallw: 2 doubles
     * to each peer from send + 2i, into recv + 2i + 1; Iallgatherv: 2 doubles from send + 3
     * into recv + 4i through one absolute type and element displacements) */
    MPI_Datatype to[3], back[3], pair;
    int ones[3] = {1, 1, 1}, zeros[3] = {0, 0, 0}, fours[3] = {0, 2, 4};
    for (int i = 0; i < size && i < 3; ++i) {
        MPI_Aint where;
        int two = 2;
        MPI_Datatype d = MPI_DOUBLE;
        MPI_Get_address(send + 2 * i, &where);
        MPI_Type_create_struct(1, &two, &where, &d, &to[i]);
        MPI_Type_commit(&to[i]);
        MPI_Get_address(recv + 2 * i + 1, &where);
        MPI_Type_create_struct(1, &two, &where, &d, &back[i]);
        MPI_Type_commit(&back[i]);
    }
    fill_values(recv, 2 * N, -5.0);
    if (size <= 3) {
        MPI_Ialltoallw(MPI_BOTTOM, ones, zeros, to, MPI_BOTTOM, ones, zeros, back,
                       MPI_COMM_WORLD, &requests[0]);
        MPI_Wait(&requests[0], MPI_STATUS_IGNORE);
    }
    say("ialltoallw-bottom", recv, 2 * N);
    MPI_Aint first;
    MPI_Get_address(recv, &first);
    int two = 2;
    MPI_Datatype d = MPI_DOUBLE;
    MPI_Type_create_struct(1, &two, &first, &d, &pair);
    MPI_Type_commit(&pair);
    fill_values(recv, 2 * N, -6.0);
    if (size <= 3) {
        MPI_Iallgatherv(send + 3, 2, MPI_DOUBLE, MPI_BOTTOM, ones, fours, pair, MPI_COMM_WORLD,
                        &requests[0]);
        MPI_Wait(&requests[0], MPI_STATUS_IGNORE);
    }
    say("iallgatherv-bottom", recv, 2 * N);
    for (int i = 0; i < size && i < 3; ++i) {
        MPI_Type_free(&to[i]);
        MPI_Type_free(&back[i]);
    }
    MPI_Type_free(&pair);

    /* partitioned (staged; partitioned.c does more) */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    double *part_send = filled(4 * N, 20.0 * rank), *part_recv = filled(4 * N, -1.0);
    int err = MPI_Precv_init(part_recv, 4, N, MPI_DOUBLE, left, 5, MPI_COMM_WORLD, MPI_INFO_NULL,
                             &requests[0]);
    err = err ? err
              : MPI_Psend_init(part_send, 4, N, MPI_DOUBLE, right, 5, MPI_COMM_WORLD,
                               MPI_INFO_NULL, &requests[1]);
    if (err == MPI_SUCCESS) {
        MPI_Startall(2, requests);
        for (int p = 3; p >= 0; --p)
            MPI_Pready(p, requests[1]);
        MPI_Waitall(2, requests, MPI_STATUSES_IGNORE);
        MPI_Request_free(&requests[0]);
        MPI_Request_free(&requests[1]);
        say("partitioned", part_recv, 4 * N);
    } else {
        say_error("partitioned", err); /* an MPI without partitioned communication */
    }
    if (device) {
        /* windows: device memory on rank 0 only, every rank fails */
        MPI_Win win = MPI_WIN_NULL;
        double *host_window = malloc(N * sizeof(double));
        err = MPI_Win_create(rank == 0 ? (void *)recv : host_window, N * sizeof(double),
                             sizeof(double), MPI_INFO_NULL, MPI_COMM_WORLD, &win);
        say_error("win-create-device", err);
        if (win != MPI_WIN_NULL)
            MPI_Win_free(&win);
        MPI_Win_create_dynamic(MPI_INFO_NULL, MPI_COMM_WORLD, &win);
        MPI_Win_set_errhandler(win, MPI_ERRORS_RETURN);
        err = MPI_Win_attach(win, recv, N * sizeof(double));
        say_error("win-attach-device", err);
        err = MPI_Win_attach(win, host_window, N * sizeof(double));
        say_error("win-attach-host", err);
        MPI_Win_detach(win, host_window);
        MPI_Win_free(&win);
        free(host_window);
    }
    devmem_free(part_send);
    devmem_free(part_recv);

    /* MPI_Buffer_attach: host memory passes through (a buffered send through it); device
     * memory is refused (the MPI copies every MPI_Bsend into it), on MPI_COMM_SELF */
    MPI_Comm_set_errhandler(MPI_COMM_SELF, MPI_ERRORS_RETURN);
    int bsize = 2 * N * (int)sizeof(double) + MPI_BSEND_OVERHEAD;
    char *attached = malloc((size_t)bsize);
    err = MPI_Buffer_attach(attached, bsize);
    say_error("buffer-attach-host", err);
    fill_values(recv, 2 * N, -4.0);
    MPI_Bsend(send, N, MPI_DOUBLE, right, 7, MPI_COMM_WORLD);
    MPI_Recv(recv, N, MPI_DOUBLE, left, 7, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    say("bsend-attached-host", recv, 2 * N);
    void *detached = NULL;
    MPI_Buffer_detach(&detached, &bsize);
    free(attached);
    if (device) {
        err = MPI_Buffer_attach(recv, 2 * N * (int)sizeof(double));
        say_error("buffer-attach-device", err);
        if (err == MPI_SUCCESS)
            MPI_Buffer_detach(&detached, &bsize);
        char message[MPI_MAX_ERROR_STRING];
        int length = 0;
        MPI_Error_string(err, message, &length);
        printf("rank %d buffer-attach-device says-tempi %d\n", rank,
               strstr(message, "tempi") != NULL);
    }

    /* MPI-4.1's per-communicator buffer, where the MPI has it: host memory passes through
     * (a buffered send through it), device memory is refused on the communicator */
#if MPI_VERSION > 4 || (MPI_VERSION == 4 && MPI_SUBVERSION >= 1)
    attached = malloc((size_t)bsize);
    err = MPI_Comm_attach_buffer(MPI_COMM_WORLD, attached, bsize);
    say_error("comm-attach-buffer-host", err);
    fill_values(recv, 2 * N, -6.0);
    MPI_Bsend(send, N, MPI_DOUBLE, right, 8, MPI_COMM_WORLD);
    MPI_Recv(recv, N, MPI_DOUBLE, left, 8, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    say("bsend-comm-attached-host", recv, 2 * N);
    MPI_Comm_detach_buffer(MPI_COMM_WORLD, &detached, &bsize);
    free(attached);
    if (device) {
        err = MPI_Comm_attach_buffer(MPI_COMM_WORLD, recv, 2 * N * (int)sizeof(double));
        say_error("comm-attach-buffer-device", err);
        if (err == MPI_SUCCESS)
            MPI_Comm_detach_buffer(MPI_COMM_WORLD, &detached, &bsize);
    }
#else /* the same records, so that every MPI prints as many */
    printf("rank %d comm-attach-buffer-host absent\n", rank);
    printf("rank %d bsend-comm-attached-host absent\n", rank);
#endif

    MPI_Type_free(&vec);
    MPI_Type_free(&from);
    MPI_Type_free(&into);
    say_staged();
    devmem_free(send);
    devmem_free(recv);
    MPI_Finalize();
    return 0;
}
