/* The C engine for device memory (issue 14, engine.h): device plans made once by Python
 * (tempi/shim/plans.py, make_device) run here with the CUDA driver, never entering Python.
 *
 * The driver is reached through dlsym on the libcuda.so.1 the application has already
 * loaded (as memkind.c does): tempi never links it, never loads it, and declares the few
 * types and prototypes it uses itself, so the shim builds without CUDA headers.
 *
 * A plan names the CUfunction of the pack kernel CuPy compiled (tempi/pack/cuda.py), its
 * argument struct, grid and block, and the strategy: device (pack into device staging,
 * which a CUDA-aware MPI reads), oneshot (pack straight into mapped pinned host memory)
 * or staged (pack into device staging, then cuMemcpyAsync to pinned host memory); or
 * system (the pick says the CUDA-aware MPI's own path is faster: the user's device buffer
 * and datatype go to PMPI_* through engine_system.c, nothing packed). Kernels
 * go on the legacy default stream, as CuPy's current stream is by default (the Python
 * path's stream). Each operation slot keeps its device staging, pinned buffer and CUDA
 * event, grown as needed and kept for the next operation: the pools are the slots.
 *
 * Sends without per-message waits: MPI_Isend (and MPI_Start of a persistent send)
 * launches the pack, records an event and returns; the PMPI_Isend of the packed bytes is
 * posted when the event has completed, seen by the progress step (tempi_i_progress,
 * internal.h) that every intercepted call and every completion call runs; blocking calls
 * wait for the pending packs first, so a program that relies on MPI's progress rules
 * (Isend then a blocking plain MPI_Recv, ...) cannot deadlock on a send tempi holds.
 * Receives post PMPI_Irecv into staging at once; the progress step launches the unpack
 * when the data is there, and the request completes when the unpack has.
 *
 * Ids: TEMPI_I_DEVICE_IDS + slot (engine.h), above the host engine's. Every state change
 * of an operation happens under one mutex (taken only under MPI_THREAD_MULTIPLE), never
 * held across a blocking MPI call: a thread waiting in PMPI_Wait on an operation marks it
 * owned, and the progress step leaves owned operations alone. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include "engine.h"
#include "engine_system.h" /* tempi_i_pmpi_send, _isend: the switch over send modes */
#include "internal.h"
#include "plan_gen.h"

/* ---- the CUDA driver, declared here (cuda.h is not needed to build) ------------------ */

typedef int tempi_cu_result; /* CUresult: 0 success */
typedef unsigned long long tempi_cu_ptr;
#define TEMPI_CU_NOT_READY 600
#define TEMPI_CU_EVENT_DISABLE_TIMING 0x2
#define TEMPI_CU_MEMHOSTALLOC_PORTABLE 0x1
#define TEMPI_CU_MEMHOSTALLOC_DEVICEMAP 0x2

static struct {
    int state; /* 0 untried, 1 ready, -1 no driver or a symbol missing */
    tempi_cu_result (*launch)(void *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx,
                              unsigned by, unsigned bz, unsigned shared, void *stream,
                              void **params, void **extra);
    tempi_cu_result (*event_create)(void **event, unsigned flags);
    tempi_cu_result (*event_record)(void *event, void *stream);
    tempi_cu_result (*event_query)(void *event);
    tempi_cu_result (*event_sync)(void *event);
    tempi_cu_result (*mem_alloc)(tempi_cu_ptr *ptr, size_t n);
    tempi_cu_result (*mem_free)(tempi_cu_ptr ptr);
    tempi_cu_result (*host_alloc)(void **ptr, size_t n, unsigned flags);
    tempi_cu_result (*host_free)(void *ptr);
    tempi_cu_result (*copy)(tempi_cu_ptr dst, tempi_cu_ptr src, size_t n, void *stream);
    tempi_cu_result (*ctx_current)(void **ctx);
} tempi_i_cu;

static pthread_mutex_t tempi_i_cu_once = PTHREAD_MUTEX_INITIALIZER;

/* Whether the device engine can run here: the application has loaded the CUDA driver and
 * it has every symbol. Looked up once. */
