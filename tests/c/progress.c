/* MPI's progress rules through tempi's C engine (issue 14): programs that would deadlock
 * if a send of tempi's reached MPI only in a later call. Pairs of ranks (rank ^ 1; an odd
 * last rank talks to itself) exchange a vector type: Isend then a blocking plain MPI_Recv
 * of the packed doubles; Isend then MPI_Barrier; Isend then MPI_Waitall on other
 * requests; MPI_Ssend pairs; Isend then MPI_Request_free (completed in the background);
 * one side Isend then MPI_Barrier while the other receives before its barrier (and the
 * same with MPI_Probe and with MPI_Comm_dup); a ring of persistent requests over rounds.
 * Every received buffer's checksum is printed, so runs with and without the shim compare. With argument
 * "multiple" MPI starts with MPI_THREAD_MULTIPLE; with "device" (first argument) the
 * buffers are device memory (scripts/gpu-check). Repeats each case ROUNDS times, so the
 * steady state (plans made) is exercised, not only the first sight. Last, messages shorter
 * than the receive's element, and types freed and made again with other layouts (their
 * plans must die with them). */
#include <mpi.h>
#include <stdio.h>
#include <string.h>

#include "check.h"

#define BLOCKS 64
#define STRIDE 3
#define ROUNDS 4

