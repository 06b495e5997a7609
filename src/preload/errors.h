/*
 * gcomp statuses as MPI errors: one error class for gcomp, one error code per status, each with
 * the string "gcomp: <status>: see the log line above" (the reason itself is logged where the
 * error is first seen). The only place where a gcomp_status_t becomes an MPI error code.
 */
#ifndef GCOMP_PRELOAD_ERRORS_H
#define GCOMP_PRELOAD_ERRORS_H

#include "gcomp.h"
#include "core/compiler.h"

/* The MPI error code of @p status (MPI_ERR_OTHER if the codes could not be registered). */
GCOMP_INTERNAL int gcomp_preload_error_code(gcomp_status_t status);

/*
 * Raise @p status on @p comm: call the communicator's error handler with its code (which aborts
 * under MPI_ERRORS_ARE_FATAL) and return the code for the wrapper to return.
 */
GCOMP_INTERNAL int gcomp_preload_raise(MPI_Comm comm, gcomp_status_t status);

#endif
