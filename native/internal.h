/* What the interposer's C files share (tempi_i_: internal; hidden, so neither exported from
 * the shim nor slower to call than a static function).
 *
 * The MPI entry points themselves are generated from tempi/shim/spec.py into
 * entry_points_gen.c (see `tempi build-shim --show-source`); each calls the helpers below.
 * The files, by concern:
 *   interposer.c   start-up and state (cffi's module: Python, the environment, the nodes)
 *   table.c        the hash tables: accelerated types, tempi's requests
 *   memkind.c      whether a pointer is device memory (the CUDA driver, if loaded)
 *   types.c        MPI_Type_commit/free, and the fast path's test: does tempi take it?
 *   pack.c         MPI_Pack/MPI_Unpack through tempi's packers
 *   requests.c     tempi's requests: handles, completion calls, statuses
 *   p2p.c          point to point: sends, receives, Sendrecv_replace
 *   collectives.c  Bcast, Gather(v), Scatter(v), Allgather(v), the all-to-alls
 *   stage.c        device buffers through host memory for the calls tempi does not take
 *   stage_rma.c    the same for one-sided communication; what cannot be staged
 *   stage_partitioned.c  the same for partitioned communication (MPI_Pready, MPI_Parrived)
 *   errors.c       MPI's error semantics (the handlers of communicators, windows, files)
 *   topology.c     MPI_Cart_create and the distributed graphs with reorder = 1
 */
#ifndef TEMPI_INTERNAL_H
#define TEMPI_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <mpi.h>

#include "spec_gen.h" /* TEMPI_I_OK, _PASS, ..., the collective kinds and send modes */

#define TEMPI_I_HIDDEN __attribute__((visibility("hidden")))

/* ---- interposer.c: start-up and state ---------------------------------------------------- */

enum { TEMPI_I_UNTRIED = 0, TEMPI_I_READY = 1, TEMPI_I_BROKEN = -1 };

extern TEMPI_I_HIDDEN int tempi_i_state;
extern TEMPI_I_HIDDEN int tempi_i_disabled;     /* TEMPI_DISABLE: pass everything through */
extern TEMPI_I_HIDDEN int tempi_i_no_pack;      /* TEMPI_NO_PACK: leave MPI_Pack alone */
extern TEMPI_I_HIDDEN int tempi_i_host;         /* TEMPI_HOST: host memory goes to tempi too */
extern TEMPI_I_HIDDEN int tempi_i_stats;        /* TEMPI_STATS */
extern TEMPI_I_HIDDEN int tempi_i_threaded;     /* MPI_THREAD_MULTIPLE: lock shared tables */
extern TEMPI_I_HIDDEN int tempi_i_stage_device; /* the MPI cannot take device buffers */
extern TEMPI_I_HIDDEN long tempi_i_passed;      /* messages handed to the system MPI */
/* The fast path's thread-locals use the initial-exec TLS model: one load off the thread
 * pointer instead of a __tls_get_addr call (about 46 instructions a call measured with
 * callgrind); a few bytes of the static TLS surplus when the shim is dlopen'ed. */
#define TEMPI_I_FAST_TLS __thread __attribute__((tls_model("initial-exec")))
extern TEMPI_I_HIDDEN TEMPI_I_FAST_TLS int tempi_i_inside; /* a call that tempi itself made */

static inline int tempi_i_state_now(void)
{
    return __atomic_load_n(&tempi_i_state, __ATOMIC_ACQUIRE);
}

/* Straight to the system MPI: inside tempi, disabled, or Python failed to start. */
static inline int tempi_i_bypass(void)
{
    return tempi_i_inside || tempi_i_disabled || tempi_i_state_now() == TEMPI_I_BROKEN;
}

/* An intercepted call with `messages` messages goes to the system MPI (counted unless
 * tempi itself made it). */
static inline void tempi_i_count_pass(long messages)
{
    if (!tempi_i_stats || tempi_i_inside) /* only TEMPI_STATS reads the count */
        return;
    if (tempi_i_threaded)
        __atomic_fetch_add(&tempi_i_passed, messages, __ATOMIC_RELAXED);
    else
        tempi_i_passed += messages;
}

