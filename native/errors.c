/* MPI's error semantics for what tempi does: an error tempi detects or returns goes through
 * the error handler of the communicator the call was on (for a request, the communicator
 * it was made on), as the system MPI would: MPI_ERRORS_ARE_FATAL aborts, a user handler
 * runs once, MPI_ERRORS_RETURN returns the code.
 *
 * While tempi works on a communicator of the application (a callback), that communicator's
 * handler is MPI_ERRORS_RETURN (tempi_i_quiet/tempi_i_loud), so an error the system MPI
 * finds inside tempi comes back to C, which raises it once, with the code the application
 * would see, on the application's handler. Under MPI_THREAD_MULTIPLE the swap is counted
 * per communicator (the first of tempi's calls on it swaps, the last gives the handler
 * back), so threads cannot leave it swapped; meanwhile another thread's plain call on that
 * communicator that fails returns its error rather than calling the handler.
 *
 * What a call returns after a user handler has run, and what a multi-completion call gives
 * the handler, are the MPI's own conventions (MPICH: MPI_SUCCESS, MPI_ERR_IN_STATUS; Open
 * MPI: the code, the failed request's code): read once, at MPI_Init, from the library's
 * version string. */
#include <stdlib.h>
#include <string.h>

#include <mpi.h>

#include "internal.h"

static int tempi_i_user_handler_returns_code = 0; /* MPICH and its derivatives */
static int tempi_i_in_status_to_handler = 1;

/* Open MPI returns the code after a user handler and gives a multi-completion call's
 * handler the failed request's code; MPICH (and Intel MPI, MVAPICH, Cray MPICH) return
 * MPI_SUCCESS and give it MPI_ERR_IN_STATUS. (A probe cannot tell: MPICH raises a
 * multi-completion error on MPI_COMM_WORLD's handler, Open MPI's self transport finds no
 * truncation.) */
void tempi_i_learn_error_convention(void)
{
    char version[MPI_MAX_LIBRARY_VERSION_STRING];
    int length = 0;
    if (PMPI_Get_library_version(version, &length) != MPI_SUCCESS)
        return;
    int open_mpi = strstr(version, "Open MPI") != NULL;
    tempi_i_user_handler_returns_code = open_mpi;
    tempi_i_in_status_to_handler = !open_mpi;
}

int tempi_i_raise_in_status(MPI_Comm comm, int failed_code)
{
    int returned = tempi_i_raise_as(comm, tempi_i_in_status_to_handler ? MPI_ERR_IN_STATUS
                                                                      : failed_code,
                                    MPI_ERR_IN_STATUS);
    return returned;
}

int tempi_i_raise(MPI_Comm comm, int code)
{
    return tempi_i_raise_as(comm, code, code);
}

static __thread int tempi_i_deferred = 0;

void tempi_i_defer_errors(int on)
{
    tempi_i_deferred = on;
}

/* Whether `handler` is the application's own function (not a predefined one). */
static int tempi_i_user_handler(MPI_Errhandler handler)
{
    int user = handler != MPI_ERRORS_RETURN && handler != MPI_ERRORS_ARE_FATAL;
#ifdef MPI_ERRORS_ABORT
    user = user && handler != MPI_ERRORS_ABORT;
#endif
    return user;
}

enum tempi_i_handled { TEMPI_I_ON_COMM, TEMPI_I_ON_WIN, TEMPI_I_ON_FILE };

/* Call the handler of the communicator, window or file at `object` (its `handler`, which
 * this frees) with `code`; what the call returns: MPI_SUCCESS after a user handler where
 * the MPI does so, else `returned`. */
static int tempi_i_call_handler(enum tempi_i_handled kind, void *object,
                                MPI_Errhandler handler, int code, int returned)
{
    int user = tempi_i_user_handler(handler);
    PMPI_Errhandler_free(&handler);
    int inside = tempi_i_inside;
    tempi_i_inside = 1; /* a user handler's MPI calls are the system MPI's */
    if (kind == TEMPI_I_ON_COMM)
        PMPI_Comm_call_errhandler(*(MPI_Comm *)object, code);
    else if (kind == TEMPI_I_ON_WIN)
        PMPI_Win_call_errhandler(*(MPI_Win *)object, code);
    else
        PMPI_File_call_errhandler(*(MPI_File *)object, code);
    tempi_i_inside = inside;
    return user && !tempi_i_user_handler_returns_code ? MPI_SUCCESS : returned;
}

int tempi_i_raise_as(MPI_Comm comm, int code, int returned)
{
    if (code == MPI_SUCCESS || tempi_i_deferred)
        return code;
    if (comm == MPI_COMM_NULL)
        comm = MPI_COMM_SELF;
    MPI_Errhandler handler = MPI_ERRHANDLER_NULL;
    if (PMPI_Comm_get_errhandler(comm, &handler) != MPI_SUCCESS)
        return code;
    return tempi_i_call_handler(TEMPI_I_ON_COMM, &comm, handler, code, returned);
}

