/* tempi.Comm's way into the C engine (engine_api.c): the functions tempi/comm/native.py
 * declares to cffi (the BEGIN/END cdef part), and the ones its compiled binding (comm_binding.c) calls. MPI
 * handles travel as uintptr_t (an int in MPICH, a pointer in Open MPI), statuses as the
 * address of an MPI_Status or 0; engine_api.c's comment says what the results mean. */
#ifndef TEMPI_ENGINE_API_H
#define TEMPI_ENGINE_API_H

#include <stdint.h>

#define TEMPI_ENGINE_SYSTEM (-1) /* a side sent or received by the MPI's own call */
#define TEMPI_ENGINE_PENDING (-3)
#define TEMPI_ENGINE_FAILED (-16)

/* BEGIN cdef: tempi/comm/native.py hands this part to cffi as it is */
void tempi_engine_api_init(void);
long tempi_engine_runs(void);
int tempi_engine_last(int which);
int64_t tempi_engine_last_pair(void);
int tempi_engine_send(intptr_t plan, const void *buf, int dest, int tag, uintptr_t comm,
                      int mode);
int tempi_engine_recv(intptr_t plan, void *buf, int source, int tag, uintptr_t comm,
                      intptr_t status);
int tempi_engine_start(intptr_t plan, void *buf, int peer, int tag, uintptr_t comm, int mode,
                       int recv, int persistent);
int64_t tempi_engine_wait(int id, intptr_t status);
int64_t tempi_engine_test(int id, intptr_t status);
int64_t tempi_engine_landed(int id, intptr_t landed, intptr_t status);
uintptr_t tempi_engine_request(int id);
int tempi_engine_restart(int id);
int tempi_engine_cancel(int id);
void tempi_engine_free(int id);
int tempi_engine_exchange(int nrecv, int nsend, const intptr_t *plans, const intptr_t *offsets,
                          const int *counts, const uintptr_t *types, const int *peers,
                          const int *tags, void *recvbase, const void *sendbase, uintptr_t comm);
int tempi_engine_sendrecv(intptr_t splan, const void *sbuf, int scount, uintptr_t stype,
                          int dest, int sendtag, intptr_t rplan, void *rbuf, int rcount,
                          uintptr_t rtype, int source, int recvtag, uintptr_t comm,
                          intptr_t status);
int tempi_engine_sendrecv_replace(intptr_t plan, void *buf, int count, uintptr_t type,
                                  int dest, int sendtag, int source, int recvtag,
                                  uintptr_t comm, intptr_t status);
/* The completion calls' driver of Python's operations (internal.h's tempi_i_driver, its
 * MPI_Request ** and MPI_Status * as addresses). */
typedef struct {
    void *ctx;
    int (*ready)(void *, int, int *, int *, int64_t *);
    int (*complete)(void *, int, const int *, int *, int *, int64_t *, int *);
    int (*blocker)(void *, int, intptr_t *);
    int (*landed)(void *, int, intptr_t);
} tempi_engine_driver;
int tempi_engine_complete(int call, int n, const int *kinds, const int *ids,
                          const intptr_t *handles, const tempi_engine_driver *driver,
                          void *ctx, const intptr_t *statuses, int *out);
void tempi_engine_empty_status(intptr_t status);
/* END cdef */

#endif
