/* Plans of strategy "system" (TEMPI_I_PLAN_SYSTEM, tempi/shim/plans.py): the performance
 * model measured the system MPI's own typed path faster than tempi's packed route for
 * this (datatype, count) of host memory (tempi/model/host.py), or the device pick for a
 * (datatype, count, peer locality) of device memory on a CUDA-aware MPI (engine_device.c;
 * never on an MPI that cannot read device memory), so the engine hands the user's buffer
 * and datatype to PMPI_* as they are: no pack, no staging, no Python. The messages count
 * as passed_through in TEMPI_STATS (a persistent one once, at its _init, as every
 * persistent request the interposer hands the MPI). Same results as engine.h's. */
#ifndef TEMPI_ENGINE_SYSTEM_H
#define TEMPI_ENGINE_SYSTEM_H

#include <stdint.h>

#include <mpi.h>

#include "internal.h"

/* The system MPI's send of `mode` (TEMPI_I_STANDARD, _SYNCHRONOUS, _BUFFERED: a ready send is
 * a standard one): blocking; or posting *request (persistent: the _init form). The one
 * switch over send modes for every engine (host, device, system). */
TEMPI_I_HIDDEN int tempi_i_pmpi_send(const void *buf, int n, MPI_Datatype datatype, int dest,
                                     int tag, MPI_Comm comm, int mode);
TEMPI_I_HIDDEN int tempi_i_pmpi_isend(const void *buf, int n, MPI_Datatype datatype, int dest,
                                      int tag, MPI_Comm comm, int mode, int persistent,
                                      MPI_Request *request);

TEMPI_I_HIDDEN int tempi_i_system_send(const void *buf, int64_t count, MPI_Datatype datatype,
                                       int dest, int tag, MPI_Comm comm, int mode);
TEMPI_I_HIDDEN int tempi_i_system_recv(void *buf, int64_t count, MPI_Datatype datatype,
                                       int source, int tag, MPI_Comm comm, MPI_Status *status);
/* Nonblocking (persistent: the _init forms); *request is the system MPI's own request. */
TEMPI_I_HIDDEN int tempi_i_system_isend(const void *buf, int64_t count, MPI_Datatype datatype,
                                        int dest, int tag, MPI_Comm comm, int mode,
                                        int persistent, MPI_Request *request);
TEMPI_I_HIDDEN int tempi_i_system_irecv(void *buf, int64_t count, MPI_Datatype datatype,
                                        int source, int tag, MPI_Comm comm, int persistent,
                                        MPI_Request *request);
#endif
