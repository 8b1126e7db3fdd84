/* What the staging test programs (staging*.c, fileio*.c, rma.c, partitioned.c) share: the
 * rank that tags every record, a buffer's checksum or an error's class printed as one
 * record, and, at the end, how many calls the shim staged (tempi_staged_calls, looked up at
 * run time: absent without the shim) on stderr, so that runs with and without the shim can
 * be compared record by record. */
#ifndef TEMPI_TESTS_STAGED_H
#define TEMPI_TESTS_STAGED_H

#include "check.h"
#include <dlfcn.h>
#include <mpi.h>
#include <stdio.h>

static int rank, size;

/* "rank R WHAT CHECKSUM" of n doubles in either memory. */
static inline void say(const char *what, const double *buffer, size_t n)
{
    printf("rank %d %s %016lx\n", rank, what, checksum(buffer, n));
}

/* "rank R WHAT class CLASS" of an MPI error code. */
static inline void say_error(const char *what, int err)
{
    int class = MPI_SUCCESS;
    MPI_Error_class(err, &class);
    printf("rank %d %s class %s\n", rank, what,
           class == MPI_SUCCESS      ? "MPI_SUCCESS"
           : class == MPI_ERR_BUFFER ? "MPI_ERR_BUFFER"
           : class == MPI_ERR_NO_MEM ? "MPI_ERR_NO_MEM"
                                     : "other");
}

/* "staged R: N" on stderr under the shim. */
static inline void say_staged(void)
{
    long (*staged)(void) = (long (*)(void))dlsym(RTLD_DEFAULT, "tempi_staged_calls");
    if (staged != NULL)
        fprintf(stderr, "staged %d: %ld\n", rank, staged());
}

#endif
