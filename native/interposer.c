/* The tempi interposer: MPI_* entry points that an LD_PRELOADed shim puts in front of the
 * system MPI (reached through PMPI_*).
 *
 * Compiled by cffi in embedding mode (tempi/shim/build.py) into one shared object with the
 * Python callbacks of tempi/shim/callbacks.py, declared in interposer.h as tempi_py_*.
 * The C side keeps the fast path: a call whose datatype tempi does not accelerate, or
 * whose buffer is host memory (unless TEMPI_HOST=1), never enters Python.
 *
 * Python starts lazily, on the first call that needs it. In a plain C host the shim starts
 * the interpreter itself (the environment's python, baked in at build time as
 * TEMPI_I_PYTHON, or $TEMPI_PYTHON), without signal handlers, and releases the GIL. cffi
 * returns 0 from an embedded function whose initialisation failed, so every callback
 * returns TEMPI_I_OK on success and readiness is remembered: after a failure the shim says
 * so once on stderr and passes everything through.
 *
 * Calls that tempi itself makes (mpi4py inside the callbacks) must reach the real MPI: a
 * thread-local flag marks "inside tempi" and every entry point then goes straight to PMPI.
 *
 * Threads: when MPI_Init_thread provides MPI_THREAD_MULTIPLE, a mutex guards the tables and
 * the pass-through counter is added atomically; the Python side takes the GIL per callback.
 * Blocking waits hold neither lock, so one thread waiting never stops another.
 */
#include <Python.h>

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include "config_gen.h" /* generated from tempi/config.py by tempi/shim/build.py */
#include "interposer.h"
#include "internal.h"

#ifndef TEMPI_I_PYTHON
#define TEMPI_I_PYTHON "python3"
#endif

#define TEMPI_I_OK 1          /* a callback did the work */
#define TEMPI_I_PASS 2        /* a callback declined: call the system MPI */

enum { TEMPI_I_UNTRIED = 0, TEMPI_I_READY = 1, TEMPI_I_BROKEN = -1 };

static int tempi_i_state = TEMPI_I_UNTRIED;
static int tempi_i_disabled = 0; /* TEMPI_DISABLE: pass everything through */
static int tempi_i_no_pack = 0;  /* TEMPI_NO_PACK: leave MPI_Pack/MPI_Unpack alone */
static int tempi_i_host = 0;     /* TEMPI_HOST: host memory goes through tempi too */
static int tempi_i_stats = 0;    /* TEMPI_STATS: count the messages of passed collectives */
static __thread int tempi_i_inside = 0;
static long tempi_i_passed = 0; /* messages handed to the system MPI (TEMPI_STATS) */
static int tempi_i_threaded = 0; /* MPI_THREAD_MULTIPLE provided: lock what threads share */
static pthread_mutex_t tempi_i_table_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t tempi_i_start_lock = PTHREAD_MUTEX_INITIALIZER;

/* An intercepted call with `messages` messages goes to the system MPI (counted unless
 * tempi itself made it). */
static inline void tempi_i_count_pass(long messages)
{
    if (tempi_i_inside)
        return;
    if (tempi_i_threaded)
        __atomic_fetch_add(&tempi_i_passed, messages, __ATOMIC_RELAXED);
    else
        tempi_i_passed += messages;
}

/* Set by tempi at start-up: the system MPI cannot take device buffers (not CUDA-aware, or
 * TEMPI_CONTIGUOUS=staged), so tempi stages every device buffer, whatever its type. */
static int tempi_i_stage_device = 0;

void tempi_stage_device_buffers(int on)
{
    tempi_i_stage_device = on;
}

/* Called from Python at finalize, for TEMPI_STATS: messages passed to the system MPI. */
long tempi_passed_messages(void)
{
    return __atomic_load_n(&tempi_i_passed, __ATOMIC_RELAXED);
}

/* node_of[r]: the lowest MPI_COMM_WORLD rank on world rank r's node. Learnt inside MPI_Init
 * (a collective: every rank is there, and a send, where the strategy is chosen, is not). */
static int *tempi_i_node_of = NULL;
static int tempi_i_world_size = 0;

static void tempi_i_learn_nodes(void)
{
    int rank, size, lowest = -1;
    MPI_Comm node;
    PMPI_Comm_rank(MPI_COMM_WORLD, &rank);
    PMPI_Comm_size(MPI_COMM_WORLD, &size);
    int *all = malloc((size_t)size * sizeof *all);
    if (all && tempi_i_simulated_nodes(size, all)) { /* TEMPI_NODES: no collective needed */
        tempi_i_node_of = all;
        tempi_i_world_size = size;
        return;
    }
    if (!all || PMPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL,
                                     &node) != MPI_SUCCESS) {
        free(all); /* an MPI error is fatal by default; then every rank is here */
        return;
    }
    PMPI_Allreduce(&rank, &lowest, 1, MPI_INT, MPI_MIN, node);
    PMPI_Comm_free(&node);
    if (PMPI_Allgather(&lowest, 1, MPI_INT, all, 1, MPI_INT, MPI_COMM_WORLD) != MPI_SUCCESS) {
        free(all);
        return;
    }
    tempi_i_node_of = all;
    tempi_i_world_size = size;
}

/* The lowest world rank on world rank r's node; -1 when not known. */
int tempi_node_of(int r)
{
    return tempi_i_node_of && r >= 0 && r < tempi_i_world_size ? tempi_i_node_of[r] : -1;
}

/* ---- small hash tables: accelerated types, and tempi's requests ----------------------- */

#define TEMPI_I_SLOTS 16384 /* per table, open addressing; a full table degrades safely */

struct tempi_i_table {
    uint64_t key[TEMPI_I_SLOTS];
    int value[TEMPI_I_SLOTS];
    unsigned char used[TEMPI_I_SLOTS]; /* 0 empty, 1 in use, 2 deleted */
    int live;
};

static unsigned tempi_i_slot(uint64_t key)
{
    return (unsigned)((key * 0x9E3779B97F4A7C15ull) >> 40) % TEMPI_I_SLOTS;
}

static void tempi_i_lock(void)
{
    if (tempi_i_threaded)
        pthread_mutex_lock(&tempi_i_table_lock);
}

static void tempi_i_unlock(void)
{
    if (tempi_i_threaded)
        pthread_mutex_unlock(&tempi_i_table_lock);
}

/* Entries in the table: read without the lock, for the fast path's "is it empty?". */
static int tempi_i_live(const struct tempi_i_table *t)
{
    return __atomic_load_n(&t->live, __ATOMIC_RELAXED);
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
static int tempi_i_find(const struct tempi_i_table *t, uint64_t key)
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

/* Store value (non-zero) under key, or remove key when value is 0. Returns 0 if full. */
static int tempi_i_store(struct tempi_i_table *t, uint64_t key, int value)
{
    tempi_i_lock();
    int stored = tempi_i_put(t, key, value);
    tempi_i_unlock();
    return stored;
}

static struct tempi_i_table tempi_i_types;    /* Fortran handle -> 1 if accelerated */
static struct tempi_i_table tempi_i_requests; /* MPI request bits -> tempi request id */

static int tempi_i_accelerated(MPI_Datatype datatype)
{
    return tempi_i_find(&tempi_i_types, (uint64_t)(uint32_t)MPI_Type_c2f(datatype));
}

static uint64_t tempi_i_request_key(MPI_Request request)
{
    uint64_t key = 0;
    memcpy(&key, &request, sizeof request);
    return key;
}

/* ---- device memory: the CUDA driver, only if the application loaded it --------------- */

typedef int (*tempi_i_cu_attr_fn)(void *, int, unsigned long long);
static tempi_i_cu_attr_fn tempi_i_cu_attr = NULL;

/* Look for the CUDA driver among the loaded libraries (never loading it). dlopen is too
 * slow for every call, so this runs at MPI_Init and every MPI_Type_commit, and once per
 * 4096 calls that find no driver; a program that loads CUDA only after its last commit is
 * noticed within 4096 calls. */
static void tempi_i_find_cuda(void)
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
static int tempi_i_data_on_device(const void *typed, MPI_Datatype datatype)
{
    if (__atomic_load_n(&tempi_i_cu_attr, __ATOMIC_ACQUIRE) == NULL && !tempi_i_on_device(typed))
        return 0;
    MPI_Aint lb = 0, extent;
    PMPI_Type_get_true_extent(datatype, &lb, &extent);
    return tempi_i_on_device((const char *)typed + lb);
}

/* ---- Python ----------------------------------------------------------------------------- */

static int tempi_i_start_python(void)
{
    if (Py_IsInitialized())
        return 1;
    const char *python = getenv("TEMPI_PYTHON");
    PyConfig config;
    PyConfig_InitPythonConfig(&config);
    config.install_signal_handlers = 0;
    PyStatus status = PyConfig_SetBytesString(&config, &config.executable,
                                              python && *python ? python : TEMPI_I_PYTHON);
    if (!PyStatus_Exception(status))
        status = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status))
        return 0;
    PyEval_SaveThread(); /* cffi takes the GIL for each callback */
    return 1;
}

static int tempi_i_state_now(void)
{
    return __atomic_load_n(&tempi_i_state, __ATOMIC_ACQUIRE);
}

/* The first callback, which makes cffi start its embedded module, with the GIL held
 * throughout. Before Python 3.12, cffi's start-up spins until PyCapsule_Type.tp_version_tag
 * reads 0 (its lock), and in a Python host any attribute lookup on a capsule (mpi4py's
 * DLPack handling makes them) has set that tag for good: a hang. PyType_Modified resets
 * it (the next lookup assigns a new one), and no other Python thread can run before cffi
 * has taken and released its lock, since both happen in C under the GIL taken here. */