TEMPI_I_HIDDEN int tempi_i_ready(void);       /* Python usable (started on first use) */
TEMPI_I_HIDDEN int tempi_i_is_disabled(void); /* TEMPI_DISABLE */
TEMPI_I_HIDDEN int tempi_i_is_inside(void);   /* a call that tempi itself made */
TEMPI_I_HIDDEN void tempi_i_set_inside(int on);
TEMPI_I_HIDDEN int tempi_i_init(int *argc, char ***argv);
TEMPI_I_HIDDEN int tempi_i_init_thread(int *argc, char ***argv, int required, int *provided);
TEMPI_I_HIDDEN int tempi_i_finalize(void);

/* A callback's result as an MPI error code: ERROR + code, RAISED - code, else
 * MPI_ERR_INTERN. */
static inline int tempi_i_error(int rc)
{
    if (rc <= TEMPI_I_RAISED)
        return TEMPI_I_RAISED - rc;
    return rc >= TEMPI_I_ERROR ? rc - TEMPI_I_ERROR : MPI_ERR_INTERN;
}

/* ---- errors.c: MPI's error semantics ----------------------------------------------------- */

/* Call COMM's error handler with CODE (MPI_ERRORS_ARE_FATAL aborts); what the entry point
 * returns then: CODE, or MPI_SUCCESS after a user handler where the MPI does so. */
TEMPI_I_HIDDEN int tempi_i_raise(MPI_Comm comm, int code);
/* The same, returning `returned` rather than CODE. */
TEMPI_I_HIDDEN int tempi_i_raise_as(MPI_Comm comm, int code, int returned);
/* A multi-completion call's MPI_ERR_IN_STATUS, the handler given what the MPI gives it. */
TEMPI_I_HIDDEN int tempi_i_raise_in_status(MPI_Comm comm, int failed_code);
/* The same on a window's or a file's error handler. */
TEMPI_I_HIDDEN int tempi_i_raise_win(MPI_Win win, int code);
TEMPI_I_HIDDEN int tempi_i_raise_file(MPI_File fh, int code);
TEMPI_I_HIDDEN void tempi_i_learn_error_convention(void); /* at MPI_Init */
/* While on, this thread's tempi_i_raise only returns the code: an entry point made of
 * others (MPI_Sendrecv) raises once, itself, with the outcome of the whole. */
TEMPI_I_HIDDEN void tempi_i_defer_errors(int on);

/* A communicator's handler set to MPI_ERRORS_RETURN while tempi works on it, and back. */
typedef struct {
    MPI_Comm comm;
    MPI_Errhandler handler;
} tempi_i_quiet_t;
TEMPI_I_HIDDEN void tempi_i_quiet(MPI_Comm comm, tempi_i_quiet_t *saved);
TEMPI_I_HIDDEN void tempi_i_loud(tempi_i_quiet_t *saved);

/* Return from the entry point unless tempi passed: OK is success, RAISED - code an error
 * the system MPI raised already, anything else an error raised on communicator COMM. */
#define TEMPI_I_TRY(CALL, COMM)                                                                 \
    do {                                                                                        \
        int rc_ = (CALL);                                                                       \
        if (rc_ == TEMPI_I_OK)                                                                  \
            return MPI_SUCCESS;                                                                 \
        if (rc_ <= TEMPI_I_RAISED)                                                              \
            return tempi_i_error(rc_);                                                          \
        if (rc_ != TEMPI_I_PASS)                                                                \
            return tempi_i_raise((COMM), tempi_i_error(rc_));                                   \
    } while (0)

/* ---- table.c: small hash tables ---------------------------------------------------------- */

/* Open addressing over `slots` (a power of 2, 0 until the first store), grown to stay at
 * most half full, deleted slots included. */
struct tempi_i_table {
    uint64_t *key;
    int *value;
    unsigned char *used; /* 0 empty, 1 in use, 2 deleted */
    unsigned slots, filled;
    int live;
};

/* tempi's request ids: Python's from 1 (reused, so as small as the live requests allow),
 * the C engine's from here (its own slots). An entry is id << 2 | two bits, in an int. */
#define TEMPI_I_ENGINE_IDS (1 << 26)

extern TEMPI_I_HIDDEN struct tempi_i_table tempi_i_types;    /* Fortran handle -> 1 */
extern TEMPI_I_HIDDEN struct tempi_i_table tempi_i_requests; /* request bits -> entry */

