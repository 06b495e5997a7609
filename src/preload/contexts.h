/*
 * One gcomp context per user communicator, created at the communicator's first compressed call and
 * destroyed when the user frees the communicator (MPI_Comm_free / MPI_Comm_disconnect) or at
 * MPI_Finalize. A mutex guards the map; it is never held across a collective call.
 */
#ifndef GCOMP_PRELOAD_CONTEXTS_H
#define GCOMP_PRELOAD_CONTEXTS_H

#include "gcomp.h"
#include "core/compiler.h"

/*
 * The context of @p comm, created on first use (collective over @p comm: every rank reaches this
 * in the same call, since every rank makes the same compressed call).
 * @return GCOMP_OK, or the status of gcomp_comm_create() (nothing is remembered on failure).
 */
GCOMP_INTERNAL gcomp_status_t gcomp_contexts_get(MPI_Comm comm, gcomp_comm_t **ctx_p);

/* Destroy the context of @p comm, if it has one; its counters are kept for the final statistics. */
GCOMP_INTERNAL void gcomp_contexts_drop(MPI_Comm comm);

/* Destroy every context (at MPI_Finalize, before PMPI_Finalize). */
GCOMP_INTERNAL void gcomp_contexts_drop_all(void);

/* Counters summed over every context this process had, live or dropped. */
typedef struct gcomp_contexts_totals {
    gcomp_stats_t stats;
    double dense_bytes; /* what a dense ring all-reduce would send: sum of 2(P-1)/P x bytes in */
    uint64_t contexts;  /* contexts created */
} gcomp_contexts_totals_t;

GCOMP_INTERNAL void gcomp_contexts_totals(gcomp_contexts_totals_t *totals_p);

#endif
