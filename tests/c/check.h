/* What the C test programs share: buffers in the memory native/devmem.h chose, filled with
 * known values, and the checksum each program prints so that its runs with and without the
 * tempi shim can be compared. */
#ifndef TEMPI_TESTS_CHECK_H
#define TEMPI_TESTS_CHECK_H

#include "devmem.h"
#include <stdlib.h>

/* FNV-1a of the bytes of n doubles, in either memory. */
static unsigned long checksum(const double *buffer, size_t n)
{
    unsigned char *b = malloc(n * sizeof(double));
    devmem_get(b, buffer, n * sizeof(double));
    unsigned long h = 1469598103934665603UL;
    for (size_t i = 0; i < n * sizeof(double); ++i)
        h = (h ^ b[i]) * 1099511628211UL;
    free(b);
    return h;
}

/* buffer[i] = base + i for n doubles. */
static void fill_values(double *buffer, size_t n, double base)
{
    double *host = malloc(n * sizeof(double));
    for (size_t i = 0; i < n; ++i)
        host[i] = base + (double)i;
    devmem_put(buffer, host, n * sizeof(double));
    free(host);
}

/* n new doubles, value base + i at index i. */
static double *filled(size_t n, double base)
{
    double *buffer = devmem_alloc(n * sizeof(double));
    fill_values(buffer, n, base);
    return buffer;
}

#endif