/* Entries in the table: read without the lock, for the fast path's "is it empty?". */
static inline int tempi_i_live(const struct tempi_i_table *t)
{
    return __atomic_load_n(&t->live, __ATOMIC_RELAXED);
}

TEMPI_I_HIDDEN int tempi_i_find(const struct tempi_i_table *t, uint64_t key); /* or 0 */
TEMPI_I_HIDDEN void tempi_i_lock(void); /* the tables' mutex, under MPI_THREAD_MULTIPLE */
TEMPI_I_HIDDEN void tempi_i_unlock(void);
/* Store value (non-zero) under key, or remove key when value is 0. Returns 0 if out of
 * memory. */
TEMPI_I_HIDDEN int tempi_i_store(struct tempi_i_table *t, uint64_t key, int value);

/* ---- the progress step (issue 14; native/engine.c, engine_device.c) ------------------------
 * Run at the start of every intercepted call and inside every completion call: posts the
 * sends whose device pack has finished, launches the unpacks of receives whose data is
 * there, completes what the application freed in flight. One load and a branch while the
 * engine has nothing pending. Blocking (a call that may wait in MPI): waits for pending
 * packs first, so a send tempi holds is in MPI before anything blocks. */
extern TEMPI_I_HIDDEN int tempi_i_pending;
TEMPI_I_HIDDEN void tempi_i_progress_slow(int blocking);

static inline void tempi_i_progress(int blocking)
{
    if (__atomic_load_n(&tempi_i_pending, __ATOMIC_RELAXED) != 0 && !tempi_i_inside)
        tempi_i_progress_slow(blocking);
}

/* ---- memkind.c: device memory ------------------------------------------------------------ */

TEMPI_I_HIDDEN void tempi_i_find_cuda(void);
TEMPI_I_HIDDEN int tempi_i_cuda_loaded(void); /* the process has loaded the CUDA driver */
TEMPI_I_HIDDEN void tempi_i_memkind_type_freed(void); /* MPI_Type_free: lower bounds kept */
long tempi_memkind_counter(int which); /* 0: asked of the driver, 1: known host memory */
TEMPI_I_HIDDEN int tempi_i_data_on_device(const void *typed, MPI_Datatype datatype);

/* ---- types.c ----------------------------------------------------------------------------- */

TEMPI_I_HIDDEN int tempi_i_type_commit(MPI_Datatype *datatype);
TEMPI_I_HIDDEN int tempi_i_type_free(MPI_Datatype *datatype);
TEMPI_I_HIDDEN int tempi_i_takes(const void *typed, MPI_Datatype datatype);
TEMPI_I_HIDDEN int tempi_i_takes_pack(const void *typed, MPI_Datatype datatype);

/* ---- pack.c ------------------------------------------------------------------------------ */

TEMPI_I_HIDDEN int tempi_i_pack(const void *inbuf, int64_t incount, MPI_Datatype datatype,
                                void *outbuf, int64_t outsize, int64_t *position, MPI_Comm comm);
TEMPI_I_HIDDEN int tempi_i_unpack(const void *inbuf, int64_t insize, int64_t *position,
                                  void *outbuf, int64_t outcount, MPI_Datatype datatype,
                                  MPI_Comm comm);

/* ---- requests.c: tempi's requests -------------------------------------------------------- */

/* The request table holds tempi's id << 2 | these bits. */
#define TEMPI_I_ACTIVE 1     /* an operation is in flight (always, for a one-shot request) */
#define TEMPI_I_PERSISTENT 2 /* the handle outlives its operations, until MPI_Request_free */

TEMPI_I_HIDDEN int tempi_i_entry(MPI_Request request); /* tempi's entry, or 0: plain */
TEMPI_I_HIDDEN int tempi_i_new_handle(MPI_Request *request);
TEMPI_I_HIDDEN int tempi_i_adopt(int rc, int id, int persistent, MPI_Comm comm,
                                 MPI_Request *request);
