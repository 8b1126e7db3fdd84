/* The calls the shim stages when the MPI cannot read device memory (native/stage.c), one
 * family after another: MPI_Alltoall (doubles, and a vector type), the reductions (Reduce,
 * in place too, Allreduce, Reduce_scatter, Reduce_scatter_block, Scan, Exscan), MPI_Mrecv
 * after MPI_Mprobe, a message of an MPI_Type_dup of a vector type, then the non-blocking
 * forms (Iallreduce, Ibcast, Ialltoall, Iallgather, Ireduce, Iscan, Ireduce_scatter_block,
 * Imrecv) completed by Wait, Test, Waitany, Waitall and Waitsome, and the persistent
 * Allreduce_init and Bcast_init over two rounds of Startall/Waitall; the v and w forms
 * (Ialltoallv, Ialltoallw, Igatherv, Iscatterv, Iallgatherv), Igather, Iscatter,
 * Ireduce_scatter and a persistent Alltoallv_init; on a periodic ring, Neighbor_allgather,
 * Neighbor_alltoall, Neighbor_allgatherv, Ineighbor_alltoallv, Ineighbor_alltoallw and a
 * persistent Neighbor_allgather_init. Every result is
 * printed as a checksum, so runs with and without the shim can be compared; under the
 * shim stderr says how many calls it staged (tempi_staged_calls, looked up at run
 * time: absent without the shim). Buffers are device memory with "device" as the first
 * argument (native/devmem.h), host memory otherwise (staged with TEMPI_HOST=1). */
#include "staged.h"
#include <string.h>

#define N 24