int tempi_i_device_engine_ready(void)
{
    int state = __atomic_load_n(&tempi_i_cu.state, __ATOMIC_ACQUIRE);
    if (state != 0)
        return state > 0;
    pthread_mutex_lock(&tempi_i_cu_once);
    if (tempi_i_cu.state == 0) {
        void *cuda = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
        int ok = cuda != NULL;
#define TEMPI_I_CU_SYM(field, name)                                                    \
    if (ok) {                                                                          \
        *(void **)&tempi_i_cu.field = dlsym(cuda, name);                               \
        ok = tempi_i_cu.field != NULL;                                                 \
    }
        TEMPI_I_CU_SYM(launch, "cuLaunchKernel");
        TEMPI_I_CU_SYM(event_create, "cuEventCreate");
        TEMPI_I_CU_SYM(event_record, "cuEventRecord");
        TEMPI_I_CU_SYM(event_query, "cuEventQuery");
        TEMPI_I_CU_SYM(event_sync, "cuEventSynchronize");
        TEMPI_I_CU_SYM(mem_alloc, "cuMemAlloc_v2");
        TEMPI_I_CU_SYM(mem_free, "cuMemFree_v2");
        TEMPI_I_CU_SYM(host_alloc, "cuMemHostAlloc");
        TEMPI_I_CU_SYM(host_free, "cuMemFreeHost");
        TEMPI_I_CU_SYM(copy, "cuMemcpyAsync");
        TEMPI_I_CU_SYM(ctx_current, "cuCtxGetCurrent");
#undef TEMPI_I_CU_SYM
        __atomic_store_n(&tempi_i_cu.state, ok ? 1 : -1, __ATOMIC_RELEASE);
    }
    pthread_mutex_unlock(&tempi_i_cu_once);
    return tempi_i_cu.state > 0;
}

/* A context is current on this thread (CuPy's primary context, made current by the
 * runtime on the application's thread): without one the Python path runs the message. */
static int tempi_i_cu_context(void)
{
    void *ctx = NULL;
    return tempi_i_cu.ctx_current(&ctx) == 0 && ctx != NULL;
}

/* One launch of the plan's kernel: typed <-> packed (unpack 0: pack). */
static tempi_cu_result tempi_i_cu_kernel(const struct tempi_plan *plan, const void *typed,
                                         const void *packed, int unpack)
{
    unsigned long long t = (uintptr_t)typed, p = (uintptr_t)packed;
    int u = unpack;
    void *params[4] = {&t, &p, &u, (void *)plan->kargs};
    return tempi_i_cu.launch((void *)plan->function, (unsigned)plan->grid_x,
                             (unsigned)plan->grid_y, (unsigned)plan->grid_z,
                             (unsigned)plan->block_x, (unsigned)plan->block_y,
                             (unsigned)plan->block_z, 0, NULL, params, NULL);
}

static tempi_cu_result tempi_i_cu_copy(const void *dst, const void *src, size_t n)
{
    return n == 0 ? 0
                  : tempi_i_cu.copy((tempi_cu_ptr)(uintptr_t)dst, (tempi_cu_ptr)(uintptr_t)src,
                                    n, NULL);
}

/* ---- operations ------------------------------------------------------------------------ */

enum { TEMPI_D_IDLE, TEMPI_D_PACKING, TEMPI_D_POSTED, TEMPI_D_UNPACKING, TEMPI_D_DONE };

struct tempi_i_dop {
    int used, recv, persistent, mode, peer, tag;
    int state;
    int owned;     /* a thread waits on it in MPI: the progress step leaves it alone */
    int listed;    /* on the pending list */
    int detached;  /* freed by the application while in flight */
    int cancelled; /* cancelled before the send reached MPI */
    int err;       /* an MPI error code the operation ended with */
    MPI_Comm comm;
    MPI_Request request; /* the system MPI's */
    MPI_Status status;
    void *buf;
    struct tempi_plan plan;
    void *dev, *host, *scratch; /* kept with the slot, grown as needed */
    size_t dev_b, host_b, scratch_b;
    void *event;
};

static struct tempi_i_dop tempi_i_dops[TEMPI_I_ENGINE_SLOTS];
static int tempi_i_dops_next = 0;
static int tempi_i_dops_free[TEMPI_I_ENGINE_SLOTS];
static int tempi_i_dops_nfree = 0;
static int tempi_i_dpending[TEMPI_I_ENGINE_SLOTS]; /* slots on the pending list */
static int tempi_i_dnpending = 0;
static pthread_mutex_t tempi_i_dlock = PTHREAD_MUTEX_INITIALIZER;
static long tempi_i_druns[4]; /* messages run, by strategy (device, oneshot, staged), and
                                * (3) MPI_Pack/MPI_Unpack calls run */

int tempi_i_pending = 0; /* internal.h: operations the progress step has work for */

static void tempi_i_dtake(void)
{
    if (tempi_i_threaded)
        pthread_mutex_lock(&tempi_i_dlock);
}

static void tempi_i_dgive(void)
{
    if (tempi_i_threaded)
        pthread_mutex_unlock(&tempi_i_dlock);
}

long tempi_i_device_runs(int strategy)
{
    return strategy >= 0 && strategy < 4 ? __atomic_load_n(&tempi_i_druns[strategy],
                                                           __ATOMIC_RELAXED)
                                         : 0;
}

int tempi_i_device_id(int id)
{
    return id >= TEMPI_I_DEVICE_IDS && id < TEMPI_I_DEVICE_IDS + TEMPI_I_ENGINE_SLOTS;
}

static struct tempi_i_dop *tempi_i_dop_of(int id)
{
    return &tempi_i_dops[id - TEMPI_I_DEVICE_IDS];
}

