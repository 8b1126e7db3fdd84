/* Persistent requests with derived types, checked by the program itself and printed so runs
 * with and without the tempi shim can be compared: Recv_init/Send_init/Ssend_init around a
 * ring, restarted for several rounds with new contents each time and completed by a
 * different completion call each round, next to a plain persistent request; inactive
 * requests (before the first start) in Wait, Test, Testany, Testsome and
 * Request_get_status; Rsend_init after a barrier; MPI_Request_free of an active persistent
 * send; cancelled receives (one-shot and persistent, which then runs again); Bsend,
 * Ibsend and Bsend_init; the one-shot Issend and Irsend. Buffers are in device memory with "device" as the
 * first argument (see native/devmem.h), in host memory otherwise. */
#include "check.h"
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

#define LEN 60 /* doubles: 2 columns of 6 at stride 5 reach element 55 */
#define ROUNDS 5

static void fill(double *buffer, int rank, int round)
{
    fill_values(buffer, LEN, rank * 1000 + round * 100);
}

/* Complete the n requests with the completion call of this round; statuses in order. */
static void complete(int round, int n, MPI_Request requests[], MPI_Status statuses[])
{
    int flag = 0, index, outcount, indices[8], done = 0;
    MPI_Status found[8];
    switch (round) {
    case 0:
        MPI_Waitall(n, requests, statuses);
        break;
    case 1:
        for (int i = 0; i < n; ++i)
            MPI_Wait(&requests[i], &statuses[i]);
        break;
    case 2:
        while (!flag)
            MPI_Testall(n, requests, &flag, statuses);
        break;
    case 3:
        while (done < n) {
            MPI_Testany(n, requests, &index, &flag, &found[0]);
            if (flag && index != MPI_UNDEFINED) {
                statuses[index] = found[0];
                done++;
            }
        }
        MPI_Waitany(n, requests, &index, &found[0]);
        if (index != MPI_UNDEFINED)
            printf("WRONG: Waitany found an active request\n");
        break;
    default:
        while (done < n) {
            MPI_Waitsome(n, requests, &outcount, indices, found);
            for (int k = 0; k < outcount; ++k)
                statuses[indices[k]] = found[k];
            done += outcount;
        }
        MPI_Testsome(n, requests, &outcount, indices, found);
        if (outcount != MPI_UNDEFINED)
            printf("WRONG: Testsome found an active request\n");
    }
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    devmem_init(devmem_wanted(argc, argv));
    int rank, size, count, flag, index, outcount, indices[4];
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int right = (rank + 1) % size, left = (rank - 1 + size) % size;
    MPI_Datatype column;
    MPI_Type_vector(6, 1, 5, MPI_DOUBLE, &column); /* 6 doubles, stride 5 */
    MPI_Type_commit(&column);

    double *out = filled(LEN, -1000), *in = filled(LEN, -1000), *out2 = filled(LEN, -1000), *in2 = filled(LEN, -1000);
    double plain_out = 0, plain_in = -1;
    MPI_Request r[5];
    MPI_Status st[5];
    MPI_Recv_init(in, 2, column, left, 1, MPI_COMM_WORLD, &r[0]);
    MPI_Send_init(out, 2, column, right, 1, MPI_COMM_WORLD, &r[1]);
    MPI_Recv_init(in2, 2, column, MPI_ANY_SOURCE, 2, MPI_COMM_WORLD, &r[2]);
    MPI_Ssend_init(out2, 2, column, right, 2, MPI_COMM_WORLD, &r[3]);
    MPI_Recv_init(&plain_in, 1, MPI_DOUBLE, left, 3, MPI_COMM_WORLD, &r[4]);

    /* inactive: before the first start */
    MPI_Status status;
    status.MPI_SOURCE = 77;
    MPI_Wait(&r[0], &status);
    MPI_Get_count(&status, column, &count);
    printf("rank %d inactive wait %d %d %d same %d\n", rank, status.MPI_SOURCE == MPI_ANY_SOURCE,
           status.MPI_TAG == MPI_ANY_TAG, count, r[0] != MPI_REQUEST_NULL);
    MPI_Test(&r[1], &flag, &status);
    printf("rank %d inactive test %d %d\n", rank, flag, status.MPI_SOURCE == MPI_ANY_SOURCE);
    MPI_Testany(5, r, &index, &flag, &status);
    printf("rank %d inactive testany %d %d\n", rank, flag, index == MPI_UNDEFINED);
    MPI_Testsome(5, r, &outcount, indices, st);
    printf("rank %d inactive testsome %d\n", rank, outcount == MPI_UNDEFINED);
    MPI_Request_get_status(r[2], &flag, &status);
    printf("rank %d inactive get_status %d\n", rank, flag);

    for (int round = 0; round < ROUNDS; ++round) {
        fill(out, rank, round);
        fill(out2, rank, round + 50);
        plain_out = rank + round / 10.0;
        MPI_Startall(4, r);
        MPI_Request plain_send;
        MPI_Isend(&plain_out, 1, MPI_DOUBLE, right, 3, MPI_COMM_WORLD, &plain_send);
        MPI_Start(&r[4]);
        complete(round, 5, r, st);
        MPI_Wait(&plain_send, MPI_STATUS_IGNORE);
        int c0, c2;
        MPI_Get_count(&st[0], column, &c0);
        MPI_Get_count(&st[2], column, &c2);
        printf("rank %d round %d recv %d/%d/%d %016lx any %d/%d/%d %016lx plain %d/%d %g "
               "same %d\n",
               rank, round, st[0].MPI_SOURCE, st[0].MPI_TAG, c0, checksum(in, LEN), st[2].MPI_SOURCE,
               st[2].MPI_TAG, c2, checksum(in2, LEN), st[4].MPI_SOURCE, st[4].MPI_TAG, plain_in,
               r[0] != MPI_REQUEST_NULL && r[3] != MPI_REQUEST_NULL && r[4] != MPI_REQUEST_NULL);
    }
    for (int i = 0; i < 5; ++i)
        MPI_Request_free(&r[i]);
    printf("rank %d freed %d\n", rank, r[0] == MPI_REQUEST_NULL && r[4] == MPI_REQUEST_NULL);

    /* ready mode: every receive is posted before any rank starts its send */
    MPI_Request rs, rr;
    fill(out, rank, 7);
    MPI_Irecv(in, 2, column, left, 4, MPI_COMM_WORLD, &rr);
    MPI_Rsend_init(out, 2, column, right, 4, MPI_COMM_WORLD, &rs);
    MPI_Barrier(MPI_COMM_WORLD);
    MPI_Start(&rs);
    MPI_Wait(&rr, &status);
    MPI_Wait(&rs, MPI_STATUS_IGNORE);
    MPI_Request_free(&rs);
    printf("rank %d rsend_init %d %016lx\n", rank, status.MPI_TAG, checksum(in, LEN));

    /* an active persistent send freed: it still arrives */
    MPI_Request freed;
    fill(out, rank, 8);
    MPI_Send_init(out, 2, column, right, 5, MPI_COMM_WORLD, &freed);
    MPI_Start(&freed);
    MPI_Request_free(&freed);
    MPI_Recv(in, 2, column, left, 5, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    printf("rank %d freed active %d %016lx\n", rank, freed == MPI_REQUEST_NULL, checksum(in, LEN));
    MPI_Barrier(MPI_COMM_WORLD); /* out stays untouched until every rank has received */

    /* cancel receives nobody sends to, one-shot and persistent; the persistent one is then
     * started again (the barrier: no rank sends before every rank has cancelled) */
    MPI_Request c[2];
    double *never = filled(LEN, -1000);
    MPI_Irecv(never, 2, column, left, 98, MPI_COMM_WORLD, &c[0]);
    MPI_Recv_init(in, 2, column, left, 99, MPI_COMM_WORLD, &c[1]);
    MPI_Start(&c[1]);
    MPI_Cancel(&c[0]);
    MPI_Cancel(&c[1]);
    MPI_Waitall(2, c, st);
    int cancelled0, cancelled1;
    MPI_Test_cancelled(&st[0], &cancelled0);
    MPI_Test_cancelled(&st[1], &cancelled1);
    MPI_Barrier(MPI_COMM_WORLD);
    fill(out, rank, 10);
    MPI_Start(&c[1]);
    MPI_Send(out, 2, column, right, 99, MPI_COMM_WORLD);
    MPI_Wait(&c[1], &status);
    MPI_Test_cancelled(&status, &flag);
    MPI_Request_free(&c[1]);
    printf("rank %d cancelled %d %d %016lx then %d %d %016lx\n", rank, cancelled0, cancelled1,
           checksum(never, LEN), flag, status.MPI_SOURCE == left, checksum(in, LEN));
    devmem_free(never);
    MPI_Barrier(MPI_COMM_WORLD);

    /* buffered sends complete from the attached buffer before anything is received, so the
     * send buffer may be refilled at once */
    int pack_size;
    MPI_Pack_size(2, column, MPI_COMM_WORLD, &pack_size);
    int attached_size = 3 * (pack_size + MPI_BSEND_OVERHEAD);
    char *attached = malloc(attached_size);
    MPI_Buffer_attach(attached, attached_size);
    MPI_Request b;
    fill(out, rank, 11);
    MPI_Bsend(out, 2, column, right, 10, MPI_COMM_WORLD);
    fill(out, rank, 12);
    MPI_Ibsend(out, 2, column, right, 11, MPI_COMM_WORLD, &b);
    MPI_Wait(&b, MPI_STATUS_IGNORE);
    fill(out, rank, 13);
    MPI_Bsend_init(out, 2, column, right, 12, MPI_COMM_WORLD, &b);
    MPI_Start(&b);
    MPI_Wait(&b, MPI_STATUS_IGNORE);
    MPI_Request_free(&b);
    fill(out, rank, 14);
    unsigned long got[3];
    for (int k = 0; k < 3; ++k) {
        MPI_Recv(in, 2, column, left, 10 + k, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        got[k] = checksum(in, LEN);
    }
    printf("rank %d bsend %016lx %016lx %016lx\n", rank, got[0], got[1], got[2]);
    MPI_Buffer_detach(&attached, &attached_size);
    free(attached);

    /* one-shot synchronous and ready sends */
    MPI_Request s;
    fill(out, rank, 9);
    MPI_Issend(out, 2, column, right, 6, MPI_COMM_WORLD, &s);
    MPI_Recv(in, 2, column, left, 6, MPI_COMM_WORLD, &status);
    MPI_Wait(&s, MPI_STATUS_IGNORE);
    printf("rank %d issend %016lx\n", rank, checksum(in, LEN));
    MPI_Irecv(in2, 2, column, left, 7, MPI_COMM_WORLD, &rr);
    MPI_Barrier(MPI_COMM_WORLD);
    MPI_Irsend(out, 2, column, right, 7, MPI_COMM_WORLD, &s);
    MPI_Wait(&s, MPI_STATUS_IGNORE);
    MPI_Wait(&rr, MPI_STATUS_IGNORE);
    MPI_Barrier(MPI_COMM_WORLD);
    MPI_Irecv(in, 2, column, left, 8, MPI_COMM_WORLD, &rr);
    MPI_Barrier(MPI_COMM_WORLD);
    MPI_Rsend(out2, 2, column, right, 8, MPI_COMM_WORLD);
    MPI_Wait(&rr, MPI_STATUS_IGNORE);
    printf("rank %d irsend %016lx rsend %016lx\n", rank, checksum(in2, LEN), checksum(in, LEN));

    MPI_Barrier(MPI_COMM_WORLD);
    devmem_free(out), devmem_free(in), devmem_free(out2), devmem_free(in2);
    MPI_Type_free(&column);
    MPI_Finalize();
    return 0;
}
