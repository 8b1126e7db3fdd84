/* Device staging for the calls tempi does not otherwise take (the reductions, MPI_Alltoall,
 * MPI_Mrecv, ...): when the system MPI cannot read device memory (tempi_i_stage_device),
 * each device buffer's bytes -- the whole span its (count, datatype) touches, gaps
 * included, so any datatype works and the gaps come back unchanged -- are copied into
 * pooled pinned host memory, the system MPI's same call runs on the host copies, and the
 * buffers it writes are copied back. With TEMPI_HOST=1 host buffers take the same path
 * (memcpy for the CUDA copies), which is how CPU machines test it.
 *
 * A buffer MPI_BOTTOM (absolute displacements) is staged at the addresses its datatype
 * names: the span is the type's true extent at its true lower bound.
 *
 * The generated entry points (tempi/shim/spec.py, rule "stage") call tempi_i_stages for
 * the decision, then tempi_i_stage_in per buffer and tempi_i_stage_out. */
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include "internal.h"

typedef int (*tempi_i_cu_copy_fn)(unsigned long long, unsigned long long, size_t);
typedef int (*tempi_i_cu_host_fn)(void **, size_t);
typedef int (*tempi_i_cu_free_fn)(void *);

static long tempi_i_staged = 0; /* calls staged (tempi_staged_calls) */
static long tempi_i_staged_buffers[2] = {0, 0}; /* [contiguous]: TEMPI_STATS's messages */

long tempi_staged_calls(void)
{
    return __atomic_load_n(&tempi_i_staged, __ATOMIC_RELAXED);
}

/* Called from Python at finalize, for TEMPI_STATS: buffers staged by the C path, whose
 * datatype has gaps (`staged`) or none (`staged_contiguous`). */
long tempi_staged_messages(int contiguous)
{
    return __atomic_load_n(&tempi_i_staged_buffers[contiguous != 0], __ATOMIC_RELAXED);
}

static void tempi_i_count_buffers(const tempi_i_stage_t *stage)
{
    for (int i = 0; !tempi_i_inside && i < stage->n; ++i)
        __atomic_fetch_add(&tempi_i_staged_buffers[stage->contiguous[i] != 0], 1,
                           __ATOMIC_RELAXED);
}

/* A staged call (tempi_staged_calls) and its buffers (TEMPI_STATS), unless `later`: a
 * persistent request's buffers are counted at each MPI_Start instead. */
void tempi_i_count_staged(const tempi_i_stage_t *stage, int later)
{
    if (tempi_i_inside)
        return;
    __atomic_fetch_add(&tempi_i_staged, 1, __ATOMIC_RELAXED);
    if (!later)
        tempi_i_count_buffers(stage);
}

/* Needs no Python, but tempi's start-up says whether the MPI can read device memory: a
 * device buffer starts it (once) if nothing has yet. */
int tempi_i_stages(const void *buf, MPI_Datatype datatype)
{
    if (buf == MPI_IN_PLACE || tempi_i_bypass())
        return 0;
    if (buf == MPI_BOTTOM && datatype == MPI_DATATYPE_NULL)
        return 0; /* the parts of a v or w form: nothing to tell the memory by */
    if (tempi_i_host)
        return 1;
    return tempi_i_data_on_device(buf, datatype == MPI_DATATYPE_NULL ? MPI_BYTE : datatype) &&
           tempi_i_ready() && tempi_i_stage_device;
}

static void *tempi_i_cuda_symbol(const char *name)
{
    void *cuda = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
    return cuda ? dlsym(cuda, name) : NULL;
}

/* Bytes between buffers in either memory (cuMemcpy with unified addressing). */
void tempi_i_copy(void *dst, const void *src, size_t nbytes, int on_device)
{
    static tempi_i_cu_copy_fn copy = NULL;
    if (on_device && copy == NULL)
        copy = (tempi_i_cu_copy_fn)tempi_i_cuda_symbol("cuMemcpy");
    if (on_device && copy != NULL)
        copy((unsigned long long)(uintptr_t)dst, (unsigned long long)(uintptr_t)src, nbytes);
    else
        memcpy(dst, src, nbytes);
}

