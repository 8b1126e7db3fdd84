/* The C engine (engine.h): plans in a small table keyed by (datatype, count), made by
 * Python on first sight (tempi_py_plan, tempi/shim/plans.py), run here with the numba
 * cfunc they name and PMPI_* calls on MPI_PACKED bytes in a staging buffer.
 *
 * Wire format = tempi's Python path: the packed bytes in typemap order as MPI_PACKED, so
 * a message sent by the engine is received by the Python path, by a peer without tempi,
 * or by the engine, alike. Staging buffers are per thread (one for sends, one for
 * receives, grown as needed, kept), so no lock is taken for them; the plan table takes a
 * mutex under MPI_THREAD_MULTIPLE (uncontended: tens of ns). */
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include "config_gen.h" /* generated from tempi/config.py by tempi/shim/build.py */
#include "engine.h"
#include "engine_system.h" /* plans of strategy "system": the MPI's own path */
#include "interposer.h" /* tempi_py_plan */
#include "internal.h"
#include "plan_gen.h" /* struct tempi_plan: generated from tempi/shim/plans.py */

#define TEMPI_I_PLANS 4096 /* open addressing; a full table only means more misses */

struct tempi_i_plan_slot {
    int used;     /* 0 empty, 1 in use, 2 deleted */
    int has_plan; /* 0: Python said no plan (its path runs these messages) */
    int where;    /* 0 host memory; device: 1 + the peer's locality (0 unknown, 1, 2) */
    int ftype;
    int64_t count;
    struct tempi_plan plan;
};

static struct tempi_i_plan_slot tempi_i_plans[TEMPI_I_PLANS];
static pthread_mutex_t tempi_i_plans_lock = PTHREAD_MUTEX_INITIALIZER;

/* The lock of the plan table and the slots, taken only under MPI_THREAD_MULTIPLE. */
static void tempi_i_plans_take(void)
{
    if (tempi_i_threaded)
        pthread_mutex_lock(&tempi_i_plans_lock);
}

static void tempi_i_plans_give(void)
{
    if (tempi_i_threaded)
        pthread_mutex_unlock(&tempi_i_plans_lock);
}

static long tempi_i_engine_runs = 0;   /* messages the engine ran */
static long tempi_i_engine_misses = 0; /* lookups that asked Python's planner */

static unsigned tempi_i_plan_slot(int ftype, int64_t count, int where)
{
    uint64_t key = ((uint64_t)(uint32_t)ftype << 32 ^ (uint64_t)count) + (uint64_t)where * 7919;
    return (unsigned)((key * 0x9E3779B97F4A7C15ull) >> 40) % TEMPI_I_PLANS;
}

/* The slot of (ftype, count, where), or of the first free place for it; -1 if full. */
static int tempi_i_plan_probe(int ftype, int64_t count, int where, int *found)
{
    unsigned s = tempi_i_plan_slot(ftype, count, where);
    int free_slot = -1;
    *found = 0;
    for (unsigned n = 0; n < TEMPI_I_PLANS; ++n, s = (s + 1) % TEMPI_I_PLANS) {
        struct tempi_i_plan_slot *slot = &tempi_i_plans[s];
        if (slot->used == 1 && slot->ftype == ftype && slot->count == count &&
            slot->where == where) {
            *found = 1;
            return (int)s;
        }
        if (slot->used != 1 && free_slot < 0)
            free_slot = (int)s;
        if (slot->used == 0)
            break;
    }
    return free_slot;
}

/* A copy of the plan of (datatype, count, where) in *plan: 1 if there is one, 0 if not
 * (asking Python the first time, with the question's fields of *ask filled). Where -1: a
 * device plan for a peer whose locality C does not know yet: Python is asked, and its
 * answer filed under the locality it found (2 + plan.peer_local). */
static int tempi_i_plan_lookup(MPI_Datatype datatype, int64_t count, int where,
                               const struct tempi_plan *ask, struct tempi_plan *plan)
{
    int ftype = MPI_Type_c2f(datatype), found = 0, has = 0, s = -1;
    tempi_i_plans_take();
    if (where >= 0)
        s = tempi_i_plan_probe(ftype, count, where, &found);
    if (found) {
        has = tempi_i_plans[s].has_plan;
        if (has)
            *plan = tempi_i_plans[s].plan;
    }
    tempi_i_plans_give();
    if (found)
        return has;
    /* First sight: Python plans (outside the lock: it may take long, and another thread
     * asking the same is harmless, the second answer replaces the first). */
    __atomic_fetch_add(&tempi_i_engine_misses, 1, __ATOMIC_RELAXED);
    struct tempi_plan made = *ask;
    tempi_i_set_inside(1);
    int rc = tempi_py_plan(ftype, count, (intptr_t)&made);
    tempi_i_set_inside(0);
    has = rc == TEMPI_I_OK && (where ? made.function : made.transfer) != 0 && made.nbytes > 0 &&
          made.nbytes <= INT32_MAX && made.memory == (where != 0);
    if (rc != TEMPI_I_OK && rc != TEMPI_I_PASS)
        return 0; /* Python failed: no entry, its path says why */
    if (where < 0) /* filed where the caller will look next (C's locality for the peer) */
        where = 2 + (made.peer_local < 0 ? -1 : made.peer_local > 0);
    tempi_i_plans_take();
    s = tempi_i_plan_probe(ftype, count, where, &found);
    if (s >= 0) {
        tempi_i_plans[s].used = 1;
        tempi_i_plans[s].where = where;
        tempi_i_plans[s].ftype = ftype;
        tempi_i_plans[s].count = count;
        tempi_i_plans[s].has_plan = has;
        tempi_i_plans[s].plan = made;
    }
    tempi_i_plans_give();
    if (has)
        *plan = made;
    return has;
}

