/* The Python callbacks of the interposer (tempi/shim/callbacks.py), implemented through
 * the cffi embedding API. tempi/shim/build.py hands the declarations between the markers
 * to cffi, so they are written once, here. */
#ifndef TEMPI_INTERPOSER_H
#define TEMPI_INTERPOSER_H

#include <stdint.h>

/* BEGIN tempi_py */
int tempi_py_init(void);
int tempi_py_type_commit(int ftype);
void tempi_py_type_free(int ftype);
int tempi_py_pack(intptr_t inbuf, int64_t incount, int ftype, intptr_t outbuf, int64_t outsize,
                  int64_t *position, int fcomm);
int tempi_py_unpack(intptr_t inbuf, int64_t insize, int64_t *position, intptr_t outbuf,
                    int64_t outcount, int ftype, int fcomm);
void tempi_py_finalize(void);
int tempi_py_isend(intptr_t buf, int64_t count, int ftype, int dest, int tag, int fcomm,
                   int mode, int persistent, int *id);
int tempi_py_irecv(intptr_t buf, int64_t count, int ftype, int source, int tag, int fcomm,
                   int persistent, int *id);
int tempi_py_start(int id);
int tempi_py_cancel(int id);
int tempi_py_wait(int id, int *source, int *tag, int64_t *nbytes);
int tempi_py_test(int id, int *flag, int *source, int *tag, int64_t *nbytes);
/* errors[i]: the i-th request's MPI error code (MPI_SUCCESS if none); the result is
 * TEMPI_I_ERROR + MPI_ERR_IN_STATUS when some failed. */
int tempi_py_waitall(int n, const int *ids, int *sources, int *tags, int64_t *nbytes,
                     int *errors);
int tempi_py_ready(int id, int *source, int *tag, int64_t *nbytes);
void tempi_py_request_free(int id);
int tempi_py_collective(int kind, intptr_t sendbuf, int nsend, const int64_t *sendcounts,
                        const int64_t *senddispls, const int *sendtypes, intptr_t recvbuf,
                        int nrecv, const int64_t *recvcounts, const int64_t *recvdispls,
                        const int *recvtypes, int root, int fcomm);
/* kind 0: MPI_Cart_create (n = ndims, a = dims, b = periods); 1: _adjacent (n, a, b =
 * indegree, sources, sourceweights; m, c, d = outdegree, destinations, destweights); 2:
 * MPI_Dist_graph_create (n, a, b = n, sources, degrees; m, c, d = edges, destinations,
 * weights). Weights NULL: unweighted. *fmade: the new communicator (native/topology.c). */
int tempi_py_topology(int kind, int fcomm, int n, const int *a, const int *b, int m,
                      const int *c, const int *d, int finfo, int *fmade);
/* Issue 14: a plan for count elements of ftype in host memory, written to plan (a
 * struct tempi_plan of plan_gen.h); TEMPI_I_PASS: none (native/engine.c). */
int tempi_py_plan(int ftype, int64_t count, intptr_t plan);
/* END tempi_py */

long tempi_passed_calls(void);
void tempi_stage_device_buffers(int on);
int tempi_node_of(int world_rank);
void tempi_engine_clear(void);       /* native/engine.c: drop every plan */
/* native/engine_exchange.c: a communicator's batched exchanges handed to C, and dropped */
void tempi_exchange_learn(int fcomm, int kind, int fprivate, int nrecv, const int *sources,
                          const int *recv_tags, int nsend, const int *dests,
                          const int *send_tags);
void tempi_exchange_forget(int fcomm);
long tempi_exchange_runs(void);
long tempi_engine_counter(int which); /* 0 messages the engine ran, 1 plan misses */

#endif