/* Pinned host memory (pageable without CUDA), kept per thread for the next call: one
 * buffer per staged argument. */
static __thread char *tempi_i_pool[TEMPI_I_STAGED_MAX];
static __thread size_t tempi_i_pool_size[TEMPI_I_STAGED_MAX];
static __thread int tempi_i_pool_pinned[TEMPI_I_STAGED_MAX];

static char *tempi_i_host_memory(int slot, size_t nbytes, int on_device)
{
    static tempi_i_cu_host_fn alloc = NULL;
    static tempi_i_cu_free_fn release = NULL;
    if (on_device && alloc == NULL) {
        release = (tempi_i_cu_free_fn)tempi_i_cuda_symbol("cuMemFreeHost");
        alloc = (tempi_i_cu_host_fn)tempi_i_cuda_symbol("cuMemAllocHost_v2");
    }
    if (tempi_i_pool[slot] != NULL && tempi_i_pool_size[slot] >= nbytes &&
        tempi_i_pool_pinned[slot] >= on_device)
        return tempi_i_pool[slot];
    size_t size = nbytes > 2 * tempi_i_pool_size[slot] ? nbytes : 2 * tempi_i_pool_size[slot];
    void *fresh = NULL;
    int pinned = on_device && alloc != NULL && release != NULL && alloc(&fresh, size) == 0;
    if (!pinned)
        fresh = malloc(size);
    if (fresh == NULL)
        return NULL;
    if (tempi_i_pool_pinned[slot])
        release(tempi_i_pool[slot]);
    else
        free(tempi_i_pool[slot]);
    tempi_i_pool[slot] = fresh;
    tempi_i_pool_size[slot] = size;
    tempi_i_pool_pinned[slot] = pinned;
    return fresh;
}

static long tempi_i_own_live = 0; /* copies of tempi_i_own_memory not yet released */

long tempi_staged_copies_live(void)
{
    return __atomic_load_n(&tempi_i_own_live, __ATOMIC_RELAXED);
}

/* Host memory of a non-blocking or persistent call's own (it lives until completion). */
static char *tempi_i_own_memory(size_t nbytes, int on_device, int *pinned)
{
    static tempi_i_cu_host_fn alloc = NULL;
    if (on_device && alloc == NULL)
        alloc = (tempi_i_cu_host_fn)tempi_i_cuda_symbol("cuMemAllocHost_v2");
    void *fresh = NULL;
    *pinned = on_device && alloc != NULL && alloc(&fresh, nbytes) == 0;
    char *host = *pinned ? fresh : malloc(nbytes);
    if (host != NULL)
        __atomic_fetch_add(&tempi_i_own_live, 1, __ATOMIC_RELAXED);
    return host;
}

void tempi_i_stage_release(tempi_i_stage_t *stage)
{
    static tempi_i_cu_free_fn release = NULL;
    for (int i = 0; i < stage->n; ++i) {
        if (stage->pinned[i] && release == NULL)
            release = (tempi_i_cu_free_fn)tempi_i_cuda_symbol("cuMemFreeHost");
        if (stage->pinned[i] && release != NULL)
            release(stage->host[i]);
        else if (!stage->pinned[i])
            free(stage->host[i]);
        if (stage->owned)
            __atomic_fetch_sub(&tempi_i_own_live, 1, __ATOMIC_RELAXED);
    }
    stage->n = 0;
}

