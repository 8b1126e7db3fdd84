/* MPI_THREAD_MULTIPLE: THREADS threads per rank, each committing its own vector type and
 * exchanging with the same thread of the ring neighbours on its own tags -- one-shot
 * Isend/Irecv completed by a different completion call each iteration, a persistent pair,
 * and an MPI_Pack/MPI_Unpack round trip -- then printing a hash of everything it received,
 * so runs with and without the tempi shim can be compared. Host memory only. */
#include <mpi.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define THREADS 4
#define ITERS 40
#define LEN 60 /* doubles: 2 columns of 6 at stride 5 */

static int rank, size, right, left;

static unsigned long mix(unsigned long h, const double *p, int n)
{
    const unsigned char *b = (const unsigned char *)p;
    for (size_t i = 0; i < (size_t)n * sizeof(double); ++i)
        h = (h ^ b[i]) * 1099511628211UL;
    return h;
}

static void fill(double *p, int t, int k)
{
    for (int i = 0; i < LEN; ++i)
        p[i] = rank * 1e6 + t * 1e4 + k * 100 + i;
}

static void complete(int k, MPI_Request r[2], MPI_Status st[2])
{
    int flag = 0, index, done = 0, outcount, indices[2];
    MPI_Status found[2];
    switch (k % 4) {
    case 0:
        MPI_Waitall(2, r, st);
        break;
    case 1:
        while (!flag)
            MPI_Testall(2, r, &flag, st);
        break;
    case 2:
        while (done < 2) {
            MPI_Testany(2, r, &index, &flag, &found[0]);
            if (flag && index != MPI_UNDEFINED) {
                st[index] = found[0];
                done++;
            }
        }
        break;
    default:
        while (done < 2) {
            MPI_Waitsome(2, r, &outcount, indices, found);
            for (int j = 0; j < outcount; ++j)
                st[indices[j]] = found[j];
            done += outcount;
        }
    }
}

static void *worker(void *arg)
{
    int t = (int)(long)arg, tag = 100 * t, count, wrong = 0;
    MPI_Datatype column;
    MPI_Type_vector(6, 1, 5, MPI_DOUBLE, &column);
    MPI_Type_commit(&column);
    double out[LEN], in[LEN] = {0}, pin[LEN] = {0}, back[LEN] = {0};
    char packed[2 * 6 * sizeof(double)];
    unsigned long h = 1469598103934665603UL;
    MPI_Request p[2];
    MPI_Recv_init(pin, 2, column, left, tag + 1, MPI_COMM_WORLD, &p[0]);
    MPI_Send_init(out, 2, column, right, tag + 1, MPI_COMM_WORLD, &p[1]);
    for (int k = 0; k < ITERS; ++k) {
        MPI_Request r[2];
        MPI_Status st[2];
        fill(out, t, k);
        MPI_Irecv(in, 2, column, left, tag, MPI_COMM_WORLD, &r[0]);
        MPI_Isend(out, 2, column, right, tag, MPI_COMM_WORLD, &r[1]);
        complete(k, r, st);
        MPI_Get_count(&st[0], column, &count);
        wrong += st[0].MPI_SOURCE != left || st[0].MPI_TAG != tag || count != 2;
        h = mix(h, in, LEN);
        MPI_Startall(2, p);
        MPI_Waitall(2, p, MPI_STATUSES_IGNORE);
        h = mix(h, pin, LEN);
        int position = 0;
        MPI_Pack(out, 2, column, packed, sizeof packed, &position, MPI_COMM_WORLD);
        position = 0;
        MPI_Unpack(packed, sizeof packed, &position, back, 2, column, MPI_COMM_WORLD);
        h = mix(h, back, LEN);
    }
    MPI_Request_free(&p[0]);
    MPI_Request_free(&p[1]);
    MPI_Type_free(&column);
    printf("rank %d thread %d %016lx%s\n", rank, t, h, wrong ? " WRONG status" : "");
    return NULL;
}

int main(int argc, char **argv)
{
    int provided;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    right = (rank + 1) % size, left = (rank - 1 + size) % size;
    if (provided < MPI_THREAD_MULTIPLE) {
        printf("rank %d no MPI_THREAD_MULTIPLE\n", rank);
        MPI_Finalize();
        return 0;
    }
    pthread_t threads[THREADS];
    for (long t = 0; t < THREADS; ++t)
        pthread_create(&threads[t], NULL, worker, (void *)t);
    for (int t = 0; t < THREADS; ++t)
        pthread_join(threads[t], NULL);
    MPI_Finalize();
    return 0;
}
