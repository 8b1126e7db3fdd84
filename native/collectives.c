/* Collectives: every part of one side described (counts, byte displacements, types) and
 * handed to tempi_py_collective (tempi/shim/callbacks.py) when tempi takes any part. The
 * all-to-alls make every part a message of tempi's engine; Bcast, Gather(v), Scatter(v)
 * and Allgather(v) are packed and handed to the system MPI's own collective on bytes. */
#include <stdint.h>
#include <stdlib.h>

#include <mpi.h>

#include "engine.h"
#include "interposer.h"
#include "internal.h"

/* TEMPI_STATS: the messages of the collective this thread is in, for when the system MPI
 * does it (see tempi_i_note_collective). */
TEMPI_I_FAST_TLS long tempi_i_collective_messages = 1;

/* Set when tempi took this thread's collective on device memory and declined it (internal.h). */
TEMPI_I_FAST_TLS int tempi_i_declined_device = 0;

static int tempi_i_parts(MPI_Comm comm, int neighbor, int *nsend, int *nrecv)
{
    if (!neighbor) {
        PMPI_Comm_size(comm, nsend);
        *nrecv = *nsend;
        return MPI_SUCCESS;
    }
    int topology, rank, ndims, weighted;
    PMPI_Topo_test(comm, &topology);
    if (topology == MPI_CART) {
        PMPI_Cartdim_get(comm, &ndims);
        *nsend = *nrecv = 2 * ndims;
    } else if (topology == MPI_GRAPH) {
        PMPI_Comm_rank(comm, &rank);
        PMPI_Graph_neighbors_count(comm, rank, nsend);
        *nrecv = *nsend;
    } else if (topology == MPI_DIST_GRAPH) {
        PMPI_Dist_graph_neighbors_count(comm, nrecv, nsend, &weighted);
    } else {
        return MPI_ERR_TOPOLOGY;
    }
    return MPI_SUCCESS;
}

/* A neighbourhood collective's parts: destinations (`out`) or sources; 0 without a
 * topology. */
int tempi_i_neighbors(MPI_Comm comm, int out)
{
    int nsend = 0, nrecv = 0;
    if (tempi_i_parts(comm, 1, &nsend, &nrecv) != MPI_SUCCESS)
        return 0;
    return out ? nsend : nrecv;
}

/* Counts, byte displacements and Fortran type handles of one side; whether tempi should
 * take any of its parts. Parts of count 0 count too: every rank must take the same path,
 * and one that moves nothing (all counts 0) still has the types and memory its peers
 * decide by; its peers' tempi path starts with a collective on the communicator. */
static int tempi_i_side(const tempi_i_parts_t *side, int n, int64_t *c, int64_t *d, int *t)
{
    int takes = 0;
    for (int i = 0; i < n; ++i) {
        MPI_Datatype type = side->one_type ? side->types[0] : side->types[i];
        MPI_Aint lb, extent;
        PMPI_Type_get_extent(type, &lb, &extent);
        c[i] = side->icounts ? (int64_t)side->icounts[i] : (int64_t)side->ccounts[i];
        d[i] = side->adispls ? (int64_t)side->adispls[i] : (int64_t)side->idispls[i];
        if (!side->displs_in_bytes)
            d[i] *= extent;
        t[i] = MPI_Type_c2f(type);
        takes |= tempi_i_takes((const char *)side->buf + d[i], type);
    }
    return takes;
}

/* Whether any of one side's n parts (byte displacements d) is device memory. */
static int tempi_i_side_on_device(const tempi_i_parts_t *side, int n, const int64_t *d)
{
    for (int i = 0; i < n; ++i)
        if (tempi_i_data_on_device((const char *)side->buf + d[i],
                                   side->one_type ? side->types[0] : side->types[i]))
            return 1;
    return 0;
}

/* A collective called with MPI_IN_PLACE goes to the system MPI as it is unless its data
 * (`buf`, the other buffer) is device memory the MPI cannot read: then the entry point
 * stages it, as a declined one (both buffers' spans; MPI_IN_PLACE's data is in `buf`). */
static void tempi_i_in_place(const void *in_place, const void *buf, MPI_Datatype type)
{
    if (in_place == MPI_IN_PLACE && buf != MPI_IN_PLACE && tempi_i_stage_device &&
        !tempi_i_host && tempi_i_data_on_device(buf, type))
        tempi_i_declined_device = 1;
}

/* A collective whose parts are nsend of send and nrecv of recv: tempi's if it takes any
 * part, else TEMPI_I_PASS. A rooted one taken on device memory the MPI cannot read and then
 * declined (a datatype tempi cannot describe) sets tempi_i_declined_device: the entry point
 * stages the system MPI's call rather than hand it a device pointer. The all-to-alls never
 * decline: each rank runs its parts as tempi's messages, those it cannot describe as the
 * MPI's typed ones (on device memory through host copies, tempi_i_exchange_stage), without
 * asking the other ranks (engine_exchange.c says why they match). */