void *tempi_i_stage_in(tempi_i_stage_t *stage, const void *buf, MPI_Count count,
                       MPI_Datatype datatype, int out)
{
    if (buf == MPI_IN_PLACE || count <= 0 || stage->n >= TEMPI_I_STAGED_MAX)
        return (void *)buf;
    MPI_Aint true_lb, true_extent, lb, extent;
    PMPI_Type_get_true_extent(datatype, &true_lb, &true_extent);
    PMPI_Type_get_extent(datatype, &lb, &extent);
    MPI_Aint step = (MPI_Aint)(count - 1) * extent;
    MPI_Aint lo = true_lb + (step < 0 ? step : 0);
    MPI_Aint hi = true_lb + true_extent + (step > 0 ? step : 0);
    /* MPI_BOTTOM: the type's displacements are addresses, the span [lo, hi) is where the
     * data lies (a NULL buffer whose span starts near 0 is no address: left alone) */
    if (hi <= lo || (buf == MPI_BOTTOM && lo < 4096))
        return (void *)buf;
    int on_device = tempi_i_data_on_device(buf, datatype);
    int slot = stage->n;
    char *host = stage->owned ? tempi_i_own_memory((size_t)(hi - lo), on_device, &stage->pinned[slot])
                              : tempi_i_host_memory(slot, (size_t)(hi - lo), on_device);
    if (host == NULL) {
        stage->failed = 1;
        return (void *)buf;
    }
    tempi_i_copy(host, (const char *)buf + lo, (size_t)(hi - lo), on_device);
    stage->user[slot] = (char *)buf + lo;
    stage->host[slot] = host;
    stage->nbytes[slot] = (size_t)(hi - lo);
    stage->out[slot] = out;
    stage->on_device[slot] = on_device;
    MPI_Count size = 0;
    PMPI_Type_size_x(datatype, &size);
    stage->contiguous[slot] = size * count == hi - lo;
    stage->n = slot + 1;
    return host - lo;
}

/* The span [lo, hi) in bytes from buf of `count` of `datatype` at byte offset `at`; 0 if
 * it touches nothing. */
static int tempi_i_span(MPI_Count count, MPI_Datatype datatype, MPI_Aint at, MPI_Aint *lo,
                        MPI_Aint *hi)
{
    tempi_i_extents_t extents;
    tempi_i_extents(datatype, &extents);
    return tempi_i_span_of(count, &extents, at, lo, hi);
}

void tempi_i_extents(MPI_Datatype datatype, tempi_i_extents_t *extents)
{
    MPI_Aint lb;
    PMPI_Type_get_true_extent(datatype, &extents->true_lb, &extents->true_extent);
    PMPI_Type_get_extent(datatype, &lb, &extents->extent);
}

int tempi_i_span_of(MPI_Count count, const tempi_i_extents_t *extents, MPI_Aint at,
                    MPI_Aint *lo, MPI_Aint *hi)
{
    if (count <= 0)
        return 0;
    MPI_Aint step = (MPI_Aint)(count - 1) * extents->extent;
    *lo = at + extents->true_lb + (step < 0 ? step : 0);
    *hi = at + extents->true_lb + extents->true_extent + (step > 0 ? step : 0);
    return *hi > *lo;
}

/* The span [lo, hi) from buf of the n parts of a v or w form (0: they touch nothing; for
 * MPI_BOTTOM, nor when the span starts near address 0, which is no address). */
static int tempi_i_parts_span(const void *buf, int n, const void *counts, int icounts,
                              const void *displs, int idispls, int bytes,
                              const MPI_Datatype *types, int one_type, MPI_Aint *lo,
                              MPI_Aint *hi)
{
    int any = 0;
    for (int i = 0; i < n; ++i) {
        MPI_Datatype type = one_type ? types[0] : types[i];
        MPI_Count count = tempi_i_count_at(counts, icounts, i);
        MPI_Aint d = idispls ? ((const int *)displs)[i] : ((const MPI_Aint *)displs)[i];
        MPI_Aint lb, extent, part_lo, part_hi;
        PMPI_Type_get_extent(type, &lb, &extent);
        if (!tempi_i_span(count, type, bytes ? d : d * extent, &part_lo, &part_hi))
            continue;
        *lo = any && *lo < part_lo ? *lo : part_lo;
        *hi = any && *hi > part_hi ? *hi : part_hi;
        any = 1;
    }
    return any && !(buf == MPI_BOTTOM && *lo < 4096);
}

