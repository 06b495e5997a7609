/*
 * Sparse reduce-scatter then all-gather, for topk and topk-q8 (rsag.h's reduce-scatter /
 * all-gather with this policy). Each rank sends owner j the top-k frame of chunk j; the owner sums the P sparse
 * contributions and re-encodes the sum whichever way is smaller (SparCML's switch):
 *   sparse-lossless: the topk codec, fp32 values, exact selection with k >= the sum's non-zeros,
 *                    so nothing is dropped; or
 *   dense:           none for topk (exact), q8 with a level-2 residual for topk-q8.
 * The union of P supports grows with P, so the sum of sparse vectors is often not sparse: with
 * ratio 0.5 and 4 ranks it is dense almost everywhere and the switch sends it dense.
 */
#define GCOMP_LOG_SUBSYS GCOMP_SUBSYS_COLL
#include <math.h>

#include "coll/algo.h"
#include "coll/rsag.h"
#include "codec/topk_select.h"
#include "core/log.h"

/* The dense codec an owner's sum may go out in. */
static gcomp_codec_t dense_of(gcomp_codec_t codec)
{
    return codec == GCOMP_CODEC_TOPK_Q8 ? GCOMP_CODEC_Q8 : GCOMP_CODEC_NONE;
}

static gcomp_codec_t dense_codec(const gcomp_call_t *call)
{
    return dense_of(call->params.codec);
}

static gcomp_codec_params_t dense_params(const gcomp_call_t *call, int ef)
{
    gcomp_codec_params_t p = gcomp_rsag_reduce_params(call);
    p.codec = dense_codec(call);
    p.error_feedback = ef;
    return p;
}

/* The sparse-lossless encoding of an owner's sum: fp32 values, exact selection of ratio. */
static void make_lossless(gcomp_codec_params_t *p, float ratio)
{
    p->codec = GCOMP_CODEC_TOPK;
    p->topk_values = GCOMP_VALUES_FP32;
    p->topk_select = GCOMP_TOPK_EXACT;
    p->topk_ratio = ratio;
    p->error_feedback = 0;
}

static gcomp_codec_params_t sparse_params(const gcomp_call_t *call, float ratio)
{
    gcomp_codec_params_t p = gcomp_rsag_reduce_params(call);
    make_lossless(&p, ratio);
    return p;
}

/* The smallest ratio whose k = ceil(ratio * len) is at least nnz: the float nearest nnz / len can
 * round below it, so step up until gcomp_topk_k (exact) agrees. */
static float ratio_for(uint64_t nnz, size_t len)
{
    if (nnz >= len) return 1.0f;
    float r = (float)((double)(nnz > 0 ? nnz : 1) / (double)len);
    while (r < 1.0f && gcomp_topk_k(r, len) < nnz) r = nextafterf(r, 2.0f);
    return r > 1.0f ? 1.0f : r;
}

static size_t rs_gather_bound(const gcomp_call_t *call, size_t len)
{
    gcomp_codec_params_t d = dense_params(call, 0);
    return gcomp_coll_bound(&d, len);
}

static size_t rs_reduce_bound(const gcomp_call_t *call, size_t len)
{
    gcomp_codec_params_t s = sparse_params(call, 1.0f);
    return GCOMP_MAX(rs_gather_bound(call, len), gcomp_coll_bound(&s, len));
}

static int rs_uses_l2(const gcomp_call_t *call)
{
    return call->params.error_feedback && call->params.codec == GCOMP_CODEC_TOPK_Q8;
}

static int rs_accept(const gcomp_call_t *call, gcomp_codec_t codec)
{
    return codec == GCOMP_CODEC_TOPK || codec == dense_codec(call);
}

static unsigned bit_width(uint64_t v)
{
    unsigned w = 0;
    while (v != 0) w++, v >>= 1;
    return w;
}

/* What decides the owner's frame: the sum's finite non-zeros, non-finite values, and the largest
 * delta of the index encoding (first index, then gaps). One pass, on the host or on the device. */
static gcomp_status_t count_sum(gcomp_call_t *call, const float *acc, size_t len, uint64_t *nnz_p,
                                uint64_t *nonfinite_p, uint64_t *max_delta_p)
{
    return gcomp_space_count(&call->space, acc, len, nnz_p, nonfinite_p, max_delta_p);
}

