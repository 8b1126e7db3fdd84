/* More of tempi's requests alive at once than the interposer's first table holds: each
 * rank posts N receives and N sends of a vector type (TEMPI_HOST=1 makes them tempi's)
 * before completing any, then completes them with one MPI_Waitall; prints a checksum of
 * everything received and how many requests it held, for comparison with the plain run. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

#define N 10000

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Datatype vec;
    MPI_Type_vector(2, 1, 2, MPI_DOUBLE, &vec);
    MPI_Type_commit(&vec);
    double *send = malloc(sizeof(double) * 4 * N), *recv = calloc(4 * (size_t)N, sizeof(double));
    for (int i = 0; i < 4 * N; ++i)
        send[i] = rank * 1e6 + i;
    MPI_Request *requests = malloc(sizeof(MPI_Request) * 2 * N);
    int right = (rank + 1) % size, left = (rank + size - 1) % size;
    for (int i = 0; i < N; ++i)
        MPI_Irecv(recv + 4 * i, 1, vec, left, i, MPI_COMM_WORLD, &requests[i]);
    for (int i = 0; i < N; ++i)
        MPI_Isend(send + 4 * i, 1, vec, right, i, MPI_COMM_WORLD, &requests[N + i]);
    int err = MPI_Waitall(2 * N, requests, MPI_STATUSES_IGNORE);
    unsigned long h = 1469598103934665603UL;
    for (int i = 0; i < 4 * N; ++i) {
        unsigned char *b = (unsigned char *)&recv[i];
        for (size_t k = 0; k < sizeof(double); ++k)
            h = (h ^ b[k]) * 1099511628211UL;
    }
    printf("rank %d requests %d err %d checksum %016lx\n", rank, 2 * N, err, h);
    MPI_Type_free(&vec);
    free(send), free(recv), free(requests);
    MPI_Finalize();
    return 0;
}
