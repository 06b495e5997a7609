/*
 * One compressed all-reduce call (allreduce.c): what it carries through its phases, from the plan
 * to the agreement on its outcome.
 */
#ifndef GCOMP_COLL_CALL_H
#define GCOMP_COLL_CALL_H

#include <stddef.h>
#include <stdint.h>

#include "gcomp.h"
#include "codec/codec.h"
#include "codec/isa.h"
#include "codec/space.h"
#include "core/compiler.h"
#include "coll/coll_vars.h"
#include "coll/context.h"
#include "coll/msg.h"
#include "coll/residual.h"

struct gcomp_call {
    gcomp_comm_t *ctx;
    gcomp_codec_params_t params;    /* contributions' encoding (error_feedback: residual in use) */
    gcomp_isa_t isa;
    gcomp_dtype_t dtype;
    gcomp_algo_t algo;
    gcomp_space_t space;            /* where src, dst, accumulators and residual are (space.c) */
    const float *src;               /* n fp32 inputs */
    float *dst;                     /* n fp32 outputs; may equal src (a region is read before written) */
    size_t n;
    size_t stage_elems;             /* pipeline stage, a multiple of 64 */
    int depth;                      /* stages in flight at most (GCOMP_PIPELINE_DEPTH) */
    uint64_t seq;
    gcomp_residual_txn_t txn;
    gcomp_msg_t *all_msgs;          /* every message of the call, to abandon on a hard error */
    size_t n_msgs;
    /* soft errors */
    gcomp_status_t local;           /* first error seen by this rank */
    int local_peer;                 /* the rank whose frame caused it, or -1 */
    int peer_failed;                /* a peer sent a stand-in for a frame it could not make */
    /* progress: absolute time after which a wait without progress gives up (moved on progress) */
    double deadline;
    /* statistics of this call */
    double t_encode, t_wire, t_decode;
    uint64_t sent, received, nonfinite;
};

/* gcomp_allreduce with the algorithm given (GCOMP_ALGO_AUTO: the cost model); tests use it. */
GCOMP_INTERNAL gcomp_status_t gcomp_allreduce_algo(gcomp_comm_t *ctx, const void *sendbuf, void *recvbuf,
                                                   size_t count, MPI_Datatype datatype, MPI_Op op,
                                                   gcomp_residual_t *residual,
                                                   const gcomp_codec_params_t *params, gcomp_algo_t algo);

/* Memory a residual will hold after a call of count elements with params (NULL: the configured
 * ones) on ctx: what gcomp_residual_bytes() reports after that call. The interposer reserves it
 * under GCOMP_EF_MAX_BYTES before the call. */
GCOMP_INTERNAL size_t gcomp_allreduce_residual_bytes(gcomp_comm_t *ctx, size_t count,
                                                     const gcomp_codec_params_t *params);

/* Stage of the pipeline for a call of n elements with GCOMP_PIPELINE_BYTES = pipeline_bytes: a
 * multiple of 64, its frames far below 2 GiB. */
GCOMP_INTERNAL size_t gcomp_coll_stage_elems(size_t pipeline_bytes, size_t n);

/* Pipeline slots an algorithm uses for a call of nstages stages: the configured depth, no more
 * than there are stages (and at least one). */
static inline int gcomp_coll_slots(const gcomp_call_t *call, size_t nstages)
{
    size_t d = (size_t)GCOMP_MAX(call->depth, 1);
    d = GCOMP_MIN(d, (size_t)GCOMP_PIPELINE_DEPTH_MAX);
    return (int)GCOMP_MAX(GCOMP_MIN(d, nstages), (size_t)1);
}

#endif