static void tempi_i_dcount(const struct tempi_plan *plan)
{
    if (plan->strategy >= 0 && plan->strategy < 3)
        __atomic_fetch_add(&tempi_i_druns[plan->strategy], 1, __ATOMIC_RELAXED);
}

/* Grow one of the slot's buffers to n bytes (device or mapped pinned host memory). */
static int tempi_i_dgrow(void **ptr, size_t *have, size_t n, int pinned)
{
    if (n == 0 || *have >= n)
        return 1;
    void *fresh = NULL;
    if (pinned) {
        if (tempi_i_cu.host_alloc(&fresh, n,
                                  TEMPI_CU_MEMHOSTALLOC_PORTABLE |
                                      TEMPI_CU_MEMHOSTALLOC_DEVICEMAP) != 0)
            return 0;
        if (*ptr != NULL)
            tempi_i_cu.host_free(*ptr);
    } else {
        tempi_cu_ptr d = 0;
        if (tempi_i_cu.mem_alloc(&d, n) != 0)
            return 0;
        fresh = (void *)(uintptr_t)d;
        if (*ptr != NULL)
            tempi_i_cu.mem_free((tempi_cu_ptr)(uintptr_t)*ptr);
    }
    *ptr = fresh, *have = n;
    return 1;
}

/* A slot with the plan's buffers and an event, or -1. */
static int tempi_i_dop_new(const struct tempi_plan *plan)
{
    int s = -1;
    tempi_i_dtake();
    if (tempi_i_dops_nfree > 0)
        s = tempi_i_dops_free[--tempi_i_dops_nfree];
    else if (tempi_i_dops_next < TEMPI_I_ENGINE_SLOTS)
        s = tempi_i_dops_next++;
    tempi_i_dgive();
    if (s < 0)
        return -1;
    struct tempi_i_dop *op = &tempi_i_dops[s];
    int ok = tempi_i_dgrow(&op->dev, &op->dev_b, (size_t)plan->stage_device_b, 0) &&
             tempi_i_dgrow(&op->host, &op->host_b, (size_t)plan->stage_host_b, 1) &&
             (op->event != NULL ||
              tempi_i_cu.event_create(&op->event, TEMPI_CU_EVENT_DISABLE_TIMING) == 0);
    if (!ok) {
        tempi_i_dtake();
        tempi_i_dops_free[tempi_i_dops_nfree++] = s;
        tempi_i_dgive();
        return -1;
    }
    op->used = 1, op->plan = *plan, op->state = TEMPI_D_IDLE;
    op->recv = op->persistent = op->mode = 0;
    op->owned = op->listed = op->detached = op->cancelled = 0, op->err = MPI_SUCCESS;
    op->request = MPI_REQUEST_NULL;
    return s;
}

static void tempi_i_dop_release(struct tempi_i_dop *op)
{
    if (op->request != MPI_REQUEST_NULL) /* an inactive persistent request of the MPI */
        PMPI_Request_free(&op->request);
    op->used = 0;
    tempi_i_dops_free[tempi_i_dops_nfree++] = (int)(op - tempi_i_dops);
}

/* The bytes MPI sends or receives: device staging (strategy device), else pinned. */
static void *tempi_i_dwire(const struct tempi_i_dop *op)
{
    return op->plan.strategy == 0 ? op->dev : op->host;
}

/* Launch the pack of op's buffer into its wire and record the event. */
static tempi_cu_result tempi_i_dpack(struct tempi_i_dop *op)
{
    const struct tempi_plan *plan = &op->plan;
    tempi_cu_result r;
    if (plan->strategy == 1) { /* oneshot: the kernel writes through the mapping */
        r = tempi_i_cu_kernel(plan, op->buf, op->host, 0);
    } else {
        r = tempi_i_cu_kernel(plan, op->buf, op->dev, 0);
        if (r == 0 && plan->strategy == 2)
            r = tempi_i_cu_copy(op->host, op->dev, (size_t)plan->nbytes);
    }
    return r == 0 ? tempi_i_cu.event_record(op->event, NULL) : r;
}

/* Launch the unpack of got received bytes and record the event. A shorter message fills
 * the first got bytes of the typemap and leaves the rest: the rest of the packed bytes is
 * first filled with the buffer's own (a pack into scratch), as the host engine does. */
static tempi_cu_result tempi_i_dunpack(struct tempi_i_dop *op, int got)
{
    const struct tempi_plan *plan = &op->plan;
    char *src = tempi_i_dwire(op);
    tempi_cu_result r = 0;
    if (plan->strategy == 2) { /* staged: to the device first */
        r = tempi_i_cu_copy(op->dev, op->host, (size_t)got);
        src = op->dev;
    }
    if (r == 0 && got < plan->nbytes) {
        if (!tempi_i_dgrow(&op->scratch, &op->scratch_b, (size_t)plan->nbytes, 0))
            return -1;
        r = tempi_i_cu_kernel(plan, op->buf, op->scratch, 0);
        if (r == 0)
            r = tempi_i_cu_copy(src + got, (char *)op->scratch + got,
                                (size_t)(plan->nbytes - got));
    }
    if (r == 0 && got > 0)
        r = tempi_i_cu_kernel(plan, op->buf, src, 1);
    return r == 0 ? tempi_i_cu.event_record(op->event, NULL) : r;
}

