/* MPI's error semantics, to compare runs with and without the tempi shim: every case runs
 * on a communicator with MPI_ERRORS_RETURN and on one with a user error handler, and
 * prints the returned error class, how often the handler ran and the class it was given,
 * and for the multi-completion calls MPI_ERR_IN_STATUS with each status's MPI_ERROR class.
 * With "fatal" as the first argument, a truncation on MPI_COMM_WORLD (MPI_ERRORS_ARE_FATAL)
 * must abort the program: it prints "survived" only if it was not. With "multiple", the
 * same cases run after MPI_Init_thread(MPI_THREAD_MULTIPLE), where tempi leaves the
 * communicator's handler in place while it works (a handler must still run once).
 *
 * Cases (each rank with its right neighbour, a vector type tempi accelerates):
 *   recv-truncate       MPI_Recv of fewer elements than sent
 *   send-bad-rank       MPI_Send to a rank that does not exist
 *   recv-bad-rank       MPI_Recv from a rank that does not exist (the buffer stays as it was)
 *   wait-truncate       MPI_Irecv + MPI_Wait, the same
 *   waitall-truncate    MPI_Irecv (short) + MPI_Irecv (fits) + MPI_Waitall
 *   unpack-truncate     MPI_Unpack from a packed buffer too short for the count
 *   pack-truncate       MPI_Pack into a buffer too short
 *   start-active        MPI_Start of an active persistent request (then completed)
 *   sendrecv-bad-rank   MPI_Sendrecv to a rank that does not exist, then a message of
 *                       its tag, which must reach the next receive (not a leaked one)
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int handler_calls = 0, handler_class = 0;

static void handler(MPI_Comm *comm, int *code, ...)
{
    (void)comm;
    ++handler_calls;
    MPI_Error_class(*code, &handler_class);
}

static int error_class(int code)
{
    int c;
    MPI_Error_class(code, &c);
    return c;
}

static int rank, size;

static void report(const char *mode, const char *what, int err)
{
    printf("rank %d %s %s: class %d handler %d class %d\n", rank, mode, what, error_class(err),
           handler_calls, handler_calls ? handler_class : -1);
    handler_calls = 0;
    handler_class = 0;
}

static void cases(MPI_Comm comm, const char *mode, MPI_Datatype vec)
{
    int right = (rank + 1) % size, left = (rank + size - 1) % size;
    double send[64], recv[64], other[64];
    for (int i = 0; i < 64; ++i)
        send[i] = rank * 100 + i;
    MPI_Request requests[2];
    MPI_Status statuses[2];

    MPI_Request sreq;
    MPI_Isend(send, 4, vec, right, 1, comm, &sreq);
    int err = MPI_Recv(recv, 2, vec, left, 1, comm, MPI_STATUS_IGNORE);
    report(mode, "recv-truncate", err);
    MPI_Wait(&sreq, MPI_STATUS_IGNORE);

    err = MPI_Send(send, 2, vec, size + 5, 1, comm);
    report(mode, "send-bad-rank", err);
    for (int i = 0; i < 64; ++i)
        other[i] = -1;
    err = MPI_Recv(other, 2, vec, size + 5, 1, comm, MPI_STATUS_IGNORE);
    for (int i = 0; i < 64; ++i)
        if (other[i] != -1)
            printf("rank %d %s recv-bad-rank wrote element %d\n", rank, mode, i);
    report(mode, "recv-bad-rank", err);

    MPI_Isend(send, 4, vec, right, 2, comm, &sreq);
    MPI_Irecv(recv, 2, vec, left, 2, comm, &requests[0]);
    err = MPI_Wait(&requests[0], MPI_STATUS_IGNORE);
    report(mode, "wait-truncate", err);
    MPI_Wait(&sreq, MPI_STATUS_IGNORE);

    MPI_Request sreqs[2];
    MPI_Isend(send, 4, vec, right, 3, comm, &sreqs[0]);
    MPI_Isend(send, 2, vec, right, 4, comm, &sreqs[1]);
    MPI_Irecv(recv, 2, vec, left, 3, comm, &requests[0]);
    MPI_Irecv(other, 2, vec, left, 4, comm, &requests[1]);
    statuses[0].MPI_ERROR = statuses[1].MPI_ERROR = -1;
    err = MPI_Waitall(2, requests, statuses);
    report(mode, "waitall-truncate", err);
    if (error_class(err) == MPI_ERR_IN_STATUS)
        printf("rank %d %s waitall statuses: %d %d\n", rank, mode,
               error_class(statuses[0].MPI_ERROR), error_class(statuses[1].MPI_ERROR));
    MPI_Waitall(2, sreqs, MPI_STATUSES_IGNORE);

    char packed[1024];
    int position = 0;
    MPI_Pack(send, 1, vec, packed, sizeof packed, &position, comm);
    position = 0;
    err = MPI_Unpack(packed, 8, &position, recv, 1, vec, comm);
    report(mode, "unpack-truncate", err);
    position = 0;
    err = MPI_Pack(send, 4, vec, packed, 16, &position, comm);
    report(mode, "pack-truncate", err);

    /* a Sendrecv whose send fails (no such rank) must not leave its receive posted: the
     * next message of that tag must reach the next receive */
    err = MPI_Sendrecv(send, 1, vec, size + 5, 6, recv, 1, vec, left, 6, comm,
                       MPI_STATUS_IGNORE);
    report(mode, "sendrecv-bad-rank", err);
    MPI_Barrier(comm); /* every rank's Sendrecv is over before the next message leaves */
    MPI_Isend(send, 1, vec, right, 6, comm, &sreq);
    for (int i = 0; i < 64; ++i)
        other[i] = -1;
    MPI_Recv(other, 1, vec, left, 6, comm, MPI_STATUS_IGNORE);
    MPI_Wait(&sreq, MPI_STATUS_IGNORE);
    printf("rank %d %s after-bad-rank: %g\n", rank, mode, other[0]);

    MPI_Request persistent;
    MPI_Recv_init(recv, 1, vec, left, 5, comm, &persistent);
    MPI_Start(&persistent);
    err = MPI_Start(&persistent);
    report(mode, "start-active", err);
    MPI_Send(send, 1, vec, right, 5, comm);
    MPI_Wait(&persistent, MPI_STATUS_IGNORE);
    MPI_Request_free(&persistent);
}

