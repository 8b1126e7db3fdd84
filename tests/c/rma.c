/* One-sided communication the shim stages when the MPI cannot read device memory
 * (native/stage_rma.c): origin and result buffers in the chosen memory, windows in host
 * memory (MPI_Win_allocate, MPI_Win_create). Under fences: Put (doubles, and a vector
 * type), Get, Accumulate, Get_accumulate, Fetch_and_op, Compare_and_swap, and a Put from
 * MPI_BOTTOM with an absolute struct type; under MPI_Win_lock/unlock: Get; under
 * lock_all: Put then Win_flush, Get then Win_flush_local_all, Rput, Rget, Raccumulate and
 * Rget_accumulate completed by MPI_Wait and MPI_Waitall; under post/start/complete/wait:
 * Get; a window of MPI_Win_create. Every result is printed as a checksum after the call
 * that completes it, so runs with and without the shim can be compared; stderr says how
 * many calls the shim staged. Buffers are device memory with "device" as the first
 * argument (native/devmem.h), host memory otherwise (staged with TEMPI_HOST=1). */
#include "staged.h"
#include <string.h>

#define N 16


/* The window's own memory (host), as a checksum; every rank calls it at once. */
static void say_window(const char *what, const double *window, size_t n)
{
    unsigned long h = 1469598103934665603UL;
    const unsigned char *b = (const unsigned char *)window;
    for (size_t i = 0; i < n * sizeof(double); ++i)
        h = (h ^ b[i]) * 1099511628211UL;
    printf("rank %d %s %016lx\n", rank, what, h);
    MPI_Barrier(MPI_COMM_WORLD); /* read before the next epoch's operations land */
}

static void reset(double *window, MPI_Win win)
{
    MPI_Win_lock(MPI_LOCK_EXCLUSIVE, rank, 0, win);
    for (int i = 0; i < N; ++i)
        window[i] = 100.0 * rank + i;
    MPI_Win_unlock(rank, win);
    MPI_Barrier(MPI_COMM_WORLD);
}