/* Post the packed send to MPI. */
static int tempi_i_dpost(struct tempi_i_dop *op)
{
    void *wire = tempi_i_dwire(op);
    int n = (int)op->plan.nbytes, err;
    if (op->persistent)
        err = PMPI_Start(&op->request);
    else
        err = tempi_i_pmpi_isend(wire, n, MPI_PACKED, op->peer, op->tag, op->comm, op->mode, 0,
                                 &op->request);
    return err;
}

static void tempi_i_dlist(struct tempi_i_dop *op)
{
    if (op->listed)
        return;
    op->listed = 1;
    tempi_i_dpending[tempi_i_dnpending++] = (int)(op - tempi_i_dops);
    __atomic_fetch_add(&tempi_i_pending, 1, __ATOMIC_RELAXED);
}

static void tempi_i_dunlist(struct tempi_i_dop *op)
{
    if (!op->listed)
        return;
    int s = (int)(op - tempi_i_dops);
    for (int k = 0; k < tempi_i_dnpending; ++k)
        if (tempi_i_dpending[k] == s) {
            tempi_i_dpending[k] = tempi_i_dpending[--tempi_i_dnpending];
            break;
        }
    op->listed = 0;
    __atomic_fetch_sub(&tempi_i_pending, 1, __ATOMIC_RELAXED);
}

/* The operation has ended with an MPI error. */
static void tempi_i_dfail(struct tempi_i_dop *op, int err)
{
    op->err = err, op->state = TEMPI_D_DONE;
    if (!op->persistent)
        op->request = MPI_REQUEST_NULL; /* the MPI freed it */
}

/* The MPI part of a receive completed with st: launch the unpack. */
static void tempi_i_dreceived(struct tempi_i_dop *op, const MPI_Status *st)
{
    int cancelled = 0, got = 0;
    op->status = *st;
    PMPI_Test_cancelled(st, &cancelled);
    if (cancelled) {
        op->state = TEMPI_D_DONE;
        return;
    }
    PMPI_Get_count(st, MPI_BYTE, &got);
    if (tempi_i_dunpack(op, got) != 0) {
        tempi_i_dfail(op, MPI_ERR_OTHER);
        return;
    }
    op->state = TEMPI_D_UNPACKING;
}

/* One step of op (the lock held): as far as it goes without waiting, or, blocking, with
 * the waits that cannot deadlock (a pack's or an unpack's event, never MPI). */
static void tempi_i_dadvance(struct tempi_i_dop *op, int blocking)
{
    if (op->state == TEMPI_D_PACKING) {
        tempi_cu_result r = blocking ? tempi_i_cu.event_sync(op->event)
                                     : tempi_i_cu.event_query(op->event);
        if (r == TEMPI_CU_NOT_READY)
            return;
        if (r != 0) {
            tempi_i_dfail(op, MPI_ERR_OTHER);
            return;
        }
        int err = tempi_i_dpost(op);
        if (err != MPI_SUCCESS) {
            tempi_i_dfail(op, err);
            return;
        }
        op->state = TEMPI_D_POSTED;
        tempi_i_dcount(&op->plan);
    }
    if (op->state == TEMPI_D_POSTED && !op->owned && (op->recv || op->detached)) {
        int flag = 0;
        MPI_Status st;
        int err = PMPI_Test(&op->request, &flag, &st);
        if (err != MPI_SUCCESS)
            tempi_i_dfail(op, err);
        else if (flag && op->recv)
            tempi_i_dreceived(op, &st);
        else if (flag)
            op->status = st, op->state = TEMPI_D_DONE;
    }
    if (op->state == TEMPI_D_UNPACKING) {
        tempi_cu_result r = blocking ? tempi_i_cu.event_sync(op->event)
                                     : tempi_i_cu.event_query(op->event);
        if (r == 0)
            op->state = TEMPI_D_DONE;
        else if (r != TEMPI_CU_NOT_READY)
            tempi_i_dfail(op, MPI_ERR_OTHER);
    }
}

/* Whether the progress step still has work for op. */
static int tempi_i_dneeds(const struct tempi_i_dop *op)
{
    if (op->detached)
        return 1;
    return op->state == TEMPI_D_PACKING || op->state == TEMPI_D_UNPACKING ||
           (op->state == TEMPI_D_POSTED && op->recv);
}

