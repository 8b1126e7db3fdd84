/* Blocking v and w collectives that tempi takes on "device" memory and then declines
 * (tests/test_shim_staging.py): a datatype of negative extent (MPI_DOUBLE resized to extent
 * -8, so count 4 runs backwards from its displacement) is one tempi cannot describe. Run
 * on the stand-in driver's memory, the shim must stage each call through host copies and
 * never hand the system MPI a device pointer; the checksums equal the plain host run's.
 * Bcast and Allgather likewise, and an Allgather with MPI_IN_PLACE. Usage: declined_collective [device]. */
#include "staged.h"
#include <stdlib.h>

#define EACH 4 /* doubles per peer */

int main(int argc, char **argv)
{
    staged_start(&argc, &argv);
    MPI_Datatype back;
    MPI_Type_create_resized(MPI_DOUBLE, 0, -(MPI_Aint)sizeof(double), &back);
    MPI_Type_commit(&back);
    size_t n = (size_t)EACH * size, bytes = n * sizeof(double);
    double *host = malloc(bytes);
    for (size_t i = 0; i < n; ++i)
        host[i] = 1000.0 * rank + i;
    double *send = devmem_alloc(bytes), *recv = devmem_alloc(bytes);
    devmem_put(send, host, bytes);
    int *counts = malloc(sizeof(int) * size), *sdispls = malloc(sizeof(int) * size);
    int *rdispls = malloc(sizeof(int) * size), *displs = malloc(sizeof(int) * size);
    MPI_Datatype *sendtypes = malloc(sizeof(MPI_Datatype) * size);
    MPI_Datatype *recvtypes = malloc(sizeof(MPI_Datatype) * size);
    for (int j = 0; j < size; ++j) {
        counts[j] = EACH;
        sdispls[j] = (EACH * j + EACH - 1) * (int)sizeof(double); /* runs back from here */
        rdispls[j] = EACH * j * (int)sizeof(double);
        displs[j] = EACH * j + EACH - 1; /* in extents of back: -8 bytes each */
        sendtypes[j] = back;
        recvtypes[j] = MPI_DOUBLE;
    }
    MPI_Alltoallw(send, counts, sdispls, sendtypes, recv, counts, rdispls, recvtypes,
                  MPI_COMM_WORLD);
    devmem_get(host, recv, bytes);
    say("alltoallw", host, n);

    /* Alltoallv sending backwards: displacements in extents (-8 bytes) */
    for (int j = 0; j < size; ++j)
        displs[j] = -(EACH * j + EACH - 1);
    for (int j = 0; j < size; ++j)
        rdispls[j] = EACH * j; /* elements of MPI_DOUBLE */
    MPI_Alltoallv(send, counts, displs, back, recv, counts, rdispls, MPI_DOUBLE,
                  MPI_COMM_WORLD);
    devmem_get(host, recv, bytes);
    say("alltoallv", host, n);

    /* Allgatherv receiving backwards (the same displacements) */
    MPI_Allgatherv(send, EACH, MPI_DOUBLE, recv, counts, displs, back, MPI_COMM_WORLD);
    devmem_get(host, recv, bytes);
    say("allgatherv", host, n);

    /* the rooted forms: Bcast of a backwards type from rank 0, Allgather sending one (not
     * Gather: Open MPI 5's own, plain, fails with MPI_ERR_INTERN there at 3 ranks) */
    devmem_put(recv, host, bytes); /* (Bcast: rank 0's values are everyone's) */
    MPI_Bcast(recv + EACH - 1, EACH, back, 0, MPI_COMM_WORLD);
    devmem_get(host, recv, EACH * sizeof(double));
    say("bcast", host, EACH);
    MPI_Allgather(send + EACH - 1, EACH, back, recv, EACH, MPI_DOUBLE, MPI_COMM_WORLD);
    devmem_get(host, recv, bytes);
    say("allgather", host, n);

    /* MPI_IN_PLACE, which tempi passes to the system MPI: staged when on device memory */
    for (size_t i = 0; i < n; ++i)
        host[i] = 10.0 * rank + i;
    devmem_put(recv, host, bytes);
    MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, recv, EACH, MPI_DOUBLE, MPI_COMM_WORLD);
    devmem_get(host, recv, bytes);
    say("allgather in place", host, n);

    say_staged();
    MPI_Type_free(&back);
    devmem_free(send);
    devmem_free(recv);
    free(host);
    free(counts);
    free(sdispls);
    free(rdispls);
    free(displs);
    free(sendtypes);
    free(recvtypes);
    MPI_Finalize();
    return 0;
}
