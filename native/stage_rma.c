/* Device staging for one-sided communication and split-collective file I/O, and the memory
 * tempi cannot stage.
 *
 * A blocking RMA call (MPI_Put, MPI_Get, MPI_Accumulate, MPI_Get_accumulate,
 * MPI_Fetch_and_op, MPI_Compare_and_swap) only starts its operation: the origin buffer may
 * be reused, and a result read, only after the synchronising call that completes it. So a
 * staged call's host copies are kept in a per-window list with the target rank
 * (tempi_i_stage_epoch) until MPI_Win_fence, MPI_Win_unlock(_all), MPI_Win_flush(_local)
 * (_all) or MPI_Win_complete completes them (tempi_i_epoch_done): what the operation wrote
 * (a Get's origin, a result buffer) is copied back then, and the copies released.
 * MPI_Win_wait and MPI_Win_test end an exposure epoch, which completes none of this
 * process's own operations, so they leave the list alone.
 *
 * Window memory itself (MPI_Win_create, MPI_Win_attach) is read and written by the MPI at
 * any time, by other processes: it cannot be staged. Device memory there (and a buffered
 * mode buffer, MPI_Buffer_attach and its MPI-4.1 per-communicator and per-session forms,
 * which the MPI copies every MPI_Bsend into) is refused with an error of class
 * MPI_ERR_BUFFER whose string says why, instead of letting the MPI read device memory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include "internal.h"

typedef struct tempi_i_epoch_op {
    struct tempi_i_epoch_op *next;
    MPI_Win win;
    int rank;
    tempi_i_stage_t stage;
} tempi_i_epoch_op_t;

static tempi_i_epoch_op_t *tempi_i_epoch_ops = NULL;
static int tempi_i_epoch_live = 0; /* read without the lock: the sync calls' fast path */

int tempi_i_stage_epoch(tempi_i_stage_t *stage, int err, MPI_Win win, int rank)
{
    tempi_i_count_staged(stage, 0);
    if (err != MPI_SUCCESS || stage->n == 0) {
        tempi_i_stage_release(stage);
        return err;
    }
    tempi_i_epoch_op_t *op = malloc(sizeof *op);
    if (op == NULL) { /* cannot keep the copies: complete the operation here */
        PMPI_Win_flush_local(rank, win);
        tempi_i_stage_out(stage, err);
        tempi_i_stage_release(stage);
        return err;
    }
    op->win = win;
    op->rank = rank;
    op->stage = *stage;
    tempi_i_lock();
    op->next = tempi_i_epoch_ops;
    tempi_i_epoch_ops = op;
    __atomic_store_n(&tempi_i_epoch_live, tempi_i_epoch_live + 1, __ATOMIC_RELAXED);
    tempi_i_unlock();
    return err;
}

/* The window's operations to `rank` (every rank: -1) out of the list, copied back when
 * `copy` (the synchronisation succeeded) and released. */
static void tempi_i_epoch_take(MPI_Win win, int rank, int copy)
{
    if (__atomic_load_n(&tempi_i_epoch_live, __ATOMIC_RELAXED) == 0)
        return;
    tempi_i_epoch_op_t *done = NULL;
    tempi_i_lock();
    for (tempi_i_epoch_op_t **at = &tempi_i_epoch_ops; *at != NULL;) {
        tempi_i_epoch_op_t *op = *at;
        if (op->win == win && (rank < 0 || op->rank == rank)) {
            *at = op->next;
            op->next = done;
            done = op;
            __atomic_store_n(&tempi_i_epoch_live, tempi_i_epoch_live - 1, __ATOMIC_RELAXED);
        } else {
            at = &op->next;
        }
    }
    tempi_i_unlock();
    while (done != NULL) {
        tempi_i_epoch_op_t *op = done;
        done = op->next;
        if (copy)
            tempi_i_stage_out(&op->stage, MPI_SUCCESS);
        tempi_i_stage_release(&op->stage);
        free(op);
    }
}

void tempi_i_epoch_done(MPI_Win win, int rank, int err)
{
    if (err == MPI_SUCCESS)
        tempi_i_epoch_take(win, rank, 1);
}

int tempi_i_win_free(MPI_Win *win)
{
    MPI_Win freed = *win;
    int err = PMPI_Win_free(win);
    if (err == MPI_SUCCESS) /* every epoch is closed by now: nothing left to copy back */
        tempi_i_epoch_take(freed, -1, 0);
    return err;
}

/* ---- what cannot be staged ----------------------------------------------------------- */

static const char *const tempi_i_refusals[] = {
    "tempi: window memory (MPI_Win_create, MPI_Win_attach) in device memory cannot be "
    "staged and this MPI cannot read device memory; allocate the window in host memory "
    "(MPI_Win_allocate) or use a CUDA-aware MPI",
    "tempi: a buffered-mode buffer (MPI_Buffer_attach, MPI_Comm_attach_buffer, "
    "MPI_Session_attach_buffer) in device memory cannot be staged "
    "(the MPI copies every MPI_Bsend into it) and this MPI cannot read device memory; "
    "attach host memory",
};