int tempi_i_stages_parts(const void *buf, int n, const void *counts, int icounts,
                         const void *displs, int idispls, int bytes, const MPI_Datatype *types,
                         int one_type)
{
    if (buf != MPI_BOTTOM)
        return tempi_i_stages(buf, MPI_DATATYPE_NULL);
    /* absolute displacements: the memory is where the parts' span starts */
    MPI_Aint lo = 0, hi = 0;
    if (tempi_i_bypass() ||
        !tempi_i_parts_span(buf, n, counts, icounts, displs, idispls, bytes, types, one_type,
                            &lo, &hi))
        return 0;
    return tempi_i_stages((const char *)buf + lo, MPI_BYTE);
}

void *tempi_i_stage_parts(tempi_i_stage_t *stage, const void *buf, int n, const void *counts,
                          int icounts, const void *displs, int idispls, int bytes,
                          const MPI_Datatype *types, int one_type, int out)
{
    if (buf == MPI_IN_PLACE || stage->n >= TEMPI_I_STAGED_MAX)
        return (void *)buf;
    MPI_Aint lo = 0, hi = 0;
    if (!tempi_i_parts_span(buf, n, counts, icounts, displs, idispls, bytes, types, one_type,
                            &lo, &hi))
        return (void *)buf;
    /* the span as MPI_BYTEs at offset lo */
    return (char *)tempi_i_stage_in(stage, (const char *)buf + lo, hi - lo, MPI_BYTE, out) - lo;
}

int tempi_i_stage_out(tempi_i_stage_t *stage, int err)
{
    for (int i = 0; i < stage->n; ++i)
        if (stage->out[i] && err == MPI_SUCCESS)
            tempi_i_copy(stage->user[i], stage->host[i], stage->nbytes[i], stage->on_device[i]);
    if (!stage->owned)
        tempi_i_count_staged(stage, 0);
    return err;
}

/* ---- non-blocking and persistent calls: the copies live until the completion call --- */

typedef struct {
    tempi_i_stage_t stage;
    uint64_t key;
    int persistent;
    tempi_i_partitioned_t *parts; /* partitioned communication (stage_partitioned.c) */
} tempi_i_held_t;

static struct tempi_i_table tempi_i_held_requests; /* request bits -> slot + 1 */
static tempi_i_held_t **tempi_i_held = NULL;
static int tempi_i_nheld = 0;

static uint64_t tempi_i_key(MPI_Request request)
{
    uint64_t key = 0;
    memcpy(&key, &request, sizeof request);
    return key;
}

/* The copies kept with *request (1), or not for want of memory (0). */
static int tempi_i_keep(tempi_i_stage_t *stage, MPI_Request *request, int persistent,
                        tempi_i_partitioned_t *parts)
{
    tempi_i_held_t *held = malloc(sizeof *held);
    tempi_i_lock();
    int slot = 0;
    while (slot < tempi_i_nheld && tempi_i_held[slot] != NULL)
        ++slot;
    if (held != NULL && slot == tempi_i_nheld) {
        int n = tempi_i_nheld ? 2 * tempi_i_nheld : 64;
        tempi_i_held_t **grown = realloc(tempi_i_held, sizeof *grown * (size_t)n);
        if (grown != NULL) {
            for (int i = tempi_i_nheld; i < n; ++i)
                grown[i] = NULL;
            tempi_i_held = grown;
            tempi_i_nheld = n;
        }
    }
    int kept = held != NULL && slot < tempi_i_nheld;
    if (kept) {
        held->stage = *stage;
        held->key = tempi_i_key(*request);
        held->persistent = persistent;
        held->parts = parts;
        tempi_i_held[slot] = held;
    }
    tempi_i_unlock();
    if (kept && tempi_i_store(&tempi_i_held_requests, held->key, slot + 1))
        return 1;
    free(held);
    if (kept) {
        tempi_i_lock();
        tempi_i_held[slot] = NULL;
        tempi_i_unlock();
    }
    return 0;
}

