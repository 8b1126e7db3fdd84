/* What the staging test programs (staging*.c, fileio*.c, rma.c, partitioned.c) share: the
 * start (MPI, rank and size, buffers' memory from the "device" argument), the rank that
 * tags every record, a buffer's checksum or an error's class printed as one
 * record, and, at the end, how many calls the shim staged (tempi_staged_calls, looked up at
 * run time: absent without the shim) on stderr, so that runs with and without the shim can
 * be compared record by record. */
#ifndef TEMPI_TESTS_STAGED_H
#define TEMPI_TESTS_STAGED_H

#include "check.h"
#include <dlfcn.h>
#include <mpi.h>
#include <stdio.h>
#include <string.h>

static int rank, size;

/* MPI_Init, the rank and size, and buffers in device memory when the first argument is
 * "device" (native/devmem.h), host memory otherwise; returns whether they are on device. */
static inline int staged_start(int *argc, char ***argv)
{
    MPI_Init(argc, argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int device = *argc > 1 && strcmp((*argv)[1], "device") == 0;
    devmem_init(device);
    return device;
}

/* The file programs' shared file (the last argument), opened on every rank. */
static inline MPI_File staged_open(int argc, char **argv)
{
    MPI_File fh;
    MPI_File_open(MPI_COMM_WORLD, argv[argc - 1], MPI_MODE_CREATE | MPI_MODE_RDWR,
                  MPI_INFO_NULL, &fh);
    return fh;
}

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
