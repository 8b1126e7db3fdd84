/* tempi.Comm's steady state as a compiled binding: the CPython extension module
 * `_tempi_comm`, compiled into the interposer's shared object (tempi/shim/build.py) and
 * loaded from it by tempi/comm/native.py (importlib's ExtensionFileLoader: the same loaded
 * copy of the engine that cffi reaches), so a planned host message costs one Python method
 * call and one call of this module (Isend, Issend, Ibsend and Irecv: no Python frame at
 * all, tempi.Comm's methods being this module's functions, `methods`; their requests made
 * here, `tempi_i_cb_new_request`): the buffer spec ([buf, count, datatype] or
 * [buf, datatype]) parsed here, the buffer's address and length through the buffer
 * protocol, the datatype's, communicator's and status's C handles through mpi4py's C API,
 * the plan looked up by (datatype handle, count), the engine called (engine_api.c).
 *
 * The table only caches what Python's planner decided (tempi/comm/native.py's _plan, the
 * one place that says what a plan is: `remember` fills it on a miss, `forget` empties it
 * with Python's table). An entry holds while the descriptor cache still has the
 * descriptor it was planned for (MPI's delete callback evicts it when the type is freed,
 * so a re-used handle misses here and is planned again) and while the configuration is the
 * one `configure` was given (config._current, read from the module's dict on each call).
 *
 * Every call returns a sentinel when the message is not the binding's -- False for the
 * blocking calls, None for Isend/Irecv -- with nothing done, so Python's path (unchanged)
 * takes it and says what is wrong (a buffer too small, not a host buffer, ...). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#define MPI4PY_LIMITED_API 1
#define MPI4PY_LIMITED_API_SKIP_MESSAGE 1
#define MPI4PY_LIMITED_API_SKIP_OP 1
#define MPI4PY_LIMITED_API_SKIP_GROUP 1
#define MPI4PY_LIMITED_API_SKIP_INFO 1
#define MPI4PY_LIMITED_API_SKIP_ERRHANDLER 1
#define MPI4PY_LIMITED_API_SKIP_SESSION 1
#define MPI4PY_LIMITED_API_SKIP_WIN 1
#define MPI4PY_LIMITED_API_SKIP_FILE 1
#include <mpi4py/mpi4py.h>

#include <limits.h>
#include <stdint.h>
#include <structmember.h>

#include "engine_api.h"
#include "engine_system.h"
#include "internal.h"

#define TEMPI_I_CB_SLOTS 8192 /* a power of two */
#define TEMPI_I_CB_MOST 6144  /* Python's table (which this one's entries are from) is
                                 cleared past 4096, and this one with it */

struct tempi_i_cb_entry {
    uintptr_t type; /* the datatype handle as an integer; 0: an empty slot */
    int64_t count;
    intptr_t plan;         /* a plan's address, or TEMPI_ENGINE_SYSTEM */
    int64_t end;           /* bytes the buffer must hold (the data's upper bound) */
    MPI_Datatype datatype; /* for the MPI's own call */
    PyObject *key;         /* the handle as the descriptor cache's key */
    PyObject *desc;        /* the descriptor the plan was made for */
    PyObject *keep;        /* Python's entry: keeps the plan and its arguments alive */
};

static struct tempi_i_cb_entry tempi_i_cb_table[TEMPI_I_CB_SLOTS];
static int tempi_i_cb_used;
static PyObject *tempi_i_cb_config;      /* tempi.config's module dict */
static PyObject *tempi_i_cb_current;     /* the config._current `configure` was given */
static PyObject *tempi_i_cb_current_key; /* "_current" */
static PyObject *tempi_i_cb_descriptors; /* the descriptor cache's dict */
static PyObject *tempi_i_cb_error;       /* MPI.Exception */
static PyObject *tempi_i_cb_request;     /* tempi.comm.native.NativeRequest */
static PyObject *tempi_i_cb_bottom;      /* MPI.BOTTOM */
static int tempi_i_cb_on;

/* A NativeRequest's slots (tempi/comm/native.py: __slots__), by their offsets in the
 * object, which `setup` reads from the class's member descriptors: the binding creates its
 * requests with every slot set as __init__ sets them, without running it, and its waitall
 * reads and marks them in place. */
enum { TEMPI_I_CB_OP, TEMPI_I_CB_RECEIVE, TEMPI_I_CB_STEPS, TEMPI_I_CB_ACTIVE, TEMPI_I_CB_MPI,
       TEMPI_I_CB_RESULT, TEMPI_I_CB_CANCELLED, TEMPI_I_CB_NSLOTS };
static const char *const tempi_i_cb_slot_names[TEMPI_I_CB_NSLOTS] = {
    "_op", "_receive", "_steps", "_active", "_mpi", "_result", "_cancelled",
};
static Py_ssize_t tempi_i_cb_slot_at[TEMPI_I_CB_NSLOTS];
#define TEMPI_I_CB_SLOT(obj, k) (*(PyObject **)((char *)(obj) + tempi_i_cb_slot_at[k]))

/* tempi.Comm's Isend, Issend, Ibsend and Irecv as this module's functions (`methods`):
 * Python's own methods, called when the binding does not take a call, and what the
 * binding's take instead when it declines the message (Comm._isend, Comm._irecv). */
