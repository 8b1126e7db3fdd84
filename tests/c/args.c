/* What a rank of `tempi run` sees: its rank and size, whether the shim is preloaded, one
 * variable passed to the ranks (TEMPI_RUN_PROBE), and its arguments, each in brackets. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    const char *preload = getenv("LD_PRELOAD"), *probe = getenv("TEMPI_RUN_PROBE");
    char line[4096];
    int n = snprintf(line, sizeof line, "rank %d of %d preload=%s probe=%s args:", rank, size,
                     preload && *preload ? "yes" : "no", probe ? probe : "-");
    for (int i = 1; i < argc && n < (int)sizeof line; ++i)
        n += snprintf(line + n, sizeof line - n, " [%s]", argv[i]);
    printf("%s\n", line); /* one write per rank: ranks share the launcher's pipe */
    fflush(stdout);
    MPI_Finalize();
    return 0;
}
