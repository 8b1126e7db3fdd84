/* A 3-D halo exchange in plain MPI, the C twin of tempi/halo.py: what benchmarks/halo/run.py
 * times with and without the tempi shim.
 *
 * A periodic global grid is split over the ranks (MPI_Dims_create, MPI_Cart_create); each
 * rank holds n^3 cells with `radius` ghost layers and `quantities` doubles per cell, an array
 * of (n+2r)^3 x q doubles in C order, and exchanges its 26 faces, edges and corners with its
 * neighbours, one 4-D subarray type per direction and side:
 *
 *   isend      26 MPI_Irecv (tag = direction index) + 26 MPI_Isend + MPI_Waitall
 *   alltoallw  MPI_Neighbor_alltoallw on a distributed-graph communicator of the 26
 *              neighbours (MPI_Dist_graph_create_adjacent, reorder = 0)
 *
 * Direction i is the i-th of (dz, dy, dx) in {-1,0,1}^3 \ {0} in lexicographic order (as
 * tempi/halo.py): a rank sends toward +d_i (destination = rank at +d_i) the cells that land
 * in its neighbour's ghost layer on side -d_i, and receives from the rank at -d_i. With one
 * or two ranks along a dimension one rank is several neighbours; tags (isend) and the order
 * of the adjacency lists (alltoallw) keep the parts apart.
 *
 * Every cell holds ((gz * Y + gy) * X + gx) * q + k for its global (periodic) coordinates
 * and quantity k. Ghosts are poisoned to -1 before the first exchange and again before the
 * last timed one; after the timed exchanges every rank copies its grid to the host and
 * checks every cell. Buffers come from devmem.h: host memory, or device memory through the
 * CUDA driver (which a non-CUDA-aware MPI cannot send from unless run under `tempi run`).
 *
 * Usage:  mpiexec -n N ./halo [host|device] [--n 64] [--radius 1] [--quantities 1]
 *                             [--iters 20] [--warmup 2] [--method isend|alltoallw|both]
 *
 * Rank 0 prints one line per method, for example
 *   halo-c method=isend ranks=8 dims=2x2x2 n=128 radius=2 quantities=1 memory=device
 *          iters=20 median_s=0.00123 min_s=0.00118 bytes=1600000 ghosts=ok
 * (on one line; bytes = bytes received per rank per exchange, times = the slowest rank's
 * time per exchange, each bracketed by MPI_Barrier). Exit status 0 only if every ghost is
 * right.
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devmem.h"

#define NDIR 26

struct options {
    int device, n, radius, quantities, iters, warmup, isend, alltoallw;
};

struct block {
    int n, r, q, side, dims[3], coords[3];
    int dir[NDIR][3];
    int sources[NDIR], destinations[NDIR];
    MPI_Datatype sends[NDIR], recvs[NDIR];
    size_t cells;   /* side^3 * q doubles */
    long long bytes; /* received per exchange */
};

static void usage(const char *why)
{
    fprintf(stderr,
            "halo: %s\nusage: halo [host|device] [--n N] [--radius R] [--quantities Q] "
            "[--iters I] [--warmup W] [--method isend|alltoallw|both]\n",
            why);
}

static int parse(int argc, char **argv, struct options *o)
{
    *o = (struct options){devmem_wanted(argc, argv), 64, 1, 1, 20, 2, 1, 1};
    int first = argc > 1 && (strcmp(argv[1], "host") == 0 || strcmp(argv[1], "device") == 0);
    for (int i = 1 + first; i < argc; ++i) {
        const char *a = argv[i];
        if (i + 1 >= argc) {
            usage("an option lacks its value");
            return 0;
        }
        const char *v = argv[++i];
        if (strcmp(a, "--n") == 0)
            o->n = atoi(v);
        else if (strcmp(a, "--radius") == 0)
            o->radius = atoi(v);
        else if (strcmp(a, "--quantities") == 0)
            o->quantities = atoi(v);
        else if (strcmp(a, "--iters") == 0)
            o->iters = atoi(v);
        else if (strcmp(a, "--warmup") == 0)
            o->warmup = atoi(v);
        else if (strcmp(a, "--method") == 0) {
            o->isend = strcmp(v, "isend") == 0 || strcmp(v, "both") == 0;
            o->alltoallw = strcmp(v, "alltoallw") == 0 || strcmp(v, "both") == 0;
            if (!o->isend && !o->alltoallw) {
                usage("--method is isend, alltoallw or both");
                return 0;
            }
        } else {
            usage("unknown option");
            return 0;
        }
    }
    if (o->n < 1 || o->radius < 1 || o->radius > o->n || o->quantities < 1 || o->iters < 1 ||
        o->warmup < 0) {
        usage("need n >= 1, 1 <= radius <= n, quantities >= 1, iters >= 1, warmup >= 0");
        return 0;
    }
    return 1;
}

