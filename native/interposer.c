/* The tempi interposer: MPI_* entry points that an LD_PRELOADed shim puts in front of the
 * system MPI (reached through PMPI_*).
 *
 * Compiled by cffi in embedding mode (tempi/shim/build.py) into one shared object with the
 * Python callbacks of tempi/shim/callbacks.py, declared in interposer.h as tempi_py_*. The C side keeps the fast path: a call whose datatype tempi does not
 * accelerate, or whose buffer is host memory (unless TEMPI_HOST=1), never enters Python.
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
 */
#include <Python.h>

#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include "interposer.h"

#ifndef TEMPI_I_PYTHON
#define TEMPI_I_PYTHON "python3"
#endif

#define TEMPI_I_OK 1          /* a callback did the work */
#define TEMPI_I_PASS 2        /* a callback declined: call the system MPI */
#define TEMPI_I_TYPES 16384   /* slots of the accelerated-type table (open addressing) */

enum { TEMPI_I_UNTRIED = 0, TEMPI_I_READY = 1, TEMPI_I_BROKEN = -1 };

static int tempi_i_state = TEMPI_I_UNTRIED;
static int tempi_i_disabled = 0; /* TEMPI_DISABLE: pass everything through */
static int tempi_i_no_pack = 0;  /* TEMPI_NO_PACK: leave MPI_Pack/MPI_Unpack alone */
static int tempi_i_host = 0;     /* TEMPI_HOST: host memory goes through tempi too */
static __thread int tempi_i_inside = 0;
static long tempi_i_passed = 0; /* intercepted calls handed to the system MPI (TEMPI_STATS) */

/* Called from Python at finalize, for TEMPI_STATS. */
long tempi_passed_calls(void)
{
    return tempi_i_passed;
}

/* ---- accelerated datatypes: Fortran handle -> 1, filled by Python at commit ---------- */

static MPI_Fint tempi_i_keys[TEMPI_I_TYPES];
static unsigned char tempi_i_used[TEMPI_I_TYPES]; /* 0 empty, 1 accelerated, 2 deleted */

static unsigned tempi_i_slot(MPI_Fint key)
{
    uint32_t h = (uint32_t)key * 2654435761u;
    return h % TEMPI_I_TYPES;
}

/* Mark a committed type as accelerated or not. */
static void tempi_set_accelerated(int key, int accelerated)
{
    unsigned s = tempi_i_slot(key), tomb = TEMPI_I_TYPES;
    for (unsigned n = 0; n < TEMPI_I_TYPES; ++n, s = (s + 1) % TEMPI_I_TYPES) {
        if (tempi_i_used[s] == 1 && tempi_i_keys[s] == key) {
            if (!accelerated)
                tempi_i_used[s] = 2;
            return;
        }
        if (tempi_i_used[s] == 2 && tomb == TEMPI_I_TYPES)
            tomb = s;
        if (tempi_i_used[s] == 0)
            break;
    }
    if (!accelerated)
        return;
    if (tomb == TEMPI_I_TYPES)
        tomb = s;
    if (tempi_i_used[tomb] != 1) { /* a full table just leaves the type to the system MPI */
        tempi_i_keys[tomb] = key;
        tempi_i_used[tomb] = 1;
    }
}

static int tempi_i_accelerated(MPI_Datatype datatype)
{
    MPI_Fint key = MPI_Type_c2f(datatype);
    unsigned s = tempi_i_slot(key);
    for (unsigned n = 0; n < TEMPI_I_TYPES; ++n, s = (s + 1) % TEMPI_I_TYPES) {
        if (tempi_i_used[s] == 0)
            return 0;
        if (tempi_i_used[s] == 1 && tempi_i_keys[s] == key)
            return 1;
    }
    return 0;
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
    if (tempi_i_cu_attr != NULL)
        return;
    void *cuda = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
    if (cuda != NULL)
        tempi_i_cu_attr = (tempi_i_cu_attr_fn)dlsym(cuda, "cuPointerGetAttribute");
}

