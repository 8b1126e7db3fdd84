/* tempi.Comm's way into the C engine (engine_api.c): the functions tempi/comm/native.py's
 * CDEF declares for cffi, and the ones its compiled binding (comm_binding.c) calls. MPI
 * handles travel as uintptr_t (an int in MPICH, a pointer in Open MPI), statuses as the
 * address of an MPI_Status or 0; engine_api.c's comment says what the results mean. */
#ifndef TEMPI_ENGINE_API_H
#define TEMPI_ENGINE_API_H

#include <stdint.h>

#define TEMPI_ENGINE_SYSTEM (-1) /* a side sent or received by the MPI's own call */
#define TEMPI_ENGINE_PENDING (-3)
#define TEMPI_ENGINE_FAILED (-16)

void tempi_engine_api_init(void);
long tempi_engine_runs(void);
int tempi_engine_send(intptr_t plan, const void *buf, int dest, int tag, uintptr_t comm,
                      int mode);
int tempi_engine_recv(intptr_t plan, void *buf, int source, int tag, uintptr_t comm,
                      intptr_t status);
int tempi_engine_start(intptr_t plan, void *buf, int peer, int tag, uintptr_t comm, int mode,
                       int recv, int persistent);
int64_t tempi_engine_wait(int id, intptr_t status);
int tempi_engine_sendrecv(intptr_t splan, const void *sbuf, int scount, uintptr_t stype,
                          int dest, int sendtag, intptr_t rplan, void *rbuf, int rcount,
                          uintptr_t rtype, int source, int recvtag, uintptr_t comm,
                          intptr_t status);
int tempi_engine_sendrecv_replace(intptr_t plan, void *buf, int count, uintptr_t type,
                                  int dest, int sendtag, int source, int recvtag,
                                  uintptr_t comm, intptr_t status);

#endif
