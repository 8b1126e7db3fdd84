/* A 3-D halo exchange with MPI_Neighbor_alltoallw (one subarray type per face) on a
 * periodic Cartesian communicator, MPI_Neighbor_alltoallv with a vector type, and
 * MPI_Alltoallv with a vector type; prints checksums so runs with and without the tempi
 * shim can be compared. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

#define E 6 /* local block edge, ghost width 1: arrays of (E+2)^3 doubles */

static unsigned long checksum(const double *p, size_t n)
{
    unsigned long h = 1469598103934665603UL;
    const unsigned char *b = (const unsigned char *)p;
    for (size_t i = 0; i < n * sizeof(double); ++i)
        h = (h ^ b[i]) * 1099511628211UL;
    return h;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size, dims[3] = {0, 0, 0}, periods[3] = {1, 1, 1};
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Dims_create(size, 3, dims);
    MPI_Comm cart;
    MPI_Cart_create(MPI_COMM_WORLD, 3, dims, periods, 0, &cart);
    MPI_Comm_rank(cart, &rank);
    const int n = (E + 2) * (E + 2) * (E + 2);
    double *grid = malloc(n * sizeof(double));
    for (int i = 0; i < n; ++i)
        grid[i] = rank * 10000 + i;
    /* neighbour order: dim 0 (-,+), dim 1 (-,+), dim 2 (-,+); send my inner face toward
     * each neighbour, receive its face into my ghost layer on that side */
    int sizes[3] = {E + 2, E + 2, E + 2};
    MPI_Datatype send[6], recv[6];
    for (int d = 0; d < 3; ++d)
        for (int side = 0; side < 2; ++side) {
            int sub[3] = {E, E, E}, sstart[3] = {1, 1, 1}, rstart[3] = {1, 1, 1};
            sub[d] = 1;
            sstart[d] = side ? E : 1;
            rstart[d] = side ? E + 1 : 0;
            MPI_Type_create_subarray(3, sizes, sub, sstart, MPI_ORDER_C, MPI_DOUBLE, &send[2 * d + side]);
            MPI_Type_create_subarray(3, sizes, sub, rstart, MPI_ORDER_C, MPI_DOUBLE, &recv[2 * d + side]);
            MPI_Type_commit(&send[2 * d + side]);
            MPI_Type_commit(&recv[2 * d + side]);
        }
    int counts[6] = {1, 1, 1, 1, 1, 1};
    MPI_Aint displs[6] = {0, 0, 0, 0, 0, 0};
    MPI_Neighbor_alltoallw(grid, counts, displs, send, grid, counts, displs, recv, cart);
    printf("rank %d halo %016lx\n", rank, checksum(grid, n));

    MPI_Datatype column;
    MPI_Type_vector(4, 1, 3, MPI_DOUBLE, &column);
    MPI_Type_create_resized(column, 0, 12 * sizeof(double), &column);
    MPI_Type_commit(&column);
    double *out = malloc(12 * 6 * sizeof(double)), *in = calloc(12 * 6, sizeof(double));
    for (int i = 0; i < 72; ++i)
        out[i] = rank * 100 + i;
    int vc[6] = {1, 1, 1, 1, 1, 1}, vd[6] = {0, 1, 2, 3, 4, 5}, rd[6] = {5, 4, 3, 2, 1, 0};
    MPI_Neighbor_alltoallv(out, vc, vd, column, in, vc, rd, column, cart);
    printf("rank %d neighbor_v %016lx\n", rank, checksum(in, 72));

    int *ac = malloc(size * sizeof(int)), *ad = malloc(size * sizeof(int));
    double *aout = malloc(12 * size * sizeof(double)), *ain = calloc(12 * size, sizeof(double));
    for (int i = 0; i < size; ++i) {
        ac[i] = 1;
        ad[i] = size - 1 - i;
    }
    for (int i = 0; i < 12 * size; ++i)
        aout[i] = rank * 1000 + i;
    MPI_Alltoallv(aout, ac, ad, column, ain, ac, ad, column, MPI_COMM_WORLD);
    printf("rank %d alltoallv %016lx\n", rank, checksum(ain, 12 * size));

    for (int i = 0; i < 6; ++i) {
        MPI_Type_free(&send[i]);
        MPI_Type_free(&recv[i]);
    }
    MPI_Type_free(&column);
    MPI_Comm_free(&cart);
    MPI_Finalize();
    return 0;
}