enum { TEMPI_I_CB_IRECV = 3, TEMPI_I_CB_METHODS = 4 };
static PyObject *tempi_i_cb_python[TEMPI_I_CB_METHODS];
static PyObject *tempi_i_cb_native;  /* tempi.comm.native's dict: its `c` is this module */
static PyObject *tempi_i_cb_self;    /* this module */
static PyObject *tempi_i_cb_modes[3];               /* 0, 1, 2: Isend's modes */
static PyObject *tempi_i_cb_any_source, *tempi_i_cb_any_tag; /* Irecv's defaults */
static PyObject *tempi_i_cb_names[4]; /* "c", "comm", "_isend", "_irecv" */
static long tempi_i_cb_ran, tempi_i_cb_declined; /* messages run here / handed to Python */

static size_t tempi_i_cb_hash(uintptr_t type, int64_t count)
{
    uint64_t h = ((uint64_t)type ^ ((uint64_t)type >> 29)) * 0x9E3779B97F4A7C15ull;
    return (size_t)((h ^ (uint64_t)count * 0xC2B2AE3D27D4EB4Full) >> 40) &
           (TEMPI_I_CB_SLOTS - 1);
}

static struct tempi_i_cb_entry *tempi_i_cb_slot(uintptr_t type, int64_t count)
{
    size_t i = tempi_i_cb_hash(type, count);
    for (;;) {
        struct tempi_i_cb_entry *e = &tempi_i_cb_table[i];
        if (e->type == 0 || (e->type == type && e->count == count))
            return e;
        i = (i + 1) & (TEMPI_I_CB_SLOTS - 1);
    }
}

static void tempi_i_cb_clear(void)
{
    for (int i = 0; i < TEMPI_I_CB_SLOTS; ++i) {
        struct tempi_i_cb_entry *e = &tempi_i_cb_table[i];
        if (e->type == 0)
            continue;
        Py_CLEAR(e->key);
        Py_CLEAR(e->desc);
        Py_CLEAR(e->keep);
        e->type = 0;
    }
    tempi_i_cb_used = 0;
}

/* A handle as an integer (MPICH: an int, sign-extended as mpi4py gives it; Open MPI: a
 * pointer); never 0 for a datatype (MPI_DATATYPE_NULL is not planned). */
#define TEMPI_I_CB_HANDLE(h) ((uintptr_t)(h))

/* One message's buffer spec, found in the table: what the call needs of its entry, copied
 * (another thread may change the table while this one runs without the GIL), and a
 * reference to Python's entry, which keeps the plan alive until tempi_i_cb_done. */
struct tempi_i_cb_call {
    Py_buffer view;
    intptr_t plan;
    MPI_Datatype datatype;
    PyObject *keep;
    int count;
};

static void tempi_i_cb_done(struct tempi_i_cb_call *call)
{
    PyBuffer_Release(&call->view);
    Py_DECREF(call->keep);
}

/* 1: the binding runs this spec (the view and entry are held: tempi_i_cb_done), 0: not
 * (nothing held, no error set). Python's native._find decides the same way. */
static int tempi_i_cb_find(PyObject *spec, int writable, struct tempi_i_cb_call *call)
{
    if (!tempi_i_cb_on)
        return 0;
    PyObject *current = PyDict_GetItemWithError(tempi_i_cb_config, tempi_i_cb_current_key);
    if (current != tempi_i_cb_current) { /* a new configuration: Python looks again */
        PyErr_Clear();
        return 0;
    }
    PyObject *buf, *datatype;
    long long count = -1;
    Py_ssize_t n;
    PyObject **items;
    if (PyList_CheckExact(spec)) {
        n = PyList_GET_SIZE(spec), items = ((PyListObject *)spec)->ob_item;
    } else if (PyTuple_CheckExact(spec)) {
        n = PyTuple_GET_SIZE(spec), items = ((PyTupleObject *)spec)->ob_item;
    } else {
        return 0;
    }
    if (n == 3) {
        if (!PyLong_CheckExact(items[1]))
            return 0;
        int overflow = 0;
        count = PyLong_AsLongLongAndOverflow(items[1], &overflow);
        if (overflow || count < 0 || count > INT_MAX) {
            PyErr_Clear();
            return 0;
        }
        buf = items[0], datatype = items[2];
    } else if (n == 2) {
        buf = items[0], datatype = items[1];
    } else {
        return 0;
    }
    if (buf == tempi_i_cb_bottom || !PyObject_TypeCheck(datatype, &PyMPIDatatype_Type))
        return 0;
    MPI_Datatype type = *PyMPIDatatype_Get(datatype);
    if (PyObject_GetBuffer(buf, &call->view, writable ? PyBUF_WRITABLE : PyBUF_SIMPLE) < 0) {
        PyErr_Clear(); /* not a host buffer: Python's path */
        return 0;
    }
    if (count < 0) {
        MPI_Aint lb, extent;
        if (PMPI_Type_get_extent(type, &lb, &extent) != MPI_SUCCESS)
            goto not_ours;
        count = extent > 0 ? call->view.len / extent : 0;
        if (count > INT_MAX)
            goto not_ours;
    }
    const struct tempi_i_cb_entry *e = tempi_i_cb_slot(TEMPI_I_CB_HANDLE(type), count);
    if (e->type == 0 || e->end > call->view.len)
        goto not_ours;
    PyObject *desc = PyDict_GetItemWithError(tempi_i_cb_descriptors, e->key);
    if (desc != e->desc) { /* the type was freed (and maybe its handle re-used) */
        PyErr_Clear();
        goto not_ours;
    }
    call->plan = e->plan, call->datatype = e->datatype, call->count = (int)count;
    call->keep = Py_NewRef(e->keep);
    return 1;
not_ours:
    PyBuffer_Release(&call->view);
    return 0;
}

