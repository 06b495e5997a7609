/*
 * The topk and topk-q8 codecs: keep about k = ceil(ratio * n) elements of g' = src + residual with
 * the largest magnitude, send their indices (delta-coded, bit-packed) and values (fp32, fp16 or q8),
 * and leave everything else, plus the value rounding error, in the residual.
 *
 * Selection (topk_select.h): params->topk_select picks exact top-k selection or the sampled
 * threshold of Deep Gradient Compression, whose kept count is held within [0.8k, 1.25k]:
 *   - a sampled threshold letting through more than 1.25k candidates is tightened to exactly k by
 *     selecting among the candidates (dropped candidates keep residual = g', which the pass stored);
 *   - fewer than 0.8k, or more than the candidate list holds, falls back to exact selection over the
 *     g' the pass already stored in the residual (or over src without error feedback), so nothing is
 *     added twice;
 *   - chunks too small for a trustworthy sample use exact selection directly.
 * Non-finite g' are never selected: they go to the frame's exception list in one in-order pass and
 * their residual ends as 0.
 */
#define GCOMP_LOG_SUBSYS GCOMP_SUBSYS_CODEC
#include <math.h>
#include <string.h>

#include "gcomp_config.h"
#include "codec/bitpack.h"
#include "codec/codec.h"
#include "codec/q8_ref.h"
#include "codec/topk_payload.h"
#include "codec/topk_select.h"
#include "core/log.h"

static gcomp_topk_values_t encode_kind(const gcomp_codec_params_t *params, gcomp_codec_t id)
{
    if (id == GCOMP_CODEC_TOPK_Q8) return GCOMP_TOPK_VALUES_Q8;
    /* frame.c sets GCOMP_WIRE_FLAG_VALUES_FP16 from the same parameter. */
    return params->topk_values == GCOMP_VALUES_FP16 ? GCOMP_TOPK_VALUES_F16 : GCOMP_TOPK_VALUES_F32;
}

/* Worst case: the most entries any selection keeps, each delta 32 bits wide. */
static size_t bound_common(const gcomp_codec_params_t *params, uint64_t n, gcomp_codec_t id)
{
    uint64_t kmax = gcomp_topk_kmax(params->topk_ratio, n);
    uint32_t bucket = params->q8_bucket ? params->q8_bucket : 1;
    return (size_t)gcomp_topk_payload_bytes(encode_kind(params, id), kmax, 32, bucket);
}

static size_t topk_payload_bound(const gcomp_codec_params_t *params, uint64_t n)
{
    return bound_common(params, n, GCOMP_CODEC_TOPK);
}

static size_t topk_q8_payload_bound(const gcomp_codec_params_t *params, uint64_t n)
{
    return bound_common(params, n, GCOMP_CODEC_TOPK_Q8);
}

static double payload_bytes_common(const gcomp_codec_params_t *params, double kept, double width,
                                   gcomp_codec_t id)
{
    uint32_t bucket = params->q8_bucket ? params->q8_bucket : 1;
    return (double)gcomp_topk_payload_bytes(encode_kind(params, id), (uint64_t)kept, (unsigned)width, bucket);
}

static double topk_payload_bytes(const gcomp_codec_params_t *params, double n, double kept, double width)
{
    (void)n;
    return payload_bytes_common(params, kept, width, GCOMP_CODEC_TOPK);
}

static double topk_q8_payload_bytes(const gcomp_codec_params_t *params, double n, double kept, double width)
{
    (void)n;
    return payload_bytes_common(params, kept, width, GCOMP_CODEC_TOPK_Q8);
}

static gcomp_topk_pass_fn_t pass_variant(gcomp_isa_t isa)
{
#if GCOMP_BUILD_AVX2
    /* AVX-512 machines all have AVX2; this pass is memory-bound, so no wider variant. */
    if (isa == GCOMP_ISA_AVX2 || isa == GCOMP_ISA_AVX512) return gcomp_topk_pass_avx2;
#endif
    return gcomp_topk_pass_scalar;
}

