/* Process topologies with reorder (argv[1], default 1): a periodic 3-D Cartesian grid, a
 * weighted ring made with MPI_Dist_graph_create_adjacent and the same ring made with
 * MPI_Dist_graph_create. Under tempi with simulated nodes the ranks move; whatever the
 * placement, every rank checks that its new communicator is right:
 *   - the size is the old one; Cartesian coordinates round-trip through MPI_Cart_rank, and
 *     MPI_Cart_shift's neighbours are at the next and previous coordinates;
 *   - the graph's neighbours (and weights) are those given for the rank it now holds;
 *   - messages arrive where they should: each rank sends its new rank to every neighbour
 *     (MPI_Sendrecv along each dimension, MPI_Neighbor_alltoall on the graphs);
 *   - MPI_COMM_WORLD is untouched: a ring exchange on world ranks (a program that ignores
 *     its new rank) still delivers.
 * Prints "rank W cart C adjacent A graph G" per rank, then "ok", or "FAIL ..." and exits 1.
 * The ring's edge (v, v+1) weighs 10 for even v and 1 for odd v: on two cyclic nodes the
 * identity cuts every heavy edge, a good placement none. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

static int failures = 0;

#define CHECK(cond, ...)                                                                      \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            printf("FAIL rank %d: ", world_rank);                                             \
            printf(__VA_ARGS__);                                                              \
            printf("\n");                                                                     \
            ++failures;                                                                       \
        }                                                                                     \
    } while (0)

static int world_rank, world_size;

static int mod(int a, int n)
{
    return ((a % n) + n) % n;
}

/* The ring as rank v gives it: neighbours v-1 and v+1 with their edge weights. */
static void ring(int v, int n, int nbrs[2], int weights[2])
{
    nbrs[0] = mod(v - 1, n);
    nbrs[1] = mod(v + 1, n);
    weights[0] = mod(v - 1, n) % 2 == 0 ? 10 : 1; /* edge (v-1, v) */
    weights[1] = v % 2 == 0 ? 10 : 1;             /* edge (v, v+1) */
}

static int check_cart(int reorder)
{
    int dims[3] = {0, 0, 0}, periods[3] = {1, 1, 1}, rank, size, coords[3];
    MPI_Comm cart;
    MPI_Dims_create(world_size, 3, dims);
    MPI_Cart_create(MPI_COMM_WORLD, 3, dims, periods, reorder, &cart);
    MPI_Comm_rank(cart, &rank);
    MPI_Comm_size(cart, &size);
    CHECK(size == world_size, "cart size %d", size);
    MPI_Cart_coords(cart, rank, 3, coords);
    int back = -1;
    MPI_Cart_rank(cart, coords, &back);
    CHECK(back == rank, "cart coords of %d map back to %d", rank, back);
    for (int d = 0; d < 3; ++d) {
        int source, dest, got = -1, at[3];
        MPI_Cart_shift(cart, d, 1, &source, &dest);
        MPI_Cart_coords(cart, dest, 3, at);
        CHECK(at[d] == mod(coords[d] + 1, dims[d]), "cart shift %d: dest at %d", d, at[d]);
        MPI_Sendrecv(&rank, 1, MPI_INT, dest, d, &got, 1, MPI_INT, source, d, cart,
                     MPI_STATUS_IGNORE);
        CHECK(got == source, "cart dim %d: got %d from %d", d, got, source);
    }
    MPI_Comm_free(&cart);
    return rank;
}

/* The new graph communicator's neighbours must be the ring of the rank it holds, and a
 * Neighbor_alltoall must deliver every source's rank. */
static int check_ring(MPI_Comm graph, int ordered, const char *what)
{
    int rank, size, in, out, weighted;
    MPI_Comm_rank(graph, &rank);
    MPI_Comm_size(graph, &size);
    CHECK(size == world_size, "%s size %d", what, size);
    MPI_Dist_graph_neighbors_count(graph, &in, &out, &weighted);
    CHECK(in == 2 && out == 2 && weighted, "%s degrees %d %d %d", what, in, out, weighted);
    if (in != 2 || out != 2)
        return rank;
    int sources[2], sw[2], dests[2], dw[2], want[2], ww[2];
    MPI_Dist_graph_neighbors(graph, 2, sources, sw, 2, dests, dw);
    ring(rank, size, want, ww);
    for (int i = 0; i < 2; ++i) {
        int j = ordered ? i : (sources[i] == want[0] && (size > 2 || sw[i] == ww[0]) ? 0 : 1);
        CHECK(sources[i] == want[j] && sw[i] == ww[j], "%s source %d: %d (w %d), want %d (w %d)",
              what, i, sources[i], sw[i], want[j], ww[j]);
        j = ordered ? i : (dests[i] == want[0] && (size > 2 || dw[i] == ww[0]) ? 0 : 1);
        CHECK(dests[i] == want[j] && dw[i] == ww[j], "%s dest %d: %d (w %d), want %d (w %d)",
              what, i, dests[i], dw[i], want[j], ww[j]);
    }
    int send[2] = {rank, rank}, got[2] = {-1, -1};
    MPI_Neighbor_alltoall(send, 1, MPI_INT, got, 1, MPI_INT, graph);
    for (int i = 0; i < 2; ++i)
        CHECK(got[i] == sources[i], "%s: got %d from source %d", what, got[i], sources[i]);
    return rank;
}

static int check_adjacent(int reorder)
{
    int nbrs[2], weights[2];
    MPI_Comm graph;
    ring(world_rank, world_size, nbrs, weights);
    MPI_Dist_graph_create_adjacent(MPI_COMM_WORLD, 2, nbrs, weights, 2, nbrs, weights,
                                   MPI_INFO_NULL, reorder, &graph);
    int rank = check_ring(graph, 1, "adjacent");
    MPI_Comm_free(&graph);
    return rank;
}

static int check_general(int reorder)
{
    int nbrs[2], weights[2], degree = 2;
    MPI_Comm graph;
    ring(world_rank, world_size, nbrs, weights);
    MPI_Dist_graph_create(MPI_COMM_WORLD, 1, &world_rank, &degree, nbrs, weights, MPI_INFO_NULL,
                          reorder, &graph);
    int rank = check_ring(graph, 0, "graph");
    MPI_Comm_free(&graph);
    return rank;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world_size);
    int reorder = argc > 1 ? atoi(argv[1]) : 1;
    int cart = check_cart(reorder);
    int adjacent = world_size > 1 ? check_adjacent(reorder) : 0;
    int general = world_size > 1 ? check_general(reorder) : 0;
    int right = mod(world_rank + 1, world_size), left = mod(world_rank - 1, world_size), got = -1;
    MPI_Sendrecv(&world_rank, 1, MPI_INT, right, 7, &got, 1, MPI_INT, left, 7, MPI_COMM_WORLD,
                 MPI_STATUS_IGNORE);
    CHECK(got == left, "world ring: got %d from %d", got, left);
    printf("rank %d cart %d adjacent %d graph %d\n", world_rank, cart, adjacent, general);
    int all = 0;
    MPI_Allreduce(&failures, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (world_rank == 0 && all == 0)
        printf("ok\n");
    fflush(stdout);
    MPI_Finalize();
    return all != 0;
}
