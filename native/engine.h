/* The C engine: runs the plans that Python made (tempi/shim/plans.py) for host memory, so
 * a message whose (datatype, count) has been seen before never enters Python.
 *
 * Each function returns TEMPI_I_OK when the engine did the work, TEMPI_I_PASS when it has
 * no plan (the caller takes tempi's Python path, which plans for next time), or
 * TEMPI_I_ERROR + an MPI error code. The caller has decided that tempi takes the buffer. */
#ifndef TEMPI_ENGINE_H
#define TEMPI_ENGINE_H

#include <stdint.h>

#include <mpi.h>

#include "internal.h"

/* Whether the engine may run this message: host memory under TEMPI_HOST (the caller has
 * decided that tempi takes it). */
TEMPI_I_HIDDEN int tempi_i_engine_takes(const void *buf, MPI_Datatype datatype);
/* Whether the message the last tempi_i_engine_takes of this thread took is in host memory:
 * its blocking send or receive then makes one MPI call that can fail (p2p.c). */
TEMPI_I_HIDDEN int tempi_i_engine_on_host(void);

/* MPI_Send (mode 0), MPI_Ssend (1), MPI_Bsend (2) of host data with a plan. */
TEMPI_I_HIDDEN int tempi_i_engine_send(const void *buf, int64_t count,
                                              MPI_Datatype datatype, int dest, int tag,
                                              MPI_Comm comm, int mode);
/* MPI_Recv into host memory with a plan; the status counts bytes (MPI_Get_count with the
 * application's type is then right). */
TEMPI_I_HIDDEN int tempi_i_engine_recv(void *buf, int64_t count, MPI_Datatype datatype,
                                              int source, int tag, MPI_Comm comm,
                                              MPI_Status *status);
/* MPI_Isend and friends, or (persistent) the _init forms; MPI_Irecv or MPI_Recv_init: the
 * application's handle is one of requests.c's, with an id of the engine. */
TEMPI_I_HIDDEN int tempi_i_engine_isend(const void *buf, int64_t count, MPI_Datatype datatype,
                                        int dest, int tag, MPI_Comm comm, int mode,
                                        int persistent, MPI_Request *request);
TEMPI_I_HIDDEN int tempi_i_engine_irecv(void *buf, int64_t count, MPI_Datatype datatype,
                                        int source, int tag, MPI_Comm comm, int persistent,
                                        MPI_Request *request);

/* The same with a plan the caller holds (tempi.Comm's, engine_api.c; the interposer's come
 * from the plan table): TEMPI_I_PASS when the buffer is not aligned to the plan's word. */
struct tempi_plan;
TEMPI_I_HIDDEN int tempi_i_engine_send_plan(const struct tempi_plan *plan, const void *buf,
                                            int dest, int tag, MPI_Comm comm, int mode);
TEMPI_I_HIDDEN int tempi_i_engine_recv_plan(const struct tempi_plan *plan, void *buf,
                                            int source, int tag, MPI_Comm comm,
                                            MPI_Status *status);
/* Start a send (recv 0, mode as above) or receive (recv 1) of the plan, posted at once or
 * (persistent) prepared for tempi_i_op_start: *id is the operation's, for tempi_i_op_*.
 * tempi_i_op_abandon completes and retires one nobody will complete. */
TEMPI_I_HIDDEN int tempi_i_engine_start_op(const struct tempi_plan *plan, void *buf, int peer,
                                           int tag, MPI_Comm comm, int mode, int recv,
                                           int persistent, int *id);
TEMPI_I_HIDDEN void tempi_i_op_abandon(int id);
/* An engine operation's MPI request (what a Waitany over many may wait on), and the
 * completion of the operation after such a call completed that request with *st. */
TEMPI_I_HIDDEN MPI_Request tempi_i_op_request(int id);
TEMPI_I_HIDDEN int tempi_i_op_landed(int id, MPI_Status *st, int *source, int *tag,
                                     int64_t *nbytes);
/* ... or failed with err in such a call: the operation is over (tempi_i_op_failed). */
TEMPI_I_HIDDEN int tempi_i_op_lost(int id, int err);