/* Choose the kept elements: indices ascending in w->idx, g' values in w->val. Also computes g' into
 * the residual and pushes the non-finite elements to the exception list. @return the count. */
static size_t select_kept(gcomp_encode_job_t *job, size_t k, gcomp_topk_work_t *w)
{
    const float *src = job->src;
    float *res = job->residual;
    size_t n = job->n;
    const float *g = res != NULL ? res : src; /* where g' lives once the data pass is done */
    gcomp_topk_pass_fn_t pass_fn = pass_variant(job->isa);
    gcomp_topk_pass_t pass = {
        .src = src, .residual = res, .n = n, .thr = GCOMP_ABS_KEY_NONFINITE,
        .idx = w->idx, .val = w->val, .cap = w->cap, .exc = job->exc,
    };
    uint32_t thr;
    /* Sampled: 128 expected hits or more (a 9% spread) keep the count within [0.8k, 1.25k] for all
     * but a tiny share of chunks (3.2 and 4 deviations at the usual 256 hits); with fewer, exact
     * selection costs little more than a sample would. */
    if (job->params->topk_select == GCOMP_TOPK_SAMPLED &&
        gcomp_topk_sample_threshold(src, res, n, k, 128, w, &thr)) {
        pass.thr = thr;
        pass_fn(&pass);
        size_t c = pass.count;
        if (!pass.overflow && 5 * c >= 4 * k && 4 * c <= 5 * k) return c;
        if (!pass.overflow && 4 * c > 5 * k) return gcomp_topk_trim(w->idx, w->val, c, k, w);
        /* The estimate missed by more than the window allows. g' is already in g (the residual
         * holds src + residual now), so select on it as it is; the exceptions are already pushed. */
        gcomp_trace("sampled top-k kept %zu of k = %zu%s: exact fallback", c, k,
                    pass.overflow ? " (candidate list full)" : "");
        return gcomp_topk_select_exact(g, n, k, 0, w);
    }

    /* Exact. A sampled lower bound aimed at 1.5 k lets the one pass also collect every element at or
     * above it; when that is at least k elements (and no more than the list holds, 2k + 4096), they
     * include the top k, which are selected among them with no second pass over the data. 64 hits
     * (12.5% spread) put both limits 2.7 deviations away. The result is the same either way: the
     * sample decides only how fast it is found. */
    size_t k_bound = k + k / 2 < n ? k + k / 2 : n;
    if (n > GCOMP_TOPK_SMALL_N && gcomp_topk_sample_threshold(src, res, n, k_bound, 64, w, &thr)) {
        pass.thr = thr;
        pass_fn(&pass);
        if (!pass.overflow && pass.count >= k) return gcomp_topk_trim(w->idx, w->val, pass.count, k, w);
        gcomp_trace("exact top-k bound collected %zu%s for k = %zu: radix select", pass.count,
                    pass.overflow ? "+" : "", k);
        return gcomp_topk_select_exact(g, n, k, 0, w);
    }
    /* No bound: the pass histograms the keys for the radix select (large n only). */
    int use_hist = n > GCOMP_TOPK_SMALL_N;
    pass.hist = use_hist ? w->hist : NULL;
    pass_fn(&pass);
    return gcomp_topk_select_exact(g, n, k, use_hist, w);
}

/* The residual updates below land a cache line or more apart in a residual far larger than the
 * cache, long after the data pass evicted those lines: prefetch them a few entries ahead so that the
 * misses overlap instead of each stalling the loop. */
#define RESIDUAL_PREFETCH 16

static inline void prefetch_residual(float *res, const uint32_t *idx, size_t j, size_t kept)
{
    if (res != NULL && j + RESIDUAL_PREFETCH < kept) __builtin_prefetch(res + idx[j + RESIDUAL_PREFETCH], 1);
}