static PyObject *tempi_i_cb_declined_now(PyObject *sentinel)
{
    ++tempi_i_cb_declined;
    return Py_NewRef(sentinel);
}

static PyObject *tempi_i_cb_raise(int code)
{
    PyObject *exc = PyObject_CallFunction(tempi_i_cb_error, "i", code);
    if (exc) {
        PyErr_SetObject(tempi_i_cb_error, exc);
        Py_DECREF(exc);
    }
    return NULL;
}

/* The communicator (an mpi4py Comm) and ints of a call's arguments; 0: not the binding's. */
static int tempi_i_cb_comm(PyObject *obj, MPI_Comm *comm)
{
    if (!PyObject_TypeCheck(obj, &PyMPIComm_Type))
        return 0;
    *comm = *PyMPIComm_Get(obj);
    return 1;
}

static int tempi_i_cb_int(PyObject *obj, int *value)
{
    if (!PyLong_CheckExact(obj))
        return 0;
    int overflow = 0;
    long v = PyLong_AsLongAndOverflow(obj, &overflow);
    if (overflow || v < INT_MIN || v > INT_MAX) {
        PyErr_Clear();
        return 0;
    }
    *value = (int)v;
    return 1;
}

/* A status argument: None (ignore) or an mpi4py Status; 0: not the binding's. */
static int tempi_i_cb_status(PyObject *obj, intptr_t *status)
{
    if (obj == Py_None) {
        *status = 0;
        return 1;
    }
    if (!PyObject_TypeCheck(obj, &PyMPIStatus_Type))
        return 0;
    *status = (intptr_t)PyMPIStatus_Get(obj);
    return 1;
}

#define TEMPI_I_CB_ARGS(N)                                                                  \
    if (nargs != (N)) {                                                                     \
        PyErr_Format(PyExc_TypeError, "expected %d arguments, got %zd", (N), nargs);        \
        return NULL;                                                                        \
    }

/* send(comm, spec, dest, tag, mode) -> True (sent), False (Python's path) */
static PyObject *tempi_i_cb_send(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    TEMPI_I_CB_ARGS(5);
    MPI_Comm comm;
    int dest, tag, mode, rc;
    struct tempi_i_cb_call call;
    if (!tempi_i_cb_comm(args[0], &comm) || !tempi_i_cb_int(args[2], &dest) ||
        !tempi_i_cb_int(args[3], &tag) || !tempi_i_cb_int(args[4], &mode) ||
        !tempi_i_cb_find(args[1], 0, &call))
        return tempi_i_cb_declined_now(Py_False);
    Py_BEGIN_ALLOW_THREADS
    if (call.plan == TEMPI_ENGINE_SYSTEM)
        rc = tempi_i_pmpi_send(call.view.buf, call.count, call.datatype, dest, tag, comm, mode);
    else
        rc = tempi_engine_send(call.plan, call.view.buf, dest, tag, (uintptr_t)comm, mode);
    Py_END_ALLOW_THREADS
    tempi_i_cb_done(&call);
    if (rc < 0) /* the engine refused the buffer (its alignment): Python's path */
        return tempi_i_cb_declined_now(Py_False);
    if (rc > 0)
        return tempi_i_cb_raise(rc);
    ++tempi_i_cb_ran;
    Py_RETURN_TRUE;
}

/* recv(comm, spec, source, tag, status) -> True (received), False (Python's path) */
static PyObject *tempi_i_cb_recv(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    TEMPI_I_CB_ARGS(5);
    MPI_Comm comm;
    int source, tag, rc;
    intptr_t status;
    struct tempi_i_cb_call call;
    if (!tempi_i_cb_comm(args[0], &comm) || !tempi_i_cb_int(args[2], &source) ||
        !tempi_i_cb_int(args[3], &tag) || !tempi_i_cb_status(args[4], &status) ||
        !tempi_i_cb_find(args[1], 1, &call))
        return tempi_i_cb_declined_now(Py_False);
    Py_BEGIN_ALLOW_THREADS
    if (call.plan == TEMPI_ENGINE_SYSTEM)
        rc = PMPI_Recv(call.view.buf, call.count, call.datatype, source, tag, comm,
                       status ? (MPI_Status *)status : MPI_STATUS_IGNORE);
    else
        rc = tempi_engine_recv(call.plan, call.view.buf, source, tag, (uintptr_t)comm, status);
    Py_END_ALLOW_THREADS
    tempi_i_cb_done(&call);
    if (rc < 0)
        return tempi_i_cb_declined_now(Py_False);
    if (rc > 0)
        return tempi_i_cb_raise(rc);
    ++tempi_i_cb_ran;
    Py_RETURN_TRUE;
}

/* The MPI's own Isend (mode as tempi_engine_send's) or Irecv of the user's datatype (the
 * host model's `system` pick, contiguous data) as an mpi4py Request, as mpi4py's own call
 * would post it (its request does not hold the buffer: the caller keeps it alive until
 * completion, as for a NativeRequest). */