int main(int argc, char **argv)
{
    staged_start(&argc, &argv);
    int right = (rank + 1) % size, left = (rank + size - 1) % size;
    double *origin = filled(N, 1000.0 * (rank + 1)), *result = filled(N, -1.0);
    double *window = NULL;
    MPI_Win win;
    MPI_Win_allocate(N * sizeof(double), sizeof(double), MPI_INFO_NULL, MPI_COMM_WORLD, &window,
                     &win);
    reset(window, win);

    MPI_Win_fence(0, win);
    MPI_Put(origin, N / 2, MPI_DOUBLE, right, 0, N / 2, MPI_DOUBLE, win);
    MPI_Win_fence(0, win);
    say_window("put", window, N);

    MPI_Datatype vec;
    MPI_Type_vector(N / 2, 1, 2, MPI_DOUBLE, &vec);
    MPI_Type_commit(&vec);
    MPI_Put(origin, 1, vec, right, 0, N / 2, MPI_DOUBLE, win);
    MPI_Win_fence(0, win);
    say_window("put-vector", window, N);

    MPI_Get(result, N, MPI_DOUBLE, left, 0, N, MPI_DOUBLE, win);
    MPI_Win_fence(0, win);
    say("get", result, N);

    fill_values(result, N, -2.0);
    MPI_Get(result, 1, vec, left, 0, N / 2, MPI_DOUBLE, win);
    MPI_Win_fence(0, win);
    say("get-vector", result, N);

    MPI_Accumulate(origin, N, MPI_DOUBLE, right, 0, N, MPI_DOUBLE, MPI_SUM, win);
    MPI_Win_fence(0, win);
    say_window("accumulate", window, N);

    MPI_Get_accumulate(origin, 4, MPI_DOUBLE, result, 4, MPI_DOUBLE, right, 2, 4, MPI_DOUBLE,
                       MPI_SUM, win);
    MPI_Win_fence(0, win);
    say("get-accumulate", result, N);
    say_window("get-accumulate-window", window, N);

    MPI_Get_accumulate(NULL, 0, MPI_DOUBLE, result, 4, MPI_DOUBLE, left, 0, 4, MPI_DOUBLE,
                       MPI_NO_OP, win);
    MPI_Win_fence(0, win);
    say("get-accumulate-no-op", result, N);

    MPI_Fetch_and_op(origin, result, MPI_DOUBLE, right, 1, MPI_SUM, win);
    MPI_Win_fence(0, win);
    say("fetch-and-op", result, N);

    double *compare = filled(1, 100.0 * right + 3); /* window[3] of right, before this round */
    MPI_Compare_and_swap(origin, compare, result, MPI_INT64_T, right, 3, win); /* bits */
    MPI_Win_fence(0, win);
    say("compare-and-swap", result, N);
    say_window("compare-and-swap-window", window, N);

    /* MPI_BOTTOM: a struct of two absolute addresses inside origin */
    MPI_Aint at[2];
    MPI_Get_address(origin + 1, &at[0]);
    MPI_Get_address(origin + 5, &at[1]);
    int lengths[2] = {2, 3};
    MPI_Datatype doubles[2] = {MPI_DOUBLE, MPI_DOUBLE}, absolute;
    MPI_Type_create_struct(2, lengths, at, doubles, &absolute);
    MPI_Type_commit(&absolute);
    MPI_Put(MPI_BOTTOM, 1, absolute, right, 8, 5, MPI_DOUBLE, win);
    MPI_Win_fence(0, win);
    say_window("put-bottom", window, N);
    MPI_Win_fence(0, win);

    /* passive target */
    fill_values(result, N, -3.0);
    MPI_Win_lock(MPI_LOCK_SHARED, left, 0, win);
    MPI_Get(result, N, MPI_DOUBLE, left, 0, N, MPI_DOUBLE, win);
    MPI_Win_unlock(left, win);
    say("get-lock", result, N);
    MPI_Barrier(MPI_COMM_WORLD);

    reset(window, win);
    MPI_Win_lock_all(0, win);
    MPI_Put(origin, 2, MPI_DOUBLE, right, rank % 2 ? 4 : 6, 2, MPI_DOUBLE, win);
    MPI_Win_flush(right, win);
    MPI_Win_unlock_all(win);
    MPI_Barrier(MPI_COMM_WORLD);
    say_window("put-flush", window, N);

    MPI_Win_lock_all(0, win);
    fill_values(result, N, -4.0);
    MPI_Get(result, N, MPI_DOUBLE, left, 0, N, MPI_DOUBLE, win);
    MPI_Win_flush_local_all(win);
    say("get-flush-local-all", result, N);
    MPI_Win_unlock_all(win);
    MPI_Barrier(MPI_COMM_WORLD);

    /* request forms */
    MPI_Request requests[3];
    MPI_Win_lock_all(0, win);
    fill_values(result, N, -5.0);
    MPI_Rget(result, N, MPI_DOUBLE, left, 0, N, MPI_DOUBLE, win, &requests[0]);
    MPI_Wait(&requests[0], MPI_STATUS_IGNORE);
    say("rget", result, N);
    MPI_Win_unlock_all(win);
    MPI_Barrier(MPI_COMM_WORLD);
    MPI_Win_lock_all(0, win);
    MPI_Rput(origin, 2, MPI_DOUBLE, right, 0, 2, MPI_DOUBLE, win, &requests[0]);
    MPI_Raccumulate(origin, 2, MPI_DOUBLE, right, 10, 2, MPI_DOUBLE, MPI_SUM, win, &requests[1]);
    MPI_Waitall(2, requests, MPI_STATUSES_IGNORE);
    MPI_Win_unlock_all(win);
    MPI_Barrier(MPI_COMM_WORLD);
    say_window("rput-raccumulate", window, N);
    MPI_Win_lock_all(0, win);
    MPI_Rget_accumulate(origin, 2, MPI_DOUBLE, result, 2, MPI_DOUBLE, right, 12, 2, MPI_DOUBLE,
                        MPI_SUM, win, &requests[2]);
    MPI_Wait(&requests[2], MPI_STATUS_IGNORE);
    say("rget-accumulate", result, N);
    MPI_Win_unlock_all(win);
    MPI_Barrier(MPI_COMM_WORLD);
    say_window("rget-accumulate-window", window, N);

    /* general active target */
    MPI_Group world, peers;
    MPI_Comm_group(MPI_COMM_WORLD, &world);
    int ends[2] = {left, right};
    MPI_Group_incl(world, left == right ? 1 : 2, ends, &peers);
    fill_values(result, N, -6.0);
    MPI_Win_post(peers, 0, win);
    MPI_Win_start(peers, 0, win);
    MPI_Get(result, N, MPI_DOUBLE, left, 0, N, MPI_DOUBLE, win);
    MPI_Win_complete(win);
    say("get-pscw", result, N);
    MPI_Win_wait(win);
    MPI_Group_free(&peers);
    MPI_Group_free(&world);
    MPI_Win_free(&win);

    /* a window of MPI_Win_create on host memory */
    double *mine = malloc(N * sizeof(double));
    for (int i = 0; i < N; ++i)
        mine[i] = -7.0 * rank - i;
    MPI_Win_create(mine, N * sizeof(double), sizeof(double), MPI_INFO_NULL, MPI_COMM_WORLD, &win);
    MPI_Win_fence(0, win);
    MPI_Put(origin, 3, MPI_DOUBLE, right, 1, 3, MPI_DOUBLE, win);
    MPI_Win_fence(0, win);
    fill_values(result, N, -8.0);
    MPI_Get(result, 4, MPI_DOUBLE, left, 0, 4, MPI_DOUBLE, win);
    MPI_Win_fence(0, win);
    say("win-create-get", result, N);
    say_window("win-create", mine, N);
    MPI_Win_free(&win);
    free(mine);

    MPI_Type_free(&vec);
    MPI_Type_free(&absolute);
    say_staged();
    devmem_free(origin);
    devmem_free(result);
    devmem_free(compare);
    MPI_Finalize();
    return 0;
}