static int tempi_i_plan_for(MPI_Datatype datatype, int64_t count, struct tempi_plan *plan)
{
    struct tempi_plan ask;
    memset(&ask, 0, sizeof ask);
    return tempi_i_plan_lookup(datatype, count, 0, &ask, plan);
}

/* The locality of (communicator, peer) as the last device plan made for them said it
 * (1 + peer_local: 0 unknown, 1 another node, 2 this node), so that a plan is found
 * without Python; -1 if no plan was made for them yet. */
static struct tempi_i_table tempi_i_localities;

static uint64_t tempi_i_locality_key(MPI_Comm comm, int peer)
{
    return (uint64_t)(uint32_t)MPI_Comm_c2f(comm) << 32 | (uint32_t)peer;
}

int tempi_i_plan_for_device(MPI_Datatype datatype, int64_t count, MPI_Comm comm, int peer,
                            struct tempi_plan *plan)
{
    /* A type tempi does not accelerate (contiguous, predefined: device data the interposer
     * stages) never has a device plan: not asked of Python at every message (its answer
     * would be filed under no locality while the peer's stays unknown). */
    if (!tempi_i_find(&tempi_i_types, (uint64_t)(uint32_t)MPI_Type_c2f(datatype)))
        return 0;
    uint64_t key = tempi_i_locality_key(comm, peer);
    tempi_i_plans_take();
    int known = peer < 0 ? 2 : tempi_i_find(&tempi_i_localities, key); /* 1 + where */
    tempi_i_plans_give();
    struct tempi_plan ask;
    memset(&ask, 0, sizeof ask);
    ask.memory = 1, ask.comm = MPI_Comm_c2f(comm), ask.peer = peer, ask.peer_local = -1;
    if (known > 0)
        return tempi_i_plan_lookup(datatype, count, known - 1, &ask, plan);
    /* first plan for this peer: Python's answer says its locality, remembered */
    int has = tempi_i_plan_lookup(datatype, count, -1, &ask, plan);
    if (has) {
        tempi_i_plans_take();
        tempi_i_store(&tempi_i_localities, key, 1 + 2 + (plan->peer_local > 0) -
                                                    (plan->peer_local < 0));
        tempi_i_plans_give();
    }
    return has;
}

void tempi_i_engine_forget_type(int ftype)
{
    tempi_i_plans_take();
    for (int s = 0; s < TEMPI_I_PLANS; ++s)
        if (tempi_i_plans[s].used == 1 && tempi_i_plans[s].ftype == ftype)
            tempi_i_plans[s].used = 2;
    tempi_i_plans_give();
}

void tempi_engine_clear(void)
{
    tempi_i_plans_take();
    memset(tempi_i_plans, 0, sizeof tempi_i_plans);
    tempi_i_plans_give();
}

/* TEMPI_PLANS (default on), read on first use: off, every message takes the Python path. */
static int tempi_i_plans_on(void)
{
    static int on = -1;
    int now = __atomic_load_n(&on, __ATOMIC_RELAXED);
    if (now < 0) {
        now = tempi_i_config_bool("TEMPI_PLANS") != 0;
        __atomic_store_n(&on, now, __ATOMIC_RELAXED);
    }
    return now;
}

/* Whether the last tempi_i_engine_takes of this thread said device memory: the engine
 * call that follows it goes to engine_device.c. */
static __thread int tempi_i_took_device;

int tempi_i_engine_takes(const void *buf, MPI_Datatype datatype)
{
    if (!tempi_i_plans_on())
        return 0;
    tempi_i_took_device = tempi_i_data_on_device(buf, datatype);
    return tempi_i_took_device ? tempi_i_device_engine_ready() : tempi_i_host;
}

int tempi_i_engine_on_host(void)
{
    return !tempi_i_took_device;
}

