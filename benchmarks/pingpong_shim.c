/* One-way latency of a ping-pong of an MPI vector type (8-byte blocks at a 64-byte
 * stride) between ranks 0 and 1, with MPI_Send and MPI_Recv of the typed buffer: run plain
 * and under `TEMPI_HOST=1 tempi run` and compare (benchmarks/pingpong_shim.py does both).
 *
 * Usage: pingpong_shim ITERATIONS [PACKED_BYTES...]; rank 0 prints one line per size,
 * "<packed bytes> <one-way latency in microseconds>", the median of 7 timings of
 * ITERATIONS round trips each (after a warm-up of ITERATIONS / 10 + 1). Every round trip
 * checks the first and last block received, so a wrong unpack fails the run. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

#define STRIDE 8 /* doubles: 8-byte blocks at a 64-byte stride */
#define TIMINGS 7

static int compare(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size < 2 || argc < 3) {
        if (rank == 0)
            fprintf(stderr, "usage: mpiexec -n 2 pingpong_shim ITERATIONS BYTES...\n");
        MPI_Finalize();
        return 2;
    }
    int iterations = atoi(argv[1]), failed = 0;
    for (int a = 2; a < argc && !failed; ++a) {
        int blocks = atoi(argv[a]) / 8;
        MPI_Datatype vector;
        MPI_Type_vector(blocks, 1, STRIDE, MPI_DOUBLE, &vector);
        MPI_Type_commit(&vector);
        double *buf = calloc((size_t)blocks * STRIDE, sizeof(double));
        double times[TIMINGS];
        for (int t = -1; t < TIMINGS && !failed; ++t) {
            int n = t < 0 ? iterations / 10 + 1 : iterations;
            MPI_Barrier(MPI_COMM_WORLD);
            double t0 = MPI_Wtime();
            for (int i = 0; i < n && rank < 2; ++i) {
                if (rank == 0) {
                    buf[0] = i, buf[(size_t)(blocks - 1) * STRIDE] = -i;
                    MPI_Send(buf, 1, vector, 1, 0, MPI_COMM_WORLD);
                    MPI_Recv(buf, 1, vector, 1, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                    failed |= buf[0] != i + 1 || buf[(size_t)(blocks - 1) * STRIDE] != -i - 1;
                } else {
                    MPI_Recv(buf, 1, vector, 0, 0, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
                    buf[0] += 1, buf[(size_t)(blocks - 1) * STRIDE] -= 1;
                    MPI_Send(buf, 1, vector, 0, 0, MPI_COMM_WORLD);
                }
            }
            if (t >= 0)
                times[t] = (MPI_Wtime() - t0) / (2.0 * n) * 1e6;
        }
        qsort(times, TIMINGS, sizeof times[0], compare);
        if (rank == 0 && !failed)
            printf("%d %.3f\n", blocks * 8, times[TIMINGS / 2]);
        if (failed)
            fprintf(stderr, "rank %d: wrong data received at %d packed bytes\n", rank,
                    blocks * 8);
        fflush(stdout);
        free(buf);
        MPI_Type_free(&vector);
    }
    MPI_Finalize();
    return failed;
}
