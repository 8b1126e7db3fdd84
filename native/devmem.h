/* Buffers for tempi's C test and benchmark programs, in host or device memory.
 *
 * Device memory comes from the CUDA driver (libcuda.so.1) found at run time, so the
 * programs build with a plain mpicc and no CUDA toolkit, and the same binary runs on CPU
 * machines (host buffers) and on the GPU machine (device buffers). It uses the device's
 * primary context, the one the CUDA runtime (and so CuPy inside tempi) uses too.
 *
 *   devmem_init(on_device)        once, after MPI_Init; exits with a message if device
 *                                 memory is asked for and there is no usable GPU
 *   devmem_alloc(n)               n zeroed bytes in the chosen memory
 *   devmem_put(dst, host, n)      host bytes -> buffer
 *   devmem_get(host, src, n)      buffer -> host bytes
 *   devmem_free(p)
 */
#ifndef TEMPI_DEVMEM_H
#define TEMPI_DEVMEM_H

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int (*devmem_init_fn)(unsigned);
typedef int (*devmem_device_get_fn)(int *, int);
typedef int (*devmem_ctx_retain_fn)(void **, int);
typedef int (*devmem_ctx_set_fn)(void *);
typedef int (*devmem_alloc_fn)(unsigned long long *, size_t);
typedef int (*devmem_free_fn)(unsigned long long);
typedef int (*devmem_htod_fn)(unsigned long long, const void *, size_t);
typedef int (*devmem_dtoh_fn)(void *, unsigned long long, size_t);
typedef int (*devmem_memset_fn)(unsigned long long, unsigned char, size_t);

static struct {
    int on_device;
    devmem_alloc_fn alloc;
    devmem_free_fn free;
    devmem_htod_fn htod;
    devmem_dtoh_fn dtoh;
    devmem_memset_fn memset;
} devmem;

static void devmem_fail(const char *what, int code)
{
    fprintf(stderr, "devmem: %s failed (CUDA driver error %d)\n", what, code);
    exit(2);
}

static void devmem_init(int on_device)
{
    devmem.on_device = on_device;
    if (!on_device)
        return;
    void *cuda = dlopen("libcuda.so.1", RTLD_NOW | RTLD_GLOBAL);
    if (cuda == NULL) {
        fprintf(stderr, "devmem: device buffers asked for, but no CUDA driver: %s\n", dlerror());
        exit(2);
    }
    devmem_init_fn init = (devmem_init_fn)dlsym(cuda, "cuInit");
    devmem_device_get_fn device_get = (devmem_device_get_fn)dlsym(cuda, "cuDeviceGet");
    devmem_ctx_retain_fn retain = (devmem_ctx_retain_fn)dlsym(cuda, "cuDevicePrimaryCtxRetain");
    devmem_ctx_set_fn set = (devmem_ctx_set_fn)dlsym(cuda, "cuCtxSetCurrent");
    devmem.alloc = (devmem_alloc_fn)dlsym(cuda, "cuMemAlloc_v2");
    devmem.free = (devmem_free_fn)dlsym(cuda, "cuMemFree_v2");
    devmem.htod = (devmem_htod_fn)dlsym(cuda, "cuMemcpyHtoD_v2");
    devmem.dtoh = (devmem_dtoh_fn)dlsym(cuda, "cuMemcpyDtoH_v2");
    devmem.memset = (devmem_memset_fn)dlsym(cuda, "cuMemsetD8_v2");
    if (!init || !device_get || !retain || !set || !devmem.alloc || !devmem.free ||
        !devmem.htod || !devmem.dtoh || !devmem.memset) {
        fprintf(stderr, "devmem: the CUDA driver lacks a needed symbol\n");
        exit(2);
    }
    int device, err;
    void *context;
    if ((err = init(0)) != 0)
        devmem_fail("cuInit", err);
    if ((err = device_get(&device, 0)) != 0)
        devmem_fail("cuDeviceGet", err);
    if ((err = retain(&context, device)) != 0)
        devmem_fail("cuDevicePrimaryCtxRetain", err);
    if ((err = set(context)) != 0)
        devmem_fail("cuCtxSetCurrent", err);
}

static void *devmem_alloc(size_t n)
{
    if (!devmem.on_device) {
        void *p = calloc(n ? n : 1, 1);
        if (p == NULL) {
            fprintf(stderr, "devmem: out of host memory (%zu bytes)\n", n);
            exit(2);
        }
        return p;
    }
    unsigned long long p;
    int err = devmem.alloc(&p, n ? n : 1);
    if (err != 0)
        devmem_fail("cuMemAlloc", err);
    if ((err = devmem.memset(p, 0, n)) != 0)
        devmem_fail("cuMemsetD8", err);
    return (void *)p;
}

static void devmem_put(void *dst, const void *host, size_t n)
{
    int err;
    if (!devmem.on_device)
        memcpy(dst, host, n);
    else if ((err = devmem.htod((unsigned long long)dst, host, n)) != 0)
        devmem_fail("cuMemcpyHtoD", err);
}

static void devmem_get(void *host, const void *src, size_t n)
{
    int err;
    if (!devmem.on_device)
        memcpy(host, src, n);
    else if ((err = devmem.dtoh(host, (unsigned long long)src, n)) != 0)
        devmem_fail("cuMemcpyDtoH", err);
}

static void devmem_free(void *p)
{
    if (!devmem.on_device)
        free(p);
    else
        devmem.free((unsigned long long)p);
}

/* "device" as the first program argument asks for device buffers. */
static int devmem_wanted(int argc, char **argv)
{
    return argc > 1 && strcmp(argv[1], "device") == 0;
}

#endif