/* Frame sizes of both encodings of the sum, predicted from its counts. */
static void predict(const gcomp_call_t *call, size_t len, uint64_t nnz, uint64_t nonfinite, uint64_t max_delta,
                    size_t *sparse_p, size_t *dense_p)
{
    float ratio = ratio_for(nnz, len);
    gcomp_codec_params_t sp = sparse_params(call, ratio), dp = dense_params(call, 0);
    double k = (double)gcomp_topk_k(ratio, len), n = (double)len, exc = (double)nonfinite;
    *sparse_p = (size_t)gcomp_frame_bytes(&sp, n, k, bit_width(max_delta), exc);
    *dense_p = (size_t)gcomp_frame_bytes(&dp, n, 0, 0, exc);
}

/* Fold the level-2 residual into the sums first: the choice is about what is sent this time. */
static gcomp_status_t fold(gcomp_call_t *call, float *acc, float *l2, size_t len)
{
    if (l2 == NULL) return GCOMP_OK;
    return gcomp_space_fold(&call->space, acc, l2, len);
}

static void rs_reduce_encode(gcomp_call_t *call, size_t off, size_t len, float *acc, float *l2, gcomp_msg_t *m)
{
    gcomp_comm_t *ctx = call->ctx;
    uint64_t nnz = 0, nonfinite = 0, max_delta = 0;
    gcomp_status_t st = fold(call, acc, l2, len);
    if (st == GCOMP_OK) st = count_sum(call, acc, len, &nnz, &nonfinite, &max_delta);
    if (st != GCOMP_OK) {
        if (call->local == GCOMP_OK) call->local = st;
        m->len = 0; /* the stand-in for a frame this rank could not make */
        return;
    }
    size_t sparse_bytes, dense_bytes;
    predict(call, len, nnz, nonfinite, max_delta, &sparse_bytes, &dense_bytes);
    size_t gather_cap = rs_gather_bound(call, len);
    if (sparse_bytes < dense_bytes) {
        gcomp_codec_params_t sp = sparse_params(call, ratio_for(nnz, len));
        if (gcomp_frame_bound(&sp, len) <= m->cap) {
            gcomp_coll_encode(call, &sp, off, len, acc, NULL, m);
            if (m->len > 0 && m->len <= gather_cap) {
                ctx->reduced_sparse++;
                return;
            }
            /* An encoder error was logged and recorded; otherwise the prediction was off and the
             * frame would not fit the receivers' buffers: send it dense. */
            if (m->len == 0) return;
        }
    }
    gcomp_codec_params_t dp = dense_params(call, l2 != NULL);
    gcomp_coll_encode(call, &dp, off, len, acc, l2, m);
    ctx->reduced_dense++;
}

static const gcomp_rsag_policy_t rs_policy = {
    .name = "sparse-rs",
    .gather_bound = rs_gather_bound, .reduce_bound = rs_reduce_bound,
    .uses_l2 = rs_uses_l2, .reduce_encode = rs_reduce_encode, .accept = rs_accept,
    .sparse_out = 1,
};

GCOMP_RSAG_ALGO_FUNCS(rs, &rs_policy)

/* P-1 sparse chunks out; the reduced chunk holds the union of P supports, about 1 - (1 - ratio)^P
 * of it when they are independent, sent sparse or dense. */
static void rs_estimate(const gcomp_codec_params_t *p, size_t n, int size, size_t stage_elems, gcomp_cost_t *cost_p)
{
    double P = size, N = (double)n, chunk = N / P, ratio = p->topk_ratio;
    double kr = ceil((1 - pow(1 - ratio, P)) * chunk), k = ceil(ratio * chunk);
    gcomp_codec_params_t lossless = *p, dense = *p;
    make_lossless(&lossless, p->topk_ratio);
    dense.codec = dense_of(p->codec);
    double reduced = fmin(gcomp_cost_frame(&lossless, chunk, kr), gcomp_cost_frame(&dense, chunk, 0));
    cost_p->bytes = (P - 1) * (gcomp_cost_frame(p, chunk, k) + reduced);
    cost_p->msgs = 2 * (P - 1) * gcomp_cost_stages(n, stage_elems);
    cost_p->sparse = P * k;
    cost_p->dense = chunk + N; /* the owner's sum zeroed, the output decoded (dense or onto zeros) */
}

const gcomp_algo_ops_t gcomp_algo_sparse_rs_ops = {
    .id = GCOMP_ALGO_SPARSE_RS, .name = "sparse-rs",
    .applies = gcomp_codec_is_sparse, .estimate = rs_estimate,
    .prepare = rs_prepare, .l2_len = rs_l2_len, .run = rs_run,
};
