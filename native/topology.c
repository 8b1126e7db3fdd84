/* Process topologies with reorder = 1 placed by tempi: MPI_Cart_create,
 * MPI_Dist_graph_create_adjacent and MPI_Dist_graph_create hand their arguments to
 * tempi_py_topology (tempi/topology/shim.py), which partitions the communication graph
 * over the nodes and returns a communicator whose ranks are placed accordingly, or
 * declines (TEMPI_I_PASS) and the system MPI gets the call as the application made it.
 *
 * The system MPI gets it directly, without starting Python, for reorder = 0, inside tempi,
 * with TEMPI_DISABLE or TEMPI_PLACEMENT=none, and when every world rank is on one node. The
 * ranks of the old communicator then agree (one MPI_Allreduce) that Python runs on all of
 * them before any goes into it: one rank falling back alone would leave the others waiting
 * in tempi's collectives.
 *
 * Also here: the simulated node layout of TEMPI_NODES for interposer.c's node table, read
 * exactly as tempi/config.py reads it (N, N:block or N:cyclic; anything else: real nodes,
 * and Python reports the bad value).
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <mpi.h>

#include "internal.h"
#include "interposer.h"

/* TEMPI_NODES: the number of nodes and 1 for cyclic; 0 when unset or not valid. */
static int tempi_i_nodes_setting(int *cyclic)
{
    const char *v = getenv("TEMPI_NODES");
    if (v == NULL)
        return 0;
    while (isspace((unsigned char)*v))
        ++v;
    char *end;
    long n = strtol(v, &end, 10);
    if (end == v || n < 1 || n > 1 << 30 || *v == '-' || *v == '+')
        return 0;
    while (isspace((unsigned char)*end))
        ++end;
    *cyclic = 0;
    if (*end == ':') {
        ++end;
        while (isspace((unsigned char)*end))
            ++end;
        size_t len = strcspn(end, " \t\n\r");
        if (len == 6 && strncasecmp(end, "cyclic", 6) == 0)
            *cyclic = 1;
        else if (len != 5 || strncasecmp(end, "block", 5) != 0)
            return len == 0 ? (int)n : 0;
        end += len;
        while (isspace((unsigned char)*end))
            ++end;
    }
    return *end == '\0' ? (int)n : 0;
}

int tempi_i_simulated_nodes(int size, int *node_of)
{
    int cyclic = 0, nodes = tempi_i_nodes_setting(&cyclic);
    if (nodes == 0)
        return 0;
    /* world rank r is on node r % N (cyclic) or r * N / S (block); a node's name is its
     * lowest world rank, which is the first one met in rank order */
    int *lowest = malloc((size_t)nodes * sizeof *lowest);
    if (lowest == NULL)
        return 0;
    for (int j = 0; j < nodes; ++j)
        lowest[j] = -1;
    for (int r = 0; r < size; ++r) {
        int j = cyclic ? r % nodes : (int)((long long)r * nodes / size);
        if (lowest[j] < 0)
            lowest[j] = r;
        node_of[r] = lowest[j];
    }
    free(lowest);
    return 1;
}

/* TEMPI_PLACEMENT=none (any case, blanks around): the system MPI's own reorder. */
static int tempi_i_placement_off(void)
{
    const char *v = getenv("TEMPI_PLACEMENT");
    if (v == NULL)
        return 0;
    while (isspace((unsigned char)*v))
        ++v;
    size_t len = strcspn(v, " \t\n\r");
    for (const char *rest = v + len; *rest; ++rest)
        if (!isspace((unsigned char)*rest))
            return 0;
    return len == 4 && strncasecmp(v, "none", 4) == 0;
}

/* Every world rank on one node (as learnt in MPI_Init): no placement can change a thing. */
static int tempi_i_one_node(void)
{
    int size = 0;
    PMPI_Comm_size(MPI_COMM_WORLD, &size);
    int first = tempi_node_of(0);
    if (first < 0)
        return 0; /* not known: Python finds out */
    for (int r = 1; r < size; ++r)
        if (tempi_node_of(r) != first)
            return 0;
    return 1;
}