/* The device part of the progress step. */
void tempi_i_device_progress(int blocking)
{
    tempi_i_dtake();
    for (int k = 0; k < tempi_i_dnpending;) {
        struct tempi_i_dop *op = &tempi_i_dops[tempi_i_dpending[k]];
        if (!op->owned)
            tempi_i_dadvance(op, blocking);
        if (op->detached && op->state == TEMPI_D_DONE) {
            tempi_i_dunlist(op);
            tempi_i_dop_release(op); /* (an inactive persistent request is freed) */
            continue; /* the list's slot k now holds another */
        }
        if (!tempi_i_dneeds(op)) {
            tempi_i_dunlist(op);
            continue;
        }
        ++k;
    }
    tempi_i_dgive();
}

/* ---- the engine's entry points for device buffers (engine.c calls them) ---------------- */

/* Whether the plan's kernel can run on buf (aligned to its word; else Python's word). */
static int tempi_i_daligned(const void *buf, const struct tempi_plan *plan)
{
    return ((uintptr_t)buf & (uintptr_t)(plan->word_b - 1)) == 0;
}

/* The device plan of the message in *plan: 1 if the engine runs it (a plan of strategy
 * system on any buffer: nothing is packed; else one the kernel can run on buf), 0 if not. */
static int tempi_i_dplan(const void *buf, int64_t count, MPI_Datatype datatype, MPI_Comm comm,
                         int peer, struct tempi_plan *plan)
{
    if (!tempi_i_device_engine_ready() || !tempi_i_cu_context())
        return 0;
    if (!tempi_i_plan_for_device(datatype, count, comm, peer, plan))
        return 0;
    return plan->strategy == TEMPI_I_PLAN_SYSTEM || tempi_i_daligned(buf, plan);
}

/* A plan of strategy "system" (tempi/shim/plans.py, device_plan): the pick says the
 * CUDA-aware MPI moves this message faster itself, so the user's device buffer and
 * datatype go to PMPI_* as they are (engine_system.c: no pack, no staging, counted as
 * passed_through, as a device message Python's path hands the MPI is), with the same
 * results as plain MPI. Python makes such plans only for an MPI that reads device memory;
 * while the interposer stages device buffers for the MPI (tempi_i_stage_device) they are
 * not run here either (TEMPI_I_PASS: Python's path). */
static int tempi_i_dsystem(const struct tempi_plan *plan)
{
    return plan->strategy == TEMPI_I_PLAN_SYSTEM;
}

int tempi_i_device_send(const void *buf, int64_t count, MPI_Datatype datatype, int dest,
                        int tag, MPI_Comm comm, int mode)
{
    struct tempi_plan plan;
    if (!tempi_i_dplan(buf, count, datatype, comm, dest, &plan))
        return TEMPI_I_PASS;
    if (tempi_i_dsystem(&plan))
        return tempi_i_stage_device
                   ? TEMPI_I_PASS
                   : tempi_i_system_send(buf, count, datatype, dest, tag, comm, mode);
    int s = tempi_i_dop_new(&plan);
    if (s < 0)
        return TEMPI_I_PASS;
    struct tempi_i_dop *op = &tempi_i_dops[s];
    op->buf = (void *)buf;
    if (tempi_i_dpack(op) != 0 || tempi_i_cu.event_sync(op->event) != 0) {
        tempi_i_dtake(), tempi_i_dop_release(op), tempi_i_dgive();
        return TEMPI_I_PASS; /* nothing reached MPI: the Python path says why */
    }
    void *wire = tempi_i_dwire(op);
    int err = tempi_i_pmpi_send(wire, (int)plan.nbytes, MPI_PACKED, dest, tag, comm, mode);
    tempi_i_dcount(&plan);
    tempi_i_dtake(), tempi_i_dop_release(op), tempi_i_dgive();
    return err == MPI_SUCCESS ? TEMPI_I_OK : TEMPI_I_ERROR + err;
}

int tempi_i_device_recv(void *buf, int64_t count, MPI_Datatype datatype, int source, int tag,
                        MPI_Comm comm, MPI_Status *status)
{
    struct tempi_plan plan;
    if (!tempi_i_dplan(buf, count, datatype, comm, source, &plan))
        return TEMPI_I_PASS;
    if (tempi_i_dsystem(&plan))
        return tempi_i_stage_device
                   ? TEMPI_I_PASS
                   : tempi_i_system_recv(buf, count, datatype, source, tag, comm, status);
    int s = tempi_i_dop_new(&plan);
    if (s < 0)
        return TEMPI_I_PASS;
    struct tempi_i_dop *op = &tempi_i_dops[s];
    op->buf = buf, op->recv = 1;
    MPI_Status own;
    MPI_Status *st = status == MPI_STATUS_IGNORE ? &own : status;
    int err = PMPI_Recv(tempi_i_dwire(op), (int)plan.nbytes, MPI_PACKED, source, tag, comm, st);
    tempi_i_dcount(&plan);
    if (err == MPI_SUCCESS) {
        int got = 0;
        PMPI_Get_count(st, MPI_BYTE, &got);
        if (tempi_i_dunpack(op, got) != 0 || tempi_i_cu.event_sync(op->event) != 0)
            err = MPI_ERR_OTHER;
        else
            PMPI_Status_set_elements(st, MPI_BYTE, got);
    }
    tempi_i_dtake(), tempi_i_dop_release(op), tempi_i_dgive();
    return err == MPI_SUCCESS ? TEMPI_I_OK : TEMPI_I_ERROR + err;
}

