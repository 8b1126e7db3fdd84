/* The interposer's hash tables (open addressing, grown to stay at most half full): the
 * accelerated datatypes (Fortran handle -> 1) and tempi's requests (the bits of the
 * application's MPI_Request -> tempi's entry). Under MPI_THREAD_MULTIPLE a mutex guards
 * them; the live count is read without it, so an empty table costs the fast path one load. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "internal.h"

static pthread_mutex_t tempi_i_table_lock = PTHREAD_MUTEX_INITIALIZER;

static unsigned tempi_i_slot(uint64_t key, unsigned slots)
{
    return (unsigned)((key * 0x9E3779B97F4A7C15ull) >> 32) & (slots - 1);
}

void tempi_i_lock(void)
{
    if (tempi_i_threaded)
        pthread_mutex_lock(&tempi_i_table_lock);
}

void tempi_i_unlock(void)
{
    if (tempi_i_threaded)
        pthread_mutex_unlock(&tempi_i_table_lock);
}

static int tempi_i_probe(const struct tempi_i_table *t, uint64_t key)
{
    if (t->slots == 0)
        return 0;
    unsigned mask = t->slots - 1, s = tempi_i_slot(key, t->slots);
    for (unsigned n = 0; n < t->slots; ++n, s = (s + 1) & mask) {
        if (t->used[s] == 0)
            return 0;
        if (t->used[s] == 1 && t->key[s] == key)
            return t->value[s];
    }
    return 0;
}

/* The value stored under key, or 0. */
int tempi_i_find(const struct tempi_i_table *t, uint64_t key)
{
    if (tempi_i_live(t) == 0)
        return 0;
    tempi_i_lock();
    int value = tempi_i_probe(t, key);
    tempi_i_unlock();
    return value;
}

/* Into fresh arrays of `slots` slots (a power of 2), without the deleted ones; 0 if out
 * of memory (the table is unchanged). */
static int tempi_i_rehash(struct tempi_i_table *t, unsigned slots)
{
    uint64_t *key = calloc(slots, sizeof *key);
    int *value = calloc(slots, sizeof *value);
    unsigned char *used = calloc(slots, 1);
    if (!key || !value || !used) {
        free(key), free(value), free(used);
        return 0;
    }
    for (unsigned i = 0; i < t->slots; ++i) {
        if (t->used[i] != 1)
            continue;
        unsigned s = tempi_i_slot(t->key[i], slots);
        while (used[s])
            s = (s + 1) & (slots - 1);
        key[s] = t->key[i], value[s] = t->value[i], used[s] = 1;
    }
    free(t->key), free(t->value), free(t->used);
    t->key = key, t->value = value, t->used = used;
    t->slots = slots;
    t->filled = t->live;
    return 1;
}

static int tempi_i_put(struct tempi_i_table *t, uint64_t key, int value)
{
    if (value && 2 * (t->filled + 1) > t->slots) { /* at most half full, tombstones too */
        unsigned slots = t->slots ? t->slots : 1024;
        while (4 * ((unsigned)t->live + 1) > slots && slots < (1u << 30)) /* a quarter after */
            slots *= 2;
        if (!tempi_i_rehash(t, slots) && (t->slots == 0 || t->filled + 1 >= t->slots))
            return 0;
    }
    if (t->slots == 0)
        return !value;
    unsigned mask = t->slots - 1, s = tempi_i_slot(key, t->slots), free_slot = t->slots;
    for (unsigned n = 0; n < t->slots; ++n, s = (s + 1) & mask) {
        if (t->used[s] == 1 && t->key[s] == key) {
            if (value)
                t->value[s] = value;
            else {
                t->used[s] = 2;
                __atomic_store_n(&t->live, t->live - 1, __ATOMIC_RELAXED);
            }
            return 1;
        }
        if (t->used[s] != 1 && free_slot == t->slots)
            free_slot = s;
        if (t->used[s] == 0)
            break;
    }
    if (!value)
        return 1;
    if (free_slot == t->slots)
        return 0;
    if (t->used[free_slot] == 0)
        ++t->filled;
    t->key[free_slot] = key;
    t->value[free_slot] = value;
    t->used[free_slot] = 1;
    __atomic_store_n(&t->live, t->live + 1, __ATOMIC_RELAXED);
    return 1;
}

int tempi_i_store(struct tempi_i_table *t, uint64_t key, int value)
{
    tempi_i_lock();
    int stored = tempi_i_put(t, key, value);
    tempi_i_unlock();
    return stored;
}

struct tempi_i_table tempi_i_types;    /* Fortran handle -> 1 if accelerated */
struct tempi_i_table tempi_i_requests; /* MPI request bits -> tempi request entry */