static int tempi_i_init_python_side(void)
{
    PyGILState_STATE gil = PyGILState_Ensure();
#if PY_VERSION_HEX < 0x030C0000
    PyType_Modified(&PyCapsule_Type);
#endif
    int ok = tempi_py_init() == TEMPI_I_OK;
    PyGILState_Release(gil);
    return ok;
}

/* Whether the Python side is usable; starts it on first use (once, whichever thread). */
int tempi_i_ready(void)
{
    if (tempi_i_state_now() == TEMPI_I_UNTRIED) {
        pthread_mutex_lock(&tempi_i_start_lock);
        if (tempi_i_state == TEMPI_I_UNTRIED) {
            tempi_i_inside = 1;
            int ok = tempi_i_start_python() && tempi_i_init_python_side();
            tempi_i_inside = 0;
            __atomic_store_n(&tempi_i_state, ok ? TEMPI_I_READY : TEMPI_I_BROKEN,
                             __ATOMIC_RELEASE);
            if (!ok)
                fprintf(stderr, "tempi: could not start Python/tempi (TEMPI_PYTHON=%s); "
                                "passing every MPI call to the system MPI\n",
                        getenv("TEMPI_PYTHON") ? getenv("TEMPI_PYTHON") : TEMPI_I_PYTHON);
        }
        pthread_mutex_unlock(&tempi_i_start_lock);
    }
    return tempi_i_state_now() == TEMPI_I_READY;
}

static int tempi_i_bypass(void)
{
    return tempi_i_inside || tempi_i_disabled || tempi_i_state_now() == TEMPI_I_BROKEN;
}

/* For the shim's other C files (internal.h). */
int tempi_i_is_disabled(void)
{
    return tempi_i_disabled;
}

int tempi_i_is_inside(void)
{
    return tempi_i_inside;
}

void tempi_i_set_inside(int on)
{
    tempi_i_inside = on;
}

/* The spellings and defaults come from tempi/config.py (config_gen.h, generated at build). */
static void tempi_i_read_environment(void)
{
    tempi_i_disabled = tempi_i_config_bool("TEMPI_DISABLE") == 1;
    tempi_i_no_pack = tempi_i_config_bool("TEMPI_NO_PACK") == 1;
    tempi_i_host = tempi_i_config_bool("TEMPI_HOST") == 1;
    tempi_i_stats = tempi_i_config_bool("TEMPI_STATS") == 1;
}

/* ---- entry points --------------------------------------------------------------------------- */

int MPI_Init(int *argc, char ***argv)
{
    tempi_i_read_environment();
    tempi_i_find_cuda();
    int err = PMPI_Init(argc, argv);
    if (err == MPI_SUCCESS && !tempi_i_disabled)
        tempi_i_learn_nodes();
    return err;
}

int MPI_Init_thread(int *argc, char ***argv, int required, int *provided)
{
    tempi_i_read_environment();
    tempi_i_find_cuda();
    int err = PMPI_Init_thread(argc, argv, required, provided);
    if (err == MPI_SUCCESS && !tempi_i_disabled) {
        tempi_i_threaded = *provided == MPI_THREAD_MULTIPLE;
        tempi_i_learn_nodes();
    }
    return err;
}

int MPI_Finalize(void)
{
    /* mpi4py finalizes MPI after the interpreter is gone: then Python's own atexit hook
     * has already run tempi's finalize. */
    if (!tempi_i_bypass() && tempi_i_state_now() == TEMPI_I_READY && Py_IsInitialized()) {
        tempi_i_inside = 1;
        tempi_py_finalize();
        tempi_i_inside = 0;
    }
    return PMPI_Finalize();
}

int MPI_Type_commit(MPI_Datatype *datatype)
{
    int err = PMPI_Type_commit(datatype);
    tempi_i_find_cuda();
    if (err != MPI_SUCCESS || tempi_i_bypass() || !tempi_i_ready())
        return err;
    tempi_i_inside = 1;
    int accelerated = tempi_py_type_commit(MPI_Type_c2f(*datatype));
    tempi_i_inside = 0;
    tempi_i_store(&tempi_i_types, (uint64_t)(uint32_t)MPI_Type_c2f(*datatype),
                  accelerated == TEMPI_I_OK);
    return err;
}

int MPI_Type_free(MPI_Datatype *datatype)
{
    if (!tempi_i_bypass() && tempi_i_state_now() == TEMPI_I_READY) {
        MPI_Fint key = MPI_Type_c2f(*datatype);
        tempi_i_store(&tempi_i_types, (uint64_t)(uint32_t)key, 0);
        tempi_i_inside = 1;
        tempi_py_type_free(key);
        tempi_i_inside = 0;
    }
    return PMPI_Type_free(datatype);
}

/* Whether an operation on `datatype` in `typed` memory goes to tempi. */
/* Whether tempi takes this buffer: an accelerated type on the device (or anywhere with
 * TEMPI_HOST=1); or, where the MPI cannot read device memory, any other type on the device
 * (contiguous data is staged through host memory). The pointer check costs nothing until
 * the process loads the CUDA driver. */
static int tempi_i_takes(const void *typed, MPI_Datatype datatype)
{
    if (tempi_i_bypass() || tempi_i_state_now() != TEMPI_I_READY)
        return 0;
    if (!tempi_i_accelerated(datatype))
        return tempi_i_stage_device && tempi_i_data_on_device(typed, datatype);
    return tempi_i_host || tempi_i_data_on_device(typed, datatype);
}

static int tempi_i_takes_pack(const void *typed, MPI_Datatype datatype)
{
    return !tempi_i_no_pack && tempi_i_takes(typed, datatype);
}

static int tempi_i_pack(const void *inbuf, int64_t incount, MPI_Datatype datatype, void *outbuf,
                        int64_t outsize, int64_t *position, MPI_Comm comm)
{
    tempi_i_inside = 1;
    int rc = tempi_py_pack((intptr_t)inbuf, incount, MPI_Type_c2f(datatype), (intptr_t)outbuf,
                           outsize, position, MPI_Comm_c2f(comm));
    tempi_i_inside = 0;
    return rc;
}

static int tempi_i_unpack(const void *inbuf, int64_t insize, int64_t *position, void *outbuf,
                          int64_t outcount, MPI_Datatype datatype, MPI_Comm comm)
{
    tempi_i_inside = 1;
    int rc = tempi_py_unpack((intptr_t)inbuf, insize, position, (intptr_t)outbuf, outcount,
                             MPI_Type_c2f(datatype), MPI_Comm_c2f(comm));
    tempi_i_inside = 0;
    return rc;
}

/* Callbacks return TEMPI_I_OK, TEMPI_I_PASS, or an MPI error code + 1000 (never 0 or 1). */
static int tempi_i_error(int rc)
{
    return rc >= 1000 ? rc - 1000 : MPI_ERR_INTERN;
}

#define TEMPI_I_PACK(NAME, PNAME, COUNT_T)                                                      \
    int NAME(const void *inbuf, COUNT_T incount, MPI_Datatype datatype, void *outbuf,          \
             COUNT_T outsize, COUNT_T *position, MPI_Comm comm)                                 \
    {                                                                                           \
        if (tempi_i_takes_pack(inbuf, datatype)) {                                              \
            int64_t pos = *position;                                                            \
            int rc = tempi_i_pack(inbuf, incount, datatype, outbuf, outsize, &pos, comm);       \
            if (rc == TEMPI_I_OK) {                                                             \
                *position = (COUNT_T)pos;                                                       \
                return MPI_SUCCESS;                                                             \
            }                                                                                   \
            if (rc != TEMPI_I_PASS)                                                             \
                return tempi_i_error(rc);                                                       \
        }                                                                                       \
        tempi_i_count_pass(1);                                                                  \
        return PNAME(inbuf, incount, datatype, outbuf, outsize, position, comm);               \
    }

#define TEMPI_I_UNPACK(NAME, PNAME, COUNT_T)                                                    \
    int NAME(const void *inbuf, COUNT_T insize, COUNT_T *position, void *outbuf,               \
             COUNT_T outcount, MPI_Datatype datatype, MPI_Comm comm)                            \
    {                                                                                           \
        if (tempi_i_takes_pack(outbuf, datatype)) {                                             \
            int64_t pos = *position;                                                            \
            int rc = tempi_i_unpack(inbuf, insize, &pos, outbuf, outcount, datatype, comm);     \
            if (rc == TEMPI_I_OK) {                                                             \
                *position = (COUNT_T)pos;                                                       \
                return MPI_SUCCESS;                                                             \
            }                                                                                   \
            if (rc != TEMPI_I_PASS)                                                             \
                return tempi_i_error(rc);                                                       \
        }                                                                                       \
        tempi_i_count_pass(1);                                                                  \
        return PNAME(inbuf, insize, position, outbuf, outcount, datatype, comm);               \
    }

TEMPI_I_PACK(MPI_Pack, PMPI_Pack, int)
TEMPI_I_UNPACK(MPI_Unpack, PMPI_Unpack, int)

int MPI_Pack_size(int incount, MPI_Datatype datatype, MPI_Comm comm, int *size)
{
    return PMPI_Pack_size(incount, datatype, comm, size);
}

/* ---- point to point: the application holds a generalized request for each of tempi's,
 * which the request table maps to tempi's id. Not the MPI request tempi waits on: tempi's
 * progress completes that one while the application still holds its handle, and MPI
 * hands a completed request's handle to the next plain request it makes. A generalized
 * request stays allocated until tempi completes and frees it when the application
 * completes tempi's request, or, for a persistent one (MPI_Send_init, MPI_Recv_init),
 * when the application frees it. The system MPI never sees these handles: the completion
 * calls hide them (MPI_REQUEST_NULL) in the arrays they pass on. ---- */

