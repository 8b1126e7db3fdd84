/* The interposer's batched exchanges in C after warm-up (issue 14, Deliver 2): rounds of
 * MPI_Neighbor_alltoallw (subarray faces on a periodic 3-D Cartesian communicator), the
 * same after its types are freed and made again, on a new Cartesian communicator after
 * the first is freed, then MPI_Alltoallw (subarray blocks) and MPI_Alltoallv (a resized
 * vector) on MPI_COMM_WORLD. Each round refills the data and prints its checksum; under
 * the shim each phase also prints how many of its calls ran in C (the shim's
 * tempi_exchange_runs) and how many plan misses it had (tempi_engine_counter(1)).
 *
 *   exchange [host|device] [--rounds R] [--python-rank P] [--declined-rank D] [--inter]
 *
 * --python-rank P: rank P sets TEMPI_PLANS=0 before its first message, so it takes
 * Python's path every time while the others run in C.
 * --declined-rank D: a last phase, MPI_Alltoallw of 4 doubles per peer, where every rank
 * sends and receives a vector (every second double), except rank D's parts with the other
 * ranks: a double resized to extent -8, which tempi cannot describe (4 doubles running
 * backwards). Rank D's part with itself keeps the vector, so tempi takes its call too:
 * its declined parts must travel as the MPI's typed messages against its peers' packed
 * ones, with no rank asking the others. On a duplicate of MPI_COMM_WORLD: the first call
 * is Python's, the later ones C's.
 * --inter: a last phase, MPI_Alltoallv of a vector on an intercommunicator between rank 0
 * and the other ranks (2 ranks or more), whose parts are the remote group's. */
#define _GNU_SOURCE
#include "check.h"
#include <dlfcn.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define E 4 /* local block edge, ghost width 1 */

static long (*exchange_runs)(void);
static long (*engine_counter)(int);
static long last_runs, last_misses;

/* "rank r phase NAME c_calls=N plan_misses=M" (only under the shim) */
static void phase(int rank, const char *name)
{
    if (!exchange_runs || !engine_counter)
        return;
    long runs = exchange_runs(), misses = engine_counter(1);
    printf("rank %d phase %s c_calls=%ld plan_misses=%ld\n", rank, name, runs - last_runs,
           misses - last_misses);
    last_runs = runs, last_misses = misses;
}

static void faces(MPI_Datatype send[6], MPI_Datatype recv[6])
{
    int sizes[3] = {E + 2, E + 2, E + 2};
    for (int d = 0; d < 3; ++d)
        for (int side = 0; side < 2; ++side) {
            int sub[3] = {E, E, E}, sstart[3] = {1, 1, 1}, rstart[3] = {1, 1, 1};
            sub[d] = 1;
            sstart[d] = side ? E : 1;
            rstart[d] = side ? E + 1 : 0;
            MPI_Type_create_subarray(3, sizes, sub, sstart, MPI_ORDER_C, MPI_DOUBLE,
                                     &send[2 * d + side]);
            MPI_Type_create_subarray(3, sizes, sub, rstart, MPI_ORDER_C, MPI_DOUBLE,
                                     &recv[2 * d + side]);
            MPI_Type_commit(&send[2 * d + side]);
            MPI_Type_commit(&recv[2 * d + side]);
        }
}

static void free_faces(MPI_Datatype send[6], MPI_Datatype recv[6])
{
    for (int i = 0; i < 6; ++i) {
        MPI_Type_free(&send[i]);
        MPI_Type_free(&recv[i]);
    }
}

static void halo(int rank, const char *name, int rounds, MPI_Comm cart, MPI_Datatype send[6],
                 MPI_Datatype recv[6], double *grid, int n)
{
    int counts[6] = {1, 1, 1, 1, 1, 1};
    MPI_Aint displs[6] = {0, 0, 0, 0, 0, 0};
    for (int k = 0; k < rounds; ++k) {
        fill_values(grid, n, rank * 10000 + k * 100);
        MPI_Neighbor_alltoallw(grid, counts, displs, send, grid, counts, displs, recv, cart);
        printf("rank %d %s round %d %016lx\n", rank, name, k, checksum(grid, n));
    }
    phase(rank, name);
}

