/* Partitioned communication (MPI-4.0 chapter 4) the shim stages when the MPI cannot read
 * device memory (native/stage_partitioned.c): each rank sends to its right neighbour and
 * receives from its left one, in 4 partitions of doubles and in 3 partitions of a vector
 * type (gaps that must come back unchanged), over two rounds of MPI_Startall and
 * completion. The sender fills each partition only after MPI_Start, just before marking it
 * ready, out of order (MPI_Pready, then MPI_Pready_range and MPI_Pready_list); the
 * receiver polls MPI_Parrived and prints each partition as soon as it is reported, so a
 * partition that was not copied back by MPI_Parrived (or not copied in at MPI_Pready)
 * prints the wrong checksum. Completion: MPI_Waitall in round 1; MPI_Wait and MPI_Test in
 * round 2, before which one partition is left for the completion call to copy back.
 * Buffers are device memory with "device" as the first argument (native/devmem.h), host
 * memory otherwise (staged with TEMPI_HOST=1); stderr says how many calls were staged. */
#include "staged.h"
#include <string.h>

#define PARTS 4
#define N 6 /* doubles per partition */

static void fill_partition(double *buffer, int p, int n, double base)
{
    fill_values(buffer + (size_t)p * n, (size_t)n, base + 100.0 * p);
}

/* Poll MPI_Parrived over every partition, printing each as it arrives (all but `skip`). */
static void poll(MPI_Request request, const double *recv, int parts, int n, int skip,
                 const char *what)
{
    int arrived[PARTS] = {0}, left = parts - (skip >= 0);
    while (left > 0) {
        for (int p = 0; p < parts; ++p) {
            int flag = 0;
            if (p == skip || arrived[p])
                continue;
            MPI_Parrived(request, p, &flag);
            if (flag) {
                char name[64];
                snprintf(name, sizeof name, "%s-part%d", what, p);
                say(name, recv + (size_t)p * n, (size_t)n);
                arrived[p] = 1;
                --left;
            }
        }
    }
}

int main(int argc, char **argv)
{
    staged_start(&argc, &argv);
    int right = (rank + 1) % size, left = (rank + size - 1) % size;
    double *send = filled(PARTS * N, -9.0), *recv = filled(PARTS * N, -1.0);
    MPI_Request requests[2];
    MPI_Precv_init(recv, PARTS, N, MPI_DOUBLE, left, 1, MPI_COMM_WORLD, MPI_INFO_NULL,
                   &requests[0]);
    MPI_Psend_init(send, PARTS, N, MPI_DOUBLE, right, 1, MPI_COMM_WORLD, MPI_INFO_NULL,
                   &requests[1]);

    /* round 1: MPI_Pready out of order, every partition polled, MPI_Waitall */
    MPI_Startall(2, requests);
    for (int p = PARTS - 1; p >= 0; --p) {
        fill_partition(send, p, N, 1000.0 * (rank + 1));
        MPI_Pready(p, requests[1]);
    }
    poll(requests[0], recv, PARTS, N, -1, "round1");
    MPI_Waitall(2, requests, MPI_STATUSES_IGNORE);
    say("round1", recv, PARTS * N);

    /* round 2: MPI_Pready_list then MPI_Pready_range; partition 2 left to the completion */
    fill_values(recv, PARTS * N, -2.0);
    MPI_Startall(2, requests);
    int list[2] = {3, 1};
    fill_partition(send, 3, N, 2000.0 * (rank + 1));
    fill_partition(send, 1, N, 2000.0 * (rank + 1));
    MPI_Pready_list(2, list, requests[1]);
    fill_partition(send, 0, N, 3000.0 * (rank + 1));
    fill_partition(send, 2, N, 3000.0 * (rank + 1));
    MPI_Pready_range(0, 0, requests[1]);
    MPI_Pready_range(2, 2, requests[1]);
    poll(requests[0], recv, PARTS, N, 2, "round2");
    MPI_Wait(&requests[1], MPI_STATUS_IGNORE);
    int flag = 0;
    do
        MPI_Test(&requests[0], &flag, MPI_STATUS_IGNORE);
    while (!flag);
    say("round2", recv, PARTS * N);
    MPI_Request_free(&requests[0]);
    MPI_Request_free(&requests[1]);

    /* a vector type (every other double): 3 partitions of 2 elements, gaps kept */
    MPI_Datatype vec;
    MPI_Type_vector(2, 1, 2, MPI_DOUBLE, &vec);
    MPI_Type_commit(&vec);
    fill_values(send, PARTS * N, 10.0 * rank);
    fill_values(recv, PARTS * N, -3.0);
    MPI_Precv_init(recv, 3, 2, vec, left, 2, MPI_COMM_WORLD, MPI_INFO_NULL, &requests[0]);
    MPI_Psend_init(send, 3, 2, vec, right, 2, MPI_COMM_WORLD, MPI_INFO_NULL, &requests[1]);
    MPI_Type_free(&vec); /* the requests keep what they need */
    MPI_Startall(2, requests);
    MPI_Pready_range(0, 2, requests[1]);
    MPI_Waitall(2, requests, MPI_STATUSES_IGNORE);
    say("vector", recv, PARTS * N);
    MPI_Request_free(&requests[0]);
    MPI_Request_free(&requests[1]);

    say_staged();
    devmem_free(send);
    devmem_free(recv);
    MPI_Finalize();
    return 0;
}
