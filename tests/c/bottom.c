/* MPI_BOTTOM with absolute addresses (MPI-4.1 §5.1.12): datatypes whose displacements are
 * MPI_Get_address results, used with the buffer MPI_BOTTOM. A struct over two arrays, a
 * vector and a contiguous run, each placed at an absolute address, go through Sendrecv,
 * Isend/Recv/Wait, Irecv/Send/Waitall, Pack/Unpack, Bcast and Alltoallw (a struct per peer);
 * every receive prints its MPI_Get_count and the checksums of the receiving arrays, so runs
 * with and without the tempi shim can be compared. Buffers are in device memory with
 * "device" as the first argument (see native/devmem.h), in host memory otherwise. */
#include "check.h"
#include <mpi.h>
#include <stdio.h>

#define LEN 64

static MPI_Aint address(const void *p)
{
    MPI_Aint a;
    MPI_Get_address(p, &a);
    return a;
}

/* kind 0: struct {3 doubles at a[1]; vector(4, 1, 3) at b[3]}; kind 1: vector(5, 2, 4)
 * at a[2]; kind 2: 10 contiguous doubles at b[5]. */
static MPI_Datatype absolute(int kind, double *a, double *b)
{
    MPI_Datatype inner, t;
    if (kind == 0) {
        MPI_Type_vector(4, 1, 3, MPI_DOUBLE, &inner);
        int lengths[2] = {3, 1};
        MPI_Aint displs[2] = {address(a + 1), address(b + 3)};
        MPI_Datatype types[2] = {MPI_DOUBLE, inner};
        MPI_Type_create_struct(2, lengths, displs, types, &t);
    } else {
        if (kind == 1)
            MPI_Type_vector(5, 2, 4, MPI_DOUBLE, &inner);
        else
            MPI_Type_contiguous(10, MPI_DOUBLE, &inner);
        int one = 1;
        MPI_Aint displ = address(kind == 1 ? a + 2 : b + 5);
        MPI_Type_create_struct(1, &one, &displ, &inner, &t);
    }
    MPI_Type_free(&inner);
    MPI_Type_commit(&t);
    return t;
}

static void report(int rank, const char *what, int kind, MPI_Status *status, MPI_Datatype t,
                   double *a, double *b)
{
    int count = -1;
    if (status != NULL)
        MPI_Get_count(status, t, &count);
    printf("rank %d %s kind %d count %d a %016lx b %016lx\n", rank, what, kind, count,
           checksum(a, LEN), checksum(b, LEN));
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    devmem_init(devmem_wanted(argc, argv));
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int right = (rank + 1) % size, left = (rank - 1 + size) % size;
    double *sa = filled(LEN, rank * 1000), *sb = filled(LEN, rank * 1000 + 500);
    double *ra = devmem_alloc(LEN * sizeof(double)), *rb = devmem_alloc(LEN * sizeof(double));
    MPI_Status status, statuses[2];
    MPI_Request requests[2];
    for (int kind = 0; kind < 3; ++kind) {
        MPI_Datatype st = absolute(kind, sa, sb), rt = absolute(kind, ra, rb);
        MPI_Sendrecv(MPI_BOTTOM, 1, st, right, 1, MPI_BOTTOM, 1, rt, left, 1, MPI_COMM_WORLD,
                     &status);
        report(rank, "sendrecv", kind, &status, rt, ra, rb);

        fill_values(ra, LEN, -1), fill_values(rb, LEN, -2);
        MPI_Isend(MPI_BOTTOM, 1, st, right, 2, MPI_COMM_WORLD, &requests[0]);
        MPI_Recv(MPI_BOTTOM, 1, rt, MPI_ANY_SOURCE, 2, MPI_COMM_WORLD, &status);
        MPI_Wait(&requests[0], MPI_STATUS_IGNORE);
        report(rank, "isend-recv", kind, &status, rt, ra, rb);

        fill_values(ra, LEN, -3), fill_values(rb, LEN, -4);
        MPI_Irecv(MPI_BOTTOM, 1, rt, left, 3, MPI_COMM_WORLD, &requests[0]);
        MPI_Isend(MPI_BOTTOM, 1, st, right, 3, MPI_COMM_WORLD, &requests[1]);
        MPI_Waitall(2, requests, statuses);
        report(rank, "irecv-waitall", kind, &statuses[0], rt, ra, rb);

        int packed_size, position = 0;
        MPI_Pack_size(1, st, MPI_COMM_WORLD, &packed_size);
        char *packed = malloc(packed_size);
        MPI_Pack(MPI_BOTTOM, 1, st, packed, packed_size, &position, MPI_COMM_WORLD);
        printf("rank %d pack kind %d position %d of %d\n", rank, kind, position, packed_size);
        fill_values(ra, LEN, -5), fill_values(rb, LEN, -6);
        position = 0;
        MPI_Unpack(packed, packed_size, &position, MPI_BOTTOM, 1, rt, MPI_COMM_WORLD);
        report(rank, "unpack", kind, NULL, rt, ra, rb);
        free(packed);

        MPI_Datatype bt = rank == 0 ? st : rt;
        MPI_Bcast(MPI_BOTTOM, 1, bt, 0, MPI_COMM_WORLD);
        report(rank, "bcast", kind, NULL, rt, ra, rb);
        MPI_Type_free(&st);
        MPI_Type_free(&rt);
    }

    /* Alltoallw: to peer p, a struct {1 double at s?[4p], 2 doubles at s?[4p + 1]} */
    MPI_Datatype *stypes = malloc(size * sizeof *stypes), *rtypes = malloc(size * sizeof *rtypes);
    int *counts = malloc(size * sizeof *counts), *displs = malloc(size * sizeof *displs);
    int lengths[2] = {1, 2};
    MPI_Datatype doubles[2] = {MPI_DOUBLE, MPI_DOUBLE};
    double *ta = filled(4 * size + 4, rank * 1000), *tb = filled(4 * size + 4, rank * 1000 + 7);
    double *ua = devmem_alloc((4 * size + 4) * sizeof(double));
    double *ub = devmem_alloc((4 * size + 4) * sizeof(double));
    for (int p = 0; p < size; ++p) {
        MPI_Aint s[2] = {address(ta + 4 * p), address(tb + 4 * p + 1)};
        MPI_Aint r[2] = {address(ua + 4 * p), address(ub + 4 * p + 1)};
        MPI_Type_create_struct(2, lengths, s, doubles, &stypes[p]);
        MPI_Type_create_struct(2, lengths, r, doubles, &rtypes[p]);
        MPI_Type_commit(&stypes[p]);
        MPI_Type_commit(&rtypes[p]);
        counts[p] = 1, displs[p] = 0;
    }
    MPI_Alltoallw(MPI_BOTTOM, counts, displs, stypes, MPI_BOTTOM, counts, displs, rtypes,
                  MPI_COMM_WORLD);
    printf("rank %d alltoallw a %016lx b %016lx\n", rank, checksum(ua, 4 * size + 4),
           checksum(ub, 4 * size + 4));
    for (int p = 0; p < size; ++p) {
        MPI_Type_free(&stypes[p]);
        MPI_Type_free(&rtypes[p]);
    }
    MPI_Finalize();
    return 0;
}
