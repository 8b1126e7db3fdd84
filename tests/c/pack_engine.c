/* MPI_Pack and MPI_Unpack through tempi's C engine (issue 14): a vector type packed twice
 * into one buffer (positions 0 and the packed size), unpacked from it, packed into and
 * unpacked from a pageable host buffer at an odd position (the engine goes through its
 * scratch and one copy for a device typed buffer), the packed bytes exchanged with the
 * peer as MPI_PACKED and unpacked there. Every checksum is printed, so runs with and without the shim
 * compare; with "device" (first argument) the typed and packed buffers are device memory
 * (the host buffer stays host memory). Repeats ROUNDS times, so plans are run, not only
 * made. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define BLOCKS 64
#define STRIDE 3
#define ROUNDS 4
#define ODD 3

/* FNV-1a of n bytes of host memory. */
static unsigned long host_checksum(const unsigned char *b, size_t n)
{
    unsigned long h = 1469598103934665603UL;
    for (size_t i = 0; i < n; ++i)
        h = (h ^ b[i]) * 1099511628211UL;
    return h;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    devmem_init(devmem_wanted(argc, argv));
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int peer = (rank ^ 1) < size ? rank ^ 1 : rank;
    MPI_Datatype vector;
    MPI_Type_vector(BLOCKS, 1, STRIDE, MPI_DOUBLE, &vector);
    MPI_Type_commit(&vector);
    const int nbytes = BLOCKS * (int)sizeof(double);
    double *out = filled(BLOCKS * STRIDE, 0), *in = filled(BLOCKS * STRIDE, 0);
    double *packed = filled(2 * BLOCKS, 0), *arrived = filled(2 * BLOCKS, 0);
    unsigned char *host = malloc((size_t)nbytes + ODD);
    for (int round = 0; round < ROUNDS; ++round) {
        fill_values(out, BLOCKS * STRIDE, 10000 * rank + 100 * round);
        fill_values(packed, 2 * BLOCKS, -1);
        /* two packs one after the other, then an unpack of the second */
        int position = 0;
        MPI_Pack(out, 1, vector, packed, 2 * nbytes, &position, MPI_COMM_WORLD);
        fill_values(out, BLOCKS * STRIDE, 10000 * rank + 100 * round + 1);
        MPI_Pack(out, 1, vector, packed, 2 * nbytes, &position, MPI_COMM_WORLD);
        int end = position;
        fill_values(in, BLOCKS * STRIDE, -1);
        position = nbytes;
        MPI_Unpack(packed, 2 * nbytes, &position, in, 1, vector, MPI_COMM_WORLD);
        printf("rank %d round %d packed %d %016lx unpacked %d %016lx\n", rank, round, end,
               checksum(packed, 2 * BLOCKS), position, checksum(in, BLOCKS * STRIDE));
        /* a pageable host buffer at an odd position */
        memset(host, 0x5a, (size_t)nbytes + ODD);
        position = ODD;
        MPI_Pack(out, 1, vector, host, nbytes + ODD, &position, MPI_COMM_WORLD);
        end = position;
        fill_values(in, BLOCKS * STRIDE, -1);
        position = ODD;
        MPI_Unpack(host, nbytes + ODD, &position, in, 1, vector, MPI_COMM_WORLD);
        printf("rank %d round %d host %d %016lx unpacked %d %016lx\n", rank, round, end,
               host_checksum(host, (size_t)nbytes + ODD), position,
               checksum(in, BLOCKS * STRIDE));
        /* the packed bytes to the peer, unpacked there one element at a time */
        fill_values(arrived, 2 * BLOCKS, -1);
        MPI_Sendrecv(packed, 2 * nbytes, MPI_PACKED, peer, 1, arrived, 2 * nbytes, MPI_PACKED,
                     peer, 1, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        position = 0;
        for (int k = 0; k < 2; ++k) {
            fill_values(in, BLOCKS * STRIDE, -1);
            MPI_Unpack(arrived, 2 * nbytes, &position, in, 1, vector, MPI_COMM_WORLD);
            printf("rank %d round %d from peer %d at %d %016lx\n", rank, round, k, position,
                   checksum(in, BLOCKS * STRIDE));
        }
    }
    MPI_Type_free(&vector);
    free(host);
    devmem_free(out), devmem_free(in), devmem_free(packed), devmem_free(arrived);
    MPI_Finalize();
    return 0;
}