/* ---- device memory (native/engine_device.c) -------------------------------------------
 * The same calls for device buffers, with device plans (tempi_i_plan_for_device); the
 * engine.c functions above hand device buffers to them. Device operations have ids from
 * TEMPI_I_DEVICE_IDS, which tempi_i_op_* pass to tempi_i_device_wait and friends. */
#define TEMPI_I_ENGINE_SLOTS 4096 /* operations in flight per engine (host, device) */
#define TEMPI_I_DEVICE_IDS (TEMPI_I_ENGINE_IDS + TEMPI_I_ENGINE_SLOTS)

struct tempi_plan;
/* The device plan of (datatype, count) for the peer of comm (its locality, as Python
 * learnt it, is part of the key): 1 if there is one (a copy in *plan), 0 if not. */
TEMPI_I_HIDDEN int tempi_i_plan_for_device(MPI_Datatype datatype, int64_t count,
                                           MPI_Comm comm, int peer, struct tempi_plan *plan);
TEMPI_I_HIDDEN int tempi_i_device_engine_ready(void); /* the CUDA driver is loaded */
TEMPI_I_HIDDEN int tempi_i_device_send(const void *buf, int64_t count, MPI_Datatype datatype,
                                       int dest, int tag, MPI_Comm comm, int mode);
TEMPI_I_HIDDEN int tempi_i_device_recv(void *buf, int64_t count, MPI_Datatype datatype,
                                       int source, int tag, MPI_Comm comm, MPI_Status *status);
TEMPI_I_HIDDEN int tempi_i_device_isend(const void *buf, int64_t count, MPI_Datatype datatype,
                                        int dest, int tag, MPI_Comm comm, int mode,
                                        int persistent, MPI_Request *request);
TEMPI_I_HIDDEN int tempi_i_device_irecv(void *buf, int64_t count, MPI_Datatype datatype,
                                        int source, int tag, MPI_Comm comm, int persistent,
                                        MPI_Request *request);
TEMPI_I_HIDDEN int tempi_i_device_pack(const void *typed_buf, int64_t count,
                                       MPI_Datatype datatype, void *packed_buf, int64_t size,
                                       int64_t *position, int to_packed);
TEMPI_I_HIDDEN int tempi_i_device_id(int id);
TEMPI_I_HIDDEN int tempi_i_device_wait(int id, int *source, int *tag, int64_t *nbytes);
TEMPI_I_HIDDEN int tempi_i_device_test(int id, int *flag, int *source, int *tag,
                                       int64_t *nbytes);
TEMPI_I_HIDDEN int tempi_i_device_ready(int id, int *source, int *tag, int64_t *nbytes);
TEMPI_I_HIDDEN int tempi_i_device_start(int id);
TEMPI_I_HIDDEN int tempi_i_device_cancel(int id);
TEMPI_I_HIDDEN void tempi_i_device_request_free(int id);
TEMPI_I_HIDDEN void tempi_i_device_progress(int blocking); /* the progress step's part */
TEMPI_I_HIDDEN long tempi_i_device_runs(int strategy); /* 0 device, 1 oneshot, 2 staged,
                                                         * 3 MPI_Pack/MPI_Unpack calls */

/* What requests.c's completion calls use instead of tempi_py_wait, _test, _ready,
 * _waitall, _start, _cancel and _request_free: the same arguments and results, for the
 * engine's operations and Python's alike. */
TEMPI_I_HIDDEN int tempi_i_op_wait(int id, int *source, int *tag, int64_t *nbytes);
TEMPI_I_HIDDEN int tempi_i_op_test(int id, int *flag, int *source, int *tag, int64_t *nbytes);
TEMPI_I_HIDDEN int tempi_i_op_ready(int id, int *source, int *tag, int64_t *nbytes);
TEMPI_I_HIDDEN int tempi_i_op_waitall(int n, const int *ids, int *sources, int *tags,
                                      int64_t *nbytes, int *errors);
