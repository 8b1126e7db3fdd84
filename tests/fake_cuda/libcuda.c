/* The one stand-in for the CUDA driver (libcuda.so.1) on a CPU machine (built by
 * tests/fake_cuda/__init__.py's build_driver): "device" memory is host memory this library
 * hands out and recognises, kernels are host functions, events complete on their second
 * query (so the progress step has something to wait for), and cuPointerGetAttribute
 * counts its calls (fake_cuda_pointer_queries) and says "not CUDA's memory" for anything
 * else, as the real driver does for unregistered host memory. With it,
 * native/engine_device.c's state machine, pools, progress step and persistent requests
 * run on the CPU (tests/test_engine.py), and the interposer's memory-kind check is counted
 * (tests/test_memkind.py, benchmarks/shim_overhead.py's +cuda rows); the real driver and
 * kernels only on a GPU (scripts/gpu-check engine). */
#include <pthread.h>
#include <sys/mman.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ALLOCS 4096
static struct {
    uintptr_t base;
    size_t n;
} allocs[MAX_ALLOCS];
static int nallocs = 0;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int context = 1;

int cuInit(unsigned flags) { (void)flags; return 0; }
int cuDeviceGet(int *device, int ordinal) { *device = ordinal; return 0; }
int cuDevicePrimaryCtxRetain(void **ctx, int device) { (void)device; *ctx = &context; return 0; }
int cuCtxSetCurrent(void *ctx) { (void)ctx; return 0; }
int cuCtxGetCurrent(void **ctx) { *ctx = &context; return 0; }

int cuMemAlloc_v2(unsigned long long *ptr, size_t n)
{
    /* mmap'd, not malloc'd: the shim knows the brk heap as host memory */
    void *p = mmap(NULL, n ? n : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return 2;
    pthread_mutex_lock(&lock);
    int ok = nallocs < MAX_ALLOCS;
    if (ok)
        allocs[nallocs].base = (uintptr_t)p, allocs[nallocs++].n = n ? n : 1;
    pthread_mutex_unlock(&lock);
    *ptr = (uintptr_t)p;
    return ok ? 0 : 2;
}

int cuMemFree_v2(unsigned long long ptr)
{
    size_t n = 0;
    pthread_mutex_lock(&lock);
    for (int k = 0; k < nallocs; ++k)
        if (allocs[k].base == ptr) {
            n = allocs[k].n;
            allocs[k] = allocs[--nallocs];
            break;
        }
    pthread_mutex_unlock(&lock);
    if (n > 0)
        munmap((void *)(uintptr_t)ptr, n);
    return 0;
}

static long pointer_queries = 0;

/* How many times cuPointerGetAttribute was called (tests/c/memkind.c). */
long fake_cuda_pointer_queries(void)
{
    return __atomic_load_n(&pointer_queries, __ATOMIC_RELAXED);
}

/* CU_POINTER_ATTRIBUTE_MEMORY_TYPE (2): CU_MEMORYTYPE_DEVICE (2) inside an allocation. */
int cuPointerGetAttribute(void *data, int attribute, unsigned long long ptr)
{
    __atomic_fetch_add(&pointer_queries, 1, __ATOMIC_RELAXED);
    if (attribute != 2)
        return 1;
    int device = 0;
    pthread_mutex_lock(&lock);
    for (int k = 0; k < nallocs; ++k)
        if (ptr >= allocs[k].base && ptr < allocs[k].base + allocs[k].n)
            device = 1;
    pthread_mutex_unlock(&lock);
    if (!device)
        return 1; /* CUDA_ERROR_INVALID_VALUE: not CUDA's memory */
    *(unsigned *)data = 2;
    return 0;
}

int cuMemHostAlloc(void **ptr, size_t n, unsigned flags)
{
    (void)flags;
    *ptr = calloc(n ? n : 1, 1);
    return *ptr ? 0 : 2;
}
int cuMemFreeHost(void *ptr) { free(ptr); return 0; }
int cuMemcpyHtoD_v2(unsigned long long dst, const void *src, size_t n)
{
    memcpy((void *)(uintptr_t)dst, src, n);
    return 0;
}
int cuMemcpyDtoH_v2(void *dst, unsigned long long src, size_t n)
{
    memcpy(dst, (const void *)(uintptr_t)src, n);
    return 0;
}
int cuMemsetD8_v2(unsigned long long dst, unsigned char value, size_t n)
{
    memset((void *)(uintptr_t)dst, value, n);
    return 0;
}
int cuMemcpyAsync(unsigned long long dst, unsigned long long src, size_t n, void *stream)
{
    (void)stream;
    memmove((void *)(uintptr_t)dst, (const void *)(uintptr_t)src, n);
    return 0;
}

/* Events: work runs at once, but a query right after a record says "not ready". */
int cuEventCreate(void **event, unsigned flags)
{
    (void)flags;
    *event = calloc(1, sizeof(int));
    return *event ? 0 : 2;
}
int cuEventRecord(void *event, void *stream) { (void)stream; *(int *)event = 1; return 0; }
int cuEventQuery(void *event)
{
    if (*(int *)event) {
        *(int *)event = 0;
        return 600; /* CUDA_ERROR_NOT_READY */
    }
    return 0;
}
int cuEventSynchronize(void *event) { *(int *)event = 0; return 0; }

/* The one "kernel": a 1-level strided pack/unpack. kargs: start, block, nblocks, stride
 * (bytes, from the typed buffer's origin). */
void tempi_fake_kernel(uint64_t typed, uint64_t packed, int unpack, const int64_t *kargs)
{
    char *t = (char *)(uintptr_t)typed + kargs[0], *p = (char *)(uintptr_t)packed;
    for (int64_t b = 0; b < kargs[2]; ++b, p += kargs[1])
        if (unpack)
            memcpy(t + b * kargs[3], p, (size_t)kargs[1]);
        else
            memcpy(p, t + b * kargs[3], (size_t)kargs[1]);
}

typedef void (*fake_kernel_fn)(uint64_t, uint64_t, int, const int64_t *);

long tempi_fake_launches = 0;

int cuLaunchKernel(void *f, unsigned gx, unsigned gy, unsigned gz, unsigned bx, unsigned by,
                   unsigned bz, unsigned shared, void *stream, void **params, void **extra)
{
    (void)gx, (void)gy, (void)gz, (void)bx, (void)by, (void)bz, (void)shared, (void)stream;
    (void)extra;
    __atomic_fetch_add(&tempi_fake_launches, 1, __ATOMIC_RELAXED);
    ((fake_kernel_fn)f)(*(uint64_t *)params[0], *(uint64_t *)params[1], *(int *)params[2],
                        (const int64_t *)params[3]);
    return 0;
}