static PyObject *tempi_i_cb_system_start(struct tempi_i_cb_call *call, MPI_Comm comm,
                                         int peer, int tag, int mode, int recv)
{
    MPI_Request request = MPI_REQUEST_NULL;
    int err;
    Py_BEGIN_ALLOW_THREADS
    if (recv)
        err = PMPI_Irecv(call->view.buf, call->count, call->datatype, peer, tag, comm,
                         &request);
    else
        err = tempi_i_pmpi_isend(call->view.buf, call->count, call->datatype, peer, tag, comm,
                                 mode, 0, &request);
    Py_END_ALLOW_THREADS
    tempi_i_cb_done(call);
    if (err != MPI_SUCCESS)
        return tempi_i_cb_raise(err);
    ++tempi_i_cb_ran;
    return PyMPIRequest_New(request);
}

/* A NativeRequest of engine operation `op`, its slots set as its __init__ sets them
 * (tempi/comm/native.py) without running it: object's tp_new (the class has none of its
 * own, `setup` checked) makes the instance, the slots are filled here. */
static PyObject *tempi_i_cb_new_request(int op, int recv)
{
    static PyObject *no_args;
    PyTypeObject *type = (PyTypeObject *)tempi_i_cb_request;
    if (no_args == NULL && (no_args = PyTuple_New(0)) == NULL)
        return NULL;
    PyObject *id = PyLong_FromLong(op);
    if (id == NULL)
        return NULL;
    PyObject *request = type->tp_new(type, no_args, NULL);
    if (request == NULL) {
        Py_DECREF(id);
        return NULL;
    }
    PyObject *values[TEMPI_I_CB_NSLOTS] = {
        [TEMPI_I_CB_OP] = id,           [TEMPI_I_CB_RECEIVE] = recv ? Py_True : Py_False,
        [TEMPI_I_CB_STEPS] = id,        [TEMPI_I_CB_ACTIVE] = Py_True,
        [TEMPI_I_CB_MPI] = Py_None,     [TEMPI_I_CB_RESULT] = Py_None,
        [TEMPI_I_CB_CANCELLED] = Py_False,
    };
    for (int k = 0; k < TEMPI_I_CB_NSLOTS; ++k)
        Py_XSETREF(TEMPI_I_CB_SLOT(request, k), Py_NewRef(values[k]));
    Py_DECREF(id);
    return request;
}

/* An Isend (mode as tempi_engine_send's) or Irecv (recv) of `spec` on the mpi4py
 * communicator `comm_obj`: a NativeRequest (an engine operation), an mpi4py Request (the
 * MPI's own call), or None (Python's path: nothing done). */
static PyObject *tempi_i_cb_post(PyObject *comm_obj, PyObject *spec, PyObject *peer_obj,
                                 PyObject *tag_obj, int mode, int recv)
{
    MPI_Comm comm;
    int peer, tag, op;
    struct tempi_i_cb_call call;
    if (!tempi_i_cb_comm(comm_obj, &comm) || !tempi_i_cb_int(peer_obj, &peer) ||
        !tempi_i_cb_int(tag_obj, &tag) || !tempi_i_cb_find(spec, recv, &call))
        return tempi_i_cb_declined_now(Py_None);
    if (call.plan == TEMPI_ENGINE_SYSTEM)
        return tempi_i_cb_system_start(&call, comm, peer, tag, mode, recv);
    Py_BEGIN_ALLOW_THREADS
    op = tempi_engine_start(call.plan, call.view.buf, peer, tag, (uintptr_t)comm, mode, recv, 0);
    Py_END_ALLOW_THREADS
    tempi_i_cb_done(&call);
    if (op == 0)
        return tempi_i_cb_declined_now(Py_None);
    if (op < 0)
        return tempi_i_cb_raise(-op);
    ++tempi_i_cb_ran;
    return tempi_i_cb_new_request(op, recv);
    /* (should it fail -- no memory -- the operation completes unseen) */
}

/* isend(comm, spec, dest, tag, mode) / irecv(comm, spec, source, tag): tempi_i_cb_post */
static PyObject *tempi_i_cb_isend(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    TEMPI_I_CB_ARGS(5);
    int mode;
    if (!tempi_i_cb_int(args[4], &mode))
        return tempi_i_cb_declined_now(Py_None);
    return tempi_i_cb_post(args[0], args[1], args[2], args[3], mode, 0);
}

static PyObject *tempi_i_cb_irecv(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    TEMPI_I_CB_ARGS(4);
    return tempi_i_cb_post(args[0], args[1], args[2], args[3], 0, 1);
}

/* tempi.Comm's Isend (which: its mode), Issend, Ibsend, and Irecv (TEMPI_I_CB_IRECV) once
 * the binding is loaded: the method itself is this C function (a method descriptor on the
 * class), so a planned message costs no Python frame. Its arguments are bound as the
 * Python method's signature binds them (buf, dest|source, tag; by position or keyword);
 * a call it cannot bind that way, or made while tempi.comm.native's `c` is not this module
 * (a test's stand-in), goes to the Python method itself, which raises what it raises; a
 * message the binding declines goes on to Comm._isend(buf, dest, tag, mode) or
 * Comm._irecv(buf, source, tag): the cffi path, then Python's route. */
