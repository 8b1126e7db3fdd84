/* The interposer's small hash tables (open addressing, TEMPI_I_SLOTS slots each): the
 * accelerated datatypes (Fortran handle -> 1) and tempi's requests (the bits of the
 * application's MPI_Request -> tempi's entry). Under MPI_THREAD_MULTIPLE a mutex guards
 * them; the live count is read without it, so an empty table costs the fast path one load. */
#include <pthread.h>
#include <stdint.h>

#include "internal.h"

static pthread_mutex_t tempi_i_table_lock = PTHREAD_MUTEX_INITIALIZER;

static unsigned tempi_i_slot(uint64_t key)
{
    return (unsigned)((key * 0x9E3779B97F4A7C15ull) >> 40) % TEMPI_I_SLOTS;
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
    unsigned s = tempi_i_slot(key);
    for (unsigned n = 0; n < TEMPI_I_SLOTS; ++n, s = (s + 1) % TEMPI_I_SLOTS) {
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

static int tempi_i_put(struct tempi_i_table *t, uint64_t key, int value)
{
    unsigned s = tempi_i_slot(key), free_slot = TEMPI_I_SLOTS;
    for (unsigned n = 0; n < TEMPI_I_SLOTS; ++n, s = (s + 1) % TEMPI_I_SLOTS) {
        if (t->used[s] == 1 && t->key[s] == key) {
            if (value)
                t->value[s] = value;
            else {
                t->used[s] = 2;
                __atomic_store_n(&t->live, t->live - 1, __ATOMIC_RELAXED);
            }
            return 1;
        }
        if (t->used[s] != 1 && free_slot == TEMPI_I_SLOTS)
            free_slot = s;
        if (t->used[s] == 0)
            break;
    }
    if (!value)
        return 1;
    if (free_slot == TEMPI_I_SLOTS)
        return 0;
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
