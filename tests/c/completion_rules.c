/* The multi-completion calls over a mix of plain and tempi's requests, printed so that the
 * interposer's answers can be compared with the plain run's and with tempi.Comm's
 * (tests/c/completion_rules.py prints the same lines): Testall, Testany, Waitany,
 * Testsome and Waitsome over an array that holds receives and sends of a vector type
 * (tempi's under TEMPI_HOST=1) and of ints (plain), MPI_REQUEST_NULL, and inactive
 * persistent requests of both kinds; then a truncated receive in MPI_Waitall
 * (MPI_ERR_IN_STATUS, each status's error class). Each rank sends to itself (every message
 * has arrived when the calls look: the answers do not depend on timing), except the
 * truncation, which goes to the next rank (Open MPI's self path reports none). The lines go
 * to stdout, or to DIR/rules.<rank> with DIR as the argument. */
#include <mpi.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define N 9
#define LEN 12 /* doubles: 4 blocks at stride 3 */

static MPI_Datatype vector;
static int rank, seq; /* seq: the lines in order, whatever sorts them */
static FILE *out; /* stdout, or argv[1]/rules.<rank> (the ranks share no pipe) */
static double vbuf[4][2 * LEN];
static int ibuf[4][2];
static const char *role[N] = {"r", "r", "-", "-", "s", "-", "s", "r", "s"};

static void describe(char *text, size_t room, const MPI_Status *status, int show_sends, int i)
{
    int count = 0;
    MPI_Get_count(status, MPI_BYTE, &count);
    if (role[i][0] == 's' && !show_sends)
        snprintf(text, room, "send");
    else if (status->MPI_SOURCE == MPI_ANY_SOURCE && status->MPI_TAG == MPI_ANY_TAG && count == 0)
        snprintf(text, room, "empty");
    else
        snprintf(text, room, "src=%d tag=%d bytes=%d", status->MPI_SOURCE == rank ? 0 : -1,
                 status->MPI_TAG, count);
}

/* The array: 0 plain receive, 1 tempi's receive, 2 MPI_REQUEST_NULL, 3 tempi's inactive
 * persistent receive, 4 tempi's send (to 1), 5 a plain inactive persistent receive, 6 the
 * plain send (to 0), 7 tempi's receive, 8 tempi's send (to 7). */
static void post(MPI_Request r[N], int base)
{
    memset(vbuf, 0, sizeof vbuf);
    for (int k = 0; k < LEN; ++k)
        vbuf[2][k] = base + k, vbuf[3][k] = 2 * base + k;
    ibuf[2][0] = base, ibuf[2][1] = base + 1;
    MPI_Irecv(ibuf[0], 2, MPI_INT, rank, base + 1, MPI_COMM_WORLD, &r[0]);
    MPI_Irecv(vbuf[0], 1, vector, rank, base + 2, MPI_COMM_WORLD, &r[1]);
    r[2] = MPI_REQUEST_NULL;
    MPI_Recv_init(vbuf[1], 1, vector, rank, base + 9, MPI_COMM_WORLD, &r[3]);
    MPI_Irecv(vbuf[1], 1, vector, rank, base + 3, MPI_COMM_WORLD, &r[7]);
    MPI_Recv_init(ibuf[1], 2, MPI_INT, rank, base + 9, MPI_COMM_WORLD, &r[5]);
    MPI_Isend(vbuf[2], 1, vector, rank, base + 2, MPI_COMM_WORLD, &r[4]);
    MPI_Isend(ibuf[2], 2, MPI_INT, rank, base + 1, MPI_COMM_WORLD, &r[6]);
    MPI_Isend(vbuf[3], 1, vector, rank, base + 3, MPI_COMM_WORLD, &r[8]);
    /* Every active one done before the calls look (without completing any: never asked of
     * a plain persistent request), so their answers do not depend on when tempi's
     * operations run their steps. */
    static const int active[] = {0, 1, 4, 6, 7, 8};
    for (int tries = 0, all = 0; !all && tries < 1000000; ++tries) {
        all = 1;
        for (int k = 0; k < 6; ++k) {
            int flag = 0;
            MPI_Request_get_status(r[active[k]], &flag, MPI_STATUS_IGNORE);
            all &= flag;
        }
    }
}