static PyObject *tempi_i_cb_method(int which, PyObject *self, PyObject *const *args,
                                   Py_ssize_t nargs, PyObject *kwnames)
{
    int recv = which == TEMPI_I_CB_IRECV;
    PyObject *given[3] = {NULL, NULL, NULL};
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    if (nargs > 3)
        goto python;
    for (Py_ssize_t i = 0; i < nargs; ++i)
        given[i] = args[i];
    for (Py_ssize_t k = 0; k < nkw; ++k) {
        PyObject *name = PyTuple_GET_ITEM(kwnames, k);
        int at = PyUnicode_CompareWithASCIIString(name, "buf") == 0                   ? 0
                 : PyUnicode_CompareWithASCIIString(name, recv ? "source" : "dest") == 0 ? 1
                 : PyUnicode_CompareWithASCIIString(name, "tag") == 0                   ? 2
                                                                                       : -1;
        if (at < 0 || given[at] != NULL)
            goto python;
        given[at] = args[nargs + k];
    }
    if (given[0] == NULL || (given[1] == NULL && !recv))
        goto python;
    if (given[1] == NULL)
        given[1] = tempi_i_cb_any_source;
    if (given[2] == NULL)
        given[2] = recv ? tempi_i_cb_any_tag : tempi_i_cb_modes[0];
    PyObject *c = PyDict_GetItemWithError(tempi_i_cb_native, tempi_i_cb_names[0]);
    if (c != tempi_i_cb_self) {
        if (PyErr_Occurred())
            return NULL;
        goto python;
    }
    PyObject *comm = PyObject_GetAttr(self, tempi_i_cb_names[1]);
    if (comm == NULL)
        return NULL;
    int mode = recv ? 0 : which;
    PyObject *request = tempi_i_cb_post(comm, given[0], given[1], given[2], mode, recv);
    Py_DECREF(comm);
    if (request != Py_None)
        return request; /* (or NULL: raised) */
    Py_DECREF(request);
    PyObject *argv[5] = {self, given[0], given[1], given[2], tempi_i_cb_modes[mode]};
    return PyObject_VectorcallMethod(tempi_i_cb_names[recv ? 3 : 2], argv,
                                     recv ? 4 : 5, NULL);
python:;
    PyObject *few[8], **all = few;
    if (nargs + nkw + 1 > 8 && (all = PyMem_Malloc(sizeof(PyObject *) * (nargs + nkw + 1))) == NULL)
        return PyErr_NoMemory();
    all[0] = self;
    for (Py_ssize_t i = 0; i < nargs + nkw; ++i)
        all[i + 1] = args[i];
    PyObject *result = PyObject_Vectorcall(tempi_i_cb_python[which], all, nargs + 1, kwnames);
    if (all != few)
        PyMem_Free(all);
    return result;
}

#define TEMPI_I_CB_METHOD(name, which)                                                        \
    static PyObject *name(PyObject *self, PyObject *const *args, Py_ssize_t nargs,            \
                          PyObject *kwnames)                                                  \
    {                                                                                         \
        return tempi_i_cb_method(which, self, args, nargs, kwnames);                          \
    }
TEMPI_I_CB_METHOD(tempi_i_cb_m_isend, 0)
TEMPI_I_CB_METHOD(tempi_i_cb_m_issend, 1)
TEMPI_I_CB_METHOD(tempi_i_cb_m_ibsend, 2)
TEMPI_I_CB_METHOD(tempi_i_cb_m_irecv, TEMPI_I_CB_IRECV)

static PyMethodDef tempi_i_cb_comm_methods[TEMPI_I_CB_METHODS] = {
    {"Isend", (PyCFunction)(void (*)(void))tempi_i_cb_m_isend, METH_FASTCALL | METH_KEYWORDS,
     "Isend(buf, dest, tag=0): tempi.Comm's, in the compiled binding"},
    {"Issend", (PyCFunction)(void (*)(void))tempi_i_cb_m_issend, METH_FASTCALL | METH_KEYWORDS,
     "Issend(buf, dest, tag=0): tempi.Comm's, in the compiled binding"},
    {"Ibsend", (PyCFunction)(void (*)(void))tempi_i_cb_m_ibsend, METH_FASTCALL | METH_KEYWORDS,
     "Ibsend(buf, dest, tag=0): tempi.Comm's, in the compiled binding"},
    {"Irecv", (PyCFunction)(void (*)(void))tempi_i_cb_m_irecv, METH_FASTCALL | METH_KEYWORDS,
     "Irecv(buf, source=ANY_SOURCE, tag=ANY_TAG): tempi.Comm's, in the compiled binding"},
};

/* methods(cls, native_dict, (Isend, Issend, Ibsend, Irecv)) -> (their 4 method descriptors
 * on `cls`, tempi.Comm): the Python functions are what a call the binding does not bind
 * goes to. tempi/comm/communicator.py sets them on the class. */