/* MPI_Pack (to_packed 1) or MPI_Unpack (0) of device data with a plan (engine.h's
 * tempi_i_engine_pack for a device typed buffer): the plan's kernel between the typed
 * buffer and packed_buf + *position when that is device memory aligned to the plan's
 * word, else through the slot's device scratch and one copy (host or unaligned packed
 * bytes); synchronised before it returns, as MPI_Pack is blocking. The plan is the
 * device plan for an unknown peer (its strategy is not used). */
int tempi_i_device_pack(const void *typed_buf, int64_t count, MPI_Datatype datatype,
                        void *packed_buf, int64_t size, int64_t *position, int to_packed)
{
    struct tempi_plan plan;
    if (!tempi_i_dplan(typed_buf, count, datatype, MPI_COMM_SELF, -1, &plan) ||
        !tempi_i_daligned(typed_buf, &plan)) /* (a system plan's kernel too) */
        return TEMPI_I_PASS;
    if (*position < 0 || *position + plan.nbytes > size)
        return TEMPI_I_ERROR + MPI_ERR_TRUNCATE;
    char *packed = (char *)packed_buf + *position;
    size_t n = (size_t)plan.nbytes;
    int direct = ((uintptr_t)packed & (uintptr_t)(plan.word_b - 1)) == 0 &&
                 tempi_i_data_on_device(packed, MPI_BYTE);
    plan.stage_device_b = plan.stage_host_b = 0; /* only the scratch, if any */
    int s = tempi_i_dop_new(&plan);
    if (s < 0)
        return TEMPI_I_PASS;
    struct tempi_i_dop *op = &tempi_i_dops[s];
    char *dense = packed;
    tempi_cu_result r = 0;
    if (!direct) {
        if (!tempi_i_dgrow(&op->scratch, &op->scratch_b, n, 0)) {
            tempi_i_dtake(), tempi_i_dop_release(op), tempi_i_dgive();
            return TEMPI_I_PASS;
        }
        dense = op->scratch;
        if (!to_packed)
            r = tempi_i_cu_copy(dense, packed, n);
    }
    if (r == 0)
        r = tempi_i_cu_kernel(&plan, typed_buf, dense, !to_packed);
    if (r == 0 && !direct && to_packed)
        r = tempi_i_cu_copy(packed, dense, n);
    if (r == 0)
        r = tempi_i_cu.event_record(op->event, NULL);
    if (r == 0)
        r = tempi_i_cu.event_sync(op->event);
    tempi_i_dtake(), tempi_i_dop_release(op), tempi_i_dgive();
    if (r != 0) /* a launch or copy failed before anything was written: Python's path */
        return to_packed ? TEMPI_I_PASS : TEMPI_I_ERROR + MPI_ERR_OTHER;
    *position += plan.nbytes;
    __atomic_fetch_add(&tempi_i_druns[3], 1, __ATOMIC_RELAXED);
    return TEMPI_I_OK;
}

/* MPI_Isend and friends, or the _init forms (persistent). */
int tempi_i_device_isend(const void *buf, int64_t count, MPI_Datatype datatype, int dest,
                         int tag, MPI_Comm comm, int mode, int persistent,
                         MPI_Request *request)
{
    struct tempi_plan plan;
    if (!tempi_i_dplan(buf, count, datatype, comm, dest, &plan))
        return TEMPI_I_PASS;
    if (tempi_i_dsystem(&plan)) /* *request is the MPI's own (persistent: its _init's) */
        return tempi_i_stage_device ? TEMPI_I_PASS
                                    : tempi_i_system_isend(buf, count, datatype, dest, tag,
                                                           comm, mode, persistent, request);
    int s = tempi_i_dop_new(&plan);
    if (s < 0)
        return TEMPI_I_PASS;
    struct tempi_i_dop *op = &tempi_i_dops[s];
    op->buf = (void *)buf, op->recv = 0, op->persistent = persistent, op->mode = mode;
    op->peer = dest, op->tag = tag, op->comm = comm;
    int err = MPI_SUCCESS, n = (int)plan.nbytes;
    void *wire = tempi_i_dwire(op);
    if (persistent) {
        err = tempi_i_pmpi_isend(wire, n, MPI_PACKED, dest, tag, comm, mode, 1, &op->request);
    } else if (tempi_i_dpack(op) != 0) {
        tempi_i_dtake(), tempi_i_dop_release(op), tempi_i_dgive();
        return TEMPI_I_PASS;
    }
    int rc = err == MPI_SUCCESS ? tempi_i_new_handle(request) : TEMPI_I_ERROR + err;
    if (rc != TEMPI_I_OK) {
        if (err == MPI_SUCCESS && !persistent) /* packed, never posted: nothing to undo */
            tempi_i_cu.event_sync(op->event);
        tempi_i_dtake(), tempi_i_dop_release(op), tempi_i_dgive();
        return rc;
    }
    if (!persistent) { /* the progress step posts it when the pack is done */
        tempi_i_dtake();
        op->state = TEMPI_D_PACKING;
        tempi_i_dlist(op);
        if (!TEMPI_ENGINE_DEFER_SENDS)
            tempi_i_dadvance(op, 1); /* a blocking call may not run the step: post now */
        tempi_i_dgive();
    }
    return tempi_i_adopt(TEMPI_I_OK, TEMPI_I_DEVICE_IDS + s, persistent, comm, request);
}