/* Values with error feedback: residual[idx] = g' - what the receiver will decode. */
static void write_f32(uint8_t *out, const uint32_t *idx, const float *val, size_t kept, float *res)
{
    for (size_t j = 0; j < kept; j++) {
        prefetch_residual(res, idx, j, kept);
        gcomp_store_le32(out + 4 * j, gcomp_f32_bits(val[j]));
        if (res != NULL) res[idx[j]] = 0.0f;
    }
}

static void write_f16(uint8_t *out, const uint32_t *idx, const float *val, size_t kept, float *res)
{
    for (size_t j = 0; j < kept; j++) {
        prefetch_residual(res, idx, j, kept);
        float v = val[j];
        /* Clamped so that no Inf reaches the wire; the excess stays in the residual. */
        float c = v > GCOMP_F16_MAX ? GCOMP_F16_MAX : v < -GCOMP_F16_MAX ? -GCOMP_F16_MAX : v;
        uint16_t h = gcomp_f32_to_f16(c);
        gcomp_store_le16(out + 2 * j, h);
        if (res != NULL) res[idx[j]] = v - gcomp_f16_to_f32(h);
    }
}

/* q8 over the list of kept values in buckets of B; the random bits of an element depend on its
 * global index, as in the q8 codec, so a GPU twin produces the same bytes. */
static void write_q8(const gcomp_encode_job_t *job, uint8_t *out, const uint32_t *idx, const float *val,
                     size_t kept, float *res)
{
    const gcomp_codec_params_t *params = job->params;
    const size_t bucket = params->q8_bucket;
    const int stochastic = params->rounding == GCOMP_ROUND_STOCHASTIC;
    size_t nb = (kept + bucket - 1) / bucket;
    uint8_t *qout = out + 4 * nb;
    for (size_t b = 0; b < nb; b++) {
        size_t j0 = b * bucket, j1 = j0 + bucket < kept ? j0 + bucket : kept;
        float absmax = 0.0f;
        for (size_t j = j0; j < j1; j++) absmax = fmaxf(absmax, fabsf(val[j]));
        float scale = gcomp_q8_scale(absmax), inv = gcomp_q8_inv(absmax);
        int8_t qmax = gcomp_q8_qmax(absmax);
        gcomp_store_le32(out + 4 * b, gcomp_f32_bits(scale));
        for (size_t j = j0; j < j1; j++) {
            prefetch_residual(res, idx, j, kept);
            uint32_t bits = stochastic ? gcomp_rng_bits(job->key, job->base + idx[j]) : 0;
            int8_t q = gcomp_q8_quantize(val[j], inv, params->rounding, bits);
            q = q > qmax ? qmax : q < -qmax ? (int8_t)-qmax : q;
            qout[j] = (uint8_t)q;
            if (res != NULL) res[idx[j]] = val[j] - gcomp_q8_dequantize(q, scale);
        }
    }
}

/* Write the payload for the kept list (idx is turned into deltas in place). @return its length. */
static size_t write_payload(const gcomp_encode_job_t *job, gcomp_topk_values_t kind, uint32_t *idx,
                            const float *val, size_t kept)
{
    uint8_t *out = job->payload;
    /* The width of the largest delta is the width of all deltas or-ed together. */
    uint32_t all = kept ? idx[0] : 0;
    for (size_t j = 1; j < kept; j++) all |= idx[j] - idx[j - 1] - 1;
    unsigned width = gcomp_bit_width(all);
    out[0] = (uint8_t)width;
    out[1] = out[2] = out[3] = 0;
    size_t index_bytes = (size_t)gcomp_bitpack_bytes(kept, width);
    uint8_t *vals = out + GCOMP_TOPK_INDEX_HEADER_LEN + index_bytes;
    switch (kind) {
    case GCOMP_TOPK_VALUES_F32: write_f32(vals, idx, val, kept, job->residual); break;
    case GCOMP_TOPK_VALUES_F16: write_f16(vals, idx, val, kept, job->residual); break;
    case GCOMP_TOPK_VALUES_Q8: write_q8(job, vals, idx, val, kept, job->residual); break;
    }
    for (size_t j = kept; j-- > 1;) idx[j] = idx[j] - idx[j - 1] - 1;
    gcomp_bitpack(out + GCOMP_TOPK_INDEX_HEADER_LEN, idx, kept, width);
    return (size_t)gcomp_topk_payload_bytes(kind, kept, width, job->params->q8_bucket);
}