TEMPI_I_HIDDEN int tempi_i_wait_entry(MPI_Request *request, int entry, MPI_Status *status);
TEMPI_I_HIDDEN void tempi_i_abandon(MPI_Request *request); /* cancel, complete, free */
TEMPI_I_HIDDEN int tempi_i_start(MPI_Request *request);
TEMPI_I_HIDDEN int tempi_i_startall(int count, MPI_Request requests[]);
TEMPI_I_HIDDEN int tempi_i_wait(MPI_Request *request, MPI_Status *status);
TEMPI_I_HIDDEN int tempi_i_test(MPI_Request *request, int *flag, MPI_Status *status);
TEMPI_I_HIDDEN int tempi_i_waitall(int count, MPI_Request requests[], MPI_Status statuses[]);
TEMPI_I_HIDDEN int tempi_i_testall(int count, MPI_Request requests[], int *flag,
                                   MPI_Status statuses[]);
TEMPI_I_HIDDEN int tempi_i_waitany(int count, MPI_Request requests[], int *index,
                                   MPI_Status *status);
TEMPI_I_HIDDEN int tempi_i_testany(int count, MPI_Request requests[], int *index, int *flag,
                                   MPI_Status *status);
TEMPI_I_HIDDEN int tempi_i_waitsome(int incount, MPI_Request requests[], int *outcount,
                                    int indices[], MPI_Status statuses[]);
TEMPI_I_HIDDEN int tempi_i_testsome(int incount, MPI_Request requests[], int *outcount,
                                    int indices[], MPI_Status statuses[]);
TEMPI_I_HIDDEN int tempi_i_request_get_status(MPI_Request request, int *flag,
                                              MPI_Status *status);
TEMPI_I_HIDDEN int tempi_i_cancel(MPI_Request *request);
TEMPI_I_HIDDEN int tempi_i_request_free(MPI_Request *request);

/* The rules of the multi-completion calls (requests.c), once for the interposer and for
 * tempi.Comm (engine_api.c's tempi_engine_complete): over a list of entries, each a plain
 * request (*handle, completed by the system MPI and updated in place), none (the empty
 * status: MPI_REQUEST_NULL, an inactive persistent request), an operation of tempi_i_op_*
 * (id), or one the caller's driver runs (id: the driver's index): TEMPI_I_REQ_PLAIN ...
 * (spec_gen.h, from tempi/shim/spec.py's REQUEST_KINDS). */
typedef struct {
    int kind;
    int id;
    MPI_Request *handle; /* plain: its handle; the interposer's: the application's, or NULL */
    int entry;           /* the interposer's request table entry (released when done), or 0 */
    MPI_Comm comm;       /* set to MPI_ERRORS_RETURN while tempi works on it, or NULL */
} tempi_i_req;
/* The caller's operations, by its index k: ready (done? without completing: TEMPI_I_OK
 * and the result, TEMPI_I_PASS not yet, or an error), complete (n of them together,
 * blocking: as tempi_i_op_waitall), blocker (1 and the address of the MPI request k waits
 * for; 2 after blocking on local work; 0 nothing to block on), landed (that MPI request
 * completed with *status, NULL: it failed). */
typedef struct {
    void *ctx;
    int (*ready)(void *ctx, int k, int *source, int *tag, int64_t *nbytes);
    int (*complete)(void *ctx, int n, const int *ks, int *sources, int *tags, int64_t *nbytes,
                    int *errors);
    int (*blocker)(void *ctx, int k, MPI_Request **request);
    int (*landed)(void *ctx, int k, MPI_Status *status);
} tempi_i_driver;
/* A rule's failure: the communicator of tempi's first failed request and its code; raised:
 * the system MPI has called the handler itself (a plain request's error). */
typedef struct {
    MPI_Comm comm;
    int code, raised, set;
} tempi_i_failure;
/* Rule `call` (TEMPI_I_WAITALL ..., spec.py's COMPLETIONS): *flag, *value (index or
 * outcount). */
TEMPI_I_HIDDEN int tempi_i_rule(int call, int n, tempi_i_req r[], const tempi_i_driver *d,
                                int *flag, int *value, int indices[], MPI_Status *statuses,
                                tempi_i_failure *f);
/* MPI's empty status (an inactive persistent request's, MPI_REQUEST_NULL's). */
TEMPI_I_HIDDEN void tempi_i_empty_status(MPI_Status *status);

/* ---- p2p.c: point to point (TEMPI_I_OK, or an error as a callback's result) -------------- */