/* MPI_Irecv, or MPI_Recv_init (persistent). */
int tempi_i_device_irecv(void *buf, int64_t count, MPI_Datatype datatype, int source, int tag,
                         MPI_Comm comm, int persistent, MPI_Request *request)
{
    struct tempi_plan plan;
    if (!tempi_i_dplan(buf, count, datatype, comm, source, &plan))
        return TEMPI_I_PASS;
    if (tempi_i_dsystem(&plan))
        return tempi_i_stage_device ? TEMPI_I_PASS
                                    : tempi_i_system_irecv(buf, count, datatype, source, tag,
                                                           comm, persistent, request);
    int s = tempi_i_dop_new(&plan);
    if (s < 0)
        return TEMPI_I_PASS;
    struct tempi_i_dop *op = &tempi_i_dops[s];
    op->buf = buf, op->recv = 1, op->persistent = persistent;
    op->peer = source, op->tag = tag, op->comm = comm;
    int n = (int)plan.nbytes, err;
    void *wire = tempi_i_dwire(op);
    if (persistent)
        err = PMPI_Recv_init(wire, n, MPI_PACKED, source, tag, comm, &op->request);
    else
        err = PMPI_Irecv(wire, n, MPI_PACKED, source, tag, comm, &op->request);
    int rc = err == MPI_SUCCESS ? tempi_i_new_handle(request) : TEMPI_I_ERROR + err;
    if (rc != TEMPI_I_OK) {
        if (err == MPI_SUCCESS && !persistent) {
            PMPI_Cancel(&op->request);
            PMPI_Wait(&op->request, MPI_STATUS_IGNORE);
            op->request = MPI_REQUEST_NULL;
        }
        tempi_i_dtake(), tempi_i_dop_release(op), tempi_i_dgive();
        return rc;
    }
    if (!persistent) {
        tempi_i_dcount(&plan);
        tempi_i_dtake();
        op->state = TEMPI_D_POSTED;
        tempi_i_dlist(op);
        tempi_i_dgive();
    }
    return tempi_i_adopt(TEMPI_I_OK, TEMPI_I_DEVICE_IDS + s, persistent, comm, request);
}

/* ---- completion (engine.c's tempi_i_op_* pass the device ids here) --------------------- */

/* A DONE operation reports as tempi_py_wait does and becomes idle (persistent) or is
 * retired (the lock held). */
static int tempi_i_dfinish(struct tempi_i_dop *op, int *source, int *tag, int64_t *nbytes)
{
    int err = op->err, cancelled = op->cancelled, got = 0;
    if (!cancelled && err == MPI_SUCCESS)
        PMPI_Test_cancelled(&op->status, &cancelled);
    if (cancelled) {
        *nbytes = TEMPI_I_CANCELLED;
    } else if (!op->recv) {
        *nbytes = TEMPI_I_SENT;
    } else if (err == MPI_SUCCESS) {
        PMPI_Get_count(&op->status, MPI_BYTE, &got);
        *source = op->status.MPI_SOURCE, *tag = op->status.MPI_TAG, *nbytes = got;
    }
    tempi_i_dunlist(op);
    op->owned = 0, op->cancelled = 0, op->err = MPI_SUCCESS, op->state = TEMPI_D_IDLE;
    if (!op->persistent)
        tempi_i_dop_release(op);
    return err == MPI_SUCCESS ? TEMPI_I_OK : TEMPI_I_ERROR + err;
}

int tempi_i_device_wait(int id, int *source, int *tag, int64_t *nbytes)
{
    struct tempi_i_dop *op = tempi_i_dop_of(id);
    tempi_i_dtake();
    op->owned = 1;
    tempi_i_dadvance(op, 1); /* a pending send is posted */
    tempi_i_dgive();
    if (op->state == TEMPI_D_POSTED) {
        MPI_Status st;
        int err = PMPI_Wait(&op->request, &st);
        tempi_i_dtake();
        if (err != MPI_SUCCESS)
            tempi_i_dfail(op, err);
        else if (op->recv)
            tempi_i_dreceived(op, &st);
        else
            op->status = st, op->state = TEMPI_D_DONE;
        tempi_i_dgive();
    }
    tempi_i_dtake();
    tempi_i_dadvance(op, 1); /* the unpack's event */
    int rc = tempi_i_dfinish(op, source, tag, nbytes);
    tempi_i_dgive();
    return rc;
}