static int tempi_i_collective(int kind, const tempi_i_parts_t *send, int nsend,
                              const tempi_i_parts_t *recv, int nrecv, int root, MPI_Comm comm)
{
    if (send->buf == MPI_IN_PLACE || recv->buf == MPI_IN_PLACE)
        return TEMPI_I_PASS;
    int64_t *sc = malloc(sizeof(int64_t) * (nsend + 1));
    int64_t *sd = malloc(sizeof(int64_t) * (nsend + 1));
    int64_t *rc = malloc(sizeof(int64_t) * (nrecv + 1));
    int64_t *rd = malloc(sizeof(int64_t) * (nrecv + 1));
    int *st = malloc(sizeof(int) * (nsend + 1)), *rt = malloc(sizeof(int) * (nrecv + 1));
    int result = TEMPI_I_PASS;
    if (sc && sd && rc && rd && st && rt) {
        int takes = tempi_i_side(send, nsend, sc, sd, st);
        takes |= tempi_i_side(recv, nrecv, rc, rd, rt);
        int exchange = kind == TEMPI_I_ALLTOALL || kind == TEMPI_I_NEIGHBOR, err = MPI_SUCCESS;
        tempi_i_stage_t *copies = NULL;
        if (takes && exchange) {
            copies = tempi_i_exchange_stage(send->buf, nsend, sc, sd, st, recv->buf, nrecv, rc,
                                            rd, rt, &err);
            result = err != MPI_SUCCESS
                         ? TEMPI_I_ERROR + err
                         : tempi_i_exchange(kind, send->buf, nsend, sc, sd, st, recv->buf, nrecv,
                                            rc, rd, rt, comm); /* in C after the first call */
        }
        if (takes && err == MPI_SUCCESS && result == TEMPI_I_PASS) {
            tempi_i_quiet_t quiet;
            tempi_i_quiet(comm, &quiet);
            tempi_i_inside = 1;
            result = tempi_py_collective(kind, (intptr_t)send->buf, nsend, sc, sd, st,
                                         (intptr_t)recv->buf, nrecv, rc, rd, rt, root,
                                         MPI_Comm_c2f(comm));
            tempi_i_inside = 0;
            tempi_i_loud(&quiet);
        }
        int copied = copies != NULL; /* device parts: their displacements name the copies */
        if (copied)
            tempi_i_exchange_unstage(copies, nsend + nrecv,
                                     result == TEMPI_I_OK ? MPI_SUCCESS : MPI_ERR_OTHER);
        if (takes && result == TEMPI_I_PASS && tempi_i_stage_device &&
            (copied || tempi_i_side_on_device(send, nsend, sd) ||
             tempi_i_side_on_device(recv, nrecv, rd)))
            tempi_i_declined_device = 1;
    }
    free(sc);
    free(sd);
    free(rc);
    free(rd);
    free(st);
    free(rt);
    return result;
}

/* TEMPI_STATS: one message per part on each side, as tempi counts its own (1 for Bcast, a
 * non-root rank's part, and intercommunicators), in tempi_i_collective_messages (read by
 * tempi_i_collective_passed). Costs nothing without TEMPI_STATS. */
static void tempi_i_note_collective(int kind, int root, MPI_Comm comm)
{
    if (!tempi_i_stats)
        return;
    int inter = 0, rank = 0, nsend = 1, nrecv = 0;
    tempi_i_collective_messages = 1;
    if (tempi_i_inside || kind == TEMPI_I_BCAST ||
        PMPI_Comm_test_inter(comm, &inter) != MPI_SUCCESS || inter)
        return;
    if (kind == TEMPI_I_ALLTOALL || kind == TEMPI_I_NEIGHBOR) {
        if (tempi_i_parts(comm, kind == TEMPI_I_NEIGHBOR, &nsend, &nrecv) != MPI_SUCCESS)
            return;
    } else if (PMPI_Comm_rank(comm, &rank) == MPI_SUCCESS &&
               (kind == TEMPI_I_ALLGATHER || kind == TEMPI_I_ALLGATHERV || rank == root)) {
        PMPI_Comm_size(comm, &nrecv);
    }
    tempi_i_collective_messages = (long)nsend + nrecv;
}

/* tempi not started yet (no type committed) and the CUDA driver loaded: a side on device
 * memory starts it (tempi_i_stages_parts does, for a device buffer), so the collective is
 * taken or staged rather than handed to the MPI as it is. */
