/*
 * Scatter-reduce-allgather for the dense codecs q8 and none: the rsag.h plan with this policy. The
 * owner re-encodes its sum with the call's codec and a level-2 residual, the two-level error
 * feedback of DeepSpeed's compressed all-reduce, so that over repeated calls the error of the
 * running sum stays bounded instead of settling at the re-encoding's rounding error.
 */
#define GCOMP_LOG_SUBSYS GCOMP_SUBSYS_COLL
#include <math.h>

#include "coll/algo.h"
#include "coll/rsag.h"
#include "core/log.h"

static size_t sra_bound(const gcomp_call_t *call, size_t len)
{
    return gcomp_coll_bound(&call->params, len);
}

static int sra_uses_l2(const gcomp_call_t *call)
{
    /* none drops nothing, so a level-2 residual would stay zero. */
    return call->params.error_feedback && call->params.codec == GCOMP_CODEC_Q8;
}

static void sra_reduce_encode(gcomp_call_t *call, size_t off, size_t len, float *acc, float *l2, gcomp_msg_t *m)
{
    gcomp_codec_params_t p = gcomp_rsag_reduce_params(call);
    p.error_feedback = l2 != NULL;
    gcomp_coll_encode(call, &p, off, len, acc, l2, m);
}

static const gcomp_rsag_policy_t sra_policy = {
    .name = "sra",
    .gather_bound = sra_bound, .reduce_bound = sra_bound,
    .uses_l2 = sra_uses_l2, .reduce_encode = sra_reduce_encode, .accept = NULL,
    .sparse_out = 0,
};

GCOMP_RSAG_ALGO_FUNCS(sra, &sra_policy)

static int sra_applies(gcomp_codec_t codec)
{
    return !gcomp_codec_is_sparse(codec);
}

/* P-1 contribution frames of n/P out, then the reduced frame to P-1 ranks. */
static void sra_estimate(const gcomp_codec_params_t *p, size_t n, int size, size_t stage_elems, gcomp_cost_t *cost_p)
{
    double P = size, N = (double)n, chunk = N / P;
    cost_p->bytes = 2 * (P - 1) * gcomp_cost_frame(p, chunk, 0);
    cost_p->msgs = 2 * (P - 1) * gcomp_cost_stages(n, stage_elems);
    cost_p->dense = P * chunk + N;
}

const gcomp_algo_ops_t gcomp_algo_sra_ops = {
    .id = GCOMP_ALGO_SRA, .name = "sra",
    .applies = sra_applies, .estimate = sra_estimate,
    .prepare = sra_prepare, .l2_len = sra_l2_len, .run = sra_run,
};
