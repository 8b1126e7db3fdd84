/* The memory-kind check: whether a pointer is device memory, asked of the CUDA driver
 * only if the application has loaded it (never loading it), so a process without CUDA
 * pays nothing.
 *
 * With the driver loaded, cuPointerGetAttribute costs hundreds of ns a call, so two kinds
 * of host memory are recognised without it (tempi_i_host_known):
 *   - the calling thread's stack (its bounds from pthread_getattr_np, once per thread);
 *   - the brk heap, from the break at the shim's load to the current one (sbrk(0)), where
 *     glibc's malloc puts small and medium blocks.
 * Both are host memory for as long as they are mapped, and while mapped no other mapping
 * can take their addresses: the driver's device, managed and cuMemMap'd ranges come from
 * virtual address ranges it reserves with mmap elsewhere (NVIDIA, CUDA Programming Guide,
 * "Unified Virtual Addressing" and "Virtual Memory Management"), so a stack or heap
 * address is never device memory at the moment of the call. Memory registered with
 * cuMemHostRegister stays host memory (the driver reports it as such). Everything else --
 * mmap'd blocks, other arenas, static data, an address below the shim's first break --
 * is asked of the driver as before: a wrong "host" verdict for device memory would hand a
 * device pointer to an MPI that cannot read it, so no verdict is remembered for memory
 * that could be unmapped and later reserved by the driver. Systems with HMM/ATS, where
 * the GPU reads pageable host memory, change nothing here: such memory is host memory. */
#define _GNU_SOURCE /* pthread_getattr_np */
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <unistd.h>

#include <mpi.h>

#include "internal.h"

typedef int (*tempi_i_cu_attr_fn)(void *, int, unsigned long long);
static tempi_i_cu_attr_fn tempi_i_cu_attr = NULL;

/* TEMPI_STATS-free counters for tests and benchmarks (tempi_memkind_counter). */
static long tempi_i_memkind_queries = 0; /* asked of the driver */
static long tempi_i_memkind_known = 0;   /* host memory recognised without it */