#define TEMPI_I_MAX_REQUESTS (TEMPI_I_SLOTS / 2) /* keeps the request table's probes short */

/* The request table holds tempi's id << 2 | these bits. */
#define TEMPI_I_ACTIVE 1     /* an operation is in flight (always, for a one-shot request) */
#define TEMPI_I_PERSISTENT 2 /* the handle outlives its operations, until MPI_Request_free */

static int tempi_i_greq_query(void *extra, MPI_Status *status)
{
    (void)extra; /* tempi fills the application's statuses itself */
    PMPI_Status_set_elements(status, MPI_BYTE, 0);
    PMPI_Status_set_cancelled(status, 0);
    status->MPI_SOURCE = MPI_UNDEFINED;
    status->MPI_TAG = MPI_UNDEFINED;
    return MPI_SUCCESS;
}

static int tempi_i_greq_free(void *extra)
{
    (void)extra;
    return MPI_SUCCESS;
}

static int tempi_i_greq_cancel(void *extra, int complete)
{
    (void)extra, (void)complete; /* MPI_Cancel of tempi's requests never reaches MPI */
    return MPI_SUCCESS;
}

/* Complete and free a generalized request (now MPI_REQUEST_NULL). */
static void tempi_i_drop_handle(MPI_Request *request)
{
    PMPI_Grequest_complete(*request);
    PMPI_Wait(request, MPI_STATUS_IGNORE);
}

/* Release the application's handle of one of tempi's requests (now MPI_REQUEST_NULL). */
static void tempi_i_forget(MPI_Request *request)
{
    tempi_i_store(&tempi_i_requests, tempi_i_request_key(*request), 0);
    tempi_i_drop_handle(request);
}

/* tempi's table entry for the request the application holds, or 0 for a plain request. */
static int tempi_i_entry(MPI_Request request)
{
    if (tempi_i_live(&tempi_i_requests) == 0 || request == MPI_REQUEST_NULL)
        return 0;
    return tempi_i_find(&tempi_i_requests, tempi_i_request_key(request));
}

/* The application's request completed: a one-shot handle is released (now
 * MPI_REQUEST_NULL), a persistent one becomes inactive. */
static void tempi_i_finish(MPI_Request *request, int entry)
{
    if (entry & TEMPI_I_PERSISTENT)
        tempi_i_store(&tempi_i_requests, tempi_i_request_key(*request), entry & ~TEMPI_I_ACTIVE);
    else
        tempi_i_forget(request);
}

/* Before tempi starts an operation: the handle the application will hold. */
static int tempi_i_new_handle(MPI_Request *request)
{
    if (tempi_i_live(&tempi_i_requests) >= TEMPI_I_MAX_REQUESTS) {
        fprintf(stderr, "tempi: more than %d requests in flight\n", TEMPI_I_MAX_REQUESTS);
        return 1000 + MPI_ERR_INTERN;
    }
    int err = PMPI_Grequest_start(tempi_i_greq_query, tempi_i_greq_free, tempi_i_greq_cancel,
                                  NULL, request);
    return err == MPI_SUCCESS ? TEMPI_I_OK : 1000 + err;
}

/* After: map the handle to tempi's id, or drop it when tempi started nothing (rc is
 * TEMPI_I_PASS or an error, which is returned). A persistent request starts inactive. */
static int tempi_i_adopt(int rc, int id, int persistent, MPI_Request *request)
{
    if (rc == TEMPI_I_OK)
        tempi_i_store(&tempi_i_requests, tempi_i_request_key(*request),
                      id << 2 | (persistent ? TEMPI_I_PERSISTENT : TEMPI_I_ACTIVE));
    else
        tempi_i_drop_handle(request);
    return rc;
}

/* Send modes (tempi_py_isend's mode): a ready send may always be a standard one (MPI
 * 4.1, 3.4); a buffered one posts tempi's packed bytes with MPI_Ibsend. */
#define TEMPI_I_STANDARD 0
#define TEMPI_I_SYNCHRONOUS 1
#define TEMPI_I_BUFFERED 2

/* MPI_Isend, or with persistent MPI_Send_init. */
static int tempi_i_isend(const void *buf, int64_t count, MPI_Datatype datatype, int dest,
                         int tag, MPI_Comm comm, int mode, int persistent,
                         MPI_Request *request)
{
    int id = 0, rc = tempi_i_new_handle(request);
    if (rc != TEMPI_I_OK)
        return rc;
    tempi_i_inside = 1;
    rc = tempi_py_isend((intptr_t)buf, count, MPI_Type_c2f(datatype), dest, tag,
                        MPI_Comm_c2f(comm), mode, persistent, &id);
    tempi_i_inside = 0;
    return tempi_i_adopt(rc, id, persistent, request);
}

/* MPI_Irecv, or with persistent MPI_Recv_init. */
static int tempi_i_irecv(void *buf, int64_t count, MPI_Datatype datatype, int source, int tag,
                         MPI_Comm comm, int persistent, MPI_Request *request)
{
    int id = 0, rc = tempi_i_new_handle(request);
    if (rc != TEMPI_I_OK)
        return rc;
    tempi_i_inside = 1;
    rc = tempi_py_irecv((intptr_t)buf, count, MPI_Type_c2f(datatype), source, tag,
                        MPI_Comm_c2f(comm), persistent, &id);
    tempi_i_inside = 0;
    return tempi_i_adopt(rc, id, persistent, request);
}

/* nbytes: -1 for a send (its status stays as the system MPI left it), -2 if cancelled. */
static void tempi_i_fill_status(MPI_Status *status, int source, int tag, int64_t nbytes)
{
    if (status == MPI_STATUS_IGNORE || nbytes == -1)
        return;
    if (nbytes == -2) {
        status->MPI_ERROR = MPI_SUCCESS;
        MPI_Status_set_elements_x(status, MPI_BYTE, 0);
        PMPI_Status_set_cancelled(status, 1);
        return;
    }
    status->MPI_SOURCE = source;
    status->MPI_TAG = tag;
    status->MPI_ERROR = MPI_SUCCESS;
    MPI_Status_set_elements_x(status, MPI_BYTE, (MPI_Count)nbytes);
}

/* MPI's empty status, which completing an inactive persistent request gives. */
static void tempi_i_empty_status(MPI_Status *status)
{
    if (status == MPI_STATUS_IGNORE)
        return;
    status->MPI_SOURCE = MPI_ANY_SOURCE;
    status->MPI_TAG = MPI_ANY_TAG;
    status->MPI_ERROR = MPI_SUCCESS;
    MPI_Status_set_elements_x(status, MPI_BYTE, 0);
    PMPI_Status_set_cancelled(status, 0);
}

static int tempi_i_wait(MPI_Request *request, int entry, MPI_Status *status)
{
    if (!(entry & TEMPI_I_ACTIVE)) {
        tempi_i_empty_status(status);
        return MPI_SUCCESS;
    }
    int source = 0, tag = 0;
    int64_t nbytes = -1;
    tempi_i_finish(request, entry);
    tempi_i_inside = 1;
    int rc = tempi_py_wait(entry >> 2, &source, &tag, &nbytes);
    tempi_i_inside = 0;
    if (rc != TEMPI_I_OK)
        return tempi_i_error(rc);
    tempi_i_fill_status(status, source, tag, nbytes);
    return MPI_SUCCESS;
}

static int tempi_i_test(MPI_Request *request, int entry, int *flag, MPI_Status *status)
{
    if (!(entry & TEMPI_I_ACTIVE)) {
        *flag = 1;
        tempi_i_empty_status(status);
        return MPI_SUCCESS;
    }
    int source = 0, tag = 0;
    int64_t nbytes = -1;
    tempi_i_inside = 1;
    int rc = tempi_py_test(entry >> 2, flag, &source, &tag, &nbytes);
    tempi_i_inside = 0;
    if (rc != TEMPI_I_OK)
        return tempi_i_error(rc);
    if (*flag) {
        tempi_i_finish(request, entry);
        tempi_i_fill_status(status, source, tag, nbytes);
    }
    return MPI_SUCCESS;
}

/* Blocking forms: start, then wait, on tempi's path. */
static int tempi_i_send(const void *buf, int64_t count, MPI_Datatype datatype, int dest, int tag,
                        MPI_Comm comm, int mode)
{
    MPI_Request request;
    int rc = tempi_i_isend(buf, count, datatype, dest, tag, comm, mode, 0, &request);
    if (rc != TEMPI_I_OK)
        return rc;
    int err = tempi_i_wait(&request, tempi_i_entry(request), MPI_STATUS_IGNORE);
    return err == MPI_SUCCESS ? TEMPI_I_OK : err + 1000;
}

/* Return from the entry point unless tempi passed: OK is success, anything else an error. */
#define TEMPI_I_TRY(CALL)                                                                       \
    do {                                                                                        \
        int rc_ = (CALL);                                                                       \
        if (rc_ == TEMPI_I_OK)                                                                  \
            return MPI_SUCCESS;                                                                 \
        if (rc_ != TEMPI_I_PASS)                                                                \
            return tempi_i_error(rc_);                                                          \
    } while (0)

#define TEMPI_I_SEND(NAME, PNAME, COUNT_T, MODE)                                                \
    int NAME(const void *buf, COUNT_T count, MPI_Datatype datatype, int dest, int tag,         \
             MPI_Comm comm)                                                                     \
    {                                                                                           \
        if (tempi_i_takes(buf, datatype))                                                       \
            TEMPI_I_TRY(tempi_i_send(buf, count, datatype, dest, tag, comm, MODE));            \
        tempi_i_count_pass(1);                                                                  \
        return PNAME(buf, count, datatype, dest, tag, comm);                                   \
    }

