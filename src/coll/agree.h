/*
 * The two agreements of every call (agree.c): before data moves, every rank's fingerprint of the
 * call (what it is about to do) is compared, and after, every rank's status, so that all ranks
 * return the same status and commit or undo their residuals together.
 */
#ifndef GCOMP_COLL_AGREE_H
#define GCOMP_COLL_AGREE_H

#include <stdint.h>

#include "gcomp.h"
#include "core/compiler.h"

typedef struct gcomp_call gcomp_call_t;

/* Fingerprint fields every rank must agree on before data moves (agree.c). */
enum {
    GCOMP_FP_STATUS = 0, /* local status so far: an error on any rank stops the call on all */
    GCOMP_FP_COUNT,
    GCOMP_FP_DTYPE,
    GCOMP_FP_CODEC,
    GCOMP_FP_EF,
    GCOMP_FP_BUCKET,
    GCOMP_FP_ROUNDING,
    GCOMP_FP_RATIO,
    GCOMP_FP_SELECT,
    GCOMP_FP_VALUES,
    GCOMP_FP_ZSTD,
    GCOMP_FP_CHECKSUM,
    GCOMP_FP_SEED,
    GCOMP_FP_ALGO,
    GCOMP_FP_STAGE,
    GCOMP_FP_COUNT_OF
};

/* Agreement buffers: MPI may still own them after a timeout, so they live apart from the context. */
typedef struct gcomp_agree_mem {
    int64_t in[3 * GCOMP_FP_COUNT_OF];
    int64_t out[3 * GCOMP_FP_COUNT_OF];
    int64_t status_in;
    int64_t status_out;
    MPI_Request req;
} gcomp_agree_mem_t;

/* agree.c: fingerprint agreement before data moves and status agreement after. Both return a hard
 * status (timeout, MPI) and the agreed outcome in *agreed_p. */
GCOMP_INTERNAL gcomp_status_t gcomp_coll_agree_call(gcomp_call_t *call, gcomp_status_t local,
                                                    gcomp_status_t *agreed_p);
GCOMP_INTERNAL gcomp_status_t gcomp_coll_agree_status(gcomp_call_t *call, gcomp_status_t *agreed_p);

#endif
