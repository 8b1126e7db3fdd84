/* MPI_Pack / MPI_Unpack round trips of derived types at position != 0: prints the packed
 * bytes' checksum and the unpacked buffer's, so runs with and without the tempi shim can be
 * compared line by line. Also frees and re-commits types (handle reuse). All three buffers
 * are in device memory with "device" as the first argument (see native/devmem.h). */
#include "devmem.h"
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned long checksum(const void *buffer, size_t n)
{
    unsigned char *p = malloc(n ? n : 1);
    devmem_get(p, buffer, n);
    unsigned long h = 1469598103934665603UL;
    for (size_t i = 0; i < n; ++i)
        h = (h ^ p[i]) * 1099511628211UL;
    free(p);
    return h;
}

static void roundtrip(const char *name, MPI_Datatype type, int count, int rank)
{
    MPI_Aint lb, extent;
    MPI_Type_get_extent(type, &lb, &extent);
    size_t span = (size_t)(extent * count + 64);
    unsigned char *host = malloc(span);
    for (size_t i = 0; i < span; ++i)
        host[i] = (unsigned char)(i * 7 + rank * 13 + 1);
    unsigned char *data = devmem_alloc(span), *back = devmem_alloc(span);
    devmem_put(data, host, span);
    free(host);
    int size, position = 3;
    MPI_Pack_size(count, type, MPI_COMM_WORLD, &size);
    unsigned char *packed = devmem_alloc((size_t)size + 3);
    MPI_Pack(data, count, type, packed, size + 3, &position, MPI_COMM_WORLD);
    int end = position;
    position = 3;
    MPI_Unpack(packed, size + 3, &position, back, count, type, MPI_COMM_WORLD);
    printf("rank %d %-10s packed %d bytes %016lx unpacked %016lx\n", rank, name, end - 3,
           checksum(packed, (size_t)end), checksum(back, span));
    devmem_free(data);
    devmem_free(back);
    devmem_free(packed);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    devmem_init(devmem_wanted(argc, argv));
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    for (int round = 0; round < 3; ++round) {
        MPI_Datatype vector, subarray, pair, strct, column;
        MPI_Type_vector(16, 3, 7, MPI_DOUBLE, &vector);
        int sizes[3] = {8, 8, 8}, subsizes[3] = {1, 4, 4}, starts[3] = {5, 2, 2};
        MPI_Type_create_subarray(3, sizes, subsizes, starts, MPI_ORDER_C, MPI_FLOAT, &subarray);
        MPI_Type_vector(4, 1, 3, MPI_INT, &column);
        int lengths[2] = {1, 2};
        MPI_Aint displs[2] = {0, 40};
        MPI_Datatype types[2] = {column, MPI_DOUBLE};
        MPI_Type_create_struct(2, lengths, displs, types, &strct);
        MPI_Type_contiguous(3, MPI_DOUBLE_INT, &pair);
        MPI_Datatype all[4] = {vector, subarray, strct, pair};
        const char *names[4] = {"vector", "subarray", "struct", "double_int"};
        for (int i = 0; i < 4; ++i) {
            MPI_Type_commit(&all[i]);
            roundtrip(names[i], all[i], round + 1, rank);
        }
        for (int i = 0; i < 4; ++i)
            MPI_Type_free(&all[i]);
        MPI_Type_free(&column);
    }
    MPI_Finalize();
    return 0;
}
