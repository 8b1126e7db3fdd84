/* The interposer's memory-kind check with a CUDA driver loaded (tests/test_memkind.py):
 * MPI_Pack of one MPI_DOUBLE (which the shim checks for device memory when the MPI is
 * not CUDA-aware) from a stack buffer, a small heap block (the brk heap) and an mmap'd
 * block. Prints, per kind of buffer, how many pointer queries reached the driver and how
 * many buffers the shim recognised as host memory without it (tempi_memkind_counter),
 * and the driver's own count; plain runs (no shim) print "no shim". Usage: memkind
 * PATH_OF_LIBCUDA CALLS. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

typedef long (*counter_fn)(int);
typedef long (*calls_fn)(void);

static void pack(const double *in, int calls)
{
    char out[64];
    for (int i = 0; i < calls; ++i) {
        int position = 0;
        MPI_Pack(in, 1, MPI_DOUBLE, out, sizeof out, &position, MPI_COMM_SELF);
    }
}

int main(int argc, char **argv)
{
    void *cuda = argc > 2 ? dlopen(argv[1], RTLD_NOW | RTLD_GLOBAL) : NULL;
    if (cuda == NULL) {
        fprintf(stderr, "usage: memkind PATH_OF_LIBCUDA CALLS (%s)\n", dlerror());
        return 2;
    }
    int calls = atoi(argv[2]);
    MPI_Init(&argc, &argv);
    MPI_Datatype vector; /* a commit: tempi starts, and looks for the driver */
    MPI_Type_vector(2, 1, 2, MPI_DOUBLE, &vector);
    MPI_Type_commit(&vector);
    counter_fn counter = (counter_fn)dlsym(RTLD_DEFAULT, "tempi_memkind_counter");
    calls_fn driver = (calls_fn)dlsym(cuda, "fake_cuda_pointer_queries");
    double on_stack[4] = {1, 2, 3, 4};
    double *on_heap = malloc(4 * sizeof(double));
    double *mapped = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                          -1, 0);
    const char *names[3] = {"stack", "heap", "mmap"};
    const double *buffers[3] = {on_stack, on_heap, mapped};
    for (int b = 0; b < 3; ++b) {
        long queries = counter ? counter(0) : 0, known = counter ? counter(1) : 0;
        long asked = driver();
        pack(buffers[b], calls);
        if (counter)
            printf("%s: queries=%ld known=%ld driver=%ld\n", names[b], counter(0) - queries,
                   counter(1) - known, driver() - asked);
        else
            printf("%s: no shim driver=%ld\n", names[b], driver() - asked);
    }
    munmap(mapped, 1 << 20);
    free(on_heap);
    MPI_Type_free(&vector);
    MPI_Finalize();
    return 0;
}