/* Counted without a locked instruction: threads may lose counts, which only tests read. */
static void tempi_i_bump(long *counter)
{
    __atomic_store_n(counter, __atomic_load_n(counter, __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED);
}

/* The break when the shim was loaded: the brk heap lies above it. */
static char *tempi_i_heap_lo = NULL;

__attribute__((constructor)) static void tempi_i_memkind_load(void)
{
    tempi_i_heap_lo = sbrk(0);
}

/* The C library's dlopen, found once (dlsym(RTLD_NEXT) from the shim: libc's, or libdl's
 * before glibc 2.34). The shim's own looks call it directly, never the wrapper below. */
typedef void *(*tempi_i_dlopen_fn)(const char *, int);
static tempi_i_dlopen_fn tempi_i_real_dlopen_fn = NULL;

static tempi_i_dlopen_fn tempi_i_real_dlopen(void)
{
    tempi_i_dlopen_fn real = __atomic_load_n(&tempi_i_real_dlopen_fn, __ATOMIC_ACQUIRE);
    if (real == NULL) {
        real = (tempi_i_dlopen_fn)dlsym(RTLD_NEXT, "dlopen");
        __atomic_store_n(&tempi_i_real_dlopen_fn, real, __ATOMIC_RELEASE);
    }
    return real;
}

/* dlopen calls the application made through the wrapper, and how many of them the last
 * look for the driver followed. */
static unsigned long tempi_i_dlopens = 0;
static unsigned long tempi_i_dlopens_seen = 0;

/* The application's dlopen, when the shim is preloaded (tempi run): a library loaded after
 * MPI_Init -- cudart_static opens libcuda.so.1 at its first CUDA call, `import cupy` after
 * `from mpi4py import MPI` -- makes the next memory-kind check look for the driver again,
 * so the first device pointer after it is seen as one. An unversioned definition in a
 * preloaded object binds references to the versioned dlopen@GLIBC_2.34 (or @GLIBC_2.2.5)
 * too. The wrapper only counts, then tail-calls the real dlopen (a jump, no frame of
 * the shim's left), so the C library sees the application's return address as the caller:
 * the caller's RUNPATH, $ORIGIN and namespace decide as without the shim. The look itself
 * happens at the next MPI call that checks memory. Loaded RTLD_LOCAL (tempi.Comm's
 * binding, comm/native.py), the shim is not in the global scope and this symbol binds
 * nothing. dlmopen is left alone: a driver loaded into another namespace is not the one
 * the shim's look (in the base namespace) could ask anyway. */
__attribute__((visibility("default"))) void *dlopen(const char *file, int mode)
{
    __atomic_fetch_add(&tempi_i_dlopens, 1, __ATOMIC_RELEASE);
    tempi_i_dlopen_fn real = tempi_i_real_dlopen();
    if (real == NULL)
        return NULL; /* no C library's dlopen: nothing can be opened */
    return real(file, mode);
}

/* Look for the CUDA driver among the loaded libraries (never loading it). dlopen is too
 * slow for every call, so this runs at MPI_Init and every MPI_Type_commit, at the first
 * memory-kind check after the application's dlopen (above), and, as a belt for a dlopen
 * the wrapper cannot see (a library calling libc's by dlvsym, a check racing another
 * thread's dlopen), once per 4096 checks that find no driver. */
void tempi_i_find_cuda(void)
{
    if (__atomic_load_n(&tempi_i_cu_attr, __ATOMIC_ACQUIRE) != NULL)
        return;
    tempi_i_dlopen_fn real = tempi_i_real_dlopen();
    void *cuda = real != NULL ? real("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD) : NULL;
    if (cuda != NULL)
        __atomic_store_n(&tempi_i_cu_attr,
                         (tempi_i_cu_attr_fn)dlsym(cuda, "cuPointerGetAttribute"),
                         __ATOMIC_RELEASE);
}

/* Whether the process has loaded the driver, looking again if the application has called
 * dlopen since the last look. */
int tempi_i_cuda_loaded(void)
{
    if (__atomic_load_n(&tempi_i_cu_attr, __ATOMIC_RELAXED) != NULL)
        return 1;
    unsigned long opened = __atomic_load_n(&tempi_i_dlopens, __ATOMIC_ACQUIRE);
    if (opened == __atomic_load_n(&tempi_i_dlopens_seen, __ATOMIC_RELAXED))
        return 0;
    __atomic_store_n(&tempi_i_dlopens_seen, opened, __ATOMIC_RELAXED);
    tempi_i_find_cuda();
    return __atomic_load_n(&tempi_i_cu_attr, __ATOMIC_RELAXED) != NULL;
}

/* This thread's stack: [lo, hi); known = 1 once asked, -1 if it could not be told. */
static TEMPI_I_FAST_TLS char *tempi_i_stack_lo, *tempi_i_stack_hi;
static TEMPI_I_FAST_TLS int tempi_i_stack_known;

static void tempi_i_learn_stack(void)
{
    pthread_attr_t attr;
    void *lo = NULL;
    size_t size = 0;
    tempi_i_stack_known = -1;
    if (pthread_getattr_np(pthread_self(), &attr) != 0)
        return;
    if (pthread_attr_getstack(&attr, &lo, &size) == 0 && lo != NULL) {
        tempi_i_stack_lo = lo, tempi_i_stack_hi = (char *)lo + size;
        tempi_i_stack_known = 1;
    }
    pthread_attr_destroy(&attr);
}

/* Whether p is host memory tempi can tell without the driver: this thread's stack or the
 * brk heap (see the top of the file). */
static int tempi_i_host_known(const char *p)
{
    if (tempi_i_stack_known == 0)
        tempi_i_learn_stack();
    if (p >= tempi_i_stack_lo && p < tempi_i_stack_hi)
        return 1;
    return tempi_i_heap_lo != NULL && p >= tempi_i_heap_lo && p < (char *)sbrk(0);
}

/* Whether `ptr` (one address) is device memory. */
static int tempi_i_on_device(const void *ptr)
{
    static unsigned calls = 0; /* threads may lose counts: it only paces the next look */
    tempi_i_cu_attr_fn attr = __atomic_load_n(&tempi_i_cu_attr, __ATOMIC_ACQUIRE);
    if (attr == NULL) {
        unsigned long opened = __atomic_load_n(&tempi_i_dlopens, __ATOMIC_ACQUIRE);
        if (opened == __atomic_load_n(&tempi_i_dlopens_seen, __ATOMIC_RELAXED)) {
            unsigned n = __atomic_load_n(&calls, __ATOMIC_RELAXED) + 1;
            __atomic_store_n(&calls, n, __ATOMIC_RELAXED);
            if (n % 4096 != 0)
                return 0; /* no CUDA in this process: every pointer is host memory */
        } else {
            __atomic_store_n(&tempi_i_dlopens_seen, opened, __ATOMIC_RELAXED);
        }
        tempi_i_find_cuda();
        attr = __atomic_load_n(&tempi_i_cu_attr, __ATOMIC_ACQUIRE);
        if (attr == NULL)
            return 0;
    }
    if (tempi_i_host_known(ptr)) {
        tempi_i_bump(&tempi_i_memkind_known);
        return 0;
    }
    tempi_i_bump(&tempi_i_memkind_queries);
    unsigned int kind = 0; /* CU_POINTER_ATTRIBUTE_MEMORY_TYPE = 2; CU_MEMORYTYPE_DEVICE = 2 */
    return attr(&kind, 2, (unsigned long long)(uintptr_t)ptr) == 0 && kind == 2;
}

/* The true lower bound of the last datatype this thread asked about, valid while no type
 * has been freed since (a freed handle may come back as another type). */
static long tempi_i_types_freed = 0;
static TEMPI_I_FAST_TLS MPI_Datatype tempi_i_last_type;
static TEMPI_I_FAST_TLS MPI_Aint tempi_i_last_lb;
static TEMPI_I_FAST_TLS long tempi_i_last_freed = -1;

void tempi_i_memkind_type_freed(void)
{
    __atomic_fetch_add(&tempi_i_types_freed, 1, __ATOMIC_RELEASE);
}

/* Whether the data of `datatype` at `typed` is device memory: asked of the first byte the
 * type touches (typed + true lb), so a buffer MPI_BOTTOM with absolute displacements, or a
 * pointer outside its allocation by a lower bound, is told right. The extent query is made
 * only once the process has loaded CUDA (and once per type and thread, see above). */
int tempi_i_data_on_device(const void *typed, MPI_Datatype datatype)
{
    if (__atomic_load_n(&tempi_i_cu_attr, __ATOMIC_ACQUIRE) == NULL && !tempi_i_on_device(typed))
        return 0;
    if (typed == MPI_IN_PLACE || datatype == MPI_DATATYPE_NULL)
        return 0; /* no data here (MPI_IN_PLACE's is in the other buffer; a null type's
                   * buffer is insignificant: MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL) */
    long freed = __atomic_load_n(&tempi_i_types_freed, __ATOMIC_ACQUIRE);
    if (freed != tempi_i_last_freed || datatype != tempi_i_last_type) {
        MPI_Aint lb = 0, extent;
        if (PMPI_Type_get_true_extent(datatype, &lb, &extent) != MPI_SUCCESS)
            lb = 0;
        tempi_i_last_type = datatype, tempi_i_last_lb = lb, tempi_i_last_freed = freed;
    }
    return tempi_i_on_device((const char *)typed + tempi_i_last_lb);
}

/* For tests and benchmarks: 0, pointers asked of the driver; 1, host memory recognised
 * without it (the thread's stack, the brk heap). */
long tempi_memkind_counter(int which)
{
    return __atomic_load_n(which == 0 ? &tempi_i_memkind_queries : &tempi_i_memkind_known,
                           __ATOMIC_RELAXED);
}
