/* MPI_Pack and MPI_Unpack (and their _c forms) through tempi's packers: tempi_py_pack and
 * tempi_py_unpack (tempi/shim/callbacks.py); TEMPI_I_OK, TEMPI_I_PASS or an error. */
#include <stdint.h>

#include <mpi.h>

#include "engine.h"
#include "interposer.h"
#include "internal.h"

int tempi_i_pack(const void *inbuf, int64_t incount, MPI_Datatype datatype, void *outbuf,
                        int64_t outsize, int64_t *position, MPI_Comm comm)
{
    if (tempi_i_engine_takes(inbuf, datatype)) { /* a plan of the C engine: no Python */
        int rc = tempi_i_engine_pack(inbuf, incount, datatype, outbuf, outsize, position, 1);
        if (rc != TEMPI_I_PASS)
            return rc;
    }
    tempi_i_quiet_t quiet;
    tempi_i_quiet(comm, &quiet);
    tempi_i_inside = 1;
    int rc = tempi_py_pack((intptr_t)inbuf, incount, MPI_Type_c2f(datatype), (intptr_t)outbuf,
                           outsize, position, MPI_Comm_c2f(comm));
    tempi_i_inside = 0;
    tempi_i_loud(&quiet);
    return rc;
}

int tempi_i_unpack(const void *inbuf, int64_t insize, int64_t *position, void *outbuf,
                          int64_t outcount, MPI_Datatype datatype, MPI_Comm comm)
{
    if (tempi_i_engine_takes(outbuf, datatype)) { /* a plan of the C engine: no Python */
        int rc = tempi_i_engine_pack(outbuf, outcount, datatype, (void *)inbuf, insize,
                                     position, 0);
        if (rc != TEMPI_I_PASS)
            return rc;
    }
    tempi_i_quiet_t quiet;
    tempi_i_quiet(comm, &quiet);
    tempi_i_inside = 1;
    int rc = tempi_py_unpack((intptr_t)inbuf, insize, position, (intptr_t)outbuf, outcount,
                             MPI_Type_c2f(datatype), MPI_Comm_c2f(comm));
    tempi_i_inside = 0;
    tempi_i_loud(&quiet);
    return rc;
}
