/* File I/O the shim stages when the MPI cannot read device memory (native/stage.c, rule
 * "stage"/"istage" of tempi/shim/spec.py): each rank writes its block of a shared file
 * (the path is the last argument) with MPI_File_write_at, write_at_all, iwrite_at,
 * iwrite_at_all, a file view then write, write_all, iwrite, iwrite_all, and the shared
 * pointer's write_shared, iwrite_shared and write_ordered, and reads it back with the
 * matching read calls (the non-blocking ones completed by MPI_Wait, MPI_Test and
 * MPI_Waitall) into buffers whose checksums are printed, with a vector type for one
 * write and one read. Buffers are device memory with "device" as the first argument
 * (native/devmem.h), host memory otherwise (staged with TEMPI_HOST=1); stderr says how many
 * calls the shim staged. */
#include "staged.h"
#include <string.h>

#define N 8

int main(int argc, char **argv)
{
    staged_start(&argc, &argv);
    MPI_File fh = staged_open(argc, argv);
    double *out = filled(2 * N, 10.0 * (rank + 1)), *in = filled(2 * N, -1.0);
    MPI_Offset block = N * sizeof(double), mine = rank * block, all = size * block;
    MPI_Status status;
    MPI_Request requests[2];
    int flag = 0, count = 0;

    /* explicit offsets: region r of the file holds round r's blocks */
    MPI_File_write_at(fh, 0 * all + mine, out, N, MPI_DOUBLE, &status);
    MPI_Get_count(&status, MPI_DOUBLE, &count);
    printf("rank %d write-at count %d\n", rank, count);
    MPI_File_write_at_all(fh, 1 * all + mine, out + 1, N, MPI_DOUBLE, MPI_STATUS_IGNORE);
    MPI_File_iwrite_at(fh, 2 * all + mine, out + 2, N, MPI_DOUBLE, &requests[0]);
    MPI_Wait(&requests[0], MPI_STATUS_IGNORE);
    MPI_File_iwrite_at_all(fh, 3 * all + mine, out + 3, N, MPI_DOUBLE, &requests[0]);
    MPI_Wait(&requests[0], MPI_STATUS_IGNORE);
    MPI_Datatype vec;
    MPI_Type_vector(N, 1, 2, MPI_DOUBLE, &vec);
    MPI_Type_commit(&vec);
    MPI_File_write_at(fh, 4 * all + mine, out, 1, vec, MPI_STATUS_IGNORE);
    MPI_File_sync(fh);
    MPI_Barrier(MPI_COMM_WORLD);
    MPI_File_sync(fh);

    MPI_File_read_at(fh, 0 * all + mine, in, N, MPI_DOUBLE, &status);
    MPI_Get_count(&status, MPI_DOUBLE, &count);
    printf("rank %d read-at count %d\n", rank, count);
    say("read-at", in, 2 * N);
    MPI_File_read_at_all(fh, 1 * all + mine, in, N, MPI_DOUBLE, MPI_STATUS_IGNORE);
    say("read-at-all", in, 2 * N);
    MPI_File_iread_at(fh, 2 * all + mine, in, N, MPI_DOUBLE, &requests[0]);
    do
        MPI_Test(&requests[0], &flag, MPI_STATUS_IGNORE);
    while (!flag);
    say("iread-at", in, 2 * N);
    MPI_File_iread_at_all(fh, 3 * all + mine, in, N, MPI_DOUBLE, &requests[0]);
    MPI_Wait(&requests[0], MPI_STATUS_IGNORE);
    say("iread-at-all", in, 2 * N);
    fill_values(in, 2 * N, -2.0);
    MPI_File_read_at(fh, 4 * all + mine, in, 1, vec, MPI_STATUS_IGNORE);
    say("read-at-vector", in, 2 * N);

    /* individual file pointers through a view past the explicit regions */
    MPI_Barrier(MPI_COMM_WORLD);
    MPI_Offset base = 5 * all;
    MPI_Datatype blocks;
    MPI_Type_create_resized(MPI_DOUBLE, 0, sizeof(double), &blocks);
    MPI_Datatype filetype;
    MPI_Type_vector(4, N, N * size, MPI_DOUBLE, &filetype);
    MPI_Type_commit(&filetype);
    MPI_File_set_view(fh, base + mine, MPI_DOUBLE, filetype, "native", MPI_INFO_NULL);
    MPI_File_write(fh, out, N, MPI_DOUBLE, MPI_STATUS_IGNORE);
    MPI_File_write_all(fh, out + 4, N, MPI_DOUBLE, MPI_STATUS_IGNORE);
    MPI_File_iwrite(fh, out + 5, N, MPI_DOUBLE, &requests[0]);
    MPI_Wait(&requests[0], MPI_STATUS_IGNORE);
    MPI_File_iwrite_all(fh, out + 6, N, MPI_DOUBLE, &requests[0]);
    MPI_Wait(&requests[0], MPI_STATUS_IGNORE);
    MPI_File_sync(fh);
    MPI_Barrier(MPI_COMM_WORLD);
    MPI_File_sync(fh);
    MPI_File_seek(fh, 0, MPI_SEEK_SET);
    MPI_File_read(fh, in, N, MPI_DOUBLE, MPI_STATUS_IGNORE);
    say("read", in, 2 * N);
    MPI_File_read_all(fh, in, N, MPI_DOUBLE, MPI_STATUS_IGNORE);
    say("read-all", in, 2 * N);
    MPI_File_iread(fh, in, N, MPI_DOUBLE, &requests[0]);
    MPI_Waitall(1, requests, MPI_STATUSES_IGNORE);
    say("iread", in, 2 * N);
    MPI_File_iread_all(fh, in, N, MPI_DOUBLE, &requests[0]);
    MPI_Wait(&requests[0], MPI_STATUS_IGNORE);
    say("iread-all", in, 2 * N);

    /* the shared file pointer, in a region of its own */
    MPI_File_set_view(fh, base + 4 * all, MPI_DOUBLE, MPI_DOUBLE, "native", MPI_INFO_NULL);
    MPI_File_write_ordered(fh, out, N, MPI_DOUBLE, MPI_STATUS_IGNORE);
    MPI_File_write_ordered(fh, out + 1, N, MPI_DOUBLE, MPI_STATUS_IGNORE);
    MPI_File_sync(fh);
    MPI_Barrier(MPI_COMM_WORLD);
    MPI_File_sync(fh);
    MPI_File_seek_shared(fh, 0, MPI_SEEK_SET);
    MPI_File_read_ordered(fh, in, N, MPI_DOUBLE, MPI_STATUS_IGNORE);
    say("read-ordered", in, 2 * N);
    MPI_File_read_ordered(fh, in, N, MPI_DOUBLE, MPI_STATUS_IGNORE);
    say("read-ordered-2", in, 2 * N);
    MPI_Barrier(MPI_COMM_WORLD);
    /* each rank writes and reads its own block through the shared pointer, one at a time:
     * the order of the ranks is the same in every run */
    for (int r = 0; r < size; ++r) {
        if (r == rank) {
            MPI_File_write_shared(fh, out + 2, N, MPI_DOUBLE, MPI_STATUS_IGNORE);
            MPI_File_iwrite_shared(fh, out + 3, N, MPI_DOUBLE, &requests[0]);
            MPI_Wait(&requests[0], MPI_STATUS_IGNORE);
        }
        MPI_Barrier(MPI_COMM_WORLD);
    }
    MPI_File_sync(fh);
    MPI_Barrier(MPI_COMM_WORLD);
    MPI_File_sync(fh);
    MPI_File_seek_shared(fh, 2 * size * N, MPI_SEEK_SET);
    for (int r = 0; r < size; ++r) {
        if (r == rank) {
            MPI_File_read_shared(fh, in, N, MPI_DOUBLE, MPI_STATUS_IGNORE);
            say("read-shared", in, 2 * N);
            MPI_File_iread_shared(fh, in, N, MPI_DOUBLE, &requests[0]);
            MPI_Wait(&requests[0], MPI_STATUS_IGNORE);
            say("iread-shared", in, 2 * N);
        }
        MPI_Barrier(MPI_COMM_WORLD);
    }
    MPI_File_close(&fh);
    MPI_Type_free(&vec);
    MPI_Type_free(&blocks);
    MPI_Type_free(&filetype);

    say_staged();
    devmem_free(out);
    devmem_free(in);
    MPI_Finalize();
    return 0;
}