TEMPI_I_HIDDEN int tempi_i_isend(const void *buf, int64_t count, MPI_Datatype datatype, int dest,
                                 int tag, MPI_Comm comm, int mode, int persistent,
                                 MPI_Request *request);
TEMPI_I_HIDDEN int tempi_i_irecv(void *buf, int64_t count, MPI_Datatype datatype, int source,
                                 int tag, MPI_Comm comm, int persistent, MPI_Request *request);
TEMPI_I_HIDDEN int tempi_i_send(const void *buf, int64_t count, MPI_Datatype datatype, int dest,
                                int tag, MPI_Comm comm, int mode);
TEMPI_I_HIDDEN int tempi_i_recv(void *buf, int64_t count, MPI_Datatype datatype, int source,
                                int tag, MPI_Comm comm, MPI_Status *status);
TEMPI_I_HIDDEN int tempi_i_sendrecv_replace(void *buf, int64_t count, MPI_Datatype datatype,
                                            int dest, int sendtag, int source, int recvtag,
                                            MPI_Comm comm, MPI_Status *status, int ints);

/* ---- collectives.c ----------------------------------------------------------------------- */

/* One side of a collective: where its counts and displacements come from. int counts and
 * int element displacements (v), int or MPI_Aint byte displacements (w); the _c forms
 * MPI_Count counts and MPI_Aint displacements. */
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

/* The parts of one side: buffer, counts, displacements, types; whether counts and
 * displacements are int (else MPI_Count, MPI_Aint), displacements in bytes, one type. */
#define TEMPI_I_PARTS(BUF, COUNTS, DISPLS, TYPES, ICOUNTS, IDISPLS, BYTES, ONE)                 \
    (&(tempi_i_parts_t){(BUF), (ICOUNTS) ? (const int *)(const void *)(COUNTS) : NULL,         \
                        (ICOUNTS) ? NULL : (const MPI_Count *)(const void *)(COUNTS),          \
                        (IDISPLS) ? (const int *)(const void *)(DISPLS) : NULL,                \
                        (IDISPLS) ? NULL : (const MPI_Aint *)(const void *)(DISPLS), (BYTES), \
                        (TYPES), (ONE)})

/* Messages of a passed collective (collectives.c sets it, under TEMPI_STATS only). */
extern TEMPI_I_HIDDEN TEMPI_I_FAST_TLS long tempi_i_collective_messages;
static inline long tempi_i_collective_passed(void)
{
    return tempi_i_collective_messages;
}
/* Whether the collective this thread just entered was taken on device memory the MPI
 * cannot read and then declined (a datatype tempi cannot describe): the entry point stages
 * it (collectives.c sets it, for the blocking v, w and rooted forms). */
extern TEMPI_I_HIDDEN TEMPI_I_FAST_TLS int tempi_i_declined_device;
static inline int tempi_i_collective_declined(void)
{
    return tempi_i_declined_device;
}
TEMPI_I_HIDDEN int tempi_i_neighbors(MPI_Comm comm, int out); /* destinations or sources */
TEMPI_I_HIDDEN int tempi_i_bcast(void *buffer, MPI_Count count, MPI_Datatype datatype, int root,
                                 MPI_Comm comm);
TEMPI_I_HIDDEN int tempi_i_blocks(int kind, const void *sendbuf, MPI_Count sendcount,
                                  MPI_Datatype sendtype, const void *recvbuf,
                                  MPI_Count recvcount, MPI_Datatype recvtype, int root,
                                  MPI_Comm comm);
TEMPI_I_HIDDEN int tempi_i_vector(int kind, const void *one_buf, MPI_Count one_count,
                                  MPI_Datatype one_type, const tempi_i_parts_t *many, int root,
                                  MPI_Comm comm);
TEMPI_I_HIDDEN int tempi_i_alltoall(int neighbor, const tempi_i_parts_t *send,
                                    const tempi_i_parts_t *recv, MPI_Comm comm);

/* ---- stage.c: device buffers through host memory, for the calls tempi does not take ----- */

#define TEMPI_I_STAGED_MAX 4 /* buffers per call */

