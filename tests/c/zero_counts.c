/* MPI_Alltoallv in which rank 0 sends and receives nothing (every count to and from it is
 * 0) while the other ranks exchange a vector type: every rank must still take the same
 * path through the shim, or the ones that move data wait forever for rank 0. Prints a
 * checksum per rank so runs with and without the shim can be compared. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Datatype column;
    MPI_Type_vector(4, 1, 3, MPI_DOUBLE, &column);
    MPI_Type_create_resized(column, 0, 12 * sizeof(double), &column);
    MPI_Type_commit(&column);
    double *out = malloc(12 * size * sizeof(double)), *in = calloc(12 * size, sizeof(double));
    int *counts = malloc(size * sizeof(int)), *displs = malloc(size * sizeof(int));
    for (int i = 0; i < 12 * size; ++i)
        out[i] = rank * 100 + i;
    for (int j = 0; j < size; ++j) {
        counts[j] = rank == 0 || j == 0 ? 0 : 1;
        displs[j] = j;
    }
    for (int round = 0; round < 3; ++round)
        MPI_Alltoallv(out, counts, displs, column, in, counts, displs, column, MPI_COMM_WORLD);
    double sum = 0;
    for (int i = 0; i < 12 * size; ++i)
        sum += in[i];
    printf("rank %d sum %g\n", rank, sum);
    free(out), free(in), free(counts), free(displs);
    MPI_Type_free(&column);
    MPI_Finalize();
    return 0;
}
