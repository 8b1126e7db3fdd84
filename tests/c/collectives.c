/* A 3-D halo exchange with MPI_Neighbor_alltoallw (one subarray type per face) on a
 * periodic Cartesian communicator and on a non-periodic one (MPI_PROC_NULL beyond the
 * edges: those ghost layers keep their values), MPI_Neighbor_alltoallv with a vector type,
 * MPI_Alltoallv with a vector type, and MPI_Alltoallw of column blocks with subarray
 * types; prints checksums so runs with and without the tempi
 * shim can be compared. Buffers are in device memory with "device" as the first argument
 * (see native/devmem.h). */
#include "check.h"
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

#define E 6 /* local block edge, ghost width 1: arrays of (E+2)^3 doubles */

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    devmem_init(devmem_wanted(argc, argv));
    int rank, size, dims[3] = {0, 0, 0}, periods[3] = {1, 1, 1};
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Dims_create(size, 3, dims);
    MPI_Comm cart;
    MPI_Cart_create(MPI_COMM_WORLD, 3, dims, periods, 0, &cart);
    MPI_Comm_rank(cart, &rank);
    const int n = (E + 2) * (E + 2) * (E + 2);
    double *grid = filled(n, rank * 10000);
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
    int open[3] = {0, 0, 0};
    MPI_Comm bounded;
    MPI_Cart_create(MPI_COMM_WORLD, 3, dims, open, 0, &bounded);
    double *walled = filled(n, rank * 10000);
    MPI_Neighbor_alltoallw(walled, counts, displs, send, walled, counts, displs, recv, bounded);
    printf("rank %d open halo %016lx\n", rank, checksum(walled, n));
    devmem_free(walled);
    MPI_Comm_free(&bounded);

    MPI_Datatype column;
    MPI_Type_vector(4, 1, 3, MPI_DOUBLE, &column);
    MPI_Type_create_resized(column, 0, 12 * sizeof(double), &column);
    MPI_Type_commit(&column);
    double *out = filled(72, rank * 100), *in = devmem_alloc(72 * sizeof(double));
    int vc[6] = {1, 1, 1, 1, 1, 1}, vd[6] = {0, 1, 2, 3, 4, 5}, rd[6] = {5, 4, 3, 2, 1, 0};
    MPI_Neighbor_alltoallv(out, vc, vd, column, in, vc, rd, column, cart);
    printf("rank %d neighbor_v %016lx\n", rank, checksum(in, 72));

    int *ac = malloc(size * sizeof(int)), *ad = malloc(size * sizeof(int));
    double *aout = filled(12 * size, rank * 1000);
    double *ain = devmem_alloc(12 * size * sizeof(double));
    for (int i = 0; i < size; ++i) {
        ac[i] = 1;
        ad[i] = size - 1 - i;
    }
    MPI_Alltoallv(aout, ac, ad, column, ain, ac, ad, column, MPI_COMM_WORLD);
    printf("rank %d alltoallv %016lx\n", rank, checksum(ain, 12 * size));

    /* Alltoallw: rank j gets columns [2j, 2j+2) of this rank's 2 x (2size+1) array, into
     * its own columns [2r, 2r+2); one send type moved by byte displacements, one receive
     * type per peer placed by its subarray start (as a slab FFT's transpose does) */
    int wc[2] = {2, 2 * size + 1}, wsub[2] = {2, 2}, zero[2] = {0, 0};
    int *wcounts = malloc(size * sizeof(int)), *wsd = malloc(size * sizeof(int));
    int *wrd = malloc(size * sizeof(int));
    MPI_Datatype *wst = malloc(size * sizeof(MPI_Datatype));
    MPI_Datatype *wrt = malloc(size * sizeof(MPI_Datatype)), block;
    MPI_Type_create_subarray(2, wc, wsub, zero, MPI_ORDER_C, MPI_DOUBLE, &block);
    MPI_Type_commit(&block);
    for (int j = 0; j < size; ++j) {
        int start[2] = {0, 2 * j};
        wcounts[j] = 1;
        wsd[j] = 2 * j * (int)sizeof(double);
        wrd[j] = 0;
        wst[j] = block;
        MPI_Type_create_subarray(2, wc, wsub, start, MPI_ORDER_C, MPI_DOUBLE, &wrt[j]);
        MPI_Type_commit(&wrt[j]);
    }
    double *wout = filled(2 * wc[1], rank * 10000), *win = filled(2 * wc[1], -1);
    MPI_Alltoallw(wout, wcounts, wsd, wst, win, wcounts, wrd, wrt, MPI_COMM_WORLD);
    printf("rank %d alltoallw %016lx\n", rank, checksum(win, 2 * wc[1]));
    for (int j = 0; j < size; ++j)
        MPI_Type_free(&wrt[j]);
    MPI_Type_free(&block);
    devmem_free(wout);
    devmem_free(win);
    free(wcounts), free(wsd), free(wrd), free(wst), free(wrt);

    for (int i = 0; i < 6; ++i) {
        MPI_Type_free(&send[i]);
        MPI_Type_free(&recv[i]);
    }
    devmem_free(grid);
    devmem_free(out);
    devmem_free(in);
    devmem_free(aout);
    devmem_free(ain);
    free(ac);
    free(ad);
    MPI_Type_free(&column);
    MPI_Comm_free(&cart);
    MPI_Finalize();
    return 0;
}