/* Start and size along one axis of the cells sent toward d (ghost = 0) or received into
 * the ghost layer on side d (ghost = 1). */
static void span(int d, int ghost, int n, int r, int *start, int *size)
{
    *size = d == 0 ? n : r;
    if (d == 0)
        *start = r;
    else if (ghost)
        *start = d < 0 ? 0 : n + r;
    else
        *start = d < 0 ? r : n;
}

static MPI_Datatype subarray(const struct block *b, const int d[3], int ghost)
{
    int sizes[4] = {b->side, b->side, b->side, b->q}, sub[4], starts[4];
    for (int a = 0; a < 3; ++a)
        span(d[a], ghost, b->n, b->r, &starts[a], &sub[a]);
    sub[3] = b->q;
    starts[3] = 0;
    MPI_Datatype t;
    MPI_Type_create_subarray(4, sizes, sub, starts, MPI_ORDER_C, MPI_DOUBLE, &t);
    MPI_Type_commit(&t);
    return t;
}

static void decompose(struct block *b, const struct options *o)
{
    int size, periods[3] = {1, 1, 1};
    MPI_Comm cart;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    b->dims[0] = b->dims[1] = b->dims[2] = 0;
    MPI_Dims_create(size, 3, b->dims);
    MPI_Cart_create(MPI_COMM_WORLD, 3, b->dims, periods, 0, &cart);
    int rank;
    MPI_Comm_rank(cart, &rank);
    MPI_Cart_coords(cart, rank, 3, b->coords);
    b->n = o->n;
    b->r = o->radius;
    b->q = o->quantities;
    b->side = o->n + 2 * o->radius;
    b->cells = (size_t)b->side * b->side * b->side * b->q;
    b->bytes = 0;
    int i = 0;
    for (int dz = -1; dz <= 1; ++dz)
        for (int dy = -1; dy <= 1; ++dy)
            for (int dx = -1; dx <= 1; ++dx) {
                if (dz == 0 && dy == 0 && dx == 0)
                    continue;
                int d[3] = {dz, dy, dx}, up[3], down[3];
                long long cells = 1;
                for (int a = 0; a < 3; ++a) {
                    b->dir[i][a] = d[a];
                    up[a] = ((b->coords[a] + d[a]) % b->dims[a] + b->dims[a]) % b->dims[a];
                    down[a] = ((b->coords[a] - d[a]) % b->dims[a] + b->dims[a]) % b->dims[a];
                    cells *= d[a] == 0 ? b->n : b->r;
                }
                MPI_Cart_rank(cart, up, &b->destinations[i]);
                MPI_Cart_rank(cart, down, &b->sources[i]);
                int opposite[3] = {-dz, -dy, -dx};
                b->sends[i] = subarray(b, d, 0);
                b->recvs[i] = subarray(b, opposite, 1);
                b->bytes += cells * b->q * (long long)sizeof(double);
                ++i;
            }
    MPI_Comm_free(&cart);
}

/* Global (periodic) coordinate of each local index along each axis, ghosts included. */
static long long *global_axes(const struct block *b)
{
    long long *g = malloc(sizeof(long long) * 3 * b->side);
    for (int a = 0; a < 3; ++a) {
        long long extent = (long long)b->dims[a] * b->n;
        for (int i = 0; i < b->side; ++i)
            g[a * b->side + i] =
                ((i - b->r + (long long)b->coords[a] * b->n) % extent + extent) % extent;
    }
    return g;
}

/* The value of local cell (z, y, x), quantity k, from global coordinates g. */
static double expected(const struct block *b, const long long *g, int z, int y, int x, int k)
{
    long long Y = (long long)b->dims[1] * b->n, X = (long long)b->dims[2] * b->n;
    long long cell = (g[z] * Y + g[b->side + y]) * X + g[2 * b->side + x];
    return (double)(cell * b->q + k);
}

static int is_ghost(const struct block *b, int i)
{
    return i < b->r || i >= b->r + b->n;
}

/* Fill host image with the expected values, ghosts set to -1. */
static void poisoned(const struct block *b, double *image)
{
    long long *g = global_axes(b);
    size_t i = 0;
    for (int z = 0; z < b->side; ++z)
        for (int y = 0; y < b->side; ++y)
            for (int x = 0; x < b->side; ++x)
                for (int k = 0; k < b->q; ++k, ++i)
                    image[i] = is_ghost(b, z) || is_ghost(b, y) || is_ghost(b, x)
                                   ? -1.0
                                   : expected(b, g, z, y, x, k);
    free(g);
}