int main(int argc, char **argv)
{
    int provided = MPI_THREAD_SINGLE, multiple = 0;
    for (int a = 1; a < argc; ++a)
        multiple |= strcmp(argv[a], "multiple") == 0;
    if (multiple)
        MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    else
        MPI_Init(&argc, &argv);
    devmem_init(devmem_wanted(argc, argv));
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int peer = (rank ^ 1) < size ? rank ^ 1 : rank;
    MPI_Datatype vector;
    MPI_Type_vector(BLOCKS, 1, STRIDE, MPI_DOUBLE, &vector);
    MPI_Type_commit(&vector);
    double *out = filled(BLOCKS * STRIDE, 0), *in = filled(BLOCKS * STRIDE, 0);
    double *packed = filled(BLOCKS, 0), *other = filled(BLOCKS, 0);
    MPI_Request send, more[2];
    for (int round = 0; round < ROUNDS; ++round) {
        int base = 10000 * rank + 100 * round;
        /* Isend, then a blocking plain receive of the peer's packed doubles */
        fill_values(out, BLOCKS * STRIDE, base);
        MPI_Isend(out, 1, vector, peer, 1, MPI_COMM_WORLD, &send);
        MPI_Recv(packed, BLOCKS, MPI_DOUBLE, peer, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        MPI_Wait(&send, MPI_STATUS_IGNORE);
        printf("rank %d round %d isend-recv %016lx\n", rank, round, checksum(packed, BLOCKS));
        /* Isend, then a barrier, then the receive */
        fill_values(out, BLOCKS * STRIDE, base + 1);
        MPI_Isend(out, 1, vector, peer, 2, MPI_COMM_WORLD, &send);
        MPI_Barrier(MPI_COMM_WORLD);
        fill_values(in, BLOCKS * STRIDE, -1);
        MPI_Recv(in, 1, vector, peer, 2, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        MPI_Wait(&send, MPI_STATUS_IGNORE);
        printf("rank %d round %d isend-barrier %016lx\n", rank, round,
               checksum(in, BLOCKS * STRIDE));
        /* Isend, then Waitall on other requests (a plain exchange), then the receive */
        fill_values(out, BLOCKS * STRIDE, base + 2);
        fill_values(packed, BLOCKS, base + 3);
        MPI_Isend(out, 1, vector, peer, 3, MPI_COMM_WORLD, &send);
        MPI_Irecv(other, BLOCKS, MPI_DOUBLE, peer, 4, MPI_COMM_WORLD, &more[0]);
        MPI_Isend(packed, BLOCKS, MPI_DOUBLE, peer, 4, MPI_COMM_WORLD, &more[1]);
        MPI_Waitall(2, more, MPI_STATUSES_IGNORE);
        MPI_Status status;
        int count = -1;
        MPI_Recv(in, 1, vector, peer, 3, MPI_COMM_WORLD, &status);
        MPI_Get_count(&status, vector, &count);
        MPI_Wait(&send, MPI_STATUS_IGNORE);
        printf("rank %d round %d isend-waitall %016lx %016lx count %d source %d\n", rank, round,
               checksum(in, BLOCKS * STRIDE), checksum(other, BLOCKS), count,
               status.MPI_SOURCE == peer);
        /* Ssend pairs: the lower rank sends first */
        fill_values(out, BLOCKS * STRIDE, base + 4);
        if (peer == rank) {
            MPI_Sendrecv(out, 1, vector, peer, 5, in, 1, vector, peer, 5, MPI_COMM_WORLD,
                         MPI_STATUS_IGNORE);
        } else if (rank < peer) {
            MPI_Ssend(out, 1, vector, peer, 5, MPI_COMM_WORLD);
            MPI_Recv(in, 1, vector, peer, 5, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        } else {
            MPI_Recv(in, 1, vector, peer, 5, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            MPI_Ssend(out, 1, vector, peer, 5, MPI_COMM_WORLD);
        }
        printf("rank %d round %d ssend %016lx\n", rank, round, checksum(in, BLOCKS * STRIDE));
        /* Isend, then MPI_Request_free: the send completes in the background (tempi's
         * progress step), while the peer's blocking receive takes it */
        fill_values(out, BLOCKS * STRIDE, base + 5);
        MPI_Isend(out, 1, vector, peer, 10, MPI_COMM_WORLD, &send);
        MPI_Request_free(&send);
        fill_values(in, BLOCKS * STRIDE, -1);
        MPI_Recv(in, 1, vector, peer, 10, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        MPI_Barrier(MPI_COMM_WORLD);
        printf("rank %d round %d freed %016lx\n", rank, round, checksum(in, BLOCKS * STRIDE));
        /* one side Isend then MPI_Barrier (which tempi takes nothing from), the other
         * receives before its barrier: the send must be in MPI before the barrier */
        fill_values(out, BLOCKS * STRIDE, base + 6);
        fill_values(in, BLOCKS * STRIDE, -1);
        if (rank <= peer) {
            MPI_Isend(out, 1, vector, peer, 11, MPI_COMM_WORLD, &send);
            if (peer == rank)
                MPI_Recv(in, 1, vector, peer, 11, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            MPI_Barrier(MPI_COMM_WORLD);
            if (peer != rank)
                MPI_Recv(in, 1, vector, peer, 11, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        } else {
            MPI_Recv(in, 1, vector, peer, 11, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            MPI_Isend(out, 1, vector, peer, 11, MPI_COMM_WORLD, &send);
            MPI_Barrier(MPI_COMM_WORLD);
        }
        MPI_Wait(&send, MPI_STATUS_IGNORE);
        printf("rank %d round %d barrier-first %016lx\n", rank, round,
               checksum(in, BLOCKS * STRIDE));
        /* the same with MPI_Probe (the lower rank probes for the peer's reply before
         * receiving it) and with a communicator constructor (MPI_Comm_dup): calls tempi
         * takes nothing from, which must still post the sends it holds */
        for (int how = 0; how < 2; ++how) {
            fill_values(out, BLOCKS * STRIDE, base + 7 + how);
            fill_values(in, BLOCKS * STRIDE, -1);
            MPI_Comm dup = MPI_COMM_NULL;
            if (rank <= peer) {
                MPI_Isend(out, 1, vector, peer, 12 + how, MPI_COMM_WORLD, &send);
                if (how == 0)
                    MPI_Probe(peer, 12, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                else if (peer == rank)
                    MPI_Recv(in, 1, vector, peer, 13, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                if (how == 1)
                    MPI_Comm_dup(MPI_COMM_WORLD, &dup);
                if (how == 0 || peer != rank)
                    MPI_Recv(in, 1, vector, peer, 12 + how, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            } else {
                MPI_Recv(in, 1, vector, peer, 12 + how, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                MPI_Isend(out, 1, vector, peer, 12 + how, MPI_COMM_WORLD, &send);
                if (how == 1)
                    MPI_Comm_dup(MPI_COMM_WORLD, &dup);
            }
            MPI_Wait(&send, MPI_STATUS_IGNORE);
            if (dup != MPI_COMM_NULL)
                MPI_Comm_free(&dup);
            printf("rank %d round %d %s-first %016lx\n", rank, round,
                   how == 0 ? "probe" : "comm-dup", checksum(in, BLOCKS * STRIDE));
        }
    }
    /* a ring of persistent requests, restarted each round with new contents */
    MPI_Request ring[2];
    MPI_Recv_init(in, 1, vector, (rank + size - 1) % size, 6, MPI_COMM_WORLD, &ring[0]);
    MPI_Send_init(out, 1, vector, (rank + 1) % size, 6, MPI_COMM_WORLD, &ring[1]);
    for (int round = 0; round < ROUNDS; ++round) {
        fill_values(out, BLOCKS * STRIDE, 10000 * rank + round);
        MPI_Startall(2, ring);
        MPI_Waitall(2, ring, MPI_STATUSES_IGNORE);
        printf("rank %d round %d ring %016lx\n", rank, round, checksum(in, BLOCKS * STRIDE));
    }
    MPI_Request_free(&ring[0]);
    MPI_Request_free(&ring[1]);
    /* shorter messages than the receive's one element: the first bytes of its typemap
     * change, the rest keep their values (through Irecv in Sendrecv, then a blocking Recv) */
    MPI_Datatype shorter;
    MPI_Type_vector(BLOCKS - 24, 1, STRIDE, MPI_DOUBLE, &shorter);
    MPI_Type_commit(&shorter);
    for (int blocking = 0; blocking < 2; ++blocking) {
        MPI_Status status;
        int count = 0, elements = 0;
        fill_values(out, BLOCKS * STRIDE, 10000 * rank + 7 + blocking);
        fill_values(in, BLOCKS * STRIDE, -1);
        if (blocking) {
            MPI_Isend(out, 1, shorter, peer, 9, MPI_COMM_WORLD, &send);
            MPI_Recv(in, 1, vector, peer, 9, MPI_COMM_WORLD, &status);
            MPI_Wait(&send, MPI_STATUS_IGNORE);
        } else {
            MPI_Sendrecv(out, 1, shorter, peer, 8, in, 1, vector, peer, 8, MPI_COMM_WORLD,
                         &status);
        }
        MPI_Get_count(&status, vector, &count);
        MPI_Get_elements(&status, MPI_DOUBLE, &elements);
        printf("rank %d shorter %d %016lx undefined %d elements %d\n", rank, blocking,
               checksum(in, BLOCKS * STRIDE), count == MPI_UNDEFINED, elements);
    }
    MPI_Type_free(&shorter);
    MPI_Type_free(&vector);
    /* a type freed and made again with another layout (MPI may reuse the handle): its
     * plans must have died with it */
    for (int stride = 2; stride <= STRIDE; ++stride) {
        MPI_Datatype again;
        MPI_Type_vector(BLOCKS / stride, stride - 1, stride, MPI_DOUBLE, &again);
        MPI_Type_commit(&again);
        fill_values(out, BLOCKS * STRIDE, 10000 * rank + stride);
        fill_values(in, BLOCKS * STRIDE, -1);
        MPI_Sendrecv(out, 1, again, peer, 7, in, 1, again, peer, 7, MPI_COMM_WORLD,
                     MPI_STATUS_IGNORE);
        printf("rank %d stride %d again %016lx\n", rank, stride, checksum(in, BLOCKS * STRIDE));
        MPI_Type_free(&again);
    }
    devmem_free(out), devmem_free(in), devmem_free(packed), devmem_free(other);
    MPI_Finalize();
    return 0;
}