long tempi_engine_counter(int which)
{
    if (which >= 2)
        return tempi_i_device_runs(which - 2);
    return __atomic_load_n(which == 0 ? &tempi_i_engine_runs : &tempi_i_engine_misses,
                           __ATOMIC_RELAXED);
}

/* ---- staging: per thread, one buffer for sends and one for receives ----------------- */

static __thread void *tempi_i_stage_ptr[2];
static __thread size_t tempi_i_stage_size[2];

static void *tempi_i_staging(int which, size_t nbytes)
{
    if (tempi_i_stage_size[which] < nbytes) {
        size_t size = nbytes > 2 * tempi_i_stage_size[which] ? nbytes
                                                             : 2 * tempi_i_stage_size[which];
        void *fresh = NULL;
        if (posix_memalign(&fresh, 64, size) != 0)
            return NULL;
        free(tempi_i_stage_ptr[which]);
        tempi_i_stage_ptr[which] = fresh;
        tempi_i_stage_size[which] = size;
    }
    return tempi_i_stage_ptr[which];
}

/* The typed data's first byte when the plan can run on it (aligned to its word), else
 * NULL: the Python path picks a narrower word for that buffer. */
static char *tempi_i_typed(const void *buf, const struct tempi_plan *plan)
{
    char *typed = (char *)buf + plan->data_lb;
    return ((uintptr_t)typed & (uintptr_t)(plan->word_b - 1)) == 0 ? typed : NULL;
}

int tempi_i_engine_route(const void *buf, int64_t count, MPI_Datatype datatype, MPI_Comm comm,
                         int peer, struct tempi_plan *plan)
{
    if (!tempi_i_engine_takes(buf, datatype))
        return -1;
    if (tempi_i_took_device) {
        if (!tempi_i_plan_for_device(datatype, count, comm, peer, plan))
            return -1;
        return ((uintptr_t)buf & (uintptr_t)(plan->word_b - 1)) == 0 ? TEMPI_I_ROUTE_DEVICE : -1;
    }
    if (!tempi_i_plan_for(datatype, count, plan))
        return -1;
    if (plan->strategy == TEMPI_I_PLAN_SYSTEM)
        return TEMPI_I_ROUTE_SYSTEM;
    return tempi_i_typed(buf, plan) ? TEMPI_I_ROUTE_HOST : -1;
}

static void tempi_i_run(const struct tempi_plan *plan, void *typed, void *packed, int to_packed)
{
    ((tempi_plan_transfer_fn)plan->transfer)(typed, packed, (const int64_t *)plan->args,
                                             to_packed);
}

/* Unpack the got bytes received into packed (which holds the plan's nbytes). A shorter
 * message fills the first got bytes of the typemap, as MPI says, and leaves the rest:
 * the rest of packed is first filled with the typed buffer's own bytes (a pack into
 * scratch), so the full unpack writes them back unchanged. */
static int tempi_i_plan_unpack(const struct tempi_plan *plan, char *typed, char *packed,
                               int got)
{
    if (got < plan->nbytes) {
        char *scratch = malloc((size_t)plan->nbytes);
        if (scratch == NULL)
            return MPI_ERR_NO_MEM;
        tempi_i_run(plan, typed, scratch, 1);
        memcpy(packed + got, scratch + got, (size_t)(plan->nbytes - got));
        free(scratch);
    }
    if (got > 0)
        tempi_i_run(plan, typed, packed, 0);
    return MPI_SUCCESS;
}

static void tempi_i_count_run(void)
{
    __atomic_fetch_add(&tempi_i_engine_runs, 1, __ATOMIC_RELAXED);
}

int tempi_i_engine_send(const void *buf, int64_t count, MPI_Datatype datatype, int dest, int tag,
                        MPI_Comm comm, int mode)
{
    if (tempi_i_took_device)
        return tempi_i_device_send(buf, count, datatype, dest, tag, comm, mode);
    struct tempi_plan plan;
    if (!tempi_i_plan_for(datatype, count, &plan))
        return TEMPI_I_PASS;
    if (plan.strategy == TEMPI_I_PLAN_SYSTEM)
        return tempi_i_system_send(buf, count, datatype, dest, tag, comm, mode);
    return tempi_i_engine_send_plan(&plan, buf, dest, tag, comm, mode);
}

int tempi_i_engine_send_plan(const struct tempi_plan *plan, const void *buf, int dest, int tag,
                             MPI_Comm comm, int mode)
{
    char *typed = tempi_i_typed(buf, plan);
    void *packed = typed ? tempi_i_staging(0, (size_t)plan->nbytes) : NULL;
    if (packed == NULL)
        return TEMPI_I_PASS;
    tempi_i_run(plan, typed, packed, 1);
    int err = tempi_i_pmpi_send(packed, (int)plan->nbytes, MPI_PACKED, dest, tag, comm, mode);
    tempi_i_count_run();
    return err == MPI_SUCCESS ? TEMPI_I_OK : TEMPI_I_ERROR + err;
}

