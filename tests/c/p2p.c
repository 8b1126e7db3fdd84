/* Point to point with derived types, checked by the program itself and printed so runs
 * with and without the tempi shim can be compared: ring Isend/Irecv completed by Waitall,
 * Testany and Waitsome; blocking Send/Recv with wildcards and MPI_Get_count; Sendrecv;
 * Ssend; a short receive; MPI_Request_free on a send; Sendrecv_replace; Waitall with
 * statuses over tempi's and plain requests; Wait, Test, Waitany, Testall and Testsome
 * with statuses; Request_get_status; a plain request made after tempi's progress
 * completed the MPI request under one of tempi's (MPI may give it the same handle).
 * Buffers are in device memory with "device" as the first argument (see
 * native/devmem.h), in host memory otherwise. */
#include "check.h"
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N 8

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    devmem_init(devmem_wanted(argc, argv));
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int right = (rank + 1) % size, left = (rank - 1 + size) % size;
    MPI_Datatype column;
    MPI_Type_vector(6, 1, 5, MPI_DOUBLE, &column); /* 6 doubles, stride 5 */
    MPI_Type_commit(&column);
    const int len = 30 * 2;
    double *send[N], *recv[N];
    MPI_Request requests[2 * N];
    for (int k = 0; k < N; ++k) {
        send[k] = filled(len, rank * 1000 + k * 100);
        recv[k] = devmem_alloc(len * sizeof(double));
        MPI_Irecv(recv[k], 2, column, left, 10 + k, MPI_COMM_WORLD, &requests[k]);
    }
    for (int k = 0; k < N; ++k)
        MPI_Isend(send[k], 2, column, right, 10 + k, MPI_COMM_WORLD, &requests[N + k]);
    /* receives: Testany until 3 done, Waitsome once, Waitall for the rest */
    int done = 0, index, flag, outcount, indices[2 * N];
    MPI_Status status, statuses[2 * N];
    while (done < 3) {
        MPI_Testany(N, requests, &index, &flag, &status);
        if (flag && index != MPI_UNDEFINED) {
            int count;
            MPI_Get_count(&status, column, &count);
            printf("rank %d testany tag %s source %d count %d\n", rank,
                   status.MPI_TAG == 10 + index ? "matches" : "WRONG", status.MPI_SOURCE, count);
            done++;
        }
    }
    MPI_Waitsome(N, requests, &outcount, indices, statuses);
    MPI_Waitall(2 * N, requests, MPI_STATUSES_IGNORE);
    for (int k = 0; k < N; ++k)
        printf("rank %d ring %d %016lx\n", rank, k, checksum(recv[k], len));

    /* blocking, wildcards, short receive: send 1 column, post 2 */
    double *a = devmem_alloc(len * sizeof(double)), *b = filled(len, rank * 1000 + 9 * 100);
    MPI_Sendrecv(b, 1, column, right, 77, a, 2, column, MPI_ANY_SOURCE, MPI_ANY_TAG,
                 MPI_COMM_WORLD, &status);
    int count;
    MPI_Get_count(&status, column, &count);
    printf("rank %d sendrecv source %d tag %d count %d %016lx\n", rank, status.MPI_SOURCE,
           status.MPI_TAG, count, checksum(a, len));
    if (size > 1) {
        if (rank % 2 == 0) {
            MPI_Ssend(b, 2, column, right, 5, MPI_COMM_WORLD);
            MPI_Recv(a, 2, column, left, 6, MPI_COMM_WORLD, &status);
        } else {
            MPI_Recv(a, 2, column, left, 5, MPI_COMM_WORLD, &status);
            MPI_Send(b, 2, column, right, 6, MPI_COMM_WORLD);
        }
        printf("rank %d blocking %016lx\n", rank, checksum(a, len));
    }
    MPI_Request freed;
    MPI_Isend(b, 2, column, right, 88, MPI_COMM_WORLD, &freed);
    MPI_Request_free(&freed);
    MPI_Recv(a, 2, column, left, 88, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    printf("rank %d freed %016lx\n", rank, checksum(a, len));
    /* Sendrecv_replace: the columns received replace the ones sent, in the same buffer */
    double *swapped = filled(len, rank * 1000 + 11 * 100);
    MPI_Sendrecv_replace(swapped, 2, column, right, 95, left, 95, MPI_COMM_WORLD, &status);
    MPI_Get_count(&status, column, &count);
    printf("rank %d sendrecv_replace %d/%d/%d %016lx\n", rank, status.MPI_SOURCE,
           status.MPI_TAG, count, checksum(swapped, len));
    devmem_free(swapped);
    /* Waitall with statuses over a tempi receive and a plain (contiguous, host) one */
    MPI_Request mixed[4];
    MPI_Status st[4];
    double plain_out = rank, plain_in = -1;
    MPI_Irecv(a, 2, column, left, 90, MPI_COMM_WORLD, &mixed[0]);
    MPI_Irecv(&plain_in, 1, MPI_DOUBLE, left, 91, MPI_COMM_WORLD, &mixed[1]);
    MPI_Isend(b, 2, column, right, 90, MPI_COMM_WORLD, &mixed[2]);
    MPI_Isend(&plain_out, 1, MPI_DOUBLE, right, 91, MPI_COMM_WORLD, &mixed[3]);
    MPI_Waitall(4, mixed, st);
    int c0, c1;
    MPI_Get_count(&st[0], column, &c0);
    MPI_Get_count(&st[1], MPI_DOUBLE, &c1);
    printf("rank %d waitall %d/%d/%d %d/%d/%d %g %016lx\n", rank, st[0].MPI_SOURCE, st[0].MPI_TAG,
           c0, st[1].MPI_SOURCE, st[1].MPI_TAG, c1, plain_in, checksum(a, len));
    /* the other completion calls, each on tempi's requests, statuses filled */
    MPI_Request r[4], s[4];
    double *in[4];
    for (int k = 0; k < 4; ++k) {
        in[k] = devmem_alloc(len * sizeof(double));
        MPI_Irecv(in[k], 2, column, left, 100 + k, MPI_COMM_WORLD, &r[k]);
    }
    for (int k = 0; k < 4; ++k)
        MPI_Isend(b, 2, column, right, 100 + k, MPI_COMM_WORLD, &s[k]);
    MPI_Wait(&r[0], &status);
    MPI_Get_count(&status, column, &count);
    printf("rank %d wait %d/%d/%d null %d\n", rank, status.MPI_SOURCE, status.MPI_TAG, count,
           r[0] == MPI_REQUEST_NULL);
    for (flag = 0; !flag;)
        MPI_Test(&r[1], &flag, &status);
    MPI_Get_count(&status, column, &count);
    printf("rank %d test %d/%d/%d null %d\n", rank, status.MPI_SOURCE, status.MPI_TAG, count,
           r[1] == MPI_REQUEST_NULL);
    MPI_Waitany(2, &r[2], &index, &status);
    MPI_Get_count(&status, column, &count);
    printf("rank %d waitany tag %s count %d\n", rank,
           status.MPI_TAG == 102 + index ? "matches" : "WRONG", count);
    for (flag = 0; !flag;)
        MPI_Testall(2, &r[2], &flag, statuses);
    printf("rank %d testall tag %s\n", rank,
           statuses[index == 0 ? 1 : 0].MPI_TAG == (index == 0 ? 103 : 102) ? "matches" : "WRONG");
    int completed = 0;
    while (completed < 4) {
        MPI_Testsome(4, s, &outcount, indices, statuses);
        if (outcount != MPI_UNDEFINED)
            completed += outcount;
    }
    printf("rank %d testsome %d sends null %d\n", rank, completed,
           s[0] == MPI_REQUEST_NULL && s[3] == MPI_REQUEST_NULL);
    for (int k = 0; k < 4; ++k) {
        printf("rank %d completions %d %016lx\n", rank, k, checksum(in[k], len));
        devmem_free(in[k]);
    }
    /* Request_get_status polls tempi's receive; Testall then finds the plain one pending */
    MPI_Request t[2], p;
    double x = -1, y = -1, v = 42 + rank;
    MPI_Irecv(a, 2, column, left, 120, MPI_COMM_WORLD, &t[0]);
    MPI_Irecv(&x, 1, MPI_DOUBLE, left, 121, MPI_COMM_WORLD, &t[1]);
    MPI_Send(b, 2, column, right, 120, MPI_COMM_WORLD);
    for (flag = 0; !flag;)
        MPI_Request_get_status(t[0], &flag, &status);
    MPI_Get_count(&status, column, &count);
    printf("rank %d get_status %d/%d/%d\n", rank, status.MPI_SOURCE, status.MPI_TAG, count);
    MPI_Testall(2, t, &flag, MPI_STATUSES_IGNORE);
    MPI_Irecv(&y, 1, MPI_DOUBLE, left, 122, MPI_COMM_WORLD, &p);
    MPI_Send(&v, 1, MPI_DOUBLE, right, 122, MPI_COMM_WORLD);
    MPI_Wait(&p, MPI_STATUS_IGNORE);
    printf("rank %d testall %d plain after it %g\n", rank, flag, y);
    MPI_Barrier(MPI_COMM_WORLD); /* x is sent only once every rank has run its Testall */
    MPI_Send(&v, 1, MPI_DOUBLE, right, 121, MPI_COMM_WORLD);
    MPI_Waitall(2, t, statuses);
    printf("rank %d then %g %d/%d %016lx\n", rank, x, statuses[0].MPI_SOURCE,
           statuses[0].MPI_TAG, checksum(a, len));
    MPI_Barrier(MPI_COMM_WORLD);
    for (int k = 0; k < N; ++k) {
        devmem_free(send[k]);
        devmem_free(recv[k]);
    }
    devmem_free(a);
    devmem_free(b);
    MPI_Type_free(&column);
    MPI_Finalize();
    return 0;
}
