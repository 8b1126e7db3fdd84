/* Bcast, Gather(v), Scatter(v) and Allgather(v) with a vector type, checked by printing
 * checksums so runs with and without the tempi shim can be compared. In the Gather and the
 * Scatter the root uses the vector type and the other ranks plain doubles (the same type
 * signature), so the ranks decide differently under the shim and must still meet. Buffers
 * are in device memory with "device" as the first argument (see native/devmem.h). */
#include "check.h"
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

#define W 12 /* doubles per column block: 4 doubles at stride 3 */

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    devmem_init(devmem_wanted(argc, argv));
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Datatype column;
    MPI_Type_vector(4, 1, 3, MPI_DOUBLE, &column);
    MPI_Type_create_resized(column, 0, W * sizeof(double), &column);
    MPI_Type_commit(&column);
    size_t n = (size_t)W * 3 * size;
    int *counts = malloc(size * sizeof(int)), *displs = malloc(size * sizeof(int));
    int total = 0;
    for (int j = 0; j < size; ++j) {
        counts[j] = 1 + j % 3;
        displs[j] = total;
        total += counts[j];
    }

    for (int root = 0; root < size; root += size > 1 ? size - 1 : 1) {
        double *b = filled(2 * W, rank == root ? 500 : -1);
        MPI_Bcast(b, 2, column, root, MPI_COMM_WORLD);
        printf("rank %d bcast from %d %016lx\n", rank, root, checksum(b, 2 * W));
        devmem_free(b);
    }

    /* the root gathers columns; the others send 4 plain doubles each */
    double *mine = filled(W, rank * 100), *all = filled(n, -1);
    if (rank == 0)
        MPI_Gather(mine, 1, column, all, 1, column, 0, MPI_COMM_WORLD);
    else
        MPI_Gather(mine, 4, MPI_DOUBLE, NULL, 0, MPI_DATATYPE_NULL, 0, MPI_COMM_WORLD);
    if (rank == 0)
        printf("rank %d gather %016lx\n", rank, checksum(all, n));
    /* and scatters them back: the others receive 4 plain doubles */
    double *back = filled(W, -2);
    if (rank == 0)
        MPI_Scatter(all, 1, column, back, 1, column, 0, MPI_COMM_WORLD);
    else
        MPI_Scatter(NULL, 0, MPI_DATATYPE_NULL, back, 4, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    printf("rank %d scatter %016lx\n", rank, checksum(back, W));

    double *some = filled(3 * W, rank * 1000), *gathered = filled(n, -3);
    MPI_Gatherv(some, counts[rank], column, gathered, counts, displs, column, 0, MPI_COMM_WORLD);
    if (rank == 0)
        printf("rank %d gatherv %016lx\n", rank, checksum(gathered, n));
    double *part = filled(3 * W, -4);
    MPI_Scatterv(gathered, counts, displs, column, part, counts[rank], column, 0,
                 MPI_COMM_WORLD);
    printf("rank %d scatterv %016lx\n", rank, checksum(part, 3 * W));

    double *everyone = filled(n, -5);
    MPI_Allgather(mine, 1, column, everyone, 1, column, MPI_COMM_WORLD);
    printf("rank %d allgather %016lx\n", rank, checksum(everyone, n));
    MPI_Allgatherv(some, counts[rank], column, everyone, counts, displs, column,
                   MPI_COMM_WORLD);
    printf("rank %d allgatherv %016lx\n", rank, checksum(everyone, n));

    devmem_free(mine), devmem_free(all), devmem_free(back), devmem_free(some);
    devmem_free(gathered), devmem_free(part), devmem_free(everyone);
    free(counts), free(displs);
    MPI_Type_free(&column);
    MPI_Finalize();
    return 0;
}
