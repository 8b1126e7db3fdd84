/* A collective that fails inside tempi midway on one rank, through the interposer
 * (tempi.comm.settle's rule, docs/comm.md): under the shim with tests/c/faults on
 * PYTHONPATH (MIDWAY_FAULTS=n), the last rank's pack kernel raises for its first n packs.
 * Round 1: MPI_Alltoallw of a vector type to every rank; the failing rank's call returns
 * an error (MPI_ERRORS_RETURN) after handing its peers what they wait for, the others
 * return MPI_SUCCESS with zeros where the failing rank's data should be. Round 2, on the
 * same communicator: everything as in the plain run. Each rank prints its outcome and,
 * per source rank, whether the part holds that rank's values ("ok"), zeros ("zero") or
 * anything else ("WRONG"). Nothing may hang: the test's timeout says so. */
#include "staged.h"
#include <stdio.h>
#include <stdlib.h>

#define N 4 /* doubles per part, every other one of 2N */

static const char *outcome(int err)
{
    int class = MPI_SUCCESS;
    MPI_Error_class(err, &class);
    return class == MPI_SUCCESS ? "MPI_SUCCESS" : class == MPI_ERR_INTERN ? "MPI_ERR_INTERN"
                                                                           : "other";
}

/* Whether part `from` of recv (every other double) holds the values rank `from` sent. */
static const char *part(const double *recv, int from, int round)
{
    int zero = 1, ok = 1;
    for (int k = 0; k < N; ++k) {
        double got = recv[from * 2 * N + 2 * k];
        zero &= got == 0.0;
        ok &= got == 1000.0 * round + 100.0 * from + 10.0 * rank + k;
    }
    return ok ? "ok" : zero ? "zero" : "WRONG";
}

static void round_of(int round, MPI_Datatype vec)
{
    double *send = calloc((size_t)size * 2 * N, sizeof(double));
    double *recv = calloc((size_t)size * 2 * N, sizeof(double));
    int *counts = malloc(sizeof(int) * (size_t)size), *displs = malloc(sizeof(int) * (size_t)size);
    MPI_Datatype *types = malloc(sizeof(MPI_Datatype) * (size_t)size);
    for (int to = 0; to < size; ++to) {
        for (int k = 0; k < N; ++k)
            send[to * 2 * N + 2 * k] = 1000.0 * round + 100.0 * rank + 10.0 * to + k;
        counts[to] = 1;
        displs[to] = to * 2 * N * (int)sizeof(double);
        types[to] = vec;
    }
    int err = MPI_Alltoallw(send, counts, displs, types, recv, counts, displs, types,
                            MPI_COMM_WORLD);
    char line[256]; /* one write: the ranks share a pipe */
    int at = snprintf(line, sizeof line, "rank %d round%d %s", rank, round, outcome(err));
    for (int from = 0; from < size && at < (int)sizeof line - 8; ++from)
        at += snprintf(line + at, sizeof line - (size_t)at, " %s", part(recv, from, round));
    printf("%s\n", line);
    fflush(stdout);
    free(send);
    free(recv);
    free(counts);
    free(displs);
    free(types);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Datatype vec;
    MPI_Type_vector(N, 1, 2, MPI_DOUBLE, &vec);
    MPI_Type_commit(&vec);
    round_of(1, vec);
    round_of(2, vec);
    MPI_Type_free(&vec);
    MPI_Finalize();
    return 0;
}
