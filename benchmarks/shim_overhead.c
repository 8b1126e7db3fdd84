/* Cost per call of MPI entry points the tempi shim intercepts, for calls that stay on its
 * C fast path (host memory, TEMPI_HOST unset): prints "<case> <ns per call>" lines; the
 * exchange case is one Irecv + Isend + Waitall of a vector to self, the persistent one a
 * Startall + Waitall of a Recv_init and a Send_init of it, and an MPI_Allgather of one
 * MPI_DOUBLE on MPI_COMM_SELF. Run plain and under `tempi run`
 * and compare (benchmarks/shim_overhead.py does both). With a second argument, the path of
 * a CUDA driver (libcuda.so.1), it is loaded before MPI_Init, so the shim's memory-kind
 * check runs as in a CUDA application (buffers are host memory: on the stack). */
#include <dlfcn.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

static double per_call_ns(int calls, const void *in, MPI_Datatype type, void *out, int outsize)
{
    double best = 1e30;
    for (int rep = 0; rep < 7; ++rep) {
        double t0 = MPI_Wtime();
        for (int i = 0; i < calls; ++i) {
            int position = 0;
            MPI_Pack(in, 1, type, out, outsize, &position, MPI_COMM_SELF);
        }
        double t = (MPI_Wtime() - t0) / calls * 1e9;
        if (t < best)
            best = t;
    }
    return best;
}

static double exchange_ns(int calls, MPI_Datatype type, double *a, double *b)
{
    double best = 1e30;
    for (int rep = 0; rep < 7; ++rep) {
        double t0 = MPI_Wtime();
        for (int i = 0; i < calls; ++i) {
            MPI_Request requests[2];
            MPI_Irecv(b, 1, type, 0, 1, MPI_COMM_SELF, &requests[0]);
            MPI_Isend(a, 1, type, 0, 1, MPI_COMM_SELF, &requests[1]);
            MPI_Waitall(2, requests, MPI_STATUSES_IGNORE);
        }
        double t = (MPI_Wtime() - t0) / calls * 1e9;
        if (t < best)
            best = t;
    }
    return best;
}

static double persistent_ns(int calls, MPI_Datatype type, double *a, double *b)
{
    MPI_Request requests[2];
    MPI_Recv_init(b, 1, type, 0, 2, MPI_COMM_SELF, &requests[0]);
    MPI_Send_init(a, 1, type, 0, 2, MPI_COMM_SELF, &requests[1]);
    double best = 1e30;
    for (int rep = 0; rep < 7; ++rep) {
        double t0 = MPI_Wtime();
        for (int i = 0; i < calls; ++i) {
            MPI_Startall(2, requests);
            MPI_Waitall(2, requests, MPI_STATUSES_IGNORE);
        }
        double t = (MPI_Wtime() - t0) / calls * 1e9;
        if (t < best)
            best = t;
    }
    MPI_Request_free(&requests[0]);
    MPI_Request_free(&requests[1]);
    return best;
}

static double allgather_ns(int calls, double *a, double *b)
{
    double best = 1e30;
    for (int rep = 0; rep < 7; ++rep) {
        double t0 = MPI_Wtime();
        for (int i = 0; i < calls; ++i)
            MPI_Allgather(a, 1, MPI_DOUBLE, b, 1, MPI_DOUBLE, MPI_COMM_SELF);
        double t = (MPI_Wtime() - t0) / calls * 1e9;
        if (t < best)
            best = t;
    }
    return best;
}

int main(int argc, char **argv)
{
    if (argc > 2 && dlopen(argv[2], RTLD_NOW | RTLD_GLOBAL) == NULL) {
        fprintf(stderr, "cannot load %s: %s\n", argv[2], dlerror());
        return 2;
    }
    MPI_Init(&argc, &argv);
    int calls = argc > 1 ? atoi(argv[1]) : 1000000;
    double in[64] = {0}, out[64];
    MPI_Datatype vector;
    MPI_Type_vector(4, 1, 2, MPI_DOUBLE, &vector);
    MPI_Type_commit(&vector);
    printf("pack_named %.2f\n", per_call_ns(calls, in, MPI_DOUBLE, out, sizeof out));
    printf("pack_vector_host %.2f\n", per_call_ns(calls, in, vector, out, sizeof out));
    printf("irecv_isend_waitall_3calls %.2f\n", exchange_ns(calls / 10, vector, in, out));
    printf("startall_waitall_2calls %.2f\n", persistent_ns(calls / 10, vector, in, out));
    printf("allgather_named %.2f\n", allgather_ns(calls, in, out));
    MPI_Type_free(&vector);
    MPI_Finalize();
    return 0;
}