/* MPI_Pack (to_packed) or MPI_Unpack of host data with a plan, at *position of the packed
 * buffer of size bytes; MPI_ERR_TRUNCATE as tempi's Python path says it. */
int tempi_i_engine_pack(const void *typed_buf, int64_t count, MPI_Datatype datatype,
                        void *packed_buf, int64_t size, int64_t *position, int to_packed)
{
    if (tempi_i_took_device)
        return tempi_i_device_pack(typed_buf, count, datatype, packed_buf, size, position,
                                   to_packed);
    struct tempi_plan plan;
    if (!tempi_i_plan_for(datatype, count, &plan))
        return TEMPI_I_PASS;
    char *typed = tempi_i_typed(typed_buf, &plan), *packed = (char *)packed_buf + *position;
    if (*position < 0 || *position + plan.nbytes > size)
        return TEMPI_I_ERROR + MPI_ERR_TRUNCATE;
    if (typed == NULL || ((uintptr_t)packed & (uintptr_t)(plan.word_b - 1)) != 0)
        return TEMPI_I_PASS; /* the Python path picks a narrower word */
    tempi_i_run(&plan, typed, packed, to_packed);
    *position += plan.nbytes;
    tempi_i_count_run();
    return TEMPI_I_OK;
}

int tempi_i_engine_recv(void *buf, int64_t count, MPI_Datatype datatype, int source, int tag,
                        MPI_Comm comm, MPI_Status *status)
{
    if (tempi_i_took_device)
        return tempi_i_device_recv(buf, count, datatype, source, tag, comm, status);
    struct tempi_plan plan;
    if (!tempi_i_plan_for(datatype, count, &plan))
        return TEMPI_I_PASS;
    if (plan.strategy == TEMPI_I_PLAN_SYSTEM)
        return tempi_i_system_recv(buf, count, datatype, source, tag, comm, status);
    return tempi_i_engine_recv_plan(&plan, buf, source, tag, comm, status);
}

#define TEMPI_I_NO_SOURCE (INT_MIN + 7) /* a source no receive gives */

/* Every error the receive returns has been raised on COMM's handler as it stands (p2p.c's
 * blocking form relies on it): its PMPI_Recv's by the MPI, its own (no memory for a short
 * message's scratch) here. A failure the MPI's handler hid (MPICH returns MPI_SUCCESS after
 * a user handler) leaves the status's source as it was set here, and nothing is unpacked. */
int tempi_i_engine_recv_plan(const struct tempi_plan *plan, void *buf, int source, int tag,
                             MPI_Comm comm, MPI_Status *status)
{
    char *typed = tempi_i_typed(buf, plan);
    char *packed = typed ? tempi_i_staging(1, (size_t)plan->nbytes) : NULL;
    if (packed == NULL)
        return TEMPI_I_PASS;
    MPI_Status own;
    MPI_Status *st = status == MPI_STATUS_IGNORE ? &own : status;
    int was = st->MPI_SOURCE;
    st->MPI_SOURCE = TEMPI_I_NO_SOURCE;
    int err = PMPI_Recv(packed, (int)plan->nbytes, MPI_PACKED, source, tag, comm, st);
    tempi_i_count_run();
    if (st->MPI_SOURCE == TEMPI_I_NO_SOURCE) { /* failed: the status as it was */
        st->MPI_SOURCE = was;
        return err == MPI_SUCCESS ? TEMPI_I_OK : TEMPI_I_ERROR + err;
    }
    if (err != MPI_SUCCESS)
        return TEMPI_I_ERROR + err;
    int got = 0;
    PMPI_Get_count(st, MPI_BYTE, &got);
    if (tempi_i_plan_unpack(plan, typed, packed, got) != MPI_SUCCESS) {
        err = tempi_i_raise(comm, MPI_ERR_NO_MEM);
        return err == MPI_SUCCESS ? TEMPI_I_OK : TEMPI_I_ERROR + err;
    }
    PMPI_Status_set_elements(st, MPI_BYTE, got);
    return TEMPI_I_OK;
}

/* ---- nonblocking and persistent operations -------------------------------------------
 * The application holds a handle of requests.c like any of tempi's requests, whose id is
 * TEMPI_I_ENGINE_IDS + a slot here; requests.c's completion calls reach the operations
 * through tempi_i_op_* (below), which run the engine's own and pass the others to Python.
 * A send packs at once and posts PMPI_Isend (or its mode) of the staging bytes; a
 * receive posts PMPI_Irecv into staging and unpacks in the completion call. Persistent
 * ones make PMPI_Send_init/PMPI_Recv_init of the staging at *_init; MPI_Start packs (a
 * send) and calls PMPI_Start. */

/* The engine's ids start at TEMPI_I_ENGINE_IDS (internal.h), above Python's; the device
 * engine's at TEMPI_I_DEVICE_IDS (engine.h), above these. */