int tempi_i_stage_hold(tempi_i_stage_t *stage, int err, MPI_Request *request, int persistent)
{
    tempi_i_count_staged(stage, persistent);
    if (err != MPI_SUCCESS || stage->n == 0) {
        tempi_i_stage_release(stage);
        return err;
    }
    if (tempi_i_keep(stage, request, persistent, NULL))
        return MPI_SUCCESS;
    /* out of memory: the call cannot be staged to completion; wait here, then copy back */
    if (!persistent)
        err = PMPI_Wait(request, MPI_STATUS_IGNORE);
    tempi_i_stage_out(stage, err);
    tempi_i_stage_release(stage);
    return err;
}

int tempi_i_stage_hold_partitioned(tempi_i_stage_t *stage, int err, MPI_Request *request,
                                   tempi_i_partitioned_t *parts, MPI_Comm comm)
{
    tempi_i_count_staged(stage, 1);
    if (err == MPI_SUCCESS && stage->n > 0 && tempi_i_keep(stage, request, 1, parts))
        return MPI_SUCCESS;
    if (err == MPI_SUCCESS && stage->n > 0) { /* no memory to keep it: the request goes */
        PMPI_Request_free(request);
        err = tempi_i_raise(comm, MPI_ERR_NO_MEM);
    }
    free(parts);
    tempi_i_stage_release(stage);
    return err;
}

/* The slots of the staged requests among requests[0..n), or NULL when there are none. */
static int *tempi_i_held_slots(int n, const MPI_Request requests[])
{
    if (tempi_i_live(&tempi_i_held_requests) == 0 || n <= 0)
        return NULL;
    int *slots = NULL, any = 0;
    for (int i = 0; i < n; ++i) {
        int slot = requests[i] == MPI_REQUEST_NULL
                       ? 0
                       : tempi_i_find(&tempi_i_held_requests, tempi_i_key(requests[i]));
        if (slot && slots == NULL)
            slots = calloc((size_t)n, sizeof *slots);
        if (slots != NULL)
            slots[i] = slot;
        any |= slot != 0;
    }
    if (!any) {
        free(slots);
        return NULL;
    }
    return slots;
}

tempi_i_partitioned_t *tempi_i_held_partitioned(MPI_Request request, tempi_i_stage_t **stage)
{
    if (tempi_i_live(&tempi_i_held_requests) == 0 || request == MPI_REQUEST_NULL)
        return NULL;
    int slot = tempi_i_find(&tempi_i_held_requests, tempi_i_key(request));
    if (slot == 0)
        return NULL;
    tempi_i_lock();
    tempi_i_held_t *held = tempi_i_held[slot - 1];
    tempi_i_unlock();
    if (held == NULL || held->parts == NULL)
        return NULL;
    *stage = &held->stage;
    return held->parts;
}

/* Request i of a completion call completed (err its error): copy back; a one-shot
 * request's copies are released. */
static void tempi_i_held_done(int *slots, int i, int err)
{
    if (slots == NULL || slots[i] == 0)
        return;
    tempi_i_lock();
    tempi_i_held_t *held = tempi_i_held[slots[i] - 1];
    tempi_i_unlock();
    if (held == NULL)
        return;
    if (held->parts != NULL)
        tempi_i_partitioned_done(held->parts, &held->stage, err);
    else
        tempi_i_stage_out(&held->stage, err);
    if (held->persistent)
        return;
    tempi_i_store(&tempi_i_held_requests, held->key, 0);
    tempi_i_stage_release(&held->stage);
    tempi_i_lock();
    tempi_i_held[slots[i] - 1] = NULL;
    tempi_i_unlock();
    free(held);
    slots[i] = 0;
}