/* Non-finite g' were left in the residual while selection ran (it skips them by key); zero them now.
 * The exception list names them all unless it overflowed, in which case scan for them. */
static void clear_exception_residuals(float *res, size_t n, const gcomp_exc_sink_t *exc, uint64_t count0,
                                      uint64_t seen0)
{
    if (exc->seen - seen0 == exc->count - count0) {
        for (uint64_t e = count0; e < exc->count; e++)
            res[gcomp_load_le32(exc->out + e * GCOMP_WIRE_EXC_LEN)] = 0.0f;
        return;
    }
    for (size_t i = 0; i < n; i++)
        if (gcomp_abs_key(res[i]) >= GCOMP_ABS_KEY_NONFINITE) res[i] = 0.0f;
}

static gcomp_status_t encode_common(gcomp_encode_job_t *job, gcomp_codec_t id)
{
    size_t n = job->n;
    if (n > GCOMP_WIRE_MAX_COUNT) {
        gcomp_warn("top-k chunk of %zu elements exceeds the frame limit", n);
        return GCOMP_ERR_INVALID;
    }
    size_t k = (size_t)gcomp_topk_k(job->params->topk_ratio, n);
    GCOMP_CHECK(gcomp_scratch_reserve(job->scratch, gcomp_topk_work_bytes(n, k)));
    gcomp_topk_work_t w;
    gcomp_topk_work_carve(&w, job->scratch->ptr, n, k);

    uint64_t count0 = job->exc->count, seen0 = job->exc->seen;
    size_t kept = select_kept(job, k, &w);
    job->payload_len = write_payload(job, encode_kind(job->params, id), w.idx, w.val, kept);
    if (job->residual != NULL && job->exc->seen != seen0)
        clear_exception_residuals(job->residual, n, job->exc, count0, seen0);
    job->kept = kept;
    return GCOMP_OK;
}

static gcomp_status_t topk_encode(gcomp_encode_job_t *job)
{
    return encode_common(job, GCOMP_CODEC_TOPK);
}

static gcomp_status_t topk_q8_encode(gcomp_encode_job_t *job)
{
    return encode_common(job, GCOMP_CODEC_TOPK_Q8);
}

static gcomp_status_t topk_validate(gcomp_frame_view_t *view, unsigned checks)
{
    int fp16 = (view->h.flags & GCOMP_WIRE_FLAG_VALUES_FP16) != 0;
    return gcomp_topk_validate(view, fp16 ? GCOMP_TOPK_VALUES_F16 : GCOMP_TOPK_VALUES_F32, checks);
}

static gcomp_status_t topk_q8_validate(gcomp_frame_view_t *view, unsigned checks)
{
    if (view->h.flags & GCOMP_WIRE_FLAG_VALUES_FP16) {
        gcomp_warn("rejecting topk-q8 payload from rank %d: fp16 value flag set", view->h.rank);
        return GCOMP_ERR_FRAME;
    }
    return gcomp_topk_validate(view, GCOMP_TOPK_VALUES_Q8, checks);
}

const gcomp_codec_ops_t gcomp_codec_topk_ops = {
    .name = "topk", .id = GCOMP_CODEC_TOPK,
    .payload_bound = topk_payload_bound, .payload_bytes = topk_payload_bytes,
    .encode = topk_encode, .validate = topk_validate, .decode = gcomp_topk_decode,
};

const gcomp_codec_ops_t gcomp_codec_topk_q8_ops = {
    .name = "topk-q8", .id = GCOMP_CODEC_TOPK_Q8,
    .payload_bound = topk_q8_payload_bound, .payload_bytes = topk_q8_payload_bytes,
    .encode = topk_q8_encode, .validate = topk_q8_validate, .decode = gcomp_topk_decode,
};