TEMPI_I_HIDDEN int tempi_i_op_start(int id);
TEMPI_I_HIDDEN int tempi_i_op_cancel(int id);
TEMPI_I_HIDDEN void tempi_i_op_request_free(int id);

/* MPI_Pack (to_packed 1) or MPI_Unpack (0) with a plan: typed_buf holds count elements
 * (host data, or device data through tempi_i_device_pack), packed_buf size bytes,
 * *position advances by the packed size. */
TEMPI_I_HIDDEN int tempi_i_engine_pack(const void *typed_buf, int64_t count,
                                       MPI_Datatype datatype, void *packed_buf, int64_t size,
                                       int64_t *position, int to_packed);
/* One part of a batched exchange (engine_exchange.c), decided without Python's path:
 * TEMPI_I_ROUTE_SYSTEM the MPI's own call with the user's type (a host plan of strategy
 * system), _HOST the host plan copied to *plan (the buffer aligned to its word), _DEVICE
 * the device engine's (a device plan for the peer, aligned); -1 none (Python's path).
 * Asks Python's planner on a first sight, as the point-to-point calls do. */
#define TEMPI_I_ROUTE_SYSTEM 0
#define TEMPI_I_ROUTE_HOST 1
#define TEMPI_I_ROUTE_DEVICE 2
TEMPI_I_HIDDEN int tempi_i_engine_route(const void *buf, int64_t count, MPI_Datatype datatype,
                                        MPI_Comm comm, int peer, struct tempi_plan *plan);
/* MPI_Alltoallv/w and MPI_Neighbor_alltoallv/w in C once Python's first call has handed
 * over the communicator's context (engine_exchange.c); TEMPI_I_PASS: Python's path. */
TEMPI_I_HIDDEN int tempi_i_exchange(int kind, const void *sendbuf, int nsend, const int64_t *sc,
                                    const int64_t *sd, const int *st, const void *recvbuf,
                                    int nrecv, const int64_t *rc, const int64_t *rd,
                                    const int *rt, MPI_Comm comm);
/* After the Waitall of an exchange's n parts answered `all` (statuses filled): each engine
 * operation (ids[k]; 0 for a plain request) landed, completed or lost, each plain request
 * still pending waited for; the first error, `first` if already set (engine_exchange.c,
 * for the interposer's exchange and tempi.Comm's, engine_api.c). */
TEMPI_I_HIDDEN int tempi_i_exchange_finish(int n, MPI_Request *requests, MPI_Status *statuses,
                                           const int *ids, int all, int first);
/* An all-to-all's parts of a type tempi does not accelerate on device memory the MPI cannot
 * read: each on a host copy of its span for the call, its displacement (sd, rd) rewritten
 * to the copy; the copies (NULL: none; *err: MPI_ERR_NO_MEM) go back, a receive's copied
 * out if err is MPI_SUCCESS, in tempi_i_exchange_unstage (n = nrecv + nsend). */
TEMPI_I_HIDDEN tempi_i_stage_t *tempi_i_exchange_stage(const void *sendbuf, int nsend,
                                                       const int64_t *sc, int64_t *sd,
                                                       const int *st, const void *recvbuf,
                                                       int nrecv, const int64_t *rc,
                                                       int64_t *rd, const int *rt, int *err);
TEMPI_I_HIDDEN int tempi_i_exchange_unstage(tempi_i_stage_t *stages, int n, int err);

/* MPI_Type_free: the type's plans die (before Python forgets their arguments). */
TEMPI_I_HIDDEN void tempi_i_engine_forget_type(int ftype);

/* For tempi.Comm (engine_api.c, loaded by tempi/comm/native.py): tempi_engine_* with MPI
 * handles as integers, declared in tempi/comm/native.py's CDEF. */

/* For Python (cffi, declared in interposer.h): tempi_engine_clear drops every plan (a new
 * profile, a configuration change); tempi_engine_counter(0) counts the host messages the
 * engine ran, (1) the plan misses (first sights, each one call of Python's planner),
 * (2), (3), (4) the device messages it ran by strategy: device, oneshot, staged, (5) the
 * device MPI_Pack/MPI_Unpack calls it ran. */

#endif
