/* Split-collective file I/O the shim stages when the MPI cannot read device memory
 * (native/stage_rma.c, rules "split"/"split_end" of tempi/shim/spec.py): each rank writes
 * its block of a shared file (the path is the last argument) with
 * MPI_File_write_at_all_begin/_end, write_all_begin/_end (through a file view) and
 * write_ordered_begin/_end, and reads them back with the matching read_*_begin/_end into
 * buffers whose checksums are printed after the _end (a vector type for one pair). Buffers
 * are device memory with "device" as the first argument (native/devmem.h), host memory
 * otherwise (staged with TEMPI_HOST=1); stderr says how many calls the shim staged and,
 * under the shim, what a _begin whose kept node cannot be allocated returns (nomem). */
#include "staged.h"
#include <string.h>

#define N 8


static void settle(MPI_File fh)
{
    MPI_File_sync(fh);
    MPI_Barrier(MPI_COMM_WORLD);
    MPI_File_sync(fh);
}

static int handled = 0, handled_class = MPI_SUCCESS; /* the file's error handler's calls */

static void on_file_error(MPI_File *fh, int *code, ...)
{
    (void)fh;
    MPI_Error_class(*code, &handled_class);
    ++handled;
}

/* Under the shim (its test hook found): a staged _begin whose kept node cannot be
 * allocated raises MPI_ERR_NO_MEM through the file's handler on every rank (what the call
 * then returns after a user handler is the MPI's convention: MPICH's MPI_SUCCESS, Open
 * MPI's code), keeps no host copy, and the handle takes the next split collective.
 * Printed to stderr as "nomem[R] ..." (the plain run has no such line). */
static void nomem(MPI_File fh, const double *out)
{
    void (*fail)(int) = (void (*)(int))dlsym(RTLD_DEFAULT, "tempi_test_fail_split_nodes");
    long (*live)(void) = (long (*)(void))dlsym(RTLD_DEFAULT, "tempi_staged_copies_live");
    if (fail == NULL || live == NULL)
        return;
    MPI_Errhandler handler;
    MPI_File_create_errhandler(on_file_error, &handler);
    MPI_File_set_errhandler(fh, handler);
    fail(1);
    int err = MPI_File_write_all_begin(fh, out, N, MPI_DOUBLE);
    int class = handled_class;
    if (handled == 0 && err == MPI_SUCCESS) /* not staged (no TEMPI_HOST): it must end */
        MPI_File_write_all_end(fh, out, MPI_STATUS_IGNORE);
    long after = live();
    err = MPI_File_write_all_begin(fh, out, N, MPI_DOUBLE);
    if (err == MPI_SUCCESS)
        err = MPI_File_write_all_end(fh, out, MPI_STATUS_IGNORE);
    fprintf(stderr, "nomem[%d] handler %d class %s live %ld then %s live %ld\n", rank,
            handled,
            class == MPI_ERR_NO_MEM ? "MPI_ERR_NO_MEM" : class == MPI_SUCCESS ? "MPI_SUCCESS"
                                                                           : "other",
            after, err == MPI_SUCCESS ? "ok" : "failed", live());
    fail(0);
    MPI_File_set_errhandler(fh, MPI_ERRORS_RETURN);
    MPI_Errhandler_free(&handler);
}

int main(int argc, char **argv)
{
    staged_start(&argc, &argv);
    MPI_File fh = staged_open(argc, argv);
    double *out = filled(2 * N, 10.0 * (rank + 1)), *in = filled(2 * N, -1.0);
    MPI_Offset block = N * sizeof(double), mine = rank * block, all = size * block;
    MPI_Status status;
    int count = 0;
    MPI_Datatype vec;
    MPI_Type_vector(N, 1, 2, MPI_DOUBLE, &vec);
    MPI_Type_commit(&vec);

    /* explicit offsets */
    MPI_File_write_at_all_begin(fh, 0 * all + mine, out, N, MPI_DOUBLE);
    MPI_File_write_at_all_end(fh, out, &status);
    MPI_Get_count(&status, MPI_DOUBLE, &count);
    printf("rank %d write-at-all-end count %d\n", rank, count);
    MPI_File_write_at_all_begin(fh, 1 * all + mine, out + 1, 1, vec);
    MPI_File_write_at_all_end(fh, out + 1, MPI_STATUS_IGNORE);
    settle(fh);
    MPI_File_read_at_all_begin(fh, 0 * all + mine, in, N, MPI_DOUBLE);
    MPI_File_read_at_all_end(fh, in, &status);
    MPI_Get_count(&status, MPI_DOUBLE, &count);
    printf("rank %d read-at-all-end count %d\n", rank, count);
    say("read-at-all", in, 2 * N);
    fill_values(in, 2 * N, -2.0);
    MPI_File_read_at_all_begin(fh, 1 * all + mine, in + 1, 1, vec);
    MPI_File_read_at_all_end(fh, in + 1, MPI_STATUS_IGNORE);
    say("read-at-all-vector", in, 2 * N);

    /* individual file pointers through a view past the explicit regions */
    MPI_Barrier(MPI_COMM_WORLD);
    MPI_Offset base = 2 * all;
    MPI_Datatype filetype;
    MPI_Type_vector(2, N, N * size, MPI_DOUBLE, &filetype);
    MPI_Type_commit(&filetype);
    MPI_File_set_view(fh, base + mine, MPI_DOUBLE, filetype, "native", MPI_INFO_NULL);
    MPI_File_write_all_begin(fh, out + 2, N, MPI_DOUBLE);
    MPI_File_write_all_end(fh, out + 2, MPI_STATUS_IGNORE);
    MPI_File_write_all_begin(fh, out + 3, N, MPI_DOUBLE);
    MPI_File_write_all_end(fh, out + 3, MPI_STATUS_IGNORE);
    settle(fh);
    MPI_File_seek(fh, 0, MPI_SEEK_SET);
    MPI_File_read_all_begin(fh, in, N, MPI_DOUBLE);
    MPI_File_read_all_end(fh, in, MPI_STATUS_IGNORE);
    say("read-all", in, 2 * N);
    MPI_File_read_all_begin(fh, in, N, MPI_DOUBLE);
    MPI_File_read_all_end(fh, in, MPI_STATUS_IGNORE);
    say("read-all-2", in, 2 * N);

    /* the shared file pointer, in a region of its own */
    MPI_File_set_view(fh, base + 2 * all, MPI_DOUBLE, MPI_DOUBLE, "native", MPI_INFO_NULL);
    MPI_File_write_ordered_begin(fh, out + 4, N, MPI_DOUBLE);
    MPI_File_write_ordered_end(fh, out + 4, MPI_STATUS_IGNORE);
    settle(fh);
    MPI_File_seek_shared(fh, 0, MPI_SEEK_SET);
    fill_values(in, 2 * N, -3.0);
    MPI_File_read_ordered_begin(fh, in, N, MPI_DOUBLE);
    MPI_File_read_ordered_end(fh, in, &status);
    MPI_Get_count(&status, MPI_DOUBLE, &count);
    printf("rank %d read-ordered-end count %d\n", rank, count);
    say("read-ordered", in, 2 * N);
    nomem(fh, out);
    MPI_File_close(&fh);
    MPI_Type_free(&vec);
    MPI_Type_free(&filetype);

    say_staged();
    devmem_free(out);
    devmem_free(in);
    MPI_Finalize();
    return 0;
}