int tempi_i_raise_win(MPI_Win win, int code)
{
    MPI_Errhandler handler = MPI_ERRHANDLER_NULL;
    if (code == MPI_SUCCESS || tempi_i_deferred || win == MPI_WIN_NULL ||
        PMPI_Win_get_errhandler(win, &handler) != MPI_SUCCESS)
        return code;
    return tempi_i_call_handler(TEMPI_I_ON_WIN, &win, handler, code, code);
}

int tempi_i_raise_file(MPI_File fh, int code)
{
    MPI_Errhandler handler = MPI_ERRHANDLER_NULL;
    if (code == MPI_SUCCESS || tempi_i_deferred ||
        PMPI_File_get_errhandler(fh, &handler) != MPI_SUCCESS) /* MPI_FILE_NULL: the default */
        return code;
    return tempi_i_call_handler(TEMPI_I_ON_FILE, &fh, handler, code, code);
}

/* Under MPI_THREAD_MULTIPLE, the communicators tempi works on: the application's handler
 * and how many of tempi's calls (any thread) use the communicator now. The first sets
 * MPI_ERRORS_RETURN, the last puts the handler back, so two threads cannot leave it
 * swapped, and an error the system MPI finds inside tempi comes back to C, which raises it
 * once. (Left in place, the handler would run from the system MPI, and again from C; and
 * after a user handler MPICH returns MPI_SUCCESS, so tempi would not even know.) */
typedef struct {
    MPI_Comm comm;
    MPI_Errhandler handler;
    int users;
} tempi_i_swapped_t;

static tempi_i_swapped_t *tempi_i_swapped = NULL;
static int tempi_i_nswapped = 0, tempi_i_swapped_room = 0;

static int tempi_i_swapped_at(MPI_Comm comm)
{
    for (int i = 0; i < tempi_i_nswapped; ++i)
        if (tempi_i_swapped[i].comm == comm)
            return i;
    return -1;
}

static void tempi_i_quiet_shared(MPI_Comm comm, tempi_i_quiet_t *saved)
{
    tempi_i_lock();
    int at = tempi_i_swapped_at(comm);
    if (at < 0 && tempi_i_nswapped == tempi_i_swapped_room) {
        int room = tempi_i_swapped_room ? 2 * tempi_i_swapped_room : 8;
        tempi_i_swapped_t *grown = realloc(tempi_i_swapped, sizeof *grown * (size_t)room);
        if (grown == NULL) { /* out of memory: the handler stays in place */
            tempi_i_unlock();
            return;
        }
        tempi_i_swapped = grown;
        tempi_i_swapped_room = room;
    }
    if (at < 0) {
        MPI_Errhandler handler = MPI_ERRHANDLER_NULL;
        if (PMPI_Comm_get_errhandler(comm, &handler) != MPI_SUCCESS) {
            tempi_i_unlock();
            return;
        }
        at = tempi_i_nswapped++;
        tempi_i_swapped[at] = (tempi_i_swapped_t){comm, handler, 0};
        PMPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
    }
    ++tempi_i_swapped[at].users;
    saved->handler = MPI_ERRORS_RETURN; /* marks "counted": tempi_i_loud gives it back */
    tempi_i_unlock();
}

static void tempi_i_loud_shared(tempi_i_quiet_t *saved)
{
    tempi_i_lock();
    int at = tempi_i_swapped_at(saved->comm);
    if (at >= 0 && --tempi_i_swapped[at].users == 0) {
        PMPI_Comm_set_errhandler(saved->comm, tempi_i_swapped[at].handler);
        PMPI_Errhandler_free(&tempi_i_swapped[at].handler);
        tempi_i_swapped[at] = tempi_i_swapped[--tempi_i_nswapped];
    }
    tempi_i_unlock();
}

void tempi_i_quiet(MPI_Comm comm, tempi_i_quiet_t *saved)
{
    saved->comm = comm;
    saved->handler = MPI_ERRHANDLER_NULL;
    if (comm == MPI_COMM_NULL)
        return;
    if (tempi_i_threaded) {
        tempi_i_quiet_shared(comm, saved);
        return;
    }
    if (PMPI_Comm_get_errhandler(comm, &saved->handler) != MPI_SUCCESS) {
        saved->handler = MPI_ERRHANDLER_NULL;
        return;
    }
    PMPI_Comm_set_errhandler(comm, MPI_ERRORS_RETURN);
}

void tempi_i_loud(tempi_i_quiet_t *saved)
{
    if (saved->handler == MPI_ERRHANDLER_NULL)
        return;
    if (tempi_i_threaded) {
        tempi_i_loud_shared(saved);
        return;
    }
    PMPI_Comm_set_errhandler(saved->comm, saved->handler);
    PMPI_Errhandler_free(&saved->handler);
}