struct tempi_i_op {
    int used, recv, persistent, active, detached;
    int completed;       /* the MPI request completed early (tempi_i_op_ready): status */
    MPI_Status status;
    MPI_Request request; /* the system MPI's */
    void *staging;
    size_t capacity; /* kept with the slot when it is reused */
    void *buf;
    MPI_Comm comm;
    struct tempi_plan plan;
};

static struct tempi_i_op tempi_i_ops[TEMPI_I_ENGINE_SLOTS];
static int tempi_i_ops_next = 0; /* slots below were used at least once */
static int tempi_i_ops_free[TEMPI_I_ENGINE_SLOTS];
static int tempi_i_ops_nfree = 0;
static int tempi_i_ops_detached = 0; /* freed by the application while in flight */

static int tempi_i_engine_id(int id)
{
    return id >= TEMPI_I_ENGINE_IDS && id < TEMPI_I_ENGINE_IDS + TEMPI_I_ENGINE_SLOTS;
}

static struct tempi_i_op *tempi_i_op_of(int id)
{
    return &tempi_i_ops[id - TEMPI_I_ENGINE_IDS];
}

/* A slot with staging for nbytes, or -1. */
static int tempi_i_op_new(size_t nbytes)
{
    int s = -1;
    tempi_i_plans_take();
    if (tempi_i_ops_nfree > 0)
        s = tempi_i_ops_free[--tempi_i_ops_nfree];
    else if (tempi_i_ops_next < TEMPI_I_ENGINE_SLOTS)
        s = tempi_i_ops_next++;
    tempi_i_plans_give();
    if (s < 0)
        return -1;
    struct tempi_i_op *op = &tempi_i_ops[s];
    if (op->capacity < nbytes) {
        void *fresh = NULL;
        if (posix_memalign(&fresh, 64, nbytes) != 0) {
            tempi_i_plans_take();
            tempi_i_ops_free[tempi_i_ops_nfree++] = s;
            tempi_i_plans_give();
            return -1;
        }
        free(op->staging);
        op->staging = fresh;
        op->capacity = nbytes;
    }
    op->used = 1;
    op->active = op->detached = op->completed = 0;
    op->request = MPI_REQUEST_NULL;
    return s;
}

static void tempi_i_op_release(struct tempi_i_op *op)
{
    if (op->request != MPI_REQUEST_NULL) /* an inactive persistent request of the MPI */
        PMPI_Request_free(&op->request);
    op->used = 0;
    tempi_i_plans_take();
    tempi_i_ops_free[tempi_i_ops_nfree++] = (int)(op - tempi_i_ops);
    tempi_i_plans_give();
}

static int tempi_i_op_post(struct tempi_i_op *op)
{
    if (!op->recv)
        tempi_i_run(&op->plan, tempi_i_typed(op->buf, &op->plan), op->staging, 1);
    int err = op->persistent ? PMPI_Start(&op->request) : MPI_SUCCESS;
    if (err == MPI_SUCCESS)
        op->active = 1;
    tempi_i_count_run();
    return err;
}

int tempi_i_engine_start_op(const struct tempi_plan *plan, void *buf, int peer, int tag,
                            MPI_Comm comm, int mode, int recv, int persistent, int *id)
{
    if (!tempi_i_typed(buf, plan))
        return TEMPI_I_PASS;
    int s = tempi_i_op_new((size_t)plan->nbytes);
    if (s < 0)
        return TEMPI_I_PASS;
    struct tempi_i_op *op = &tempi_i_ops[s];
    op->recv = recv, op->persistent = persistent, op->plan = *plan, op->buf = buf;
    op->comm = comm;
    void *wire = op->staging;
    int n = (int)plan->nbytes, err;
    if (persistent && recv) {
        err = PMPI_Recv_init(wire, n, MPI_PACKED, peer, tag, comm, &op->request);
    } else if (persistent) {
        err = tempi_i_pmpi_isend(wire, n, MPI_PACKED, peer, tag, comm, mode, 1, &op->request);
    } else {
        if (!recv)
            tempi_i_run(plan, tempi_i_typed(buf, plan), wire, 1);
        tempi_i_count_run();
        op->active = 1;
        if (recv)
            err = PMPI_Irecv(wire, n, MPI_PACKED, peer, tag, comm, &op->request);
        else
            err = tempi_i_pmpi_isend(wire, n, MPI_PACKED, peer, tag, comm, mode, 0, &op->request);
    }
    if (err != MPI_SUCCESS) {
        tempi_i_op_release(op);
        return TEMPI_I_ERROR + err;
    }
    *id = TEMPI_I_ENGINE_IDS + s;
    return TEMPI_I_OK;
}