typedef struct {
    int n, failed, owned; /* owned: memory of its own (non-blocking), not the thread's pool */
    char *user[TEMPI_I_STAGED_MAX], *host[TEMPI_I_STAGED_MAX];
    size_t nbytes[TEMPI_I_STAGED_MAX];
    int out[TEMPI_I_STAGED_MAX], on_device[TEMPI_I_STAGED_MAX], pinned[TEMPI_I_STAGED_MAX];
    int contiguous[TEMPI_I_STAGED_MAX]; /* the datatype has no gaps (TEMPI_STATS) */
} tempi_i_stage_t;

/* Whether a buffer must be staged: device memory the MPI cannot read (or, with TEMPI_HOST,
 * any memory). The datatype tells where MPI_BOTTOM's data lies (MPI_DATATYPE_NULL: the
 * parts of a v or w form, bytes at buf). */
TEMPI_I_HIDDEN int tempi_i_stages(const void *buf, MPI_Datatype datatype);
/* The host copy of `count` of `datatype` at buf (the pointer to give the MPI; buf itself
 * for MPI_IN_PLACE, NULL or nothing to copy); `out`: copied back by tempi_i_stage_out. */
TEMPI_I_HIDDEN void *tempi_i_stage_in(tempi_i_stage_t *stage, const void *buf, MPI_Count count,
                                      MPI_Datatype datatype, int out);
/* The same for the n parts of a v or w collective (counts int or MPI_Count, displacements
 * int or MPI_Aint, in elements or, with `bytes`, bytes; one type or one per part): the
 * span from the lowest to the highest byte any part touches. */
TEMPI_I_HIDDEN void *tempi_i_stage_parts(tempi_i_stage_t *stage, const void *buf, int n,
                                         const void *counts, int icounts, const void *displs,
                                         int idispls, int bytes, const MPI_Datatype *types,
                                         int one_type, int out);
/* tempi_i_stages for the parts of a v or w form (arguments as tempi_i_stage_parts): at
 * MPI_BOTTOM, the memory where the parts' absolute span starts. */
TEMPI_I_HIDDEN int tempi_i_stages_parts(const void *buf, int n, const void *counts,
                                        int icounts, const void *displs, int idispls,
                                        int bytes, const MPI_Datatype *types, int one_type);
/* Copy back what the call wrote (if it succeeded); returns err. */
TEMPI_I_HIDDEN int tempi_i_stage_out(tempi_i_stage_t *stage, int err);
/* A non-blocking or persistent call's copies (stage->owned), kept with *request until its
 * completion call copies back (err: the call's; on failure they go at once). */
TEMPI_I_HIDDEN int tempi_i_stage_hold(tempi_i_stage_t *stage, int err, MPI_Request *request,
                                      int persistent);
/* Exported for Python's TEMPI_STATS: buffers the C path staged, with gaps (0) or without. */
long tempi_staged_messages(int contiguous);
/* A non-blocking or persistent call's own copies released. */
TEMPI_I_HIDDEN void tempi_i_stage_release(tempi_i_stage_t *stage);
/* A staged call counted (tempi_staged_calls) with its buffers (TEMPI_STATS's staged and
 * staged_contiguous), unless `later` (a persistent request's: at each MPI_Start). */
TEMPI_I_HIDDEN void tempi_i_count_staged(const tempi_i_stage_t *stage, int later);
/* The completion calls, Start(all) and Request_free, with staged requests' copies. */
TEMPI_I_HIDDEN int tempi_i_staged_wait(MPI_Request *request, MPI_Status *status);
TEMPI_I_HIDDEN int tempi_i_staged_test(MPI_Request *request, int *flag, MPI_Status *status);
TEMPI_I_HIDDEN int tempi_i_staged_waitall(int count, MPI_Request requests[],
                                          MPI_Status statuses[]);
TEMPI_I_HIDDEN int tempi_i_staged_testall(int count, MPI_Request requests[], int *flag,
                                          MPI_Status statuses[]);
TEMPI_I_HIDDEN int tempi_i_staged_waitany(int count, MPI_Request requests[], int *index,
                                          MPI_Status *status);
TEMPI_I_HIDDEN int tempi_i_staged_testany(int count, MPI_Request requests[], int *index,
                                          int *flag, MPI_Status *status);
TEMPI_I_HIDDEN int tempi_i_staged_waitsome(int incount, MPI_Request requests[], int *outcount,
                                           int indices[], MPI_Status statuses[]);