/* MPI_Start of a staged persistent request: its buffers copied in again. */
static void tempi_i_held_start(const MPI_Request *request)
{
    int *slots = tempi_i_held_slots(1, request);
    if (slots == NULL)
        return;
    tempi_i_lock();
    tempi_i_held_t *held = tempi_i_held[slots[0] - 1];
    tempi_i_unlock();
    if (held != NULL) /* each round's buffers are messages of TEMPI_STATS */
        tempi_i_count_buffers(&held->stage);
    if (held != NULL && held->parts != NULL) {
        tempi_i_partitioned_start(held->parts, &held->stage);
        held = NULL;
    }
    for (int i = 0; held != NULL && i < held->stage.n; ++i)
        tempi_i_copy(held->stage.host[i], held->stage.user[i], held->stage.nbytes[i],
                     held->stage.on_device[i]);
    free(slots);
}

/* MPI_Request_free: a persistent request's copies go; an active one-shot request's stay
 * (the MPI may still write them) and are never copied back, as MPI says of a freed one. */
static void tempi_i_held_free(const MPI_Request *request)
{
    int *slots = tempi_i_held_slots(1, request);
    if (slots == NULL)
        return;
    tempi_i_lock();
    tempi_i_held_t *held = tempi_i_held[slots[0] - 1];
    tempi_i_held[slots[0] - 1] = NULL;
    tempi_i_unlock();
    if (held != NULL) {
        tempi_i_store(&tempi_i_held_requests, held->key, 0);
        if (held->persistent)
            tempi_i_stage_release(&held->stage);
        free(held->parts);
        free(held);
    }
    free(slots);
}

/* ---- the completion calls, for staged requests around requests.c's ------------------ */

int tempi_i_staged_wait(MPI_Request *request, MPI_Status *status)
{
    int *slots = tempi_i_held_slots(1, request);
    int err = tempi_i_wait(request, status);
    tempi_i_held_done(slots, 0, err);
    free(slots);
    return err;
}

int tempi_i_staged_test(MPI_Request *request, int *flag, MPI_Status *status)
{
    int *slots = tempi_i_held_slots(1, request);
    int err = tempi_i_test(request, flag, status);
    if (*flag || err != MPI_SUCCESS)
        tempi_i_held_done(slots, 0, err);
    free(slots);
    return err;
}

static int tempi_i_status_error(MPI_Status statuses[], int i, int err)
{
    if (err != MPI_ERR_IN_STATUS)
        return err;
    return statuses == MPI_STATUSES_IGNORE ? MPI_ERR_IN_STATUS : statuses[i].MPI_ERROR;
}

int tempi_i_staged_waitall(int count, MPI_Request requests[], MPI_Status statuses[])
{
    int *slots = tempi_i_held_slots(count, requests);
    int err = tempi_i_waitall(count, requests, statuses);
    for (int i = 0; slots != NULL && i < count; ++i)
        tempi_i_held_done(slots, i, tempi_i_status_error(statuses, i, err));
    free(slots);
    return err;
}

int tempi_i_staged_testall(int count, MPI_Request requests[], int *flag, MPI_Status statuses[])
{
    int *slots = tempi_i_held_slots(count, requests);
    int err = tempi_i_testall(count, requests, flag, statuses);
    for (int i = 0; slots != NULL && *flag && i < count; ++i)
        tempi_i_held_done(slots, i, tempi_i_status_error(statuses, i, err));
    free(slots);
    return err;
}

int tempi_i_staged_waitany(int count, MPI_Request requests[], int *index, MPI_Status *status)
{
    int *slots = tempi_i_held_slots(count, requests);
    int err = tempi_i_waitany(count, requests, index, status);
    if (slots != NULL && *index != MPI_UNDEFINED && *index >= 0)
        tempi_i_held_done(slots, *index, err);
    free(slots);
    return err;
}