static int tempi_i_side_starts(const tempi_i_parts_t *side, int n)
{
    const void *counts = side->icounts ? (const void *)side->icounts : (const void *)side->ccounts;
    const void *displs = side->idispls ? (const void *)side->idispls : (const void *)side->adispls;
    tempi_i_stages_parts(side->buf, n, counts, side->icounts != NULL, displs,
                         side->idispls != NULL, side->displs_in_bytes, side->types,
                         side->one_type);
    return tempi_i_state_now() == TEMPI_I_READY;
}

/* An all-to-all on an intercommunicator is the system MPI's (its parts are the remote
 * group's; every rank of both groups decides alike), staged as a declined one when a side
 * is device memory the MPI cannot read (which starts tempi, if nothing has yet). */
static int tempi_i_inter(const tempi_i_parts_t *send, const tempi_i_parts_t *recv,
                         MPI_Comm comm)
{
    int inter = 0, n = 0;
    if (PMPI_Comm_test_inter(comm, &inter) != MPI_SUCCESS || !inter)
        return 0;
    if (!tempi_i_host && PMPI_Comm_remote_size(comm, &n) == MPI_SUCCESS) {
        const tempi_i_parts_t *sides[2] = {send, recv};
        for (int s = 0; s < 2; ++s) {
            const tempi_i_parts_t *side = sides[s];
            if (side->buf == MPI_IN_PLACE)
                continue;
            const void *counts = side->icounts ? (const void *)side->icounts
                                               : (const void *)side->ccounts;
            const void *displs = side->idispls ? (const void *)side->idispls
                                               : (const void *)side->adispls;
            tempi_i_declined_device |= tempi_i_stages_parts(
                side->buf, n, counts, side->icounts != NULL, displs, side->idispls != NULL,
                side->displs_in_bytes, side->types, side->one_type);
        }
    }
    return 1;
}

int tempi_i_alltoall(int neighbor, const tempi_i_parts_t *send,
                            const tempi_i_parts_t *recv, MPI_Comm comm)
{
    int nsend, nrecv;
    tempi_i_declined_device = 0;
    if (send->buf == MPI_IN_PLACE && !neighbor) /* (never with neighbourhood forms) */
        tempi_i_in_place(send->buf, recv->buf, recv->types[0]);
    tempi_i_note_collective(neighbor ? TEMPI_I_NEIGHBOR : TEMPI_I_ALLTOALL, 0, comm);
    int ready = tempi_i_state_now() == TEMPI_I_READY;
    if (tempi_i_bypass() ||
        (!ready && (tempi_i_state_now() != TEMPI_I_UNTRIED || tempi_i_host ||
                    !tempi_i_cuda_loaded())) ||
        (!neighbor && tempi_i_inter(send, recv, comm)) ||
        tempi_i_parts(comm, neighbor, &nsend, &nrecv) != MPI_SUCCESS)
        return TEMPI_I_PASS;
    if (!ready && !(tempi_i_side_starts(send, nsend) || tempi_i_side_starts(recv, nrecv)))
        return TEMPI_I_PASS;
    return tempi_i_collective(neighbor ? TEMPI_I_NEIGHBOR : TEMPI_I_ALLTOALL, send, nsend, recv,
                              nrecv, 0, comm);
}

/* Bcast, Gather(v), Scatter(v), Allgather(v): tempi packs this rank's parts and calls
 * the system MPI's own collective on the bytes (tempi/comm/packed_collectives.py), so every
 * rank reaches the same collective of the system MPI, whatever each decided. Arguments
 * significant only at the root are read only there. */

static int tempi_i_spreads(int kind)
{
    return kind == TEMPI_I_SCATTER || kind == TEMPI_I_SCATTERV;
}

/* The parts one per rank exist at the root (everywhere for an allgather). */
static int tempi_i_many_here(int kind, int rank, int root)
{
    return kind == TEMPI_I_ALLGATHER || kind == TEMPI_I_ALLGATHERV || rank == root;
}

/* Whether tempi takes a rooted collective: the one part's buffer and type, or the many
 * parts' (one buffer, one type) where they exist; this rank and the size if so. Plain
 * calls cost a look at the tables and at most one handle query; intercommunicators (roots
 * MPI_ROOT, MPI_PROC_NULL) are the system MPI's. */
static int tempi_i_rooted(int kind, const void *one_buf, MPI_Datatype one_type,
                          const void *many_buf, MPI_Datatype many_type, int root, MPI_Comm comm,
                          int *rank, int *size)
{
    if (tempi_i_bypass())
        return 0;
    /* not started yet: this rank's one part on device memory starts tempi (tempi_i_takes) */
    if (tempi_i_state_now() != TEMPI_I_READY &&
        (tempi_i_state_now() != TEMPI_I_UNTRIED || !tempi_i_cuda_loaded() ||
         !tempi_i_takes(one_buf, one_type)))
        return 0;
    int takes = tempi_i_takes(one_buf, one_type), inter = 0;
    if (!takes) {
        int everywhere = kind == TEMPI_I_ALLGATHER || kind == TEMPI_I_ALLGATHERV;
        if (!everywhere)
            PMPI_Comm_rank(comm, rank);
        /* the same type again decides the same unless the buffer's memory kind could
         * differ (a CUDA driver loaded): one table lookup, not two, for plain calls */
        takes = (everywhere || *rank == root) &&
                (many_type != one_type || tempi_i_cuda_loaded()) &&
                tempi_i_takes(many_buf, many_type);
    }
    if (!takes || PMPI_Comm_test_inter(comm, &inter) != MPI_SUCCESS || inter)
        return 0;
    PMPI_Comm_rank(comm, rank);
    PMPI_Comm_size(comm, size);
    return 1;
}