/* --declined-rank: the phase "declined" (see the top). Block j of each buffer is 8 doubles;
 * the vector takes its even ones, the backwards type 4 from its 7th down. */
static void declined(int rank, int size, int declined_rank, int rounds)
{
    MPI_Datatype vector, back;
    MPI_Type_vector(4, 1, 2, MPI_DOUBLE, &vector);
    MPI_Type_create_resized(MPI_DOUBLE, 0, -(MPI_Aint)sizeof(double), &back);
    MPI_Type_commit(&vector);
    MPI_Type_commit(&back);
    int *counts = malloc(size * sizeof(int)), *displs = malloc(size * sizeof(int));
    int *rdispls = malloc(size * sizeof(int));
    MPI_Datatype *types = malloc(size * sizeof(MPI_Datatype));
    for (int j = 0; j < size; ++j) {
        int backwards = rank == declined_rank && j != rank;
        types[j] = backwards ? back : vector;
        counts[j] = backwards ? 4 : 1;
        displs[j] = (8 * j + (backwards ? 6 : 0)) * (int)sizeof(double);
        rdispls[j] = displs[j];
    }
    double *out = filled(8 * size, 0), *in = filled(8 * size, -1);
    MPI_Comm comm;
    MPI_Comm_dup(MPI_COMM_WORLD, &comm);
    for (int k = 0; k < rounds; ++k) {
        fill_values(out, 8 * size, rank * 1000 + k * 10);
        fill_values(in, 8 * size, -1 - k);
        MPI_Alltoallw(out, counts, displs, types, in, counts, rdispls, types, comm);
        printf("rank %d declined round %d %016lx\n", rank, k, checksum(in, 8 * size));
    }
    phase(rank, "declined");
    MPI_Comm_free(&comm);
    MPI_Type_free(&vector);
    MPI_Type_free(&back);
    devmem_free(out), devmem_free(in);
    free(counts), free(displs), free(rdispls), free(types);
}