void tempi_i_op_abandon(int id)
{
    struct tempi_i_op *op = &tempi_i_ops[id - TEMPI_I_ENGINE_IDS];
    if (op->active && !op->persistent) {
        if (op->recv)
            PMPI_Cancel(&op->request);
        PMPI_Wait(&op->request, MPI_STATUS_IGNORE);
        op->request = MPI_REQUEST_NULL;
    }
    tempi_i_op_release(op);
}

/* MPI_Isend and friends (mode as tempi_i_engine_send), persistent: the _init forms. */
int tempi_i_engine_isend(const void *buf, int64_t count, MPI_Datatype datatype, int dest,
                         int tag, MPI_Comm comm, int mode, int persistent, MPI_Request *request)
{
    if (tempi_i_took_device)
        return tempi_i_device_isend(buf, count, datatype, dest, tag, comm, mode, persistent,
                                    request);
    struct tempi_plan plan;
    int id;
    if (!tempi_i_plan_for(datatype, count, &plan))
        return TEMPI_I_PASS;
    if (plan.strategy == TEMPI_I_PLAN_SYSTEM)
        return tempi_i_system_isend(buf, count, datatype, dest, tag, comm, mode, persistent,
                                    request);
    int rc = tempi_i_engine_start_op(&plan, (void *)buf, dest, tag, comm, mode, 0, persistent,
                                     &id);
    if (rc == TEMPI_I_OK && (rc = tempi_i_new_handle(request)) != TEMPI_I_OK)
        tempi_i_op_abandon(id); /* no handle: complete it here */
    return rc == TEMPI_I_OK ? tempi_i_adopt(TEMPI_I_OK, id, persistent, comm, request) : rc;
}

/* MPI_Irecv, persistent: MPI_Recv_init. */
int tempi_i_engine_irecv(void *buf, int64_t count, MPI_Datatype datatype, int source, int tag,
                         MPI_Comm comm, int persistent, MPI_Request *request)
{
    if (tempi_i_took_device)
        return tempi_i_device_irecv(buf, count, datatype, source, tag, comm, persistent,
                                    request);
    struct tempi_plan plan;
    int id;
    if (!tempi_i_plan_for(datatype, count, &plan))
        return TEMPI_I_PASS;
    if (plan.strategy == TEMPI_I_PLAN_SYSTEM)
        return tempi_i_system_irecv(buf, count, datatype, source, tag, comm, persistent,
                                    request);
    int rc = tempi_i_engine_start_op(&plan, buf, source, tag, comm, 0, 1, persistent, &id);
    if (rc == TEMPI_I_OK && (rc = tempi_i_new_handle(request)) != TEMPI_I_OK)
        tempi_i_op_abandon(id);
    return rc == TEMPI_I_OK ? tempi_i_adopt(TEMPI_I_OK, id, persistent, comm, request) : rc;
}

/* The operation's MPI request has completed with status st: unpack a receive, report as
 * tempi_py_wait does (nbytes TEMPI_I_SENT for a send, TEMPI_I_CANCELLED if cancelled),
 * retire a one-shot slot. */
static int tempi_i_op_done(struct tempi_i_op *op, MPI_Status *st, int *source, int *tag,
                           int64_t *nbytes)
{
    int cancelled = 0, err = MPI_SUCCESS;
    PMPI_Test_cancelled(st, &cancelled);
    op->active = op->completed = 0;
    if (cancelled) {
        *nbytes = TEMPI_I_CANCELLED;
    } else if (!op->recv) {
        *nbytes = TEMPI_I_SENT;
    } else {
        int got = 0;
        PMPI_Get_count(st, MPI_BYTE, &got);
        err = tempi_i_plan_unpack(&op->plan, tempi_i_typed(op->buf, &op->plan), op->staging,
                                  got);
        *source = st->MPI_SOURCE, *tag = st->MPI_TAG, *nbytes = got;
    }
    if (!op->persistent)
        tempi_i_op_release(op);
    return err == MPI_SUCCESS ? TEMPI_I_OK : TEMPI_I_ERROR + err;
}

/* The operation's MPI request failed (truncation, ...): it is over; a one-shot slot is
 * retired. */
static int tempi_i_op_failed(struct tempi_i_op *op, int err)
{
    op->active = op->completed = 0;
    if (!op->persistent) {
        op->request = MPI_REQUEST_NULL; /* the MPI freed it */
        tempi_i_op_release(op);
    }
    return TEMPI_I_ERROR + err;
}

/* Complete what the application freed while in flight, when it is done. */
static pthread_mutex_t tempi_i_detached_lock = PTHREAD_MUTEX_INITIALIZER;

