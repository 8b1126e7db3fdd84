/* A CUDA driver loaded after MPI_Init (tests/test_shim_staging.py): the program starts MPI,
 * only then opens libcuda.so.1 (tests/c/staged.h's staged_start: devmem_init's dlopen, as
 * cudart_static or `import cupy` after mpi4py would), allocates "device" memory from it and
 * at once sends and receives it with a plain type, committing no datatype first. The shim
 * must see the driver at that first call (its dlopen wrapper), so the buffers are staged,
 * never handed to the system MPI as host memory; with "collective", the first call is an
 * MPI_Alltoallv instead. Prints each result's checksum; usage:
 * late_driver [device|host] [collective]. */
#include "staged.h"
#include <stdlib.h>

#define N 64

int main(int argc, char **argv)
{
    staged_start(&argc, &argv);
    double host[N];
    for (int i = 0; i < N; ++i)
        host[i] = 100.0 * rank + i;
    double *send = devmem_alloc(sizeof host), *recv = devmem_alloc(sizeof host);
    devmem_put(send, host, sizeof host);
    int right = (rank + 1) % size, left = (rank + size - 1) % size;
    if (argc > 2 && strcmp(argv[2], "collective") == 0) { /* the first call a collective */
        int *counts = malloc(sizeof(int) * size), *displs = malloc(sizeof(int) * size);
        for (int j = 0; j < size; ++j)
            counts[j] = N / size, displs[j] = j * (N / size);
        MPI_Alltoallv(send, counts, displs, MPI_DOUBLE, recv, counts, displs, MPI_DOUBLE,
                      MPI_COMM_WORLD);
        devmem_get(host, recv, sizeof host);
        say("alltoallv", host, N);
        free(counts);
        free(displs);
    }
    /* the first MPI call on device memory: a plain type, no commit before it */
    MPI_Sendrecv(send, N, MPI_DOUBLE, right, 1, recv, N, MPI_DOUBLE, left, 1, MPI_COMM_WORLD,
                 MPI_STATUS_IGNORE);
    devmem_get(host, recv, sizeof host);
    say("sendrecv", host, N);
    /* and a blocking send and receive */
    if (rank % 2 == 0 && rank + 1 < size)
        MPI_Send(send, N, MPI_DOUBLE, rank + 1, 2, MPI_COMM_WORLD);
    else if (rank % 2 == 1)
        MPI_Recv(recv, N, MPI_DOUBLE, rank - 1, 2, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    devmem_get(host, recv, sizeof host);
    say("recv", host, N);
    say_staged();
    devmem_free(send);
    devmem_free(recv);
    MPI_Finalize();
    return 0;
}