/* MPI_Isend and friends; PERSISTENT for the _init forms. */
#define TEMPI_I_ISEND(NAME, PNAME, COUNT_T, MODE, PERSISTENT)                                   \
    int NAME(const void *buf, COUNT_T count, MPI_Datatype datatype, int dest, int tag,         \
             MPI_Comm comm, MPI_Request *request)                                               \
    {                                                                                           \
        if (tempi_i_takes(buf, datatype))                                                       \
            TEMPI_I_TRY(tempi_i_isend(buf, count, datatype, dest, tag, comm, MODE,             \
                                      PERSISTENT, request));                                    \
        tempi_i_count_pass(1);                                                                  \
        return PNAME(buf, count, datatype, dest, tag, comm, request);                          \
    }

#define TEMPI_I_RECV(NAME, PNAME, COUNT_T)                                                      \
    int NAME(void *buf, COUNT_T count, MPI_Datatype datatype, int source, int tag,             \
             MPI_Comm comm, MPI_Status *status)                                                 \
    {                                                                                           \
        if (tempi_i_takes(buf, datatype)) {                                                     \
            MPI_Request request;                                                                \
            int rc = tempi_i_irecv(buf, count, datatype, source, tag, comm, 0, &request);       \
            if (rc == TEMPI_I_OK)                                                               \
                return tempi_i_wait(&request, tempi_i_entry(request), status);                  \
            if (rc != TEMPI_I_PASS)                                                             \
                return tempi_i_error(rc);                                                       \
        }                                                                                       \
        tempi_i_count_pass(1);                                                                  \
        return PNAME(buf, count, datatype, source, tag, comm, status);                         \
    }

#define TEMPI_I_IRECV(NAME, PNAME, COUNT_T, PERSISTENT)                                         \
    int NAME(void *buf, COUNT_T count, MPI_Datatype datatype, int source, int tag,             \
             MPI_Comm comm, MPI_Request *request)                                               \
    {                                                                                           \
        if (tempi_i_takes(buf, datatype))                                                       \
            TEMPI_I_TRY(                                                                        \
                tempi_i_irecv(buf, count, datatype, source, tag, comm, PERSISTENT, request));   \
        tempi_i_count_pass(1);                                                                  \
        return PNAME(buf, count, datatype, source, tag, comm, request);                        \
    }

/* Sendrecv through this shim's own Irecv/Isend, so each side takes its own path. */
#define TEMPI_I_SENDRECV(NAME, PNAME, COUNT_T, ISEND, IRECV)                                    \
    int NAME(const void *sendbuf, COUNT_T sendcount, MPI_Datatype sendtype, int dest,          \
             int sendtag, void *recvbuf, COUNT_T recvcount, MPI_Datatype recvtype, int source, \
             int recvtag, MPI_Comm comm, MPI_Status *status)                                    \
    {                                                                                           \
        if (!tempi_i_takes(sendbuf, sendtype) && !tempi_i_takes(recvbuf, recvtype)) {           \
            tempi_i_count_pass(2);                                                              \
            return PNAME(sendbuf, sendcount, sendtype, dest, sendtag, recvbuf, recvcount,      \
                         recvtype, source, recvtag, comm, status);                              \
        }                                                                                       \
        MPI_Request requests[2];                                                                \
        int err = IRECV(recvbuf, recvcount, recvtype, source, recvtag, comm, &requests[0]);    \
        if (err == MPI_SUCCESS)                                                                 \
            err = ISEND(sendbuf, sendcount, sendtype, dest, sendtag, comm, &requests[1]);      \
        if (err == MPI_SUCCESS)                                                                 \
            err = MPI_Wait(&requests[1], MPI_STATUS_IGNORE);                                    \
        if (err == MPI_SUCCESS)                                                                 \
            err = MPI_Wait(&requests[0], status);                                               \
        return err;                                                                             \
    }

/* Sendrecv_replace: tempi's send has packed the buffer before it returns, so the receive
 * may land in the same buffer; a send tempi passes on goes to the system MPI's
 * Sendrecv_replace whole. */
static int tempi_i_sendrecv_replace(void *buf, int64_t count, MPI_Datatype datatype, int dest,
                                    int sendtag, int source, int recvtag, MPI_Comm comm,
                                    MPI_Status *status)
{
    MPI_Request requests[2];
    int rc = tempi_i_isend(buf, count, datatype, dest, sendtag, comm, TEMPI_I_STANDARD, 0,
                           &requests[1]);
    if (rc != TEMPI_I_OK)
        return rc;
    rc = tempi_i_irecv(buf, count, datatype, source, recvtag, comm, 0, &requests[0]);
    int err = MPI_SUCCESS;
    if (rc == TEMPI_I_PASS)
        err = count > INT_MAX ? MPI_ERR_COUNT
                              : PMPI_Irecv(buf, (int)count, datatype, source, recvtag, comm,
                                           &requests[0]);
    else if (rc != TEMPI_I_OK)
        err = tempi_i_error(rc);
    int send_err = MPI_Wait(&requests[1], MPI_STATUS_IGNORE);
    if (err == MPI_SUCCESS)
        err = MPI_Wait(&requests[0], status);
    err = err != MPI_SUCCESS ? err : send_err;
    return err == MPI_SUCCESS ? TEMPI_I_OK : err + 1000;
}

#define TEMPI_I_SENDRECV_REPLACE(NAME, PNAME, COUNT_T)                                          \
    int NAME(void *buf, COUNT_T count, MPI_Datatype datatype, int dest, int sendtag,           \
             int source, int recvtag, MPI_Comm comm, MPI_Status *status)                        \
    {                                                                                           \
        if (tempi_i_takes(buf, datatype))                                                       \
            TEMPI_I_TRY(tempi_i_sendrecv_replace(buf, count, datatype, dest, sendtag, source,  \
                                                 recvtag, comm, status));                       \
        tempi_i_count_pass(2);                                                                  \
        return PNAME(buf, count, datatype, dest, sendtag, source, recvtag, comm, status);      \
    }

/* Every point-to-point entry point, with int counts (S empty) and, where the MPI has them,
 * as the MPI-4 large-count forms (S = _c, MPI_Count counts). */