/* Wrong cells of the grid (copied into image first); reports the first few. */
static long long check(const struct block *b, const double *grid, double *image, int rank,
                       const char *method)
{
    devmem_get(image, grid, b->cells * sizeof(double));
    long long *g = global_axes(b), wrong = 0;
    size_t i = 0;
    for (int z = 0; z < b->side; ++z)
        for (int y = 0; y < b->side; ++y)
            for (int x = 0; x < b->side; ++x)
                for (int k = 0; k < b->q; ++k, ++i) {
                    double want = expected(b, g, z, y, x, k);
                    if (image[i] != want && wrong++ < 5)
                        fprintf(stderr, "halo-c rank %d %s: cell (%d,%d,%d,%d) = %g, want %g\n",
                                rank, method, z, y, x, k, image[i], want);
                }
    free(g);
    return wrong;
}

static void exchange_isend(const struct block *b, double *grid, MPI_Request *requests)
{
    for (int i = 0; i < NDIR; ++i)
        MPI_Irecv(grid, 1, b->recvs[i], b->sources[i], i, MPI_COMM_WORLD, &requests[i]);
    for (int i = 0; i < NDIR; ++i)
        MPI_Isend(grid, 1, b->sends[i], b->destinations[i], i, MPI_COMM_WORLD,
                  &requests[NDIR + i]);
    MPI_Waitall(2 * NDIR, requests, MPI_STATUSES_IGNORE);
}

static void exchange_alltoallw(const struct block *b, double *grid, MPI_Comm graph)
{
    int counts[NDIR];
    MPI_Aint displs[NDIR];
    for (int i = 0; i < NDIR; ++i) {
        counts[i] = 1;
        displs[i] = 0;
    }
    MPI_Neighbor_alltoallw(grid, counts, displs, b->sends, grid, counts, displs, b->recvs,
                           graph);
}

static int compare(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Time one method: returns 1 if every cell is right on every rank. */
static int measure(const struct block *b, const struct options *o, const char *method,
                   double *grid, double *image, MPI_Comm graph)
{
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Request requests[2 * NDIR];
    double *times = malloc(sizeof(double) * o->iters);
    int isend = strcmp(method, "isend") == 0;
    poisoned(b, image);
    devmem_put(grid, image, b->cells * sizeof(double));
    for (int it = 0; it < o->warmup + o->iters; ++it) {
        if (it == o->warmup + o->iters - 1) /* the last exchange starts from poison again */
            devmem_put(grid, image, b->cells * sizeof(double));
        MPI_Barrier(MPI_COMM_WORLD);
        double start = MPI_Wtime();
        if (isend)
            exchange_isend(b, grid, requests);
        else
            exchange_alltoallw(b, grid, graph);
        double elapsed = MPI_Wtime() - start;
        MPI_Allreduce(MPI_IN_PLACE, &elapsed, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        if (it >= o->warmup)
            times[it - o->warmup] = elapsed;
    }
    long long wrong = check(b, grid, image, rank, method);
    MPI_Allreduce(MPI_IN_PLACE, &wrong, 1, MPI_LONG_LONG, MPI_SUM, MPI_COMM_WORLD);
    qsort(times, o->iters, sizeof(double), compare);
    double median = o->iters % 2 ? times[o->iters / 2]
                                 : 0.5 * (times[o->iters / 2 - 1] + times[o->iters / 2]);
    if (rank == 0) {
        printf("halo-c method=%s ranks=%d dims=%dx%dx%d n=%d radius=%d quantities=%d "
               "memory=%s iters=%d median_s=%.9g min_s=%.9g bytes=%lld ghosts=%s\n",
               method, size, b->dims[0], b->dims[1], b->dims[2], b->n, b->r, b->q,
               o->device ? "device" : "host", o->iters, median, times[0], b->bytes,
               wrong ? "WRONG" : "ok");
        if (wrong)
            printf("halo-c method=%s: %lld wrong cells in all\n", method, wrong);
        fflush(stdout);
    }
    free(times);
    return wrong == 0;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    struct options o;
    if (!parse(argc, argv, &o)) {
        MPI_Finalize();
        return 2;
    }
    devmem_init(o.device); /* before the types are committed: the shim looks for CUDA then */
    struct block b;
    decompose(&b, &o);
    MPI_Comm graph;
    MPI_Dist_graph_create_adjacent(MPI_COMM_WORLD, NDIR, b.sources, MPI_UNWEIGHTED, NDIR,
                                   b.destinations, MPI_UNWEIGHTED, MPI_INFO_NULL, 0, &graph);
    double *grid = devmem_alloc(b.cells * sizeof(double));
    double *image = malloc(b.cells * sizeof(double));
    if (image == NULL) {
        fprintf(stderr, "halo: out of host memory\n");
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    int ok = 1;
    if (o.isend)
        ok &= measure(&b, &o, "isend", grid, image, graph);
    if (o.alltoallw)
        ok &= measure(&b, &o, "alltoallw", grid, image, graph);
    for (int i = 0; i < NDIR; ++i) {
        MPI_Type_free(&b.sends[i]);
        MPI_Type_free(&b.recvs[i]);
    }
    MPI_Comm_free(&graph);
    free(image);
    devmem_free(grid);
    MPI_Finalize();
    return ok ? 0 : 1;
}