/* --inter: the phase "inter" (see the top). */
static void inter(int rank, int size, int rounds)
{
    MPI_Comm local, comm;
    MPI_Comm_split(MPI_COMM_WORLD, rank > 0, rank, &local);
    MPI_Intercomm_create(local, 0, MPI_COMM_WORLD, rank > 0 ? 0 : 1, 7, &comm);
    int remote;
    MPI_Comm_remote_size(comm, &remote);
    MPI_Datatype vector;
    MPI_Type_vector(4, 1, 2, MPI_DOUBLE, &vector);
    MPI_Type_commit(&vector);
    int *counts = malloc(remote * sizeof(int)), *displs = malloc(remote * sizeof(int));
    for (int j = 0; j < remote; ++j) {
        counts[j] = 1;
        displs[j] = j; /* in extents of the vector: 7 doubles */
    }
    double *out = filled(7 * remote, 0), *in = filled(7 * remote, -1);
    for (int k = 0; k < rounds; ++k) {
        fill_values(out, 7 * remote, rank * 1000 + k * 10);
        fill_values(in, 7 * remote, -1 - k);
        MPI_Alltoallv(out, counts, displs, vector, in, counts, displs, vector, comm);
        printf("rank %d inter round %d %016lx\n", rank, k, checksum(in, 7 * remote));
    }
    phase(rank, "inter");
    (void)size;
    MPI_Comm_free(&comm);
    MPI_Comm_free(&local);
    MPI_Type_free(&vector);
    devmem_free(out), devmem_free(in);
    free(counts), free(displs);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rounds = 3, python_rank = -1, declined_rank = -1, with_inter = 0, world;
    for (int i = 1; i < argc; ++i)
        with_inter |= strcmp(argv[i], "--inter") == 0;
    for (int i = 1; i + 1 < argc; ++i) {
        if (strcmp(argv[i], "--rounds") == 0)
            rounds = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--python-rank") == 0)
            python_rank = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--declined-rank") == 0)
            declined_rank = atoi(argv[i + 1]);
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &world);
    if (world == python_rank)
        setenv("TEMPI_PLANS", "0", 1); /* read by the shim at its first message */
    exchange_runs = (long (*)(void))dlsym(RTLD_DEFAULT, "tempi_exchange_runs");
    engine_counter = (long (*)(int))dlsym(RTLD_DEFAULT, "tempi_engine_counter");
    devmem_init(devmem_wanted(argc, argv));
    int rank, size, dims[3] = {0, 0, 0}, periods[3] = {1, 1, 1};
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Dims_create(size, 3, dims);
    MPI_Comm cart;
    MPI_Cart_create(MPI_COMM_WORLD, 3, dims, periods, 0, &cart);
    MPI_Comm_rank(cart, &rank);
    const int n = (E + 2) * (E + 2) * (E + 2);
    double *grid = filled(n, 0);
    MPI_Datatype send[6], recv[6];
    faces(send, recv);
    phase(rank, "start");
    halo(rank, "halo", rounds, cart, send, recv, grid, n);
    free_faces(send, recv); /* their plans die: planned again, still in C */
    faces(send, recv);
    halo(rank, "retyped", rounds, cart, send, recv, grid, n);
    MPI_Comm_free(&cart); /* its context dies: the new one's first call is Python's */
    MPI_Cart_create(MPI_COMM_WORLD, 3, dims, periods, 0, &cart);
    halo(rank, "recomm", rounds, cart, send, recv, grid, n);

    /* Alltoallw: rank j gets columns [2j, 2j+2) of this rank's 2 x (2size+1) array into
     * its columns [2r, 2r+2) */
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
    double *wout = filled(2 * wc[1], 0), *win = filled(2 * wc[1], -1);
    for (int k = 0; k < rounds; ++k) {
        fill_values(wout, 2 * wc[1], world * 10000 + k * 100);
        MPI_Alltoallw(wout, wcounts, wsd, wst, win, wcounts, wrd, wrt, MPI_COMM_WORLD);
        printf("rank %d alltoallw round %d %016lx\n", rank, k, checksum(win, 2 * wc[1]));
    }
    phase(rank, "alltoallw");

    MPI_Datatype column;
    MPI_Type_vector(4, 1, 3, MPI_DOUBLE, &column);
    MPI_Type_create_resized(column, 0, 12 * sizeof(double), &column);
    MPI_Type_commit(&column);
    int *ac = malloc(size * sizeof(int)), *ad = malloc(size * sizeof(int));
    double *aout = filled(12 * size, 0), *ain = filled(12 * size, -1);
    for (int i = 0; i < size; ++i) {
        ac[i] = 1;
        ad[i] = size - 1 - i;
    }
    for (int k = 0; k < rounds; ++k) {
        fill_values(aout, 12 * size, world * 1000 + k * 10);
        MPI_Alltoallv(aout, ac, ad, column, ain, ac, ad, column, MPI_COMM_WORLD);
        printf("rank %d alltoallv round %d %016lx\n", rank, k, checksum(ain, 12 * size));
    }
    phase(rank, "alltoallv");

    if (declined_rank >= 0)
        declined(world, size, declined_rank, rounds);
    if (with_inter && size > 1)
        inter(world, size, rounds);

    for (int j = 0; j < size; ++j)
        MPI_Type_free(&wrt[j]);
    MPI_Type_free(&block);
    MPI_Type_free(&column);
    free_faces(send, recv);
    devmem_free(grid), devmem_free(wout), devmem_free(win), devmem_free(aout),
        devmem_free(ain);
    free(wcounts), free(wsd), free(wrd), free(wst), free(wrt), free(ac), free(ad);
    MPI_Comm_free(&cart);
    MPI_Finalize();
    return 0;
}