/* Whether tempi places this topology; collective over comm unless it says no at once. */
static int tempi_i_placing(int reorder, MPI_Comm comm)
{
    if (!reorder || tempi_i_is_inside() || tempi_i_is_disabled() || tempi_i_placement_off())
        return 0;
    int inter = 1;
    if (comm == MPI_COMM_NULL || PMPI_Comm_test_inter(comm, &inter) != MPI_SUCCESS || inter)
        return 0; /* the system MPI reports the error */
    if (tempi_i_one_node())
        return 0;
    int ready = tempi_i_ready(), everywhere = 0;
    tempi_i_set_inside(1);
    int err = PMPI_Allreduce(&ready, &everywhere, 1, MPI_INT, MPI_MIN, comm);
    tempi_i_set_inside(0);
    return err == MPI_SUCCESS && everywhere;
}

/* Run the callback; 1 when it made *made (or set *err to an MPI error), 0 to pass. */
static int tempi_i_topology(int kind, MPI_Comm comm, int n, const int *a, const int *b, int m,
                            const int *c, const int *d, MPI_Info info, MPI_Comm *made, int *err)
{
    int fmade = 0;
    tempi_i_set_inside(1);
    int rc = tempi_py_topology(kind, MPI_Comm_c2f(comm), n, a, b, m, c, d, MPI_Info_c2f(info),
                               &fmade);
    tempi_i_set_inside(0);
    if (rc == TEMPI_I_PASS)
        return 0;
    if (rc == TEMPI_I_OK) {
        *made = MPI_Comm_f2c(fmade);
        *err = MPI_SUCCESS;
    } else {
        *err = tempi_i_error(rc);
    }
    return 1;
}

/* A weights argument for Python: NULL when unweighted; never one of MPI's sentinels. */
static const int *tempi_i_weights(const int *weights)
{
    static const int none[1] = {0};
    if (weights == MPI_UNWEIGHTED)
        return NULL;
    return weights == MPI_WEIGHTS_EMPTY ? none : weights;
}

int tempi_i_cart_create(MPI_Comm comm_old, int ndims, const int dims[], const int periods[],
                        int reorder, MPI_Comm *comm_cart)
{
    int err;
    if (ndims > 0 && tempi_i_placing(reorder, comm_old) &&
        tempi_i_topology(TEMPI_I_TOPO_CART, comm_old, ndims, dims, periods, 0, NULL, NULL,
                         MPI_INFO_NULL, comm_cart, &err))
        return err;
    return PMPI_Cart_create(comm_old, ndims, dims, periods, reorder, comm_cart);
}

int tempi_i_dist_graph_create_adjacent(MPI_Comm comm_old, int indegree, const int sources[],
                                   const int sourceweights[], int outdegree,
                                   const int destinations[], const int destweights[],
                                   MPI_Info info, int reorder, MPI_Comm *comm_dist_graph)
{
    int err;
    if (indegree >= 0 && outdegree >= 0 && tempi_i_placing(reorder, comm_old) &&
        tempi_i_topology(TEMPI_I_TOPO_ADJACENT, comm_old, indegree, sources,
                         tempi_i_weights(sourceweights), outdegree, destinations,
                         tempi_i_weights(destweights), info, comm_dist_graph, &err))
        return err;
    return PMPI_Dist_graph_create_adjacent(comm_old, indegree, sources, sourceweights, outdegree,
                                           destinations, destweights, info, reorder,
                                           comm_dist_graph);
}

int tempi_i_dist_graph_create(MPI_Comm comm_old, int n, const int sources[], const int degrees[],
                          const int destinations[], const int weights[], MPI_Info info,
                          int reorder, MPI_Comm *comm_dist_graph)
{
    int err, edges = 0;
    for (int i = 0; i < n; ++i)
        edges += degrees[i] > 0 ? degrees[i] : 0;
    if (n >= 0 && tempi_i_placing(reorder, comm_old) &&
        tempi_i_topology(TEMPI_I_TOPO_GRAPH, comm_old, n, sources, degrees, edges, destinations,
                         tempi_i_weights(weights), info, comm_dist_graph, &err))
        return err;
    return PMPI_Dist_graph_create(comm_old, n, sources, degrees, destinations, weights, info,
                                  reorder, comm_dist_graph);
}