/* One part (the send side's, or for a scatter the receive side's) against many, one per
 * rank. */
static int tempi_i_one_and_many(int kind, const void *one_buf, MPI_Count one_count,
                                MPI_Datatype one_type, const tempi_i_parts_t *many, int root,
                                int rank, int size, MPI_Comm comm)
{
    int n = tempi_i_many_here(kind, rank, root) ? size : 0;
    MPI_Aint zero = 0;
    tempi_i_parts_t one = {one_buf, NULL, &one_count, NULL, &zero, 1, &one_type, 1};
    return tempi_i_spreads(kind) ? tempi_i_collective(kind, many, n, &one, 1, root, comm)
                                 : tempi_i_collective(kind, &one, 1, many, n, root, comm);
}

/* Gather, Scatter, Allgather: block j of the many side is `each` elements at element
 * j * each. */
int tempi_i_blocks(int kind, const void *sendbuf, MPI_Count sendcount,
                          MPI_Datatype sendtype, const void *recvbuf, MPI_Count recvcount,
                          MPI_Datatype recvtype, int root, MPI_Comm comm)
{
    int rank, size, spreads = tempi_i_spreads(kind);
    tempi_i_declined_device = 0;
    tempi_i_in_place(sendbuf, recvbuf, recvtype);
    tempi_i_in_place(recvbuf, sendbuf, sendtype);
    tempi_i_note_collective(kind, root, comm);
    if (!(spreads ? tempi_i_rooted(kind, recvbuf, recvtype, sendbuf, sendtype, root, comm,
                                   &rank, &size)
                  : tempi_i_rooted(kind, sendbuf, sendtype, recvbuf, recvtype, root, comm,
                                   &rank, &size)))
        return TEMPI_I_PASS;
    MPI_Count each = spreads ? sendcount : recvcount;
    MPI_Count *counts = malloc(sizeof(MPI_Count) * size);
    MPI_Aint *displs = malloc(sizeof(MPI_Aint) * size);
    int result = TEMPI_I_PASS;
    if (counts && displs) {
        for (int j = 0; j < size; ++j) {
            counts[j] = each;
            displs[j] = (MPI_Aint)(j * each);
        }
        tempi_i_parts_t many = {spreads ? sendbuf : recvbuf, NULL, counts, NULL, displs, 0,
                                spreads ? &sendtype : &recvtype, 1};
        result = spreads ? tempi_i_one_and_many(kind, recvbuf, recvcount, recvtype, &many, root,
                                                rank, size, comm)
                         : tempi_i_one_and_many(kind, sendbuf, sendcount, sendtype, &many, root,
                                                rank, size, comm);
    }
    free(counts);
    free(displs);
    return result;
}

/* Gatherv, Scatterv, Allgatherv: the many side's counts and displacements are the caller's. */
int tempi_i_vector(int kind, const void *one_buf, MPI_Count one_count,
                          MPI_Datatype one_type, const tempi_i_parts_t *many, int root,
                          MPI_Comm comm)
{
    int rank, size;
    tempi_i_declined_device = 0;
    tempi_i_in_place(one_buf, many->buf, many->types[0]);
    tempi_i_note_collective(kind, root, comm);
    if (!tempi_i_rooted(kind, one_buf, one_type, many->buf, many->types[0], root, comm, &rank,
                        &size))
        return TEMPI_I_PASS;
    return tempi_i_one_and_many(kind, one_buf, one_count, one_type, many, root, rank, size,
                                comm);
}

int tempi_i_bcast(void *buffer, MPI_Count count, MPI_Datatype datatype, int root, MPI_Comm comm)
{
    int rank, size;
    tempi_i_declined_device = 0;
    tempi_i_collective_messages = 1;
    if (!tempi_i_rooted(TEMPI_I_BCAST, buffer, datatype, buffer, datatype, root, comm, &rank,
                        &size))
        return TEMPI_I_PASS;
    MPI_Aint zero = 0;
    tempi_i_parts_t one = {buffer, NULL, &count, NULL, &zero, 1, &datatype, 1};
    return tempi_i_collective(TEMPI_I_BCAST, &one, rank == root, &one, rank != root, root, comm);
}