int tempi_i_refused_code(int what)
{
    static int codes[2] = {0, 0};
    static int said[2] = {0, 0};
    tempi_i_lock();
    if (codes[what] == 0) {
        int code = MPI_ERR_BUFFER;
        if (PMPI_Add_error_code(MPI_ERR_BUFFER, &code) == MPI_SUCCESS)
            PMPI_Add_error_string(code, tempi_i_refusals[what]);
        else
            code = MPI_ERR_BUFFER;
        codes[what] = code;
    }
    int code = codes[what], say = !said[what];
    said[what] = 1;
    tempi_i_unlock();
    if (say)
        fprintf(stderr, "%s\n", tempi_i_refusals[what]);
    return code;
}

int tempi_i_refuses(const void *buf, MPI_Datatype datatype)
{
    if (buf == NULL || tempi_i_bypass())
        return 0;
    return tempi_i_data_on_device(buf, datatype) && tempi_i_ready() && tempi_i_stage_device;
}

int tempi_i_refuses_attach(const void *buffer)
{
#ifdef MPI_BUFFER_AUTOMATIC
    if (buffer == MPI_BUFFER_AUTOMATIC) /* MPI-4.1: the MPI's own buffering, no memory */
        return 0;
#endif
    tempi_i_find_cuda(); /* not a fast path: a driver loaded since the last look is seen */
    return tempi_i_refuses(buffer, MPI_BYTE);
}

int tempi_i_window_refused(const void *base, MPI_Comm comm)
{
    if (tempi_i_bypass())
        return MPI_SUCCESS;
    tempi_i_find_cuda(); /* not a fast path: a driver loaded since the last look is seen */
    if (comm == MPI_COMM_NULL) /* MPI_Win_attach: this process's memory alone */
        return tempi_i_refuses(base, MPI_BYTE)
                   ? tempi_i_refused_code(TEMPI_I_REFUSED_WINDOW)
                   : MPI_SUCCESS;
    /* collective: every rank fails, or none waits in the system MPI for the others (one
     * small MPI_Allreduce per window; MPI_Win_create is not a fast path) */
    int mine = tempi_i_refuses(base, MPI_BYTE), any = mine;
    int inside = tempi_i_inside;
    tempi_i_inside = 1;
    PMPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, comm);
    tempi_i_inside = inside;
    return any ? tempi_i_refused_code(TEMPI_I_REFUSED_WINDOW) : MPI_SUCCESS;
}

/* ---- split-collective file I/O: the copy lives from _begin to _end ------------------- */

/* MPI_File_{read,write}{_all,_at_all,_ordered}_begin only starts the operation: its buffer
 * is the MPI's until the matching _end, and MPI allows one active split collective per
 * file handle. So a staged _begin's host copy is kept with the handle (tempi_i_stage_split)
 * and the _end hands the MPI that copy (tempi_i_split_take), then copies a read back. */
typedef struct tempi_i_split_op {
    struct tempi_i_split_op *next;
    MPI_File fh;
    void *held; /* the pointer the MPI was given */
    tempi_i_stage_t stage;
} tempi_i_split_op_t;

static tempi_i_split_op_t *tempi_i_split_ops = NULL;
static int tempi_i_split_live = 0; /* read without the lock: the _end calls' fast path */

static int tempi_i_split_failures = 0; /* tempi_test_fail_split_nodes: nodes to refuse */

void tempi_test_fail_split_nodes(int n)
{
    __atomic_store_n(&tempi_i_split_failures, n, __ATOMIC_RELAXED);
}

/* The node is taken before the MPI's _begin holds the copy: without one, the copy could
 * be neither kept nor freed. */
void *tempi_i_split_node(tempi_i_stage_t *stage)
{
    tempi_i_split_op_t *op = NULL;
    if (__atomic_load_n(&tempi_i_split_failures, __ATOMIC_RELAXED) > 0)
        __atomic_fetch_sub(&tempi_i_split_failures, 1, __ATOMIC_RELAXED);
    else if (!stage->failed)
        op = malloc(sizeof *op);
    if (op == NULL)
        tempi_i_stage_release(stage);
    return op;
}

int tempi_i_stage_split(void *node, tempi_i_stage_t *stage, int err, MPI_File fh, void *held)
{
    tempi_i_count_staged(stage, 0);
    tempi_i_split_op_t *op = node;
    if (err != MPI_SUCCESS || stage->n == 0) {
        free(op);
        tempi_i_stage_release(stage);
        return err;
    }
    op->fh = fh;
    op->held = held;
    op->stage = *stage;
    tempi_i_lock();
    op->next = tempi_i_split_ops;
    tempi_i_split_ops = op;
    __atomic_store_n(&tempi_i_split_live, tempi_i_split_live + 1, __ATOMIC_RELAXED);
    tempi_i_unlock();
    return err;
}

int tempi_i_split_take(MPI_File fh, tempi_i_stage_t *stage, void **held)
{
    if (__atomic_load_n(&tempi_i_split_live, __ATOMIC_RELAXED) == 0)
        return 0;
    tempi_i_split_op_t *found = NULL;
    tempi_i_lock();
    for (tempi_i_split_op_t **at = &tempi_i_split_ops; *at != NULL; at = &(*at)->next) {
        if ((*at)->fh == fh) {
            found = *at;
            *at = found->next;
            __atomic_store_n(&tempi_i_split_live, tempi_i_split_live - 1, __ATOMIC_RELAXED);
            break;
        }
    }
    tempi_i_unlock();
    if (found == NULL)
        return 0;
    *stage = found->stage;
    *held = found->held;
    free(found);
    return 1;
}