static int tempi_i_on_device(const void *ptr)
{
    static unsigned calls = 0;
    if (tempi_i_cu_attr == NULL) {
        if (++calls % 4096 != 0)
            return 0; /* no CUDA in this process: every pointer is host memory */
        tempi_i_find_cuda();
        if (tempi_i_cu_attr == NULL)
            return 0;
    }
    unsigned int kind = 0; /* CU_POINTER_ATTRIBUTE_MEMORY_TYPE = 2; CU_MEMORYTYPE_DEVICE = 2 */
    return tempi_i_cu_attr(&kind, 2, (unsigned long long)(uintptr_t)ptr) == 0 && kind == 2;
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

/* Whether the Python side is usable; starts it on first use. */
static int tempi_i_ready(void)
{
    if (tempi_i_state == TEMPI_I_UNTRIED) {
        tempi_i_inside = 1;
        int ok = tempi_i_start_python() && tempi_py_init() == TEMPI_I_OK;
        tempi_i_inside = 0;
        tempi_i_state = ok ? TEMPI_I_READY : TEMPI_I_BROKEN;
        if (!ok)
            fprintf(stderr, "tempi: could not start Python/tempi (TEMPI_PYTHON=%s); "
                            "passing every MPI call to the system MPI\n",
                    getenv("TEMPI_PYTHON") ? getenv("TEMPI_PYTHON") : TEMPI_I_PYTHON);
    }
    return tempi_i_state == TEMPI_I_READY;
}

static int tempi_i_bypass(void)
{
    return tempi_i_inside || tempi_i_disabled || tempi_i_state == TEMPI_I_BROKEN;
}

static void tempi_i_read_environment(void)
{
    const char *v;
    tempi_i_disabled = (v = getenv("TEMPI_DISABLE")) && *v && strcmp(v, "0") != 0;
    tempi_i_no_pack = (v = getenv("TEMPI_NO_PACK")) && *v && strcmp(v, "0") != 0;
    tempi_i_host = (v = getenv("TEMPI_HOST")) && *v && strcmp(v, "0") != 0;
}

/* ---- entry points --------------------------------------------------------------------------- */

int MPI_Init(int *argc, char ***argv)
{
    tempi_i_read_environment();
    tempi_i_find_cuda();
    return PMPI_Init(argc, argv);
}

int MPI_Init_thread(int *argc, char ***argv, int required, int *provided)
{
    tempi_i_read_environment();
    tempi_i_find_cuda();
    return PMPI_Init_thread(argc, argv, required, provided);
}

int MPI_Finalize(void)
{
    /* mpi4py finalizes MPI after the interpreter is gone: then Python's own atexit hook
     * has already run tempi's finalize. */
    if (!tempi_i_bypass() && tempi_i_state == TEMPI_I_READY && Py_IsInitialized()) {
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
    tempi_set_accelerated(MPI_Type_c2f(*datatype), accelerated == TEMPI_I_OK);
    return err;
}

int MPI_Type_free(MPI_Datatype *datatype)
{
    if (!tempi_i_bypass() && tempi_i_state == TEMPI_I_READY) {
        MPI_Fint key = MPI_Type_c2f(*datatype);
        tempi_set_accelerated(key, 0);
        tempi_i_inside = 1;
        tempi_py_type_free(key);
        tempi_i_inside = 0;
    }
    return PMPI_Type_free(datatype);
}

/* Whether a pack or unpack of `datatype` on `typed` memory goes to tempi. */
static int tempi_i_takes_pack(const void *typed, MPI_Datatype datatype)
{
    if (tempi_i_bypass() || tempi_i_no_pack || tempi_i_state != TEMPI_I_READY ||
        !tempi_i_accelerated(datatype))
        return 0;
    return tempi_i_host || tempi_i_on_device(typed);
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

int MPI_Pack(const void *inbuf, int incount, MPI_Datatype datatype, void *outbuf, int outsize,
             int *position, MPI_Comm comm)
{
    if (tempi_i_takes_pack(inbuf, datatype)) {
        int64_t pos = *position;
        int rc = tempi_i_pack(inbuf, incount, datatype, outbuf, outsize, &pos, comm);
        if (rc == TEMPI_I_OK) {
            *position = (int)pos;
            return MPI_SUCCESS;
        }
        if (rc != TEMPI_I_PASS)
            return tempi_i_error(rc);
    }
    tempi_i_passed += !tempi_i_inside;
    return PMPI_Pack(inbuf, incount, datatype, outbuf, outsize, position, comm);
}

int MPI_Unpack(const void *inbuf, int insize, int *position, void *outbuf, int outcount,
               MPI_Datatype datatype, MPI_Comm comm)
{
    if (tempi_i_takes_pack(outbuf, datatype)) {
        int64_t pos = *position;
        int rc = tempi_i_unpack(inbuf, insize, &pos, outbuf, outcount, datatype, comm);
        if (rc == TEMPI_I_OK) {
            *position = (int)pos;
            return MPI_SUCCESS;
        }
        if (rc != TEMPI_I_PASS)
            return tempi_i_error(rc);
    }
    tempi_i_passed += !tempi_i_inside;
    return PMPI_Unpack(inbuf, insize, position, outbuf, outcount, datatype, comm);
}

int MPI_Pack_size(int incount, MPI_Datatype datatype, MPI_Comm comm, int *size)
{
    return PMPI_Pack_size(incount, datatype, comm, size);
}

#if MPI_VERSION >= 4
int MPI_Pack_c(const void *inbuf, MPI_Count incount, MPI_Datatype datatype, void *outbuf,
               MPI_Count outsize, MPI_Count *position, MPI_Comm comm)
{
    if (tempi_i_takes_pack(inbuf, datatype)) {
        int64_t pos = *position;
        int rc = tempi_i_pack(inbuf, incount, datatype, outbuf, outsize, &pos, comm);
        if (rc == TEMPI_I_OK) {
            *position = pos;
            return MPI_SUCCESS;
        }
        if (rc != TEMPI_I_PASS)
            return tempi_i_error(rc);
    }
    tempi_i_passed += !tempi_i_inside;
    return PMPI_Pack_c(inbuf, incount, datatype, outbuf, outsize, position, comm);
}

int MPI_Unpack_c(const void *inbuf, MPI_Count insize, MPI_Count *position, void *outbuf,
                 MPI_Count outcount, MPI_Datatype datatype, MPI_Comm comm)
{
    if (tempi_i_takes_pack(outbuf, datatype)) {
        int64_t pos = *position;
        int rc = tempi_i_unpack(inbuf, insize, &pos, outbuf, outcount, datatype, comm);
        if (rc == TEMPI_I_OK) {
            *position = pos;
            return MPI_SUCCESS;
        }
        if (rc != TEMPI_I_PASS)
            return tempi_i_error(rc);
    }
    tempi_i_passed += !tempi_i_inside;
    return PMPI_Unpack_c(inbuf, insize, position, outbuf, outcount, datatype, comm);
}

int MPI_Pack_size_c(MPI_Count incount, MPI_Datatype datatype, MPI_Comm comm, MPI_Count *size)
{
    return PMPI_Pack_size_c(incount, datatype, comm, size);
}
#endif