static PyObject *tempi_i_cb_methods_of(PyObject *module, PyObject *const *args,
                                       Py_ssize_t nargs)
{
    TEMPI_I_CB_ARGS(3);
    if (!PyType_Check(args[0]) || !PyDict_Check(args[1]) || !PyTuple_Check(args[2]) ||
        PyTuple_GET_SIZE(args[2]) != TEMPI_I_CB_METHODS) {
        PyErr_SetString(PyExc_TypeError, "methods(cls, native's dict, 4 Python methods)");
        return NULL;
    }
    static const char *const names[4] = {"c", "comm", "_isend", "_irecv"};
    for (int i = 0; i < 4; ++i)
        if (tempi_i_cb_names[i] == NULL &&
            (tempi_i_cb_names[i] = PyUnicode_InternFromString(names[i])) == NULL)
            return NULL;
    for (int i = 0; i < 3; ++i)
        if (tempi_i_cb_modes[i] == NULL && (tempi_i_cb_modes[i] = PyLong_FromLong(i)) == NULL)
            return NULL;
    if (tempi_i_cb_any_source == NULL &&
        ((tempi_i_cb_any_source = PyLong_FromLong(MPI_ANY_SOURCE)) == NULL ||
         (tempi_i_cb_any_tag = PyLong_FromLong(MPI_ANY_TAG)) == NULL))
        return NULL;
    PyObject *result = PyTuple_New(TEMPI_I_CB_METHODS);
    if (result == NULL)
        return NULL;
    for (int i = 0; i < TEMPI_I_CB_METHODS; ++i) {
        PyObject *descr = PyDescr_NewMethod((PyTypeObject *)args[0], &tempi_i_cb_comm_methods[i]);
        if (descr == NULL) {
            Py_DECREF(result);
            return NULL;
        }
        PyTuple_SET_ITEM(result, i, descr);
        Py_XSETREF(tempi_i_cb_python[i], Py_NewRef(PyTuple_GET_ITEM(args[2], i)));
    }
    Py_XSETREF(tempi_i_cb_native, Py_NewRef(args[1]));
    Py_XSETREF(tempi_i_cb_self, Py_NewRef(module));
    return result;
}

/* waitall(requests) -> None when the list is not the binding's (Python's _complete takes
 * it), else MPI's error code (0: done). The binding's case: a list of NativeRequests whose
 * operations are all in flight in C and no statuses asked for (the demo's 52 per exchange),
 * completed by the same rule as every other Waitall (engine_api.c's tempi_engine_complete,
 * requests.c) in one call, then marked done as Python's _complete marks them; their slots
 * are read and written in place. */
static PyObject *tempi_i_cb_waitall(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    TEMPI_I_CB_ARGS(1);
    PyObject *list = args[0];
    if (tempi_i_cb_request == NULL || !PyList_CheckExact(list))
        Py_RETURN_NONE;
    Py_ssize_t n = PyList_GET_SIZE(list);
    if (n == 0 || n > INT_MAX - 2)
        Py_RETURN_NONE;
    int few[3 * 64 + 2];
    intptr_t few_handles[64];
    int *ids = n <= 64 ? few : malloc(sizeof(int) * (size_t)(3 * n + 2));
    intptr_t *handles = n <= 64 ? few_handles : calloc((size_t)n, sizeof(intptr_t));
    PyObject *result = Py_None;
    if (ids == NULL || handles == NULL) {
        result = PyErr_NoMemory();
        goto done;
    }
    int *kinds = ids + n, *out = ids + 2 * n;
    for (Py_ssize_t i = 0; i < n; ++i) {
        PyObject *request = PyList_GET_ITEM(list, i);
        if (Py_TYPE(request) != (PyTypeObject *)tempi_i_cb_request)
            goto done; /* (result is Py_None) */
        PyObject *steps = TEMPI_I_CB_SLOT(request, TEMPI_I_CB_STEPS);
        PyObject *op = TEMPI_I_CB_SLOT(request, TEMPI_I_CB_OP);
        if (steps == NULL || steps == Py_None || op == NULL || !PyLong_CheckExact(op) ||
            TEMPI_I_CB_SLOT(request, TEMPI_I_CB_ACTIVE) != Py_True)
            goto done;
        long id = PyLong_AsLong(op);
        if (id <= 0 || id > INT_MAX) {
            PyErr_Clear();
            goto done;
        }
        ids[i] = (int)id, kinds[i] = TEMPI_I_REQ_OP, handles[i] = 0;
    }
    int err;
    Py_BEGIN_ALLOW_THREADS
    err = tempi_engine_complete(TEMPI_I_WAITALL, (int)n, kinds, ids, handles, NULL, NULL, NULL,
                                out);
    Py_END_ALLOW_THREADS
    /* (the list is not changed meanwhile: its items are what was completed, another thread
     * that changes it while one waits on it breaks MPI's rules anyway; an item's slots may
     * have, so each is set with its old value released) */
    for (Py_ssize_t i = 0; i < n && i < PyList_GET_SIZE(list); ++i) {
        PyObject *request = PyList_GET_ITEM(list, i);
        if (Py_TYPE(request) != (PyTypeObject *)tempi_i_cb_request)
            continue;
        Py_XSETREF(TEMPI_I_CB_SLOT(request, TEMPI_I_CB_ACTIVE), Py_NewRef(Py_False));
        Py_XSETREF(TEMPI_I_CB_SLOT(request, TEMPI_I_CB_STEPS), Py_NewRef(Py_None));
        Py_XSETREF(TEMPI_I_CB_SLOT(request, TEMPI_I_CB_MPI), Py_NewRef(Py_None));
    }
    result = PyLong_FromLong(err);
done:
    if (ids != few)
        free(ids);
    if (handles != few_handles)
        free(handles);
    return result == Py_None ? Py_NewRef(Py_None) : result;
}