#define TEMPI_I_POINT_TO_POINT(S, COUNT_T)                                                      \
    TEMPI_I_SEND(MPI_Send##S, PMPI_Send##S, COUNT_T, TEMPI_I_STANDARD)                         \
    TEMPI_I_SEND(MPI_Ssend##S, PMPI_Ssend##S, COUNT_T, TEMPI_I_SYNCHRONOUS)                    \
    TEMPI_I_SEND(MPI_Rsend##S, PMPI_Rsend##S, COUNT_T, TEMPI_I_STANDARD)                       \
    TEMPI_I_SEND(MPI_Bsend##S, PMPI_Bsend##S, COUNT_T, TEMPI_I_BUFFERED)                       \
    TEMPI_I_ISEND(MPI_Isend##S, PMPI_Isend##S, COUNT_T, TEMPI_I_STANDARD, 0)                   \
    TEMPI_I_ISEND(MPI_Issend##S, PMPI_Issend##S, COUNT_T, TEMPI_I_SYNCHRONOUS, 0)              \
    TEMPI_I_ISEND(MPI_Irsend##S, PMPI_Irsend##S, COUNT_T, TEMPI_I_STANDARD, 0)                 \
    TEMPI_I_ISEND(MPI_Ibsend##S, PMPI_Ibsend##S, COUNT_T, TEMPI_I_BUFFERED, 0)                 \
    TEMPI_I_ISEND(MPI_Send_init##S, PMPI_Send_init##S, COUNT_T, TEMPI_I_STANDARD, 1)           \
    TEMPI_I_ISEND(MPI_Ssend_init##S, PMPI_Ssend_init##S, COUNT_T, TEMPI_I_SYNCHRONOUS, 1)      \
    TEMPI_I_ISEND(MPI_Rsend_init##S, PMPI_Rsend_init##S, COUNT_T, TEMPI_I_STANDARD, 1)         \
    TEMPI_I_ISEND(MPI_Bsend_init##S, PMPI_Bsend_init##S, COUNT_T, TEMPI_I_BUFFERED, 1)         \
    TEMPI_I_RECV(MPI_Recv##S, PMPI_Recv##S, COUNT_T)                                           \
    TEMPI_I_IRECV(MPI_Irecv##S, PMPI_Irecv##S, COUNT_T, 0)                                     \
    TEMPI_I_IRECV(MPI_Recv_init##S, PMPI_Recv_init##S, COUNT_T, 1)                             \
    TEMPI_I_SENDRECV(MPI_Sendrecv##S, PMPI_Sendrecv##S, COUNT_T, MPI_Isend##S, MPI_Irecv##S)   \
    TEMPI_I_SENDRECV_REPLACE(MPI_Sendrecv_replace##S, PMPI_Sendrecv_replace##S, COUNT_T)

TEMPI_I_POINT_TO_POINT(, int)
#if MPI_VERSION >= 4
TEMPI_I_POINT_TO_POINT(_c, MPI_Count)
#endif

/* ---- persistent requests: each MPI_Start runs tempi's operation again ------------------ */

int MPI_Start(MPI_Request *request)
{
    int entry = tempi_i_bypass() ? 0 : tempi_i_entry(*request);
    if (!entry)
        return PMPI_Start(request);
    if (entry & TEMPI_I_ACTIVE)
        return MPI_ERR_REQUEST;
    tempi_i_inside = 1;
    int rc = tempi_py_start(entry >> 2);
    tempi_i_inside = 0;
    if (rc != TEMPI_I_OK)
        return tempi_i_error(rc);
    tempi_i_store(&tempi_i_requests, tempi_i_request_key(*request), entry | TEMPI_I_ACTIVE);
    return MPI_SUCCESS;
}

static int tempi_i_any_ours(int count, const MPI_Request requests[])
{
    if (tempi_i_bypass() || tempi_i_live(&tempi_i_requests) == 0)
        return 0;
    for (int i = 0; i < count; ++i)
        if (tempi_i_entry(requests[i]))
            return 1;
    return 0;
}

int MPI_Startall(int count, MPI_Request requests[])
{
    if (!tempi_i_any_ours(count, requests))
        return PMPI_Startall(count, requests);
    for (int i = 0; i < count; ++i) {
        int err = MPI_Start(&requests[i]);
        if (err != MPI_SUCCESS)
            return err;
    }
    return MPI_SUCCESS;
}

/* ---- completion: plain requests go to the system MPI; tempi's run their remaining steps */

int MPI_Wait(MPI_Request *request, MPI_Status *status)
{
    int entry = tempi_i_bypass() ? 0 : tempi_i_entry(*request);
    return entry ? tempi_i_wait(request, entry, status) : PMPI_Wait(request, status);
}

int MPI_Test(MPI_Request *request, int *flag, MPI_Status *status)
{
    int entry = tempi_i_bypass() ? 0 : tempi_i_entry(*request);
    return entry ? tempi_i_test(request, entry, flag, status) : PMPI_Test(request, flag, status);
}

static MPI_Status *tempi_i_nth(MPI_Status statuses[], int i)
{
    return statuses == MPI_STATUSES_IGNORE ? MPI_STATUS_IGNORE : &statuses[i];
}

/* A copy of requests with tempi's hidden (MPI_REQUEST_NULL) for a call of the system MPI,
 * which applies its own rules to the plain ones (an inactive persistent request counts as
 * none); NULL if out of memory. */
static MPI_Request *tempi_i_hide(int count, const MPI_Request requests[])
{
    MPI_Request *plain = malloc(sizeof(MPI_Request) * (count > 0 ? count : 1));
    if (plain)
        for (int i = 0; i < count; ++i)
            plain[i] = tempi_i_entry(requests[i]) ? MPI_REQUEST_NULL : requests[i];
    return plain;
}

/* After that call: the plain handles back into the application's array; frees the copy. */
static void tempi_i_unhide(int count, MPI_Request requests[], MPI_Request plain[])
{
    for (int i = 0; i < count; ++i)
        if (!tempi_i_entry(requests[i]))
            requests[i] = plain[i];
    free(plain);
}

/* Complete tempi's active requests in one Python call that drives them together, and fill
 * their statuses (an inactive one keeps the empty status its hidden slot got). */
static int tempi_i_complete(int count, MPI_Request requests[], MPI_Status statuses[])
{
    int *ids = calloc(count, sizeof(int)), *where = calloc(count, sizeof(int));
    int *sources = calloc(count, sizeof(int)), *tags = calloc(count, sizeof(int));
    int64_t *nbytes = calloc(count, sizeof(int64_t));
    int err = MPI_SUCCESS;
    if (!ids || !where || !sources || !tags || !nbytes) {
        for (int i = 0; i < count && err == MPI_SUCCESS; ++i) {
            int entry = tempi_i_entry(requests[i]);
            if (entry & TEMPI_I_ACTIVE)
                err = tempi_i_wait(&requests[i], entry, tempi_i_nth(statuses, i));
        }
        free(ids), free(where), free(sources), free(tags), free(nbytes);
        return err;
    }
    int n = 0;
    for (int i = 0; i < count; ++i) {
        int entry = tempi_i_entry(requests[i]);
        if (entry & TEMPI_I_ACTIVE) {
            ids[n] = entry >> 2;
            where[n++] = i;
            tempi_i_finish(&requests[i], entry);
        }
    }
    tempi_i_inside = 1;
    int rc = tempi_py_waitall(n, ids, sources, tags, nbytes);
    tempi_i_inside = 0;
    if (rc != TEMPI_I_OK)
        err = tempi_i_error(rc);
    else
        for (int k = 0; k < n; ++k)
            tempi_i_fill_status(tempi_i_nth(statuses, where[k]), sources[k], tags[k], nbytes[k]);
    free(ids), free(where), free(sources), free(tags), free(nbytes);
    return err;
}

/* Plain requests to PMPI_Waitall, then tempi's to one Python call. Every operation was
 * posted when it started, so the order of the two cannot deadlock. */
int MPI_Waitall(int count, MPI_Request requests[], MPI_Status statuses[])
{
    if (!tempi_i_any_ours(count, requests))
        return PMPI_Waitall(count, requests, statuses);
    MPI_Request *plain = tempi_i_hide(count, requests);
    if (!plain)
        return MPI_ERR_NO_MEM;
    int err = PMPI_Waitall(count, plain, statuses);
    tempi_i_unhide(count, requests, plain);
    int rc = tempi_i_complete(count, requests, statuses);
    return err != MPI_SUCCESS ? err : rc;
}

/* Whether tempi's request is done, without completing it; its status if so. */
static int tempi_i_request_ready(int entry, int *flag, MPI_Status *status)
{
    *flag = 1;
    if (!(entry & TEMPI_I_ACTIVE)) {
        tempi_i_empty_status(status);
        return MPI_SUCCESS;
    }
    int source = 0, tag = 0;
    int64_t nbytes = -1;
    tempi_i_inside = 1;
    int rc = tempi_py_ready(entry >> 2, &source, &tag, &nbytes);
    tempi_i_inside = 0;
    if (rc != TEMPI_I_OK && rc != TEMPI_I_PASS)
        return tempi_i_error(rc);
    *flag = rc == TEMPI_I_OK;
    if (*flag)
        tempi_i_fill_status(status, source, tag, nbytes);
    return MPI_SUCCESS;
}

int MPI_Request_get_status(MPI_Request request, int *flag, MPI_Status *status)
{
    int entry = tempi_i_bypass() ? 0 : tempi_i_entry(request);
    return entry ? tempi_i_request_ready(entry, flag, status)
                 : PMPI_Request_get_status(request, flag, status);
}

/* MPI_Testall completes nothing unless all are done: tempi's are asked first, without
 * completing them, then the system MPI's Testall decides for the plain ones. */
int MPI_Testall(int count, MPI_Request requests[], int *flag, MPI_Status statuses[])
{
    if (!tempi_i_any_ours(count, requests))
        return PMPI_Testall(count, requests, flag, statuses);
    for (int i = 0; i < count; ++i) {
        int entry = tempi_i_entry(requests[i]), err = MPI_SUCCESS;
        if (entry & TEMPI_I_ACTIVE)
            err = tempi_i_request_ready(entry, flag, MPI_STATUS_IGNORE);
        if (err != MPI_SUCCESS || ((entry & TEMPI_I_ACTIVE) && !*flag)) {
            *flag = 0;
            return err;
        }
    }
    MPI_Request *plain = tempi_i_hide(count, requests);
    if (!plain)
        return MPI_ERR_NO_MEM;
    int err = PMPI_Testall(count, plain, flag, statuses);
    tempi_i_unhide(count, requests, plain);
    if (err != MPI_SUCCESS || !*flag)
        return err;
    return tempi_i_complete(count, requests, statuses);
}

int MPI_Testany(int count, MPI_Request requests[], int *index, int *flag, MPI_Status *status)
{
    if (!tempi_i_any_ours(count, requests))
        return PMPI_Testany(count, requests, index, flag, status);
    int ours = 0;
    for (int i = 0; i < count; ++i) {
        int entry = tempi_i_entry(requests[i]);
        if (!(entry & TEMPI_I_ACTIVE))
            continue;
        ours = 1;
        int err = tempi_i_test(&requests[i], entry, flag, status);
        if (err != MPI_SUCCESS)
            return err;
        if (*flag) {
            *index = i;
            return MPI_SUCCESS;
        }
    }
    MPI_Request *plain = tempi_i_hide(count, requests);
    if (!plain)
        return MPI_ERR_NO_MEM;
    int err = PMPI_Testany(count, plain, index, flag, status);
    tempi_i_unhide(count, requests, plain);
    if (err == MPI_SUCCESS && *index == MPI_UNDEFINED && ours)
        *flag = 0; /* none done, but tempi's are still active */
    return err;
}

int MPI_Waitany(int count, MPI_Request requests[], int *index, MPI_Status *status)
{
    if (!tempi_i_any_ours(count, requests))
        return PMPI_Waitany(count, requests, index, status);
    int flag = 0, err = MPI_SUCCESS;
    while (!flag && err == MPI_SUCCESS)
        err = MPI_Testany(count, requests, index, &flag, status);
    return err;
}

/* The system MPI's Testsome on the plain requests, then tempi's that are done. */
int MPI_Testsome(int incount, MPI_Request requests[], int *outcount, int indices[],
                 MPI_Status statuses[])
{
    if (!tempi_i_any_ours(incount, requests))
        return PMPI_Testsome(incount, requests, outcount, indices, statuses);
    MPI_Request *plain = tempi_i_hide(incount, requests);
    if (!plain)
        return MPI_ERR_NO_MEM;
    int done = 0, err = PMPI_Testsome(incount, plain, &done, indices, statuses);
    tempi_i_unhide(incount, requests, plain);
    int active = done != MPI_UNDEFINED;
    if (!active)
        done = 0;
    for (int i = 0; i < incount && err == MPI_SUCCESS; ++i) {
        int entry = tempi_i_entry(requests[i]), flag = 0;
        if (!(entry & TEMPI_I_ACTIVE))
            continue;
        active = 1;
        err = tempi_i_request_ready(entry, &flag, MPI_STATUS_IGNORE);
        if (err == MPI_SUCCESS && flag) {
            err = tempi_i_wait(&requests[i], entry, tempi_i_nth(statuses, done));
            indices[done++] = i;
        }
    }
    *outcount = active ? done : MPI_UNDEFINED;
    return err;
}

int MPI_Waitsome(int incount, MPI_Request requests[], int *outcount, int indices[],
                 MPI_Status statuses[])
{
    if (!tempi_i_any_ours(incount, requests))
        return PMPI_Waitsome(incount, requests, outcount, indices, statuses);
    int err = MPI_SUCCESS;
    do
        err = MPI_Testsome(incount, requests, outcount, indices, statuses);
    while (err == MPI_SUCCESS && *outcount == 0);
    return err;
}

/* A receive not yet matched is cancelled (MPI_Test_cancelled then says so); the request
 * must still be completed. */
int MPI_Cancel(MPI_Request *request)
{
    int entry = tempi_i_bypass() ? 0 : tempi_i_entry(*request);
    if (!entry)
        return PMPI_Cancel(request);
    if (!(entry & TEMPI_I_ACTIVE))
        return MPI_SUCCESS;
    tempi_i_inside = 1;
    int rc = tempi_py_cancel(entry >> 2);
    tempi_i_inside = 0;
    return rc == TEMPI_I_OK ? MPI_SUCCESS : tempi_i_error(rc);
}

int MPI_Request_free(MPI_Request *request)
{
    int entry = tempi_i_bypass() ? 0 : tempi_i_entry(*request);
    if (!entry)
        return PMPI_Request_free(request);
    tempi_i_forget(request);
    tempi_i_inside = 1;
    tempi_py_request_free(entry >> 2); /* an operation in flight completes in the background */
    tempi_i_inside = 0;
    return MPI_SUCCESS;
}

/* ---- all-to-all with derived types: every part a message of tempi's engine ------------ */

static int tempi_i_parts(MPI_Comm comm, int neighbor, int *nsend, int *nrecv)
{
    if (!neighbor) {
        PMPI_Comm_size(comm, nsend);
        *nrecv = *nsend;
        return MPI_SUCCESS;
    }
    int topology, rank, ndims, weighted;
    PMPI_Topo_test(comm, &topology);
    if (topology == MPI_CART) {
        PMPI_Cartdim_get(comm, &ndims);
        *nsend = *nrecv = 2 * ndims;
    } else if (topology == MPI_GRAPH) {
        PMPI_Comm_rank(comm, &rank);
        PMPI_Graph_neighbors_count(comm, rank, nsend);
        *nrecv = *nsend;
    } else if (topology == MPI_DIST_GRAPH) {
        PMPI_Dist_graph_neighbors_count(comm, nrecv, nsend, &weighted);
    } else {
        return MPI_ERR_TOPOLOGY;
    }
    return MPI_SUCCESS;
}

/* One side of an all-to-all: where its counts and displacements come from. The MPI-3
 * forms give int counts and int element displacements (v) or MPI_Aint byte displacements
 * (w); the MPI-4 _c forms give MPI_Count counts and MPI_Aint displacements. */
typedef struct {
    const void *buf;
    const int *icounts;
    const MPI_Count *ccounts;
    const int *idispls;
    const MPI_Aint *adispls;
    int displs_in_bytes;
    const MPI_Datatype *types;
    int one_type;
} tempi_i_parts_t;

/* Counts, byte displacements and Fortran type handles of one side; whether tempi should
 * take any of its parts. Parts of count 0 count too: every rank must take the same path,
 * and one that moves nothing (all counts 0) still has the types and memory its peers
 * decide by; its peers' tempi path starts with a collective on the communicator. */
static int tempi_i_side(const tempi_i_parts_t *side, int n, int64_t *c, int64_t *d, int *t)
{
    int takes = 0;
    for (int i = 0; i < n; ++i) {
        MPI_Datatype type = side->one_type ? side->types[0] : side->types[i];
        MPI_Aint lb, extent;
        PMPI_Type_get_extent(type, &lb, &extent);
        c[i] = side->icounts ? (int64_t)side->icounts[i] : (int64_t)side->ccounts[i];
        d[i] = side->adispls ? (int64_t)side->adispls[i] : (int64_t)side->idispls[i];
        if (!side->displs_in_bytes)
            d[i] *= extent;
        t[i] = MPI_Type_c2f(type);
        takes |= tempi_i_takes((const char *)side->buf + d[i], type);
    }
    return takes;
}

/* What tempi_py_collective does (tempi/shim/callbacks.py reads the same numbers). */
enum {
    TEMPI_I_ALLTOALL, TEMPI_I_NEIGHBOR, TEMPI_I_BCAST, TEMPI_I_GATHER, TEMPI_I_GATHERV,
    TEMPI_I_SCATTER, TEMPI_I_SCATTERV, TEMPI_I_ALLGATHER, TEMPI_I_ALLGATHERV
};

/* A collective whose parts are nsend of send and nrecv of recv: tempi's if it takes any
 * part, else TEMPI_I_PASS. */
static int tempi_i_collective(int kind, const tempi_i_parts_t *send, int nsend,
                              const tempi_i_parts_t *recv, int nrecv, int root, MPI_Comm comm)
{
    if (send->buf == MPI_IN_PLACE || recv->buf == MPI_IN_PLACE)
        return TEMPI_I_PASS;
    int64_t *sc = malloc(sizeof(int64_t) * (nsend + 1));
    int64_t *sd = malloc(sizeof(int64_t) * (nsend + 1));
    int64_t *rc = malloc(sizeof(int64_t) * (nrecv + 1));
    int64_t *rd = malloc(sizeof(int64_t) * (nrecv + 1));
    int *st = malloc(sizeof(int) * (nsend + 1)), *rt = malloc(sizeof(int) * (nrecv + 1));
    int result = TEMPI_I_PASS;
    if (sc && sd && rc && rd && st && rt) {
        int takes = tempi_i_side(send, nsend, sc, sd, st);
        takes |= tempi_i_side(recv, nrecv, rc, rd, rt);
        if (takes) {
            tempi_i_inside = 1;
            result = tempi_py_collective(kind, (intptr_t)send->buf, nsend, sc, sd, st,
                                         (intptr_t)recv->buf, nrecv, rc, rd, rt, root,
                                         MPI_Comm_c2f(comm));
            tempi_i_inside = 0;
        }
    }
    free(sc);
    free(sd);
    free(rc);
    free(rd);
    free(st);
    free(rt);
    return result;
}

/* TEMPI_STATS: the messages of the collective this thread is in, for when the system MPI
 * does it -- one per part on each side, as tempi counts its own (1 for Bcast, a non-root
 * rank's part, and intercommunicators). Costs nothing without TEMPI_STATS. */
static __thread long tempi_i_collective_messages = 1;

static void tempi_i_note_collective(int kind, int root, MPI_Comm comm)
{
    int inter = 0, rank = 0, nsend = 1, nrecv = 0;
    tempi_i_collective_messages = 1;
    if (!tempi_i_stats || tempi_i_inside || kind == TEMPI_I_BCAST ||
        PMPI_Comm_test_inter(comm, &inter) != MPI_SUCCESS || inter)
        return;
    if (kind == TEMPI_I_ALLTOALL || kind == TEMPI_I_NEIGHBOR) {
        if (tempi_i_parts(comm, kind == TEMPI_I_NEIGHBOR, &nsend, &nrecv) != MPI_SUCCESS)
            return;
    } else if (PMPI_Comm_rank(comm, &rank) == MPI_SUCCESS &&
               (kind == TEMPI_I_ALLGATHER || kind == TEMPI_I_ALLGATHERV || rank == root)) {
        PMPI_Comm_size(comm, &nrecv);
    }
    tempi_i_collective_messages = (long)nsend + nrecv;
}

static int tempi_i_alltoall(int neighbor, const tempi_i_parts_t *send,
                            const tempi_i_parts_t *recv, MPI_Comm comm)
{
    int nsend, nrecv;
    tempi_i_note_collective(neighbor ? TEMPI_I_NEIGHBOR : TEMPI_I_ALLTOALL, 0, comm);
    if (tempi_i_bypass() || tempi_i_state_now() != TEMPI_I_READY ||
        tempi_i_parts(comm, neighbor, &nsend, &nrecv) != MPI_SUCCESS)
        return TEMPI_I_PASS;
    return tempi_i_collective(neighbor ? TEMPI_I_NEIGHBOR : TEMPI_I_ALLTOALL, send, nsend, recv,
                              nrecv, 0, comm);
}

#define TEMPI_I_COLLECTIVE(CALL, PCALL)                                                         \
    do {                                                                                        \
        TEMPI_I_TRY(CALL);                                                                      \
        tempi_i_count_pass(tempi_i_collective_messages);                                        \
        return PCALL;                                                                           \
    } while (0)

/* The parts of one side: buffer, int or MPI_Count counts, int or MPI_Aint displacements
 * (bytes or elements), one type or one per part. */
#define TEMPI_I_SIDE(BUF, ICOUNTS, CCOUNTS, IDISPLS, ADISPLS, BYTES, TYPES, ONE)                 \
    (&(tempi_i_parts_t){(BUF), (ICOUNTS), (CCOUNTS), (IDISPLS), (ADISPLS), (BYTES), (TYPES), (ONE)})

int MPI_Alltoallv(const void *sendbuf, const int sendcounts[], const int sdispls[],
                  MPI_Datatype sendtype, void *recvbuf, const int recvcounts[],
                  const int rdispls[], MPI_Datatype recvtype, MPI_Comm comm)
{
    TEMPI_I_COLLECTIVE(
        tempi_i_alltoall(0, TEMPI_I_SIDE(sendbuf, sendcounts, NULL, sdispls, NULL, 0, &sendtype, 1),
                         TEMPI_I_SIDE(recvbuf, recvcounts, NULL, rdispls, NULL, 0, &recvtype, 1),
                         comm),
        PMPI_Alltoallv(sendbuf, sendcounts, sdispls, sendtype, recvbuf, recvcounts, rdispls,
                       recvtype, comm));
}

int MPI_Alltoallw(const void *sendbuf, const int sendcounts[], const int sdispls[],
                  const MPI_Datatype sendtypes[], void *recvbuf, const int recvcounts[],
                  const int rdispls[], const MPI_Datatype recvtypes[], MPI_Comm comm)
{
    TEMPI_I_COLLECTIVE(
        tempi_i_alltoall(0, TEMPI_I_SIDE(sendbuf, sendcounts, NULL, sdispls, NULL, 1, sendtypes, 0),
                         TEMPI_I_SIDE(recvbuf, recvcounts, NULL, rdispls, NULL, 1, recvtypes, 0),
                         comm),
        PMPI_Alltoallw(sendbuf, sendcounts, sdispls, sendtypes, recvbuf, recvcounts, rdispls,
                       recvtypes, comm));
}

int MPI_Neighbor_alltoallv(const void *sendbuf, const int sendcounts[], const int sdispls[],
                           MPI_Datatype sendtype, void *recvbuf, const int recvcounts[],
                           const int rdispls[], MPI_Datatype recvtype, MPI_Comm comm)
{
    TEMPI_I_COLLECTIVE(
        tempi_i_alltoall(1, TEMPI_I_SIDE(sendbuf, sendcounts, NULL, sdispls, NULL, 0, &sendtype, 1),
                         TEMPI_I_SIDE(recvbuf, recvcounts, NULL, rdispls, NULL, 0, &recvtype, 1),
                         comm),
        PMPI_Neighbor_alltoallv(sendbuf, sendcounts, sdispls, sendtype, recvbuf, recvcounts,
                                rdispls, recvtype, comm));
}

int MPI_Neighbor_alltoallw(const void *sendbuf, const int sendcounts[], const MPI_Aint sdispls[],
                           const MPI_Datatype sendtypes[], void *recvbuf, const int recvcounts[],
                           const MPI_Aint rdispls[], const MPI_Datatype recvtypes[],
                           MPI_Comm comm)
{
    TEMPI_I_COLLECTIVE(
        tempi_i_alltoall(1, TEMPI_I_SIDE(sendbuf, sendcounts, NULL, NULL, sdispls, 1, sendtypes, 0),
                         TEMPI_I_SIDE(recvbuf, recvcounts, NULL, NULL, rdispls, 1, recvtypes, 0),
                         comm),
        PMPI_Neighbor_alltoallw(sendbuf, sendcounts, sdispls, sendtypes, recvbuf, recvcounts,
                                rdispls, recvtypes, comm));
}

/* ---- Bcast, Gather(v), Scatter(v), Allgather(v): tempi packs this rank's parts and calls
 * the system MPI's own collective on the bytes (tempi/comm/packed_collectives.py), so every
 * rank reaches the same collective of the system MPI, whatever each decided. Arguments
 * significant only at the root are read only there. ---- */

static int tempi_i_spreads(int kind)
{
    return kind == TEMPI_I_SCATTER || kind == TEMPI_I_SCATTERV;
}

/* The parts one per rank exist at the root (everywhere for an allgather). */
static int tempi_i_many_here(int kind, int rank, int root)
{
    return kind == TEMPI_I_ALLGATHER || kind == TEMPI_I_ALLGATHERV || rank == root;
}

/* Whether tempi takes a rooted collective: the one part's buffer and type, or the many
 * parts' (one buffer, one type) where they exist; this rank and the size if so. Plain
 * calls cost a look at the tables and at most one handle query; intercommunicators (roots
 * MPI_ROOT, MPI_PROC_NULL) are the system MPI's. */
static int tempi_i_rooted(int kind, const void *one_buf, MPI_Datatype one_type,
                          const void *many_buf, MPI_Datatype many_type, int root, MPI_Comm comm,
                          int *rank, int *size)
{
    if (tempi_i_bypass() || tempi_i_state_now() != TEMPI_I_READY)
        return 0;
    int takes = tempi_i_takes(one_buf, one_type), inter = 0;
    if (!takes) {
        int everywhere = kind == TEMPI_I_ALLGATHER || kind == TEMPI_I_ALLGATHERV;
        if (!everywhere)
            PMPI_Comm_rank(comm, rank);
        takes = (everywhere || *rank == root) && tempi_i_takes(many_buf, many_type);
    }
    if (!takes || PMPI_Comm_test_inter(comm, &inter) != MPI_SUCCESS || inter)
        return 0;
    PMPI_Comm_rank(comm, rank);
    PMPI_Comm_size(comm, size);
    return 1;
}

/* One part (the send side's, or for a scatter the receive side's) against many, one per
 * rank. */
static int tempi_i_one_and_many(int kind, const void *one_buf, MPI_Count one_count,
                                MPI_Datatype one_type, const tempi_i_parts_t *many, int root,
                                int rank, int size, MPI_Comm comm)
{
    int n = tempi_i_many_here(kind, rank, root) ? size : 0;
    MPI_Aint zero = 0;
    tempi_i_parts_t one = {one_buf, NULL, &one_count, NULL, &zero, 1, &one_type, 1};
    return tempi_i_spreads(kind) ? tempi_i_collective(kind, many, n, &one, 1, root, comm)
                                 : tempi_i_collective(kind, &one, 1, many, n, root, comm);
}

/* Gather, Scatter, Allgather: block j of the many side is `each` elements at element
 * j * each. */
static int tempi_i_blocks(int kind, const void *sendbuf, MPI_Count sendcount,
                          MPI_Datatype sendtype, const void *recvbuf, MPI_Count recvcount,
                          MPI_Datatype recvtype, int root, MPI_Comm comm)
{
    int rank, size, spreads = tempi_i_spreads(kind);
    tempi_i_note_collective(kind, root, comm);
    if (!(spreads ? tempi_i_rooted(kind, recvbuf, recvtype, sendbuf, sendtype, root, comm,
                                   &rank, &size)
                  : tempi_i_rooted(kind, sendbuf, sendtype, recvbuf, recvtype, root, comm,
                                   &rank, &size)))
        return TEMPI_I_PASS;
    MPI_Count each = spreads ? sendcount : recvcount;
    MPI_Count *counts = malloc(sizeof(MPI_Count) * size);
    MPI_Aint *displs = malloc(sizeof(MPI_Aint) * size);
    int result = TEMPI_I_PASS;
    if (counts && displs) {
        for (int j = 0; j < size; ++j) {
            counts[j] = each;
            displs[j] = (MPI_Aint)(j * each);
        }
        tempi_i_parts_t many = {spreads ? sendbuf : recvbuf, NULL, counts, NULL, displs, 0,
                                spreads ? &sendtype : &recvtype, 1};
        result = spreads ? tempi_i_one_and_many(kind, recvbuf, recvcount, recvtype, &many, root,
                                                rank, size, comm)
                         : tempi_i_one_and_many(kind, sendbuf, sendcount, sendtype, &many, root,
                                                rank, size, comm);
    }
    free(counts);
    free(displs);
    return result;
}

/* Gatherv, Scatterv, Allgatherv: the many side's counts and displacements are the caller's. */
static int tempi_i_vector(int kind, const void *one_buf, MPI_Count one_count,
                          MPI_Datatype one_type, const tempi_i_parts_t *many, int root,
                          MPI_Comm comm)
{
    int rank, size;
    tempi_i_note_collective(kind, root, comm);
    if (!tempi_i_rooted(kind, one_buf, one_type, many->buf, many->types[0], root, comm, &rank,
                        &size))
        return TEMPI_I_PASS;
    return tempi_i_one_and_many(kind, one_buf, one_count, one_type, many, root, rank, size,
                                comm);
}

#define TEMPI_I_BCAST_FN(NAME, PNAME, COUNT_T)                                                  \
    int NAME(void *buffer, COUNT_T count, MPI_Datatype datatype, int root, MPI_Comm comm)      \
    {                                                                                           \
        int rank, size;                                                                         \
        if (tempi_i_rooted(TEMPI_I_BCAST, buffer, datatype, buffer, datatype, root, comm,       \
                           &rank, &size)) {                                                     \
            MPI_Count c = count;                                                                \
            MPI_Aint zero = 0;                                                                  \
            tempi_i_parts_t one = {buffer, NULL, &c, NULL, &zero, 1, &datatype, 1};             \
            TEMPI_I_TRY(tempi_i_collective(TEMPI_I_BCAST, &one, rank == root, &one,            \
                                           rank != root, root, comm));                          \
        }                                                                                       \
        tempi_i_count_pass(1);                                                                  \
        return PNAME(buffer, count, datatype, root, comm);                                     \
    }

#define TEMPI_I_ROOTED_FN(NAME, PNAME, KIND, COUNT_T)                                            \
    int NAME(const void *sendbuf, COUNT_T sendcount, MPI_Datatype sendtype, void *recvbuf,     \
             COUNT_T recvcount, MPI_Datatype recvtype, int root, MPI_Comm comm)                 \
    {                                                                                           \
        TEMPI_I_COLLECTIVE(tempi_i_blocks(KIND, sendbuf, sendcount, sendtype, recvbuf,          \
                                          recvcount, recvtype, root, comm),                     \
                           PNAME(sendbuf, sendcount, sendtype, recvbuf, recvcount, recvtype,    \
                                 root, comm));                                                  \
    }

#define TEMPI_I_ALLGATHER_FN(NAME, PNAME, COUNT_T)                                              \
    int NAME(const void *sendbuf, COUNT_T sendcount, MPI_Datatype sendtype, void *recvbuf,     \
             COUNT_T recvcount, MPI_Datatype recvtype, MPI_Comm comm)                           \
    {                                                                                           \
        TEMPI_I_COLLECTIVE(tempi_i_blocks(TEMPI_I_ALLGATHER, sendbuf, sendcount, sendtype,      \
                                          recvbuf, recvcount, recvtype, 0, comm),               \
                           PNAME(sendbuf, sendcount, sendtype, recvbuf, recvcount, recvtype,    \
                                 comm));                                                        \
    }

/* The v forms: int counts and displacements, or MPI_Count and MPI_Aint (the _c forms). */
#define TEMPI_I_MANY(BUF, COUNTS, DISPLS, TYPE, INTS)                                           \
    (&(tempi_i_parts_t){(BUF), (INTS) ? (const int *)(const void *)(COUNTS) : NULL,           \
                        (INTS) ? NULL : (const MPI_Count *)(const void *)(COUNTS),             \
                        (INTS) ? (const int *)(const void *)(DISPLS) : NULL,                   \
                        (INTS) ? NULL : (const MPI_Aint *)(const void *)(DISPLS), 0, &(TYPE), 1})

#define TEMPI_I_GATHERV_FN(NAME, PNAME, COUNT_T, DISPL_T, INTS)                                 \
    int NAME(const void *sendbuf, COUNT_T sendcount, MPI_Datatype sendtype, void *recvbuf,     \
             const COUNT_T recvcounts[], const DISPL_T displs[], MPI_Datatype recvtype,        \
             int root, MPI_Comm comm)                                                           \
    {                                                                                           \
        TEMPI_I_COLLECTIVE(                                                                     \
            tempi_i_vector(TEMPI_I_GATHERV, sendbuf, sendcount, sendtype,                       \
                           TEMPI_I_MANY(recvbuf, recvcounts, displs, recvtype, INTS), root,     \
                           comm),                                                               \
            PNAME(sendbuf, sendcount, sendtype, recvbuf, recvcounts, displs, recvtype, root,   \
                  comm));                                                                       \
    }

#define TEMPI_I_SCATTERV_FN(NAME, PNAME, COUNT_T, DISPL_T, INTS)                                \
    int NAME(const void *sendbuf, const COUNT_T sendcounts[], const DISPL_T displs[],          \
             MPI_Datatype sendtype, void *recvbuf, COUNT_T recvcount, MPI_Datatype recvtype,   \
             int root, MPI_Comm comm)                                                           \
    {                                                                                           \
        TEMPI_I_COLLECTIVE(                                                                     \
            tempi_i_vector(TEMPI_I_SCATTERV, recvbuf, recvcount, recvtype,                      \
                           TEMPI_I_MANY(sendbuf, sendcounts, displs, sendtype, INTS), root,     \
                           comm),                                                               \
            PNAME(sendbuf, sendcounts, displs, sendtype, recvbuf, recvcount, recvtype, root,   \
                  comm));                                                                       \
    }

#define TEMPI_I_ALLGATHERV_FN(NAME, PNAME, COUNT_T, DISPL_T, INTS)                              \
    int NAME(const void *sendbuf, COUNT_T sendcount, MPI_Datatype sendtype, void *recvbuf,     \
             const COUNT_T recvcounts[], const DISPL_T displs[], MPI_Datatype recvtype,        \
             MPI_Comm comm)                                                                     \
    {                                                                                           \
        TEMPI_I_COLLECTIVE(                                                                     \
            tempi_i_vector(TEMPI_I_ALLGATHERV, sendbuf, sendcount, sendtype,                    \
                           TEMPI_I_MANY(recvbuf, recvcounts, displs, recvtype, INTS), 0, comm), \
            PNAME(sendbuf, sendcount, sendtype, recvbuf, recvcounts, displs, recvtype, comm)); \
    }

/* The rooted collectives with int counts and displacements (S empty) and as the _c forms
 * (MPI_Count counts, MPI_Aint displacements). */
#define TEMPI_I_ROOTED_COLLECTIVES(S, COUNT_T, DISPL_T, INTS)                                   \
    TEMPI_I_BCAST_FN(MPI_Bcast##S, PMPI_Bcast##S, COUNT_T)                                     \
    TEMPI_I_ROOTED_FN(MPI_Gather##S, PMPI_Gather##S, TEMPI_I_GATHER, COUNT_T)                  \
    TEMPI_I_ROOTED_FN(MPI_Scatter##S, PMPI_Scatter##S, TEMPI_I_SCATTER, COUNT_T)               \
    TEMPI_I_ALLGATHER_FN(MPI_Allgather##S, PMPI_Allgather##S, COUNT_T)                         \
    TEMPI_I_GATHERV_FN(MPI_Gatherv##S, PMPI_Gatherv##S, COUNT_T, DISPL_T, INTS)                \
    TEMPI_I_SCATTERV_FN(MPI_Scatterv##S, PMPI_Scatterv##S, COUNT_T, DISPL_T, INTS)             \
    TEMPI_I_ALLGATHERV_FN(MPI_Allgatherv##S, PMPI_Allgatherv##S, COUNT_T, DISPL_T, INTS)

TEMPI_I_ROOTED_COLLECTIVES(, int, int, 1)
#if MPI_VERSION >= 4
TEMPI_I_ROOTED_COLLECTIVES(_c, MPI_Count, MPI_Aint, 0)
#endif

#if MPI_VERSION >= 4
TEMPI_I_PACK(MPI_Pack_c, PMPI_Pack_c, MPI_Count)
TEMPI_I_UNPACK(MPI_Unpack_c, PMPI_Unpack_c, MPI_Count)

int MPI_Pack_size_c(MPI_Count incount, MPI_Datatype datatype, MPI_Comm comm, MPI_Count *size)
{
    return PMPI_Pack_size_c(incount, datatype, comm, size);
}


int MPI_Alltoallv_c(const void *sendbuf, const MPI_Count sendcounts[], const MPI_Aint sdispls[],
                    MPI_Datatype sendtype, void *recvbuf, const MPI_Count recvcounts[],
                    const MPI_Aint rdispls[], MPI_Datatype recvtype, MPI_Comm comm)
{
    TEMPI_I_COLLECTIVE(
        tempi_i_alltoall(0, TEMPI_I_SIDE(sendbuf, NULL, sendcounts, NULL, sdispls, 0, &sendtype, 1),
                         TEMPI_I_SIDE(recvbuf, NULL, recvcounts, NULL, rdispls, 0, &recvtype, 1),
                         comm),
        PMPI_Alltoallv_c(sendbuf, sendcounts, sdispls, sendtype, recvbuf, recvcounts, rdispls,
                         recvtype, comm));
}

int MPI_Alltoallw_c(const void *sendbuf, const MPI_Count sendcounts[], const MPI_Aint sdispls[],
                    const MPI_Datatype sendtypes[], void *recvbuf, const MPI_Count recvcounts[],
                    const MPI_Aint rdispls[], const MPI_Datatype recvtypes[], MPI_Comm comm)
{
    TEMPI_I_COLLECTIVE(
        tempi_i_alltoall(0, TEMPI_I_SIDE(sendbuf, NULL, sendcounts, NULL, sdispls, 1, sendtypes, 0),
                         TEMPI_I_SIDE(recvbuf, NULL, recvcounts, NULL, rdispls, 1, recvtypes, 0),
                         comm),
        PMPI_Alltoallw_c(sendbuf, sendcounts, sdispls, sendtypes, recvbuf, recvcounts, rdispls,
                         recvtypes, comm));
}

int MPI_Neighbor_alltoallv_c(const void *sendbuf, const MPI_Count sendcounts[],
                             const MPI_Aint sdispls[], MPI_Datatype sendtype, void *recvbuf,
                             const MPI_Count recvcounts[], const MPI_Aint rdispls[],
                             MPI_Datatype recvtype, MPI_Comm comm)
{
    TEMPI_I_COLLECTIVE(
        tempi_i_alltoall(1, TEMPI_I_SIDE(sendbuf, NULL, sendcounts, NULL, sdispls, 0, &sendtype, 1),
                         TEMPI_I_SIDE(recvbuf, NULL, recvcounts, NULL, rdispls, 0, &recvtype, 1),
                         comm),
        PMPI_Neighbor_alltoallv_c(sendbuf, sendcounts, sdispls, sendtype, recvbuf, recvcounts,
                                  rdispls, recvtype, comm));
}

int MPI_Neighbor_alltoallw_c(const void *sendbuf, const MPI_Count sendcounts[],
                             const MPI_Aint sdispls[], const MPI_Datatype sendtypes[],
                             void *recvbuf, const MPI_Count recvcounts[],
                             const MPI_Aint rdispls[], const MPI_Datatype recvtypes[],
                             MPI_Comm comm)
{
    TEMPI_I_COLLECTIVE(
        tempi_i_alltoall(1, TEMPI_I_SIDE(sendbuf, NULL, sendcounts, NULL, sdispls, 1, sendtypes, 0),
                         TEMPI_I_SIDE(recvbuf, NULL, recvcounts, NULL, rdispls, 1, recvtypes, 0),
                         comm),
        PMPI_Neighbor_alltoallw_c(sendbuf, sendcounts, sdispls, sendtypes, recvbuf, recvcounts,
                                  rdispls, recvtypes, comm));
}
#endif