static void unpost(MPI_Request r[N])
{
    MPI_Request_free(&r[3]);
    MPI_Request_free(&r[5]);
}

static void print_all(const char *call, const MPI_Status st[N], int show_sends)
{
    char line[1024] = "", one[64];
    for (int i = 0; i < N; ++i) {
        describe(one, sizeof one, &st[i], show_sends, i);
        strncat(line, " | ", sizeof line - strlen(line) - 1);
        strncat(line, one, sizeof line - strlen(line) - 1);
    }
    fprintf(out, "rank %d %03d %s%s\n", rank, seq++, call, line);
}

static void testall(void)
{
    MPI_Request r[N];
    MPI_Status st[N];
    int flag = 0, err = MPI_SUCCESS;
    post(r, 100);
    for (int tries = 0; !flag && err == MPI_SUCCESS && tries < 1000000; ++tries)
        err = MPI_Testall(N, r, &flag, st);
    fprintf(out, "rank %d %03d testall err=%d flag=%d\n", rank, seq++, err, flag);
    print_all("testall", st, 0);
    err = MPI_Testall(N, r, &flag, st); /* all null or inactive now */
    fprintf(out, "rank %d %03d testall again err=%d flag=%d\n", rank, seq++, err, flag);
    print_all("testall again", st, 1);
    unpost(r);
}

static void any(int wait)
{
    const char *call = wait ? "waitany" : "testany";
    MPI_Request r[N];
    MPI_Status st;
    post(r, wait ? 200 : 300);
    for (int tries = 0; tries < 1000000; ++tries) {
        int index = -5, flag = 1, err;
        err = wait ? MPI_Waitany(N, r, &index, &st) : MPI_Testany(N, r, &index, &flag, &st);
        if (err != MPI_SUCCESS || (flag && index == MPI_UNDEFINED)) {
            fprintf(out, "rank %d %03d %s err=%d flag=%d index=undefined\n", rank, seq++, call, err, flag);
            break;
        }
        if (!flag)
            continue;
        char one[64];
        describe(one, sizeof one, &st, 0, index);
        fprintf(out, "rank %d %03d %s index=%d %s\n", rank, seq++, call, index, one);
    }
    unpost(r);
}

static void some(int wait)
{
    const char *call = wait ? "waitsome" : "testsome";
    MPI_Request r[N];
    MPI_Status st[N];
    int indices[N];
    post(r, wait ? 400 : 500);
    for (int tries = 0; tries < 1000000; ++tries) {
        int outcount = -5, err;
        err = wait ? MPI_Waitsome(N, r, &outcount, indices, st)
                   : MPI_Testsome(N, r, &outcount, indices, st);
        if (err != MPI_SUCCESS || outcount == MPI_UNDEFINED) {
            fprintf(out, "rank %d %03d %s err=%d outcount=undefined\n", rank, seq++, call, err);
            break;
        }
        if (outcount == 0)
            continue;
        char line[1024] = "", one[80];
        for (int k = 0; k < outcount; ++k) {
            char status[64];
            describe(status, sizeof status, &st[k], 0, indices[k]);
            snprintf(one, sizeof one, " | %d %s", indices[k], status);
            strncat(line, one, sizeof line - strlen(line) - 1);
        }
        fprintf(out, "rank %d %03d %s outcount=%d%s\n", rank, seq++, call, outcount, line);
    }
    unpost(r);
}