/* sendrecv(comm, sendspec, dest, sendtag, recvspec, source, recvtag, status) -> True, or
 * False (Python's path) when either side is not the binding's. */
static PyObject *tempi_i_cb_sendrecv(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    TEMPI_I_CB_ARGS(8);
    MPI_Comm comm;
    int dest, sendtag, source, recvtag, rc;
    intptr_t status;
    struct tempi_i_cb_call out, in;
    if (!tempi_i_cb_comm(args[0], &comm) || !tempi_i_cb_int(args[2], &dest) ||
        !tempi_i_cb_int(args[3], &sendtag) || !tempi_i_cb_int(args[5], &source) ||
        !tempi_i_cb_int(args[6], &recvtag) || !tempi_i_cb_status(args[7], &status) ||
        !tempi_i_cb_find(args[1], 0, &out))
        return tempi_i_cb_declined_now(Py_False);
    if (!tempi_i_cb_find(args[4], 1, &in)) {
        tempi_i_cb_done(&out);
        return tempi_i_cb_declined_now(Py_False);
    }
    Py_BEGIN_ALLOW_THREADS
    rc = tempi_engine_sendrecv(out.plan, out.view.buf, out.count, (uintptr_t)out.datatype, dest,
                               sendtag, in.plan, in.view.buf, in.count, (uintptr_t)in.datatype,
                               source, recvtag, (uintptr_t)comm, status);
    Py_END_ALLOW_THREADS
    tempi_i_cb_done(&in);
    tempi_i_cb_done(&out);
    if (rc != 0)
        return tempi_i_cb_raise(rc);
    tempi_i_cb_ran += 2;
    Py_RETURN_TRUE;
}

/* sendrecv_replace(comm, spec, dest, sendtag, source, recvtag, status) -> True, or False */
static PyObject *tempi_i_cb_sendrecv_replace(PyObject *self, PyObject *const *args,
                                             Py_ssize_t nargs)
{
    TEMPI_I_CB_ARGS(7);
    MPI_Comm comm;
    int dest, sendtag, source, recvtag, rc;
    intptr_t status;
    struct tempi_i_cb_call call;
    if (!tempi_i_cb_comm(args[0], &comm) || !tempi_i_cb_int(args[2], &dest) ||
        !tempi_i_cb_int(args[3], &sendtag) || !tempi_i_cb_int(args[4], &source) ||
        !tempi_i_cb_int(args[5], &recvtag) || !tempi_i_cb_status(args[6], &status) ||
        !tempi_i_cb_find(args[1], 1, &call))
        return tempi_i_cb_declined_now(Py_False);
    Py_BEGIN_ALLOW_THREADS
    rc = tempi_engine_sendrecv_replace(call.plan, call.view.buf, call.count,
                                       (uintptr_t)call.datatype, dest, sendtag, source, recvtag,
                                       (uintptr_t)comm, status);
    Py_END_ALLOW_THREADS
    tempi_i_cb_done(&call);
    if (rc != 0)
        return tempi_i_cb_raise(rc);
    tempi_i_cb_ran += 2;
    Py_RETURN_TRUE;
}

/* setup(config_dict, descriptors, MPI.Exception, NativeRequest, MPI.BOTTOM): once. */
static PyObject *tempi_i_cb_setup(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    TEMPI_I_CB_ARGS(5);
    if (!PyDict_Check(args[0]) || !PyDict_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "setup: the configuration's and descriptors' dicts");
        return NULL;
    }
    if (tempi_i_cb_current_key == NULL &&
        (tempi_i_cb_current_key = PyUnicode_InternFromString("_current")) == NULL)
        return NULL;
    PyTypeObject *request = (PyTypeObject *)args[3];
    if (!PyType_Check(args[3]) || request->tp_new != PyBaseObject_Type.tp_new) {
        PyErr_SetString(PyExc_TypeError, "setup: NativeRequest, a class without __new__");
        return NULL;
    }
    for (int k = 0; k < TEMPI_I_CB_NSLOTS; ++k) {
        PyObject *member = PyDict_GetItemString(request->tp_dict, tempi_i_cb_slot_names[k]);
        if (member == NULL || !Py_IS_TYPE(member, &PyMemberDescr_Type) ||
            ((PyMemberDescrObject *)member)->d_member->type != T_OBJECT_EX ||
            ((PyMemberDescrObject *)member)->d_member->offset < (Py_ssize_t)sizeof(PyObject)) {
            PyErr_Format(PyExc_TypeError, "setup: NativeRequest has no slot %s",
                         tempi_i_cb_slot_names[k]);
            return NULL;
        }
        tempi_i_cb_slot_at[k] = ((PyMemberDescrObject *)member)->d_member->offset;
    }
    Py_XSETREF(tempi_i_cb_config, Py_NewRef(args[0]));
    Py_XSETREF(tempi_i_cb_descriptors, Py_NewRef(args[1]));
    Py_XSETREF(tempi_i_cb_error, Py_NewRef(args[2]));
    Py_XSETREF(tempi_i_cb_request, Py_NewRef(args[3]));
    Py_XSETREF(tempi_i_cb_bottom, Py_NewRef(args[4]));
    tempi_i_cb_on = 0;
    tempi_i_cb_clear();
    Py_RETURN_NONE;
}