static void tempi_i_op_progress_detached(void)
{
    if (__atomic_load_n(&tempi_i_ops_detached, __ATOMIC_RELAXED) == 0)
        return;
    if (pthread_mutex_trylock(&tempi_i_detached_lock) != 0)
        return; /* another thread is at it: a request must not be tested by two */
    for (int s = 0; s < TEMPI_I_ENGINE_SLOTS; ++s) {
        struct tempi_i_op *op = &tempi_i_ops[s];
        int flag = 0, source, tag;
        int64_t nbytes;
        MPI_Status st;
        if (!op->used || !op->detached || !op->active)
            continue;
        st = op->status, flag = op->completed;
        if (flag || (PMPI_Test(&op->request, &flag, &st) == MPI_SUCCESS && flag)) {
            op->persistent = 0; /* the application's handle is gone */
            __atomic_fetch_sub(&tempi_i_ops_detached, 1, __ATOMIC_RELAXED);
            __atomic_fetch_sub(&tempi_i_pending, 1, __ATOMIC_RELAXED);
            tempi_i_op_done(op, &st, &source, &tag, &nbytes);
        }
    }
    pthread_mutex_unlock(&tempi_i_detached_lock);
}

static int tempi_i_op_wait_engine(int id, int *source, int *tag, int64_t *nbytes)
{
    struct tempi_i_op *op = tempi_i_op_of(id);
    MPI_Status st = op->status;
    int err = op->completed ? MPI_SUCCESS : PMPI_Wait(&op->request, &st);
    if (err != MPI_SUCCESS)
        return tempi_i_op_failed(op, err);
    int rc = tempi_i_op_done(op, &st, source, tag, nbytes);
    tempi_i_op_progress_detached();
    return rc;
}

/* The progress step (internal.h): the device engine's pending operations, then the host
 * operations the application freed in flight. */
void tempi_i_progress_slow(int blocking)
{
    tempi_i_device_progress(blocking);
    tempi_i_op_progress_detached();
}

/* ---- the completion calls' view (requests.c): tempi_py_*'s signatures, either side --- */

int tempi_i_op_wait(int id, int *source, int *tag, int64_t *nbytes)
{
    if (tempi_i_device_id(id))
        return tempi_i_device_wait(id, source, tag, nbytes);
    return tempi_i_engine_id(id) ? tempi_i_op_wait_engine(id, source, tag, nbytes)
                                 : tempi_py_wait(id, source, tag, nbytes);
}

/* An operation of either C engine (else Python's). */
static int tempi_i_c_id(int id)
{
    return tempi_i_engine_id(id) || tempi_i_device_id(id);
}

int tempi_i_op_test(int id, int *flag, int *source, int *tag, int64_t *nbytes)
{
    if (tempi_i_device_id(id))
        return tempi_i_device_test(id, flag, source, tag, nbytes);
    if (!tempi_i_engine_id(id))
        return tempi_py_test(id, flag, source, tag, nbytes);
    struct tempi_i_op *op = tempi_i_op_of(id);
    MPI_Status st = op->status;
    int err = MPI_SUCCESS;
    *flag = op->completed;
    if (!*flag)
        err = PMPI_Test(&op->request, flag, &st);
    if (err != MPI_SUCCESS) {
        *flag = 1; /* completed, with an error */
        return tempi_i_op_failed(op, err);
    }
    return *flag ? tempi_i_op_done(op, &st, source, tag, nbytes) : TEMPI_I_OK;
}

int tempi_i_op_ready(int id, int *source, int *tag, int64_t *nbytes)
{
    if (tempi_i_device_id(id))
        return tempi_i_device_ready(id, source, tag, nbytes);
    if (!tempi_i_engine_id(id))
        return tempi_py_ready(id, source, tag, nbytes);
    struct tempi_i_op *op = tempi_i_op_of(id);
    MPI_Status st = op->status;
    int flag = op->completed, cancelled = 0, got = 0, err = MPI_SUCCESS;
    if (!flag) /* completed now (the MPI request only: the unpack waits for the wait) */
        err = PMPI_Test(&op->request, &flag, &st);
    if (err != MPI_SUCCESS)
        return TEMPI_I_ERROR + err;
    if (!flag)
        return TEMPI_I_PASS;
    op->completed = 1, op->status = st;
    PMPI_Test_cancelled(&st, &cancelled);
    PMPI_Get_count(&st, MPI_BYTE, &got);
    *source = st.MPI_SOURCE, *tag = st.MPI_TAG;
    *nbytes = cancelled ? TEMPI_I_CANCELLED : op->recv ? got : TEMPI_I_SENT;
    return TEMPI_I_OK;
}

/* Engine operations first (each a PMPI_Wait: every operation was posted when it started,
 * so the order cannot deadlock), then Python's together in one call. errors[k]: the k-th
 * one's MPI error code; the result TEMPI_I_ERROR + MPI_ERR_IN_STATUS when some failed. */