int main(int argc, char **argv)
{
    int provided = MPI_THREAD_SINGLE;
    if (argc > 1 && strcmp(argv[1], "multiple") == 0) /* the cases under MPI_THREAD_MULTIPLE */
        MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    else
        MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Datatype vec;
    MPI_Type_vector(2, 1, 3, MPI_DOUBLE, &vec);
    MPI_Type_commit(&vec);
    if (argc > 1 && strcmp(argv[1], "fatal") == 0) {
        double send[64] = {0}, recv[64];
        MPI_Request sreq;
        MPI_Isend(send, 4, vec, (rank + 1) % size, 1, MPI_COMM_WORLD, &sreq);
        int err = MPI_Recv(recv, 2, vec, (rank + size - 1) % size, 1, MPI_COMM_WORLD,
                           MPI_STATUS_IGNORE);
        printf("rank %d survived (class %d)\n", rank, error_class(err));
        MPI_Wait(&sreq, MPI_STATUS_IGNORE);
        MPI_Finalize();
        return 0;
    }
    MPI_Comm returning, handled;
    MPI_Comm_dup(MPI_COMM_WORLD, &returning);
    MPI_Comm_dup(MPI_COMM_WORLD, &handled);
    MPI_Comm_set_errhandler(returning, MPI_ERRORS_RETURN);
    MPI_Errhandler user;
    MPI_Comm_create_errhandler(handler, &user);
    MPI_Comm_set_errhandler(handled, user);
    /* An MPI may raise a multi-completion error on MPI_COMM_WORLD's handler (MPICH does):
     * the world's handler follows each pass's. */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    cases(returning, "return", vec);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, user);
    cases(handled, "handler", vec);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_ARE_FATAL);
    MPI_Errhandler_free(&user);
    MPI_Comm_free(&returning);
    MPI_Comm_free(&handled);
    MPI_Type_free(&vec);
    MPI_Finalize();
    return 0;
}
