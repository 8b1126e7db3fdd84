/* The large-count (_c) receive with more than INT_MAX elements: MPI_Irecv_c and MPI_Recv_c
 * of 2^31 elements of a non-contiguous type (2 bytes of data in 4, which tempi
 * accelerates) while the peer sends 5 of them. The receive's buffer spans 8 GiB of
 * address space but only the message's bytes are ever written, so the pages stay
 * untouched (virtual memory, not RAM). An int count cannot say 2^31: the int form would
 * fail (MPI_ERR_COUNT) or truncate. Prints the error class, the count received
 * (MPI_Get_count_c) and the received bytes, to compare with the plain run. Without the
 * MPI-4 _c forms (Open MPI 5) it prints "no large-count forms". */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
#if MPI_VERSION >= 4
    MPI_Datatype pair, spaced;
    MPI_Type_vector(2, 1, 2, MPI_BYTE, &pair); /* bytes 0 and 2 */
    MPI_Type_create_resized(pair, 0, 4, &spaced);
    MPI_Type_commit(&spaced);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    const MPI_Count many = (MPI_Count)1 << 31; /* INT_MAX + 1 */
    unsigned char *big = malloc((size_t)many * 4); /* virtual: never touched past 20 bytes */
    unsigned char send[20];
    for (int i = 0; i < 20; ++i)
        send[i] = (unsigned char)(rank * 20 + i);
    int right = (rank + 1) % size, left = (rank + size - 1) % size;
    for (int round = 0; round < 2; ++round) {
        memset(big, 0xEE, 20);
        MPI_Request requests[2];
        MPI_Status status;
        int err;
        MPI_Isend_c(send, 5, spaced, right, round, MPI_COMM_WORLD, &requests[1]);
        if (round == 0) {
            err = MPI_Irecv_c(big, many, spaced, left, round, MPI_COMM_WORLD, &requests[0]);
            if (err == MPI_SUCCESS)
                err = MPI_Wait(&requests[0], &status);
        } else {
            err = MPI_Recv_c(big, many, spaced, left, round, MPI_COMM_WORLD, &status);
        }
        MPI_Wait(&requests[1], MPI_STATUS_IGNORE);
        int class = -1;
        MPI_Error_class(err, &class);
        MPI_Count count = -1;
        if (err == MPI_SUCCESS)
            MPI_Get_count_c(&status, spaced, &count);
        char line[256]; /* one write per record: the ranks share the pipe */
        int at = snprintf(line, sizeof line, "rank %d %s class %d count %lld bytes", rank,
                          round ? "recv_c" : "irecv_c", class, (long long)count);
        for (int i = 0; i < 20; ++i)
            at += snprintf(line + at, sizeof line - at, " %d", big[i]);
        printf("%s\n", line);
        fflush(stdout);
    }
    free(big);
    MPI_Type_free(&pair);
    MPI_Type_free(&spaced);
#else
    printf("rank %d no large-count forms\n", rank);
#endif
    MPI_Finalize();
    return 0;
}