TEMPI_I_HIDDEN int tempi_i_staged_testsome(int incount, MPI_Request requests[], int *outcount,
                                           int indices[], MPI_Status statuses[]);
TEMPI_I_HIDDEN int tempi_i_staged_start(MPI_Request *request);
TEMPI_I_HIDDEN int tempi_i_staged_startall(int count, MPI_Request requests[]);
TEMPI_I_HIDDEN int tempi_i_staged_request_free(MPI_Request *request);
TEMPI_I_HIDDEN MPI_Count tempi_i_comm_size(MPI_Comm comm); /* remote size for an inter */
TEMPI_I_HIDDEN int tempi_i_comm_rank(MPI_Comm comm);
TEMPI_I_HIDDEN int tempi_i_is_root(int root, MPI_Comm comm);
TEMPI_I_HIDDEN MPI_Count tempi_i_count_at(const void *counts, int ints, int index);
TEMPI_I_HIDDEN MPI_Count tempi_i_count_sum(const void *counts, int ints, MPI_Comm comm);
TEMPI_I_HIDDEN int tempi_i_type_dup(MPI_Datatype oldtype, MPI_Datatype *newtype);
/* Bytes between buffers in either memory; a datatype's extents (kept: it may be freed
 * while a request uses it); the span [lo, hi) of `count` elements at byte offset `at`
 * (0: it touches nothing). */
TEMPI_I_HIDDEN void tempi_i_copy(void *dst, const void *src, size_t nbytes, int on_device);
typedef struct {
    MPI_Aint true_lb, true_extent, extent;
} tempi_i_extents_t;
TEMPI_I_HIDDEN void tempi_i_extents(MPI_Datatype datatype, tempi_i_extents_t *extents);
TEMPI_I_HIDDEN int tempi_i_span_of(MPI_Count count, const tempi_i_extents_t *extents,
                                   MPI_Aint at, MPI_Aint *lo, MPI_Aint *hi);

/* ---- stage_partitioned.c: partitioned communication through a host copy ---------------- */

typedef struct tempi_i_partitioned tempi_i_partitioned_t;
/* A staged MPI_Psend_init/MPI_Precv_init's copy (stage->owned), kept with *request and its
 * partitions' state until MPI_Request_free (no memory: the request freed, MPI_ERR_NO_MEM). */
TEMPI_I_HIDDEN int tempi_i_stage_hold_partitioned(tempi_i_stage_t *stage, int err,
                                                  MPI_Request *request,
                                                  tempi_i_partitioned_t *parts, MPI_Comm comm);
/* The partitions' state and the copy of a staged partitioned request, or NULL. */
TEMPI_I_HIDDEN tempi_i_partitioned_t *tempi_i_held_partitioned(MPI_Request request,
                                                               tempi_i_stage_t **stage);
/* At MPI_Start (a receive's copy refreshed, no partition copied yet) and at completion
 * (a receive's partitions not yet copied back by MPI_Parrived copied now). */
TEMPI_I_HIDDEN void tempi_i_partitioned_start(tempi_i_partitioned_t *parts,
                                              tempi_i_stage_t *stage);
TEMPI_I_HIDDEN void tempi_i_partitioned_done(tempi_i_partitioned_t *parts,
                                             tempi_i_stage_t *stage, int err);
TEMPI_I_HIDDEN int tempi_i_psend_init(const void *buf, int partitions, MPI_Count count,
                                      MPI_Datatype datatype, int dest, int tag, MPI_Comm comm,
                                      MPI_Info info, MPI_Request *request);
TEMPI_I_HIDDEN int tempi_i_precv_init(void *buf, int partitions, MPI_Count count,
                                      MPI_Datatype datatype, int source, int tag, MPI_Comm comm,
                                      MPI_Info info, MPI_Request *request);
TEMPI_I_HIDDEN int tempi_i_pready(int partition, MPI_Request request);
TEMPI_I_HIDDEN int tempi_i_pready_range(int partition_low, int partition_high,
                                        MPI_Request request);