int tempi_i_staged_testany(int count, MPI_Request requests[], int *index, int *flag,
                           MPI_Status *status)
{
    int *slots = tempi_i_held_slots(count, requests);
    int err = tempi_i_testany(count, requests, index, flag, status);
    if (slots != NULL && *flag && *index != MPI_UNDEFINED && *index >= 0)
        tempi_i_held_done(slots, *index, err);
    free(slots);
    return err;
}

static void tempi_i_some_done(int *slots, int outcount, const int indices[],
                              MPI_Status statuses[], int err)
{
    for (int k = 0; slots != NULL && outcount != MPI_UNDEFINED && k < outcount; ++k)
        tempi_i_held_done(slots, indices[k], tempi_i_status_error(statuses, k, err));
}

int tempi_i_staged_waitsome(int incount, MPI_Request requests[], int *outcount, int indices[],
                            MPI_Status statuses[])
{
    int *slots = tempi_i_held_slots(incount, requests);
    int err = tempi_i_waitsome(incount, requests, outcount, indices, statuses);
    tempi_i_some_done(slots, *outcount, indices, statuses, err);
    free(slots);
    return err;
}

int tempi_i_staged_testsome(int incount, MPI_Request requests[], int *outcount, int indices[],
                            MPI_Status statuses[])
{
    int *slots = tempi_i_held_slots(incount, requests);
    int err = tempi_i_testsome(incount, requests, outcount, indices, statuses);
    tempi_i_some_done(slots, *outcount, indices, statuses, err);
    free(slots);
    return err;
}

int tempi_i_staged_start(MPI_Request *request)
{
    tempi_i_held_start(request);
    return tempi_i_start(request);
}

int tempi_i_staged_startall(int count, MPI_Request requests[])
{
    for (int i = 0; tempi_i_live(&tempi_i_held_requests) && i < count; ++i)
        tempi_i_held_start(&requests[i]);
    return tempi_i_startall(count, requests);
}

int tempi_i_staged_request_free(MPI_Request *request)
{
    tempi_i_held_free(request);
    return tempi_i_request_free(request);
}

MPI_Count tempi_i_comm_size(MPI_Comm comm)
{
    int size = 0, inter = 0;
    PMPI_Comm_test_inter(comm, &inter);
    if (inter)
        PMPI_Comm_remote_size(comm, &size);
    else
        PMPI_Comm_size(comm, &size);
    return size;
}

int tempi_i_is_root(int root, MPI_Comm comm)
{
    int rank = -1, inter = 0;
    PMPI_Comm_test_inter(comm, &inter);
    if (inter)
        return root == MPI_ROOT;
    PMPI_Comm_rank(comm, &rank);
    return rank == root;
}

MPI_Count tempi_i_count_at(const void *counts, int ints, int index)
{
    return ints ? ((const int *)counts)[index] : ((const MPI_Count *)counts)[index];
}

MPI_Count tempi_i_count_sum(const void *counts, int ints, MPI_Comm comm)
{
    MPI_Count sum = 0, size = tempi_i_comm_size(comm);
    for (int i = 0; i < size; ++i)
        sum += tempi_i_count_at(counts, ints, i);
    return sum;
}

int tempi_i_comm_rank(MPI_Comm comm)
{
    int rank = 0;
    PMPI_Comm_rank(comm, &rank);
    return rank;
}

/* MPI_Type_dup of a type tempi accelerates: the copy is accelerated too. */
int tempi_i_type_dup(MPI_Datatype oldtype, MPI_Datatype *newtype)
{
    int err = PMPI_Type_dup(oldtype, newtype);
    if (err == MPI_SUCCESS && !tempi_i_bypass() && tempi_i_state_now() == TEMPI_I_READY &&
        tempi_i_find(&tempi_i_types, (uint64_t)(uint32_t)MPI_Type_c2f(oldtype)))
        tempi_i_store(&tempi_i_types, (uint64_t)(uint32_t)MPI_Type_c2f(*newtype), 1);
    return err;
}
