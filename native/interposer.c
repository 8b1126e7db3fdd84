/* The tempi interposer: MPI_* entry points that an LD_PRELOADed shim puts in front of the
 * system MPI (reached through PMPI_*).
 *
 * Compiled by cffi in embedding mode (tempi/shim/build.py) into one shared object with the
 * Python callbacks of tempi/shim/callbacks.py, declared in interposer.h as tempi_py_*.
 * The C side keeps the fast path: a call whose datatype tempi does not accelerate, or
 * whose buffer is host memory (unless TEMPI_HOST=1), never enters Python.
 *
 * This file is start-up and state; the entry points are generated from tempi/shim/spec.py
 * (entry_points_gen.c) and the other concerns have their files (internal.h lists them).
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

int tempi_i_state = TEMPI_I_UNTRIED;
int tempi_i_disabled = 0;
int tempi_i_no_pack = 0;
int tempi_i_host = 0;
int tempi_i_stats = 0;
TEMPI_I_FAST_TLS int tempi_i_inside = 0;
long tempi_i_passed = 0;
int tempi_i_threaded = 0;
static pthread_mutex_t tempi_i_start_lock = PTHREAD_MUTEX_INITIALIZER;

/* Set by tempi at start-up: the system MPI cannot take device buffers (not CUDA-aware, or
 * TEMPI_CONTIGUOUS=staged), so tempi stages every device buffer, whatever its type. */
int tempi_i_stage_device = 0;

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

/* ---- MPI_Init, MPI_Init_thread, MPI_Finalize ------------------------------------------ */

int tempi_i_init(int *argc, char ***argv)
{
    tempi_i_read_environment();
    tempi_i_find_cuda();
    int err = PMPI_Init(argc, argv);
    if (err == MPI_SUCCESS && !tempi_i_disabled) {
        tempi_i_learn_nodes();
        tempi_i_learn_error_convention();
    }
    return err;
}

int tempi_i_init_thread(int *argc, char ***argv, int required, int *provided)
{
    tempi_i_read_environment();
    tempi_i_find_cuda();
    int err = PMPI_Init_thread(argc, argv, required, provided);
    if (err == MPI_SUCCESS && !tempi_i_disabled) {
        tempi_i_threaded = *provided == MPI_THREAD_MULTIPLE;
        tempi_i_learn_nodes();
        tempi_i_learn_error_convention();
    }
    return err;
}

int tempi_i_finalize(void)
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
