/*
 * The reduce-scatter / all-gather (rsag.c, on the pipeline engine of pipeline.h) shared by the
 * scatter-reduce-allgather algorithm (q8, none) and the sparse reduce-scatter (topk, topk-q8). They
 * differ only in how an owner re-encodes the sum of its chunk, which a policy says.
 *
 * Plan: the vector is cut into pipeline stages of call->stage_elems; each stage into P chunks of
 * equal length rounded up to 64 elements (so count < P leaves trailing chunks empty, and they carry
 * no message at all), chunk j owned by rank j. Per stage every rank encodes its P chunks (error
 * feedback over the whole vector) and sends chunk j to owner j; the owner sums the decoded P
 * contributions, its own included, in rank order 0..P-1 in fp32, re-encodes the sum, and sends
 * that frame to every rank; every rank, the owner too, decodes those same bytes into the output.
 * Up to call->depth stages are in flight (GCOMP_PIPELINE_DEPTH): encoding stage s overlaps the wire
 * and the decoding of the stages before it.
 */
#ifndef GCOMP_COLL_RSAG_H
#define GCOMP_COLL_RSAG_H

#include "coll/coll.h"

typedef struct gcomp_rsag_policy {
    const char *name;
    /* Receive capacity for a reduced frame of len elements. */
    size_t (*gather_bound)(const gcomp_call_t *call, size_t len);
    /* Capacity the owner encodes a reduced frame into (>= gather_bound). */
    size_t (*reduce_bound)(const gcomp_call_t *call, size_t len);
    /* 1 if the owner's re-encoding keeps a level-2 residual in this call. */
    int (*uses_l2)(const gcomp_call_t *call);
    /* Re-encode the owner's sum acc of chunk (off, len) into m (m->cap bytes; the frame must also
     * fit gather_bound), with level-2 residual l2 (NULL: none). acc may be changed. A failure
     * leaves m->len = 0 and a soft error. */
    void (*reduce_encode)(gcomp_call_t *call, size_t off, size_t len, float *acc, float *l2, gcomp_msg_t *m);
    /* Codecs a reduced frame may use; NULL: only the call's codec. */
    int (*accept)(const gcomp_call_t *call, gcomp_codec_t codec);
    /* 1 if reduced frames may be sparse (decoded onto zeros). */
    int sparse_out;
} gcomp_rsag_policy_t;

GCOMP_INTERNAL gcomp_status_t gcomp_rsag_prepare(gcomp_call_t *call, const gcomp_rsag_policy_t *pol,
                                                 size_t *l2_len_p);
GCOMP_INTERNAL gcomp_status_t gcomp_rsag_run(gcomp_call_t *call, const gcomp_rsag_policy_t *pol);
/* The level-2 residual length prepare would report, without reserving anything. */
GCOMP_INTERNAL size_t gcomp_rsag_l2_len(gcomp_call_t *call, const gcomp_rsag_policy_t *pol);

/* Defines the algorithm ops' prepare, l2_len and run of an algorithm on this engine: static
 * <prefix>_prepare, <prefix>_l2_len and <prefix>_run, bound to the policy pol (a pointer). */
#define GCOMP_RSAG_ALGO_FUNCS(prefix, pol) \
    static gcomp_status_t prefix##_prepare(gcomp_call_t *call, size_t *l2_len_p) \
    { \
        return gcomp_rsag_prepare(call, pol, l2_len_p); \
    } \
    static size_t prefix##_l2_len(gcomp_call_t *call) \
    { \
        return gcomp_rsag_l2_len(call, pol); \
    } \
    static gcomp_status_t prefix##_run(gcomp_call_t *call) \
    { \
        return gcomp_rsag_run(call, pol); \
    }

/* Parameters of an owner's re-encoding: the call's, with another stochastic-rounding key, so that
 * the owner's two roundings of one element are independent. */
static inline gcomp_codec_params_t gcomp_rsag_reduce_params(const gcomp_call_t *call)
{
    gcomp_codec_params_t p = call->params;
    p.seed = gcomp_splitmix64(p.seed ^ 0x6763726564756365ull);
    return p;
}

#endif