int tempi_i_op_waitall(int n, const int *ids, int *sources, int *tags, int64_t *nbytes,
                       int *errors)
{
    int python = 0, failed = 0, rc = TEMPI_I_OK;
    for (int k = 0; k < n; ++k) {
        errors[k] = MPI_SUCCESS;
        if (!tempi_i_c_id(ids[k])) {
            ++python;
            continue;
        }
        int one = tempi_i_op_wait(ids[k], &sources[k], &tags[k], &nbytes[k]);
        if (one != TEMPI_I_OK) {
            errors[k] = tempi_i_error(one);
            failed = 1;
        }
    }
    if (python == n)
        return tempi_py_waitall(n, ids, sources, tags, nbytes, errors);
    if (python > 0) {
        int *sub_ids = malloc(sizeof(int) * python), *sub_src = malloc(sizeof(int) * python);
        int *sub_tag = malloc(sizeof(int) * python), *where = malloc(sizeof(int) * python);
        int *sub_err = malloc(sizeof(int) * python);
        int64_t *sub_n = malloc(sizeof(int64_t) * python);
        if (!sub_ids || !sub_src || !sub_tag || !where || !sub_err || !sub_n) {
            for (int k = 0; k < n; ++k) /* one at a time */
                if (!tempi_i_c_id(ids[k])) {
                    int one = tempi_py_wait(ids[k], &sources[k], &tags[k], &nbytes[k]);
                    if (one != TEMPI_I_OK)
                        errors[k] = tempi_i_error(one), failed = 1;
                }
        } else {
            int m = 0;
            for (int k = 0; k < n; ++k)
                if (!tempi_i_c_id(ids[k]))
                    where[m] = k, sub_ids[m++] = ids[k];
            int one = tempi_py_waitall(m, sub_ids, sub_src, sub_tag, sub_n, sub_err);
            for (int j = 0; j < m; ++j) {
                int k = where[j];
                sources[k] = sub_src[j], tags[k] = sub_tag[j], nbytes[k] = sub_n[j];
                errors[k] = one == TEMPI_I_OK ? MPI_SUCCESS : sub_err[j];
            }
            if (one != TEMPI_I_OK && one != TEMPI_I_ERROR + MPI_ERR_IN_STATUS)
                rc = one; /* Python failed before any request: its code for all */
            else if (one != TEMPI_I_OK)
                failed = 1;
        }
        free(sub_ids), free(sub_src), free(sub_tag), free(where), free(sub_err), free(sub_n);
    }
    if (rc != TEMPI_I_OK)
        return rc;
    return failed ? TEMPI_I_ERROR + MPI_ERR_IN_STATUS : TEMPI_I_OK;
}

int tempi_i_op_start(int id)
{
    if (tempi_i_device_id(id))
        return tempi_i_device_start(id);
    if (!tempi_i_engine_id(id))
        return tempi_py_start(id);
    int err = tempi_i_op_post(tempi_i_op_of(id));
    return err == MPI_SUCCESS ? TEMPI_I_OK : TEMPI_I_ERROR + err;
}

int tempi_i_op_cancel(int id)
{
    if (tempi_i_device_id(id))
        return tempi_i_device_cancel(id);
    if (!tempi_i_engine_id(id))
        return tempi_py_cancel(id);
    int err = PMPI_Cancel(&tempi_i_op_of(id)->request);
    return err == MPI_SUCCESS ? TEMPI_I_OK : TEMPI_I_ERROR + err;
}

void tempi_i_op_request_free(int id)
{
    if (tempi_i_device_id(id)) {
        tempi_i_device_request_free(id);
        return;
    }
    if (!tempi_i_engine_id(id)) {
        tempi_py_request_free(id);
        return;
    }
    struct tempi_i_op *op = tempi_i_op_of(id);
    if (op->active) { /* completes in the background (tempi_i_op_progress_detached) */
        op->detached = 1;
        __atomic_fetch_add(&tempi_i_ops_detached, 1, __ATOMIC_RELAXED);
        __atomic_fetch_add(&tempi_i_pending, 1, __ATOMIC_RELAXED); /* the progress step's */
    } else {
        tempi_i_op_release(op);
    }
    tempi_i_op_progress_detached();
}

/* ---- for tempi.Comm (engine_api.c): its requests complete the same operations --------- */

MPI_Request tempi_i_op_request(int id)
{
    return tempi_i_op_of(id)->request;
}

int tempi_i_op_landed(int id, MPI_Status *st, int *source, int *tag, int64_t *nbytes)
{
    struct tempi_i_op *op = tempi_i_op_of(id);
    if (!op->persistent)
        op->request = MPI_REQUEST_NULL; /* the MPI freed it when it completed */
    return tempi_i_op_done(op, st, source, tag, nbytes);
}

/* The operation's MPI request failed with err inside another call (an MPI_Waitall over
 * many, which freed it): the operation is over. */
int tempi_i_op_lost(int id, int err)
{
    return tempi_i_op_failed(tempi_i_op_of(id), err);
}
