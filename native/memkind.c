/* The memory-kind check: whether a pointer is device memory, asked of the CUDA driver
 * only if the application has loaded it (never loading it), so a process without CUDA
 * pays nothing. */
#include <dlfcn.h>
#include <stdint.h>

#include <mpi.h>

#include "internal.h"

typedef int (*tempi_i_cu_attr_fn)(void *, int, unsigned long long);
static tempi_i_cu_attr_fn tempi_i_cu_attr = NULL;

/* Look for the CUDA driver among the loaded libraries (never loading it). dlopen is too
 * slow for every call, so this runs at MPI_Init and every MPI_Type_commit, and once per
 * 4096 calls that find no driver; a program that loads CUDA only after its last commit is
 * noticed within 4096 calls. */
void tempi_i_find_cuda(void)
{
    if (__atomic_load_n(&tempi_i_cu_attr, __ATOMIC_ACQUIRE) != NULL)
        return;
    void *cuda = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
    if (cuda != NULL)
        __atomic_store_n(&tempi_i_cu_attr,
                         (tempi_i_cu_attr_fn)dlsym(cuda, "cuPointerGetAttribute"),
                         __ATOMIC_RELEASE);
}

/* Whether `ptr` (one address) is device memory. */
static int tempi_i_on_device(const void *ptr)
{
    static unsigned calls = 0; /* threads may lose counts: it only paces the next look */
    tempi_i_cu_attr_fn attr = __atomic_load_n(&tempi_i_cu_attr, __ATOMIC_ACQUIRE);
    if (attr == NULL) {
        unsigned n = __atomic_load_n(&calls, __ATOMIC_RELAXED) + 1;
        __atomic_store_n(&calls, n, __ATOMIC_RELAXED);
        if (n % 4096 != 0)
            return 0; /* no CUDA in this process: every pointer is host memory */
        tempi_i_find_cuda();
        attr = __atomic_load_n(&tempi_i_cu_attr, __ATOMIC_ACQUIRE);
        if (attr == NULL)
            return 0;
    }
    unsigned int kind = 0; /* CU_POINTER_ATTRIBUTE_MEMORY_TYPE = 2; CU_MEMORYTYPE_DEVICE = 2 */
    return attr(&kind, 2, (unsigned long long)(uintptr_t)ptr) == 0 && kind == 2;
}

/* Whether the data of `datatype` at `typed` is device memory: asked of the first byte the
 * type touches (typed + true lb), so a buffer MPI_BOTTOM with absolute displacements, or a
 * pointer outside its allocation by a lower bound, is told right. The extent query is made
 * only once the process has loaded CUDA. */
int tempi_i_data_on_device(const void *typed, MPI_Datatype datatype)
{
    if (__atomic_load_n(&tempi_i_cu_attr, __ATOMIC_ACQUIRE) == NULL && !tempi_i_on_device(typed))
        return 0;
    MPI_Aint lb = 0, extent;
    PMPI_Type_get_true_extent(datatype, &lb, &extent);
    return tempi_i_on_device((const char *)typed + lb);
}