int tempi_i_device_test(int id, int *flag, int *source, int *tag, int64_t *nbytes)
{
    struct tempi_i_dop *op = tempi_i_dop_of(id);
    int rc = TEMPI_I_OK;
    tempi_i_dtake();
    tempi_i_dadvance(op, 0);
    if (op->state == TEMPI_D_POSTED && !op->recv && !op->owned) {
        int done = 0, err;
        MPI_Status st;
        err = PMPI_Test(&op->request, &done, &st);
        if (err != MPI_SUCCESS)
            tempi_i_dfail(op, err);
        else if (done)
            op->status = st, op->state = TEMPI_D_DONE;
    }
    *flag = op->state == TEMPI_D_DONE;
    if (*flag)
        rc = tempi_i_dfinish(op, source, tag, nbytes);
    tempi_i_dgive();
    return rc;
}

/* Whether the operation is done, without completing it (its report if so). */
int tempi_i_device_ready(int id, int *source, int *tag, int64_t *nbytes)
{
    struct tempi_i_dop *op = tempi_i_dop_of(id);
    int rc = TEMPI_I_PASS;
    tempi_i_dtake();
    tempi_i_dadvance(op, 0);
    if (op->state == TEMPI_D_POSTED && !op->recv && !op->owned) {
        int done = 0;
        MPI_Status st;
        int err = PMPI_Test(&op->request, &done, &st);
        if (err != MPI_SUCCESS)
            tempi_i_dfail(op, err);
        else if (done)
            op->status = st, op->state = TEMPI_D_DONE;
    }
    if (op->state == TEMPI_D_DONE) {
        int cancelled = op->cancelled, got = 0;
        if (op->err != MPI_SUCCESS) {
            rc = TEMPI_I_ERROR + op->err;
        } else {
            if (!cancelled)
                PMPI_Test_cancelled(&op->status, &cancelled);
            PMPI_Get_count(&op->status, MPI_BYTE, &got);
            *source = op->status.MPI_SOURCE, *tag = op->status.MPI_TAG;
            *nbytes = cancelled ? TEMPI_I_CANCELLED : op->recv ? got : TEMPI_I_SENT;
            rc = TEMPI_I_OK;
        }
    }
    tempi_i_dgive();
    return rc;
}

/* MPI_Start of a persistent operation: a send launches its pack (posted by the progress
 * step when done), a receive starts its MPI request. */
int tempi_i_device_start(int id)
{
    struct tempi_i_dop *op = tempi_i_dop_of(id);
    int err = MPI_SUCCESS;
    tempi_i_dtake();
    if (op->recv) {
        err = PMPI_Start(&op->request);
        if (err == MPI_SUCCESS) {
            op->state = TEMPI_D_POSTED;
            tempi_i_dcount(&op->plan);
            tempi_i_dlist(op);
        }
    } else if (tempi_i_dpack(op) != 0) {
        err = MPI_ERR_OTHER;
    } else {
        op->state = TEMPI_D_PACKING;
        tempi_i_dlist(op);
        if (!TEMPI_ENGINE_DEFER_SENDS)
            tempi_i_dadvance(op, 1); /* a blocking call may not run the step: post now */
    }
    tempi_i_dgive();
    return err == MPI_SUCCESS ? TEMPI_I_OK : TEMPI_I_ERROR + err;
}

int tempi_i_device_cancel(int id)
{
    struct tempi_i_dop *op = tempi_i_dop_of(id);
    int err = MPI_SUCCESS;
    tempi_i_dtake();
    if (op->state == TEMPI_D_PACKING) { /* never reached MPI */
        tempi_i_cu.event_sync(op->event);
        op->cancelled = 1, op->state = TEMPI_D_DONE;
    } else if (op->state == TEMPI_D_POSTED) {
        err = PMPI_Cancel(&op->request);
    }
    tempi_i_dgive();
    return err == MPI_SUCCESS ? TEMPI_I_OK : TEMPI_I_ERROR + err;
}

void tempi_i_device_request_free(int id)
{
    struct tempi_i_dop *op = tempi_i_dop_of(id);
    tempi_i_dtake();
    if (op->state == TEMPI_D_IDLE || op->state == TEMPI_D_DONE) {
        tempi_i_dunlist(op);
        tempi_i_dop_release(op);
    } else { /* completes in the background (the progress step) */
        op->detached = 1;
        tempi_i_dlist(op);
    }
    tempi_i_dgive();
}
