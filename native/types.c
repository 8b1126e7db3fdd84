/* The type table: MPI_Type_commit asks tempi whether it accelerates a type (remembered by
 * Fortran handle), MPI_Type_free forgets it; and the fast path's test, whether tempi takes
 * a call on a buffer of a type. */
#include <stdint.h>

#include <mpi.h>

#include "engine.h"
#include "interposer.h"
#include "internal.h"

static int tempi_i_accelerated(MPI_Datatype datatype)
{
    return tempi_i_find(&tempi_i_types, (uint64_t)(uint32_t)MPI_Type_c2f(datatype));
}

int tempi_i_type_commit(MPI_Datatype *datatype)
{
    int err = PMPI_Type_commit(datatype);
    tempi_i_find_cuda();
    if (err != MPI_SUCCESS || tempi_i_bypass() || !tempi_i_ready())
        return err;
    tempi_i_inside = 1;
    int accelerated = tempi_py_type_commit(MPI_Type_c2f(*datatype));
    tempi_i_inside = 0;
    tempi_i_store(&tempi_i_types, (uint64_t)(uint32_t)MPI_Type_c2f(*datatype),
                  accelerated == TEMPI_I_OK);
    return err;
}

int tempi_i_type_free(MPI_Datatype *datatype)
{
    tempi_i_memkind_type_freed(); /* a handle freed may come back as another type */
    if (!tempi_i_bypass() && tempi_i_state_now() == TEMPI_I_READY) {
        MPI_Fint key = MPI_Type_c2f(*datatype);
        tempi_i_store(&tempi_i_types, (uint64_t)(uint32_t)key, 0);
        tempi_i_engine_forget_type(key); /* its plans die before Python drops their args */
        tempi_i_inside = 1;
        tempi_py_type_free(key);
        tempi_i_inside = 0;
    }
    return PMPI_Type_free(datatype);
}

/* Whether tempi takes this buffer: an accelerated type on the device (or anywhere with
 * TEMPI_HOST=1); or, where the MPI cannot read device memory, any other type on the device
 * (contiguous data is staged through host memory). The pointer check costs nothing until
 * the process loads the CUDA driver. */
int tempi_i_takes(const void *typed, MPI_Datatype datatype)
{
    if (tempi_i_bypass())
        return 0;
    /* tempi not started yet (no type committed): device memory starts it, so its first
     * call is taken (or staged), never handed to the MPI as it is */
    if (tempi_i_state_now() != TEMPI_I_READY &&
        (tempi_i_state_now() != TEMPI_I_UNTRIED || !tempi_i_cuda_loaded() ||
         !tempi_i_data_on_device(typed, datatype) || !tempi_i_ready()))
        return 0;
    if (!tempi_i_accelerated(datatype))
        return tempi_i_stage_device && tempi_i_data_on_device(typed, datatype);
    return tempi_i_host || tempi_i_data_on_device(typed, datatype);
}

int tempi_i_takes_pack(const void *typed, MPI_Datatype datatype)
{
    return !tempi_i_no_pack && tempi_i_takes(typed, datatype);
}
