/*
 * The residual registry: the interposer's error-feedback state, one residual per gradient buffer,
 * keyed by (communicator, recvbuf address). A call with a different count or datatype on the same
 * key resets the residual. Total residual memory is capped by GCOMP_EF_MAX_BYTES: the least recently
 * used residuals are evicted (logged at info level) to make room. Residuals are freed with their
 * communicator (MPI_Comm_free) and at MPI_Finalize.
 */
#ifndef GCOMP_PRELOAD_REGISTRY_H
#define GCOMP_PRELOAD_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "gcomp.h"
#include "core/compiler.h"

typedef struct gcomp_ef_entry gcomp_ef_entry_t;

/*
 * The residual for a call on (@p comm, @p buf), marked in use until gcomp_registry_release().
 * @p residual_bytes is what the residual will hold after the call (gcomp_allreduce_residual_bytes):
 * room for it and the entry is made under GCOMP_EF_MAX_BYTES before the call.
 * Sets *residual_p to NULL (no error feedback for this call) when GCOMP_EF=0, when one residual of
 * this size could not fit under the cap, or when out of memory; *entry_p may then be NULL too.
 */
GCOMP_INTERNAL void gcomp_registry_acquire(MPI_Comm comm, void *buf, size_t count, MPI_Datatype datatype,
                                           size_t residual_bytes, gcomp_ef_entry_t **entry_p,
                                           gcomp_residual_t **residual_p);

/* Done with the entry's residual: account its size and evict down to the cap. Accepts NULL. */
GCOMP_INTERNAL void gcomp_registry_release(gcomp_ef_entry_t *entry);

/* Free every residual of @p comm. */
GCOMP_INTERNAL void gcomp_registry_drop_comm(MPI_Comm comm);

/* Free every residual. */
GCOMP_INTERNAL void gcomp_registry_drop_all(void);

typedef struct gcomp_registry_stats {
    uint64_t entries;     /* buffers tracked now (with or without a residual) */
    uint64_t bytes;       /* their memory now: residuals and the registry's own entries */
    uint64_t peak_bytes;  /* most memory held at once */
    uint64_t evictions;   /* residuals evicted to stay under the cap */
    uint64_t resets;      /* residuals reset by a changed count or datatype */
} gcomp_registry_stats_t;

GCOMP_INTERNAL void gcomp_registry_stats(gcomp_registry_stats_t *stats_p);

#endif
