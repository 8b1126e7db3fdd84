/* Device staging for the calls tempi does not otherwise take (the reductions, MPI_Alltoall,
 * MPI_Mrecv, ...): when the system MPI cannot read device memory (tempi_i_stage_device),
 * each device buffer's bytes -- the whole span its (count, datatype) touches, gaps
 * included, so any datatype works and the gaps come back unchanged -- are copied into
 * pooled pinned host memory, the system MPI's same call runs on the host copies, and the
 * buffers it writes are copied back. With TEMPI_HOST=1 host buffers take the same path
 * (memcpy for the CUDA copies), which is how CPU machines test it.
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

long tempi_staged_calls(void)
{
    return __atomic_load_n(&tempi_i_staged, __ATOMIC_RELAXED);
}

/* Needs no Python, but tempi's start-up says whether the MPI can read device memory: a
 * device buffer starts it (once) if nothing has yet. */
int tempi_i_stages(const void *buf)
{
    if (buf == MPI_IN_PLACE || buf == NULL || tempi_i_bypass())
        return 0;
    if (tempi_i_host)
        return 1;
    return tempi_i_data_on_device(buf, MPI_BYTE) && tempi_i_ready() && tempi_i_stage_device;
}

static void *tempi_i_cuda_symbol(const char *name)
{
    void *cuda = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
    return cuda ? dlsym(cuda, name) : NULL;
}

/* Bytes between buffers in either memory (cuMemcpy with unified addressing). */
static void tempi_i_copy(void *dst, const void *src, size_t nbytes, int on_device)
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

void *tempi_i_stage_in(tempi_i_stage_t *stage, const void *buf, MPI_Count count,
                       MPI_Datatype datatype, int out)
{
    if (buf == MPI_IN_PLACE || buf == NULL || count <= 0 || stage->n >= TEMPI_I_STAGED_MAX)
        return (void *)buf;
    MPI_Aint true_lb, true_extent, lb, extent;
    PMPI_Type_get_true_extent(datatype, &true_lb, &true_extent);
    PMPI_Type_get_extent(datatype, &lb, &extent);
    MPI_Aint step = (MPI_Aint)(count - 1) * extent;
    MPI_Aint lo = true_lb + (step < 0 ? step : 0);
    MPI_Aint hi = true_lb + true_extent + (step > 0 ? step : 0);
    if (hi <= lo)
        return (void *)buf;
    int on_device = tempi_i_data_on_device(buf, datatype);
    int slot = stage->n;
    char *host = tempi_i_host_memory(slot, (size_t)(hi - lo), on_device);
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
    stage->n = slot + 1;
    return host - lo;
}

int tempi_i_stage_out(tempi_i_stage_t *stage, int err)
{
    for (int i = 0; i < stage->n; ++i)
        if (stage->out[i] && err == MPI_SUCCESS)
            tempi_i_copy(stage->user[i], stage->host[i], stage->nbytes[i], stage->on_device[i]);
    if (!tempi_i_inside)
        __atomic_fetch_add(&tempi_i_staged, 1, __ATOMIC_RELAXED);
    return err;
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