int main(int argc, char **argv)
{
    staged_start(&argc, &argv);
    size_t all = (size_t)N * size * 2;
    double *send = filled(all, 1000.0 * rank), *recv = filled(all, -1.0);

    MPI_Alltoall(send, N, MPI_DOUBLE, recv, N, MPI_DOUBLE, MPI_COMM_WORLD);
    say("alltoall", recv, all);

    MPI_Datatype vec;
    MPI_Type_vector(N / 2, 1, 2, MPI_DOUBLE, &vec);
    MPI_Type_commit(&vec);
    fill_values(recv, all, -2.0);
    MPI_Alltoall(send, 1, vec, recv, N / 2, MPI_DOUBLE, MPI_COMM_WORLD);
    say("alltoall-vector", recv, all);

    fill_values(recv, all, -3.0);
    MPI_Reduce(send, recv, N, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD);
    say("reduce", recv, N);
    fill_values(recv, N, 1.0 + rank);
    MPI_Reduce(rank == 0 ? MPI_IN_PLACE : recv, recv, N, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
    say("reduce-in-place", recv, N);
    MPI_Allreduce(send, recv, N, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    say("allreduce", recv, N);
    MPI_Scan(send, recv, N, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    say("scan", recv, N);
    fill_values(recv, N, -4.0);
    MPI_Exscan(send, recv, N, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    if (rank > 0) /* rank 0's receive buffer is undefined after MPI_Exscan */
        say("exscan", recv, N);
    MPI_Reduce_scatter_block(send, recv, 4, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    say("reduce-scatter-block", recv, 4);
    int counts[64];
    for (int i = 0; i < size; ++i)
        counts[i] = 1 + i % 3;
    MPI_Reduce_scatter(send, recv, counts, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    say("reduce-scatter", recv, (size_t)counts[rank]);

    int right = (rank + 1) % size, left = (rank + size - 1) % size;
    MPI_Request request;
    MPI_Isend(send, N, MPI_DOUBLE, right, 7, MPI_COMM_WORLD, &request);
    MPI_Message message;
    MPI_Status status;
    MPI_Mprobe(left, 7, MPI_COMM_WORLD, &message, &status);
    fill_values(recv, N, -5.0);
    MPI_Mrecv(recv, N, MPI_DOUBLE, &message, &status);
    MPI_Wait(&request, MPI_STATUS_IGNORE);
    int got;
    MPI_Get_count(&status, MPI_DOUBLE, &got);
    printf("rank %d mrecv count %d source %d\n", rank, got, status.MPI_SOURCE);
    say("mrecv", recv, N);

    MPI_Datatype dup;
    MPI_Type_dup(vec, &dup);
    fill_values(recv, all, -6.0);
    MPI_Sendrecv(send, 2, dup, right, 8, recv, 2, dup, left, 8, MPI_COMM_WORLD, &status);
    MPI_Get_count(&status, dup, &got);
    printf("rank %d dup count %d\n", rank, got);
    say("dup", recv, 2 * N);
    MPI_Type_free(&dup);
    MPI_Type_free(&vec);

    /* the non-blocking and persistent forms: copied back by the completion calls */
    MPI_Request r[3];
    MPI_Iallreduce(send, recv, N, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD, &r[0]);
    MPI_Wait(&r[0], MPI_STATUS_IGNORE);
    say("iallreduce", recv, N);
    fill_values(recv, N, 10.0 * rank);
    MPI_Ibcast(recv, N, MPI_DOUBLE, size - 1, MPI_COMM_WORLD, &r[0]);
    int flag = 0;
    while (!flag)
        MPI_Test(&r[0], &flag, MPI_STATUS_IGNORE);
    say("ibcast", recv, N);
    double *other = filled(all, -7.0);
    MPI_Ialltoall(send, N, MPI_DOUBLE, other, N, MPI_DOUBLE, MPI_COMM_WORLD, &r[0]);
    MPI_Iallgather(send, N, MPI_DOUBLE, recv, N, MPI_DOUBLE, MPI_COMM_WORLD, &r[1]);
    int index = -1;
    MPI_Waitany(2, r, &index, MPI_STATUS_IGNORE);
    MPI_Waitall(2, r, MPI_STATUSES_IGNORE);
    say("ialltoall", other, (size_t)N * size);
    say("iallgather", recv, (size_t)N * size);
    MPI_Ireduce(send, recv, N, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD, &r[0]);
    MPI_Iscan(send, other, N, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD, &r[1]);
    MPI_Ireduce_scatter_block(send, other + N, 2, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD, &r[2]);
    int done = 0, outcount, indices[3];
    while (done < 3) {
        MPI_Waitsome(3, r, &outcount, indices, MPI_STATUSES_IGNORE);
        done += outcount == MPI_UNDEFINED ? 3 : outcount;
    }
    if (rank == 0)
        say("ireduce", recv, N);
    say("iscan", other, N);
    say("ireduce-scatter-block", other + N, 2);
    MPI_Request persistent[2];
    MPI_Allreduce_init(send, recv, N, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD, MPI_INFO_NULL,
                       &persistent[0]);
    MPI_Bcast_init(other, N, MPI_DOUBLE, 0, MPI_COMM_WORLD, MPI_INFO_NULL, &persistent[1]);
    for (int round = 0; round < 2; ++round) {
        fill_values(send, N, 100.0 * round + rank);
        fill_values(other, N, 1000.0 * round + rank);
        MPI_Startall(2, persistent);
        MPI_Waitall(2, persistent, MPI_STATUSES_IGNORE); /* (MPICH 5's Testall fails them) */
        say("allreduce-init", recv, N);
        say("bcast-init", other, N);
    }
    MPI_Request_free(&persistent[0]);
    MPI_Request_free(&persistent[1]);
    MPI_Isend(send, N, MPI_DOUBLE, right, 9, MPI_COMM_WORLD, &request);
    MPI_Mprobe(left, 9, MPI_COMM_WORLD, &message, &status);
    MPI_Imrecv(recv, N, MPI_DOUBLE, &message, &r[0]);
    MPI_Wait(&r[0], MPI_STATUS_IGNORE);
    MPI_Wait(&request, MPI_STATUS_IGNORE);
    say("imrecv", recv, N);
    /* the v and w forms: parts at displacements, per-part types */
    int sc[64], sd[64], rc[64], rd[64], ac[64]; /* ac: what this rank and i exchange */
    MPI_Aint wsd[64];
    MPI_Datatype wt[64];
    for (int i = 0; i < size; ++i) {
        sc[i] = rc[i] = 1 + i % 3;
        ac[i] = 1 + (rank + i) % 3;
        sd[i] = rd[i] = 4 * i;
        wsd[i] = (MPI_Aint)sizeof(double) * 4 * i;
        wt[i] = MPI_DOUBLE;
    }
    int wsdi[64];
    for (int i = 0; i < size; ++i)
        wsdi[i] = (int)wsd[i];
    fill_values(recv, all, -8.0);
    fill_values(other, all, -9.0);
    MPI_Ialltoallv(send, ac, sd, MPI_DOUBLE, recv, ac, rd, MPI_DOUBLE, MPI_COMM_WORLD, &r[0]);
    MPI_Ialltoallw(send, ac, wsdi, wt, other, ac, wsdi, wt, MPI_COMM_WORLD, &r[1]);
    MPI_Waitall(2, r, MPI_STATUSES_IGNORE);
    say("ialltoallv", recv, (size_t)4 * size);
    say("ialltoallw", other, (size_t)4 * size);
    fill_values(recv, all, -10.0);
    MPI_Igatherv(send, 1 + rank % 3, MPI_DOUBLE, recv, rc, rd, MPI_DOUBLE, 0, MPI_COMM_WORLD,
                 &r[0]);
    MPI_Wait(&r[0], MPI_STATUS_IGNORE);
    if (rank == 0)
        say("igatherv", recv, (size_t)4 * size);
    fill_values(recv, all, -11.0);
    MPI_Iscatterv(send, sc, sd, MPI_DOUBLE, recv, 1 + rank % 3, MPI_DOUBLE, 0, MPI_COMM_WORLD,
                  &r[0]);
    MPI_Wait(&r[0], MPI_STATUS_IGNORE);
    say("iscatterv", recv, 3);
    fill_values(recv, all, -12.0);
    MPI_Iallgatherv(send, 1 + rank % 3, MPI_DOUBLE, recv, rc, rd, MPI_DOUBLE, MPI_COMM_WORLD,
                    &r[0]);
    MPI_Wait(&r[0], MPI_STATUS_IGNORE);
    say("iallgatherv", recv, (size_t)4 * size);
    fill_values(other, all, -13.0);
    MPI_Igather(send, 2, MPI_DOUBLE, other, 2, MPI_DOUBLE, 0, MPI_COMM_WORLD, &r[0]);
    MPI_Wait(&r[0], MPI_STATUS_IGNORE);
    if (rank == 0)
        say("igather", other, (size_t)2 * size);
    MPI_Iscatter(send, 2, MPI_DOUBLE, other, 2, MPI_DOUBLE, 0, MPI_COMM_WORLD, &r[0]);
    MPI_Wait(&r[0], MPI_STATUS_IGNORE);
    say("iscatter", other, 2);
    MPI_Ireduce_scatter(send, other, counts, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD, &r[0]);
    MPI_Wait(&r[0], MPI_STATUS_IGNORE);
    say("ireduce-scatter", other, (size_t)counts[rank]);
    MPI_Alltoallv_init(send, ac, sd, MPI_DOUBLE, recv, ac, rd, MPI_DOUBLE, MPI_COMM_WORLD,
                       MPI_INFO_NULL, &persistent[0]);
    for (int round = 0; round < 2; ++round) {
        fill_values(send, all, 10.0 * round + rank);
        MPI_Start(&persistent[0]);
        MPI_Wait(&persistent[0], MPI_STATUS_IGNORE);
        say("alltoallv-init", recv, (size_t)4 * size);
    }
    MPI_Request_free(&persistent[0]);

    /* neighbourhood collectives on a periodic ring: two neighbours each */
    MPI_Comm ring;
    int dims[1] = {size}, periods[1] = {1};
    MPI_Cart_create(MPI_COMM_WORLD, 1, dims, periods, 0, &ring);
    int at[2] = {0, 4};
    MPI_Aint wat[2] = {0, 4 * sizeof(double)};
    MPI_Datatype two_types[2] = {MPI_DOUBLE, MPI_DOUBLE};
    fill_values(recv, all, -14.0);
    MPI_Neighbor_allgather(send, 3, MPI_DOUBLE, recv, 3, MPI_DOUBLE, ring);
    say("neighbor-allgather", recv, 6);
    MPI_Neighbor_alltoall(send, 3, MPI_DOUBLE, recv, 3, MPI_DOUBLE, ring);
    say("neighbor-alltoall", recv, 6);
    fill_values(recv, all, -15.0);
    int mine[2] = {2, 2};
    MPI_Neighbor_allgatherv(send, 2, MPI_DOUBLE, recv, mine, at, MPI_DOUBLE, ring);
    say("neighbor-allgatherv", recv, 8);
    fill_values(recv, all, -16.0);
    fill_values(other, all, -17.0);
    int sym[2] = {2, 2};
    MPI_Ineighbor_alltoallv(send, sym, at, MPI_DOUBLE, recv, sym, at, MPI_DOUBLE, ring, &r[0]);
    MPI_Ineighbor_alltoallw(send, sym, wat, two_types, other, sym, wat, two_types, ring, &r[1]);
    MPI_Waitall(2, r, MPI_STATUSES_IGNORE);
    say("ineighbor-alltoallv", recv, 8);
    say("ineighbor-alltoallw", other, 8);
    MPI_Neighbor_allgather_init(send, 3, MPI_DOUBLE, recv, 3, MPI_DOUBLE, ring, MPI_INFO_NULL,
                                &persistent[0]);
    for (int round = 0; round < 2; ++round) {
        fill_values(send, N, 5.0 * round + rank);
        MPI_Start(&persistent[0]);
        MPI_Wait(&persistent[0], MPI_STATUS_IGNORE);
        say("neighbor-allgather-init", recv, 6);
    }
    MPI_Request_free(&persistent[0]);
    MPI_Comm_free(&ring);
    devmem_free(other);

    say_staged();
    devmem_free(send);
    devmem_free(recv);
    MPI_Finalize();
    return 0;
}