/* MPI_Pready_list's array: const in MPICH's mpi.h, not in Open MPI's. */
#ifdef OPEN_MPI
#define TEMPI_I_PARTITION_LIST int
#else
#define TEMPI_I_PARTITION_LIST const int
#endif
TEMPI_I_HIDDEN int tempi_i_pready_list(int length, TEMPI_I_PARTITION_LIST array_of_partitions[],
                                       MPI_Request request);
TEMPI_I_HIDDEN int tempi_i_parrived(MPI_Request request, int partition, int *flag);

/* ---- stage_rma.c: one-sided communication; what cannot be staged ------------------------ */

/* A blocking RMA call's copies (stage->owned), kept on the window's list until the call
 * that completes operations to `rank` copies back; returns err. */
TEMPI_I_HIDDEN int tempi_i_stage_epoch(tempi_i_stage_t *stage, int err, MPI_Win win, int rank);
/* After a synchronising call (err its result): the window's staged operations to `rank`
 * (-1: every rank) copied back and released. */
TEMPI_I_HIDDEN void tempi_i_epoch_done(MPI_Win win, int rank, int err);
TEMPI_I_HIDDEN int tempi_i_win_free(MPI_Win *win);
enum { TEMPI_I_REFUSED_WINDOW = 0, TEMPI_I_REFUSED_BSEND = 1 };
/* A split-collective file _begin's node, taken before the MPI's call: NULL when there is
 * no memory (or stage->failed), the copy then released. */
TEMPI_I_HIDDEN void *tempi_i_split_node(tempi_i_stage_t *stage);
/* Its copy (stage->owned; held: the pointer the MPI was given), kept in the node with the
 * file handle until the matching _end (err: the _begin's; on failure both go at once). */
TEMPI_I_HIDDEN int tempi_i_stage_split(void *node, tempi_i_stage_t *stage, int err, MPI_File fh,
                                       void *held);
/* For tests (exported, found with dlsym): the next n split nodes fail as out of memory. */
void tempi_test_fail_split_nodes(int n);
/* For tests: the host copies of non-blocking, persistent, one-sided and split calls alive. */
long tempi_staged_copies_live(void);
/* At an _end: the handle's staged _begin (1, into *stage and *held) or none (0). */
TEMPI_I_HIDDEN int tempi_i_split_take(MPI_File fh, tempi_i_stage_t *stage, void **held);
/* An error code of class MPI_ERR_BUFFER whose string says what tempi cannot stage (said
 * once on stderr too). */
TEMPI_I_HIDDEN int tempi_i_refused_code(int what);
/* Whether buf is device memory the MPI cannot read (and tempi cannot stage there). */
TEMPI_I_HIDDEN int tempi_i_refuses(const void *buf, MPI_Datatype datatype);
/* The same for a buffered-mode buffer (MPI_BUFFER_AUTOMATIC: none, never refused). */
TEMPI_I_HIDDEN int tempi_i_refuses_attach(const void *buffer);
/* MPI_Win_create (comm: every rank of it agrees) or MPI_Win_attach (MPI_COMM_NULL) of
 * memory at base: MPI_SUCCESS, or tempi_i_refused_code's. */
TEMPI_I_HIDDEN int tempi_i_window_refused(const void *base, MPI_Comm comm);

/* ---- topology.c -------------------------------------------------------------------------- */

/* Under TEMPI_NODES, fill node_of[r] with the lowest world rank on world rank r's simulated
 * node and return 1; else 0 (the real nodes). */
TEMPI_I_HIDDEN int tempi_i_simulated_nodes(int size, int *node_of);
TEMPI_I_HIDDEN int tempi_i_cart_create(MPI_Comm comm_old, int ndims, const int dims[],
                                       const int periods[], int reorder, MPI_Comm *comm_cart);
TEMPI_I_HIDDEN int tempi_i_dist_graph_create_adjacent(MPI_Comm comm_old, int indegree,
                                                      const int sources[],
                                                      const int sourceweights[], int outdegree,
                                                      const int destinations[],
                                                      const int destweights[], MPI_Info info,
                                                      int reorder, MPI_Comm *comm_dist_graph);
TEMPI_I_HIDDEN int tempi_i_dist_graph_create(MPI_Comm comm_old, int n, const int sources[],
                                             const int degrees[], const int destinations[],
                                             const int weights[], MPI_Info info, int reorder,
                                             MPI_Comm *comm_dist_graph);

#endif