/* configure(current, on): the configuration dict the binding runs under, and whether it
 * runs at all (TEMPI_HOST, TEMPI_PLANS, TEMPI_DATATYPE=auto); the table is emptied. */
static PyObject *tempi_i_cb_configure(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    TEMPI_I_CB_ARGS(2);
    if (tempi_i_cb_config == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "configure before setup");
        return NULL;
    }
    int on = PyObject_IsTrue(args[1]);
    if (on < 0)
        return NULL;
    Py_XSETREF(tempi_i_cb_current, Py_NewRef(args[0]));
    tempi_i_cb_on = on;
    tempi_i_cb_clear();
    Py_RETURN_NONE;
}

/* remember(datatype, handle, count, entry): native._plan's entry (descriptor, plan address
 * or SYSTEM, first byte, end, ...) for (datatype, count). */
static PyObject *tempi_i_cb_remember(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    TEMPI_I_CB_ARGS(4);
    PyObject *datatype = args[0], *handle = args[1], *entry = args[3];
    if (!PyObject_TypeCheck(datatype, &PyMPIDatatype_Type) || !PyTuple_Check(entry) ||
        PyTuple_GET_SIZE(entry) < 4) {
        PyErr_SetString(PyExc_TypeError, "remember(datatype, handle, count, entry tuple)");
        return NULL;
    }
    long long count = PyLong_AsLongLong(args[2]);
    long long plan = PyLong_AsLongLong(PyTuple_GET_ITEM(entry, 1));
    long long end = PyLong_AsLongLong(PyTuple_GET_ITEM(entry, 3));
    if (PyErr_Occurred())
        return NULL;
    MPI_Datatype type = *PyMPIDatatype_Get(datatype);
    uintptr_t key = TEMPI_I_CB_HANDLE(type);
    if (key == 0 || plan == 0 || count < 0 || count > INT_MAX)
        Py_RETURN_FALSE;
    struct tempi_i_cb_entry *e = tempi_i_cb_slot(key, count);
    if (e->type == 0 && tempi_i_cb_used >= TEMPI_I_CB_MOST) {
        tempi_i_cb_clear(); /* freed types' entries: the live ones are remembered again */
        e = tempi_i_cb_slot(key, count);
    }
    if (e->type == 0)
        ++tempi_i_cb_used;
    Py_XSETREF(e->key, Py_NewRef(handle));
    Py_XSETREF(e->desc, Py_NewRef(PyTuple_GET_ITEM(entry, 0)));
    Py_XSETREF(e->keep, Py_NewRef(entry));
    e->type = key, e->count = count, e->plan = (intptr_t)plan, e->end = end;
    e->datatype = type;
    Py_RETURN_TRUE;
}

static PyObject *tempi_i_cb_forget(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    tempi_i_cb_clear();
    Py_RETURN_NONE;
}

/* counts() -> (messages run here, calls handed to Python's path, entries) */
static PyObject *tempi_i_cb_counts(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    return Py_BuildValue("(lli)", tempi_i_cb_ran, tempi_i_cb_declined, tempi_i_cb_used);
}

static PyMethodDef tempi_i_cb_methods[] = {
    {"send", (PyCFunction)(void (*)(void))tempi_i_cb_send, METH_FASTCALL, NULL},
    {"recv", (PyCFunction)(void (*)(void))tempi_i_cb_recv, METH_FASTCALL, NULL},
    {"isend", (PyCFunction)(void (*)(void))tempi_i_cb_isend, METH_FASTCALL, NULL},
    {"irecv", (PyCFunction)(void (*)(void))tempi_i_cb_irecv, METH_FASTCALL, NULL},
    {"sendrecv", (PyCFunction)(void (*)(void))tempi_i_cb_sendrecv, METH_FASTCALL, NULL},
    {"waitall", (PyCFunction)(void (*)(void))tempi_i_cb_waitall, METH_FASTCALL, NULL},
    {"sendrecv_replace", (PyCFunction)(void (*)(void))tempi_i_cb_sendrecv_replace,
     METH_FASTCALL, NULL},
    {"setup", (PyCFunction)(void (*)(void))tempi_i_cb_setup, METH_FASTCALL, NULL},
    {"configure", (PyCFunction)(void (*)(void))tempi_i_cb_configure, METH_FASTCALL, NULL},
    {"remember", (PyCFunction)(void (*)(void))tempi_i_cb_remember, METH_FASTCALL, NULL},
    {"forget", (PyCFunction)(void (*)(void))tempi_i_cb_forget, METH_FASTCALL, NULL},
    {"counts", (PyCFunction)(void (*)(void))tempi_i_cb_counts, METH_FASTCALL, NULL},
    {"methods", (PyCFunction)(void (*)(void))tempi_i_cb_methods_of, METH_FASTCALL, NULL},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef tempi_i_cb_module = {
    PyModuleDef_HEAD_INIT, "_tempi_comm",
    "tempi.Comm's steady state in C (native/comm_binding.c)", -1, tempi_i_cb_methods,
};

PyMODINIT_FUNC PyInit__tempi_comm(void)
{
    if (import_mpi4py() < 0)
        return NULL;
    return PyModule_Create(&tempi_i_cb_module);
}