/* The receive of tempi's gets 1 vector where 2 are sent: MPI_ERR_IN_STATUS. */
static void truncation(void)
{
    int size, next, prev, cls;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    next = (rank + 1) % size, prev = (rank + size - 1) % size;
    MPI_Request r[4];
    MPI_Status st[4];
    for (int k = 0; k < 2 * LEN; ++k)
        vbuf[2][k] = k;
    MPI_Irecv(vbuf[0], 1, vector, prev, 600, MPI_COMM_WORLD, &r[0]);
    MPI_Irecv(ibuf[0], 2, MPI_INT, prev, 601, MPI_COMM_WORLD, &r[1]);
    MPI_Isend(vbuf[2], 2, vector, next, 600, MPI_COMM_WORLD, &r[2]);
    MPI_Isend(ibuf[2], 2, MPI_INT, next, 601, MPI_COMM_WORLD, &r[3]);
    int err = MPI_Waitall(4, r, st);
    char line[256] = "";
    for (int i = 0; i < 4 && err == MPI_ERR_IN_STATUS; ++i) {
        MPI_Error_class(st[i].MPI_ERROR, &cls);
        strncat(line,
                cls == MPI_ERR_TRUNCATE  ? " | truncate"
                : cls == MPI_SUCCESS     ? " | success"
                : cls == MPI_ERR_PENDING ? " | pending"
                                         : " | other",
                sizeof line - strlen(line) - 1);
    }
    MPI_Error_class(err, &cls);
    fprintf(out, "rank %d %03d waitall truncated class=%s%s\n", rank, seq++,
           cls == MPI_ERR_IN_STATUS ? "in_status" : cls == MPI_SUCCESS ? "success" : "other",
           line);
    for (int i = 0; i < 4 && err == MPI_ERR_IN_STATUS; ++i)
        if (st[i].MPI_ERROR == MPI_ERR_PENDING) /* MPICH stops at the failed one */
            MPI_Wait(&r[i], MPI_STATUS_IGNORE);
    MPI_Barrier(MPI_COMM_WORLD);
}

/* Waitany (or Waitsome) that must block: the vector from the previous rank is sent after a
 * pause, its ints only after this rank's ack (so the calls' answers are in order). */
static void late(int wait_some)
{
    const char *call = wait_some ? "waitsome late" : "waitany late";
    int size, ack = 1, base = wait_some ? 700 : 800;
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int next = (rank + 1) % size, prev = (rank + size - 1) % size;
    MPI_Request r[2], sent;
    MPI_Status st[2];
    MPI_Irecv(vbuf[0], 1, vector, prev, base, MPI_COMM_WORLD, &r[0]);
    MPI_Irecv(ibuf[0], 2, MPI_INT, prev, base + 1, MPI_COMM_WORLD, &r[1]);
    usleep(100000);
    MPI_Isend(vbuf[2], 1, vector, next, base, MPI_COMM_WORLD, &sent);
    for (int round = 0; round < 2; ++round) {
        int index = -5, outcount = -5, indices[2], err;
        char one[64];
        if (wait_some) {
            err = MPI_Waitsome(2, r, &outcount, indices, st);
            index = outcount == 1 ? indices[0] : -outcount;
        } else {
            err = MPI_Waitany(2, r, &index, &st[0]);
        }
        describe(one, sizeof one, &st[0], 0, index == 1 ? 0 : 1);
        fprintf(out, "rank %d %03d %s err=%d index=%d %s\n", rank, seq++, call, err, index, one);
        if (round == 0) { /* the ack, then the ints the next rank waits to send */
            MPI_Send(&ack, 1, MPI_INT, prev, base + 2, MPI_COMM_WORLD);
            MPI_Recv(&ack, 1, MPI_INT, next, base + 2, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
            MPI_Send(ibuf[2], 2, MPI_INT, next, base + 1, MPI_COMM_WORLD);
        }
    }
    MPI_Wait(&sent, MPI_STATUS_IGNORE);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    out = stdout;
    if (argc > 1) {
        char path[4096];
        snprintf(path, sizeof path, "%s/rules.%d", argv[1], rank);
        out = fopen(path, "w");
        if (!out)
            MPI_Abort(MPI_COMM_WORLD, 2);
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Type_vector(4, 1, 3, MPI_DOUBLE, &vector);
    MPI_Type_commit(&vector);
    testall();
    any(0);
    any(1);
    some(0);
    some(1);
    truncation();
    late(0);
    late(1);
    MPI_Type_free(&vector);
    if (out != stdout)
        fclose(out);
    MPI_Finalize();
    return 0;
}
