/*
 * Frames from device buffers: the encode half of src/codec/frame.c's twin (frame_cuda.c decodes).
 * The codec payload and the exception list are produced by the steps of kernels.h on the device; the
 * header, the zstd stage and the checksum are assembled on the host by gcomp_frame_finish, as the CPU
 * codecs do, so the bytes are the CPU codecs' bytes.
 *
 * One encode enqueues every step, then synchronises once to read the control block (how many kept,
 * how many non-finite); topk, whose payload length is known only then, copies its payload after that.
 * The top-k steps follow topk_select.c's plan: sampled threshold, fused pass, then keep, trim or an
 * exact selection, each decided on the device (topk_select.cu).
 */
#define GCOMP_LOG_SUBSYS GCOMP_SUBSYS_CUDA
#include <string.h>

#include "codec/codec.h"
#include "codec/topk_payload.h"
#include "codec/topk_select.h"
#include "core/log.h"
#include "ctx.h"
#include "elem.h"

static uint64_t tiles(uint64_t n)
{
    return (n + GCOMP_CU_TILE - 1) / GCOMP_CU_TILE;
}

typedef struct enc {
    gcomp_cuda_ctx_t *ctx;
    const gcomp_codec_params_t *params;
    const void *src;
    int dtype;
    float *res;
    uint64_t n;
    gcomp_rng_key_t key;
    uint64_t base;
    uint64_t exc_cap;
    uint8_t *exc_list;   /* context memory */
    uint64_t *status;
    /* topk */
    uint64_t k, kmax, cap;
    int kind;
} enc_t;

static gcomp_status_t topk_steps(enc_t *e, uint8_t *payload_dev)
{
    gcomp_cuda_ctx_t *ctx = e->ctx;
    const gcomp_cu_backend_t *be = ctx->be;
    void *s = ctx->stream;
    gcomp_cu_ctl_t *ctl = ctx->ctl;
    uint32_t *cand_idx, *kept_idx, *keys = NULL, *hist;
    float *cand_val, *kept_val;
    GCOMP_CHECK(gcomp_cuda_ctx_reserve(ctx, GCOMP_CU_BUF_CAND_IDX, e->cap * 4 + 4, (void **)&cand_idx));
    GCOMP_CHECK(gcomp_cuda_ctx_reserve(ctx, GCOMP_CU_BUF_CAND_VAL, e->cap * 4 + 4, (void **)&cand_val));
    GCOMP_CHECK(gcomp_cuda_ctx_reserve(ctx, GCOMP_CU_BUF_KEPT_IDX, e->kmax * 4 + 4, (void **)&kept_idx));
    GCOMP_CHECK(gcomp_cuda_ctx_reserve(ctx, GCOMP_CU_BUF_KEPT_VAL, e->kmax * 4 + 4, (void **)&kept_val));
    GCOMP_CHECK(gcomp_cuda_ctx_reserve(ctx, GCOMP_CU_BUF_HIST, 2 * GCOMP_CU_HIST_TOTAL * 4, (void **)&hist));
    uint32_t *hist0 = hist, *hist1 = hist + GCOMP_CU_HIST_TOTAL;
    GCOMP_CU_CALL(ctx, be->memset(s, hist, 0, 2 * GCOMP_CU_HIST_TOTAL * 4), "histogram clear");

    const gcomp_cu_source_t full_src = {.kind = GCOMP_CU_SRC_FULL, .g = e->src, .dtype = e->dtype, .n = e->n};
    /* Once g' is computed it lives in the residual (fp32); without error feedback it is the source. */
    const gcomp_cu_source_t full_g = {.kind = GCOMP_CU_SRC_FULL,
                                      .g = e->res ? (const void *)e->res : e->src,
                                      .dtype = e->res ? GCOMP_CU_F32 : e->dtype,
                                      .n = e->n};
    const gcomp_cu_source_t cand = {.kind = GCOMP_CU_SRC_CAND, .n = e->cap, .idx = cand_idx, .val = cand_val};
    const uint32_t in_cand = GCOMP_CU_IN(GCOMP_CU_MODE_EX_CAND) | GCOMP_CU_IN(GCOMP_CU_MODE_TRIM);
    const uint32_t in_full = GCOMP_CU_IN(GCOMP_CU_MODE_EX_FULL);

    uint64_t ns = 0, stride = 0;
    if (e->params->topk_select == GCOMP_TOPK_SAMPLED && gcomp_cu_sample_plan(e->n, e->k, &ns, &stride)) {
        GCOMP_CHECK(gcomp_cuda_ctx_reserve(ctx, GCOMP_CU_BUF_KEYS, ns * 4, (void **)&keys));
        gcomp_cu_topk_sample_t sa = {.src = e->src, .dtype = e->dtype, .res = e->res, .s = ns, .stride = stride,
                                     .keys = keys};
        GCOMP_CU_CALL(ctx, be->topk_sample(s, &sa), "top-k sample");
        const gcomp_cu_source_t ksrc = {.kind = GCOMP_CU_SRC_KEYS, .n = ns, .keys = keys};
        for (int level = 0; level < GCOMP_CU_LEVELS; level++) {
            gcomp_cu_topk_hist_t h = {.src = ksrc, .sel = 0, .level = level,
                                      .hist = hist0 + gcomp_cu_level_offset(level), .ctl = ctl,
                                      .run_if = GCOMP_CU_IN(GCOMP_CU_MODE_PASS)};
            GCOMP_CU_CALL(ctx, be->topk_hist(s, &h), "top-k sample histogram");
            gcomp_cu_topk_pick_t p = {.sel = 0, .level = level,
                                      .flavour = level == 0 ? GCOMP_CU_PICK_SAMPLE : GCOMP_CU_PICK_PLAIN,
                                      .hist = h.hist, .k = e->k, .n = e->n, .s = ns, .ctl = ctl,
                                      .run_if = GCOMP_CU_IN(GCOMP_CU_MODE_PASS)};
            GCOMP_CU_CALL(ctx, be->topk_pick(s, &p), "top-k sample threshold");
        }
        gcomp_cu_topk_compact_t pass = {.op = GCOMP_CU_COMPACT_PASS, .src = full_src, .res = e->res,
                                        .out_idx = cand_idx, .out_val = cand_val, .cap = e->cap,
                                        .count = &ctl->cand_count, .ctl = ctl, .status = e->status,
                                        .run_if = GCOMP_CU_IN(GCOMP_CU_MODE_PASS)};
        GCOMP_CU_CALL(ctx, be->topk_compact(s, &pass), "top-k pass");
        gcomp_cu_topk_decide_t d = {.cap = e->cap, .k = e->k, .ctl = ctl};
        GCOMP_CU_CALL(ctx, be->topk_decide(s, &d), "top-k decision");
    }

    /* Exact selection: from the start (PREP), over the g' the pass stored (EXACT), or the sampled
     * path's trim to k among its candidates (TRIM). */
    gcomp_cu_topk_prep_t prep = {.src = e->src, .dtype = e->dtype, .res = e->res, .n = e->n, .hist = hist1,
                                 .ctl = ctl, .run_if = GCOMP_CU_IN(GCOMP_CU_MODE_PREP)};
    GCOMP_CU_CALL(ctx, be->topk_prep(s, &prep), "top-k g' pass");
    gcomp_cu_topk_hist_t h0 = {.src = full_g, .sel = 1, .level = 0, .hist = hist1, .ctl = ctl,
                               .run_if = GCOMP_CU_IN(GCOMP_CU_MODE_EXACT)};
    GCOMP_CU_CALL(ctx, be->topk_hist(s, &h0), "top-k histogram");
    gcomp_cu_topk_pick_t p0 = {.sel = 1, .level = 0, .flavour = GCOMP_CU_PICK_MAIN, .hist = hist1, .k = e->k,
                               .n = e->n, .cand_cap = e->cap, .ctl = ctl,
                               .run_if = GCOMP_CU_IN(GCOMP_CU_MODE_PREP) | GCOMP_CU_IN(GCOMP_CU_MODE_EXACT)};
    GCOMP_CU_CALL(ctx, be->topk_pick(s, &p0), "top-k select");
    h0.src = cand;
    h0.run_if = GCOMP_CU_IN(GCOMP_CU_MODE_TRIM);
    GCOMP_CU_CALL(ctx, be->topk_hist(s, &h0), "top-k histogram");
    p0.flavour = GCOMP_CU_PICK_PLAIN;
    p0.run_if = GCOMP_CU_IN(GCOMP_CU_MODE_TRIM);
    GCOMP_CU_CALL(ctx, be->topk_pick(s, &p0), "top-k select");

    gcomp_cu_topk_compact_t c = {.op = GCOMP_CU_COMPACT_COLLECT, .src = full_g, .out_idx = cand_idx,
                                 .out_val = cand_val, .cap = e->cap, .count = &ctl->cand_count, .ctl = ctl,
                                 .status = e->status, .run_if = GCOMP_CU_IN(GCOMP_CU_MODE_EX_CAND)};
    GCOMP_CU_CALL(ctx, be->topk_compact(s, &c), "top-k candidates");
    for (int level = 1; level < GCOMP_CU_LEVELS; level++) {
        gcomp_cu_topk_hist_t h = {.src = cand, .sel = 1, .level = level,
                                  .hist = hist1 + gcomp_cu_level_offset(level), .ctl = ctl, .run_if = in_cand};
        GCOMP_CU_CALL(ctx, be->topk_hist(s, &h), "top-k histogram");
        h.src = full_g;
        h.run_if = in_full;
        GCOMP_CU_CALL(ctx, be->topk_hist(s, &h), "top-k histogram");
        gcomp_cu_topk_pick_t p = {.sel = 1, .level = level, .flavour = GCOMP_CU_PICK_PLAIN, .hist = h.hist,
                                  .ctl = ctl, .run_if = in_cand | in_full};
        GCOMP_CU_CALL(ctx, be->topk_pick(s, &p), "top-k select");
    }
    gcomp_cu_topk_compact_t t = {.op = GCOMP_CU_COMPACT_TIES, .src = cand, .count = &ctl->ties_found, .ctl = ctl,
                                 .status = e->status, .run_if = in_cand};
    GCOMP_CU_CALL(ctx, be->topk_compact(s, &t), "top-k ties");
    t.src = full_g;
    t.run_if = in_full;
    GCOMP_CU_CALL(ctx, be->topk_compact(s, &t), "top-k ties");
    gcomp_cu_topk_compact_t f = {.op = GCOMP_CU_COMPACT_FINAL, .src = cand, .out_idx = kept_idx,
                                 .out_val = kept_val, .cap = e->kmax, .count = &ctl->kept, .ctl = ctl,
                                 .status = e->status, .run_if = in_cand};
    GCOMP_CU_CALL(ctx, be->topk_compact(s, &f), "top-k kept list");
    f.src = full_g;
    f.run_if = in_full | GCOMP_CU_IN(GCOMP_CU_MODE_EX_ALL);
    GCOMP_CU_CALL(ctx, be->topk_compact(s, &f), "top-k kept list");

    gcomp_cu_topk_payload_t pl = {.cand_idx = cand_idx, .kept_idx = kept_idx, .cand_val = cand_val,
                                  .kept_val = kept_val, .kind = e->kind, .bucket = e->params->q8_bucket,
                                  .nearest = e->params->rounding == GCOMP_ROUND_NEAREST, .k0 = e->key.k0,
                                  .k1 = e->key.k1, .base = e->base, .res = e->res, .payload = payload_dev,
                                  .ctl = ctl};
    GCOMP_CU_CALL(ctx, be->topk_payload(s, &pl), "top-k payload");
    return GCOMP_OK;
}

static gcomp_status_t check_where(const gcomp_frame_info_t *w, const void *src, gcomp_dtype_t src_dtype)
{
    GCOMP_CHECK(gcomp_frame_check_where(w, src));
    if (src_dtype == GCOMP_DTYPE_FP64) {
        gcomp_warn("fp64 device buffers are not supported: convert them to fp32 first");
        return GCOMP_ERR_UNSUPPORTED;
    }
    return GCOMP_OK;
}

static gcomp_status_t encode_payload(enc_t *e, uint8_t *out, size_t *payload_len_p, uint64_t *kept_p,
                                     uint64_t *seen_p, uint64_t *listed_p)
{
    gcomp_cuda_ctx_t *ctx = e->ctx;
    const gcomp_cu_backend_t *be = ctx->be;
    void *s = ctx->stream;
    const gcomp_codec_params_t *params = e->params;
    uint64_t n = e->n;
    const gcomp_codec_ops_t *ops = gcomp_codec_ops_get(params->codec);
    size_t bound = ops->payload_bound(params, n);
    uint8_t *payload;
    GCOMP_CHECK(gcomp_cuda_ctx_reserve(ctx, GCOMP_CU_BUF_PAYLOAD, bound + 8, (void **)&payload));
    GCOMP_CHECK(gcomp_cuda_ctx_reserve(ctx, GCOMP_CU_BUF_EXC, e->exc_cap * GCOMP_WIRE_EXC_LEN + 8,
                                       (void **)&e->exc_list));
    GCOMP_CHECK(gcomp_cuda_ctx_reserve(ctx, GCOMP_CU_BUF_STATUS, tiles(n) * 8 + 8, (void **)&e->status));

    gcomp_cu_ctl_t *init = ctx->ctl_host;
    memset(init, 0, sizeof(*init));
    init->sel[0].cutoff = init->sel[1].cutoff = UINT64_MAX;
    init->sel[1].r = e->k;
    int sampled = 0;
    uint64_t unused_s, unused_stride;
    if (params->codec == GCOMP_CODEC_TOPK || params->codec == GCOMP_CODEC_TOPK_Q8)
        sampled = params->topk_select == GCOMP_TOPK_SAMPLED && gcomp_cu_sample_plan(n, e->k, &unused_s, &unused_stride);
    init->mode = sampled ? GCOMP_CU_MODE_PASS : GCOMP_CU_MODE_PREP;
    GCOMP_CU_CALL(ctx, be->copy(s, ctx->ctl, init, sizeof(*init)), "control block upload");

    gcomp_cuda_ctx_mark(ctx, 0);
    size_t payload_len = 0;
    int known_len = 1;
    switch (params->codec) {
    case GCOMP_CODEC_NONE: {
        gcomp_cu_none_t a = {.src = e->src, .dtype = e->dtype, .res = e->res, .n = n, .out = payload};
        GCOMP_CU_CALL(ctx, be->none_encode(s, &a), "none encode");
        payload_len = 4 * n;
        break;
    }
    case GCOMP_CODEC_Q8: {
        uint64_t nb = (n + params->q8_bucket - 1) / params->q8_bucket;
        gcomp_cu_q8_encode_t a = {.src = e->src, .dtype = e->dtype, .res = e->res, .n = n,
                                  .bucket = params->q8_bucket, .nearest = params->rounding == GCOMP_ROUND_NEAREST,
                                  .k0 = e->key.k0, .k1 = e->key.k1, .base = e->base, .scales = payload,
                                  .q = (int8_t *)(payload + 4 * nb), .ctl = ctx->ctl};
        if (n > 0) GCOMP_CU_CALL(ctx, be->q8_encode(s, &a), "q8 encode");
        payload_len = 4 * nb + n;
        break;
    }
    default:
        known_len = 0;
        if (n > 0) {
            GCOMP_CHECK(topk_steps(e, payload));
        } else {
            GCOMP_CU_CALL(ctx, be->memset(s, payload, 0, 4), "top-k payload");
        }
        break;
    }
    if (params->codec != GCOMP_CODEC_NONE && n > 0) {
        gcomp_cu_exc_collect_t x = {.g = e->res ? (const void *)e->res : e->src,
                                    .dtype = e->res ? GCOMP_CU_F32 : e->dtype, .res = e->res, .n = n,
                                    .cap = e->exc_cap, .list = e->exc_list, .ctl = ctx->ctl, .status = e->status};
        GCOMP_CU_CALL(ctx, be->exc_collect(s, &x), "exception list");
    }
    gcomp_cuda_ctx_mark(ctx, 1);
    GCOMP_CU_CALL(ctx, be->copy(s, ctx->ctl_host, ctx->ctl, sizeof(gcomp_cu_ctl_t)), "control block download");
    if (known_len) GCOMP_CU_CALL(ctx, be->copy(s, out, payload, payload_len), "payload download");
    GCOMP_CU_CALL(ctx, be->sync(s), "stream synchronize");
    gcomp_cuda_ctx_measure(ctx);

    const gcomp_cu_ctl_t *got = ctx->ctl_host;
    uint64_t kept = n;
    if (!known_len) {
        kept = n > 0 ? got->kept : 0;
        unsigned width = gcomp_cu_bit_width(got->or_deltas);
        if (n == 0) width = 0;
        payload_len = (size_t)gcomp_topk_payload_bytes((gcomp_topk_values_t)e->kind, kept, width,
                                                       params->q8_bucket);
        if (payload_len > bound || kept > e->kmax) {
            gcomp_error("cuda top-k kept %llu (bound %llu), payload %zu bytes (bound %zu)",
                        (unsigned long long)kept, (unsigned long long)e->kmax, payload_len, bound);
            return GCOMP_ERR_INTERNAL;
        }
        GCOMP_CU_CALL(ctx, be->copy(s, out, payload, payload_len), "payload download");
    }
    uint64_t seen = params->codec == GCOMP_CODEC_NONE ? 0 : got->exc_seen;
    uint64_t listed = seen < e->exc_cap ? seen : e->exc_cap;
    if (listed > 0)
        GCOMP_CU_CALL(ctx, be->copy(s, out + payload_len, e->exc_list, listed * GCOMP_WIRE_EXC_LEN),
                      "exception list download");
    if (!known_len || listed > 0) GCOMP_CU_CALL(ctx, be->sync(s), "stream synchronize");
    *payload_len_p = payload_len;
    *kept_p = kept;
    *seen_p = seen;
    *listed_p = listed;
    return GCOMP_OK;
}

/* src holds elements of src_dtype; the frame says where->dtype (the buffer's type, which the
 * collectives widen to fp32 before encoding, as the CPU path does). */
static gcomp_status_t frame_encode(gcomp_cuda_ctx_t *ctx, const gcomp_codec_params_t *params,
                                   const gcomp_frame_info_t *where, const void *src, gcomp_dtype_t src_dtype,
                                   float *residual, void *frame, size_t capacity, gcomp_frame_info_t *info_p)
{
    if (ctx == NULL || frame == NULL) return GCOMP_ERR_INVALID;
    if (gcomp_codec_params_check(params) != GCOMP_OK) return GCOMP_ERR_INVALID;
    GCOMP_CHECK(check_where(where, src, src_dtype));
    uint64_t n = where->chunk_count;
    size_t bound = gcomp_frame_bound(params, n);
    if (capacity < bound) {
        gcomp_warn("frame buffer of %zu bytes is below the bound %zu", capacity, bound);
        return GCOMP_ERR_NOSPACE;
    }
    enc_t e = {
        .ctx = ctx,
        .params = params,
        .src = src,
        .dtype = (int)src_dtype,
        .res = params->error_feedback ? residual : NULL,
        .n = n,
        .key = gcomp_rng_key(params->seed, where->seq, where->rank),
        .base = where->chunk_offset,
        .exc_cap = gcomp_wire_exc_cap(n),
    };
    if (params->codec == GCOMP_CODEC_TOPK || params->codec == GCOMP_CODEC_TOPK_Q8) {
        e.k = gcomp_topk_k(params->topk_ratio, n);
        e.kmax = gcomp_topk_kmax(params->topk_ratio, n);
        e.cap = 2 * e.k + 4096 < n ? 2 * e.k + 4096 : n; /* topk_select.c's candidate capacity */
        e.kind = params->codec == GCOMP_CODEC_TOPK_Q8 ? GCOMP_CU_VALUES_Q8
                 : params->topk_values == GCOMP_VALUES_FP16 ? GCOMP_CU_VALUES_F16
                                                            : GCOMP_CU_VALUES_F32;
    }
    uint8_t *out = frame;
    size_t payload_len = 0;
    uint64_t kept = 0, seen = 0, listed = 0;
    int prev = 0;
    GCOMP_CHECK(gcomp_cuda_ctx_enter(ctx, &prev));
    gcomp_status_t st = encode_payload(&e, out + GCOMP_WIRE_HEADER_LEN, &payload_len, &kept, &seen, &listed);
    gcomp_cuda_ctx_leave(ctx, prev);
    if (st != GCOMP_OK) return st;

    gcomp_frame_tail_t tail = {payload_len, kept, listed, seen, e.exc_cap, e.res != NULL};
    gcomp_scratch_t *scratch = gcomp_thread_scratch();
    if (scratch == NULL) return GCOMP_ERR_NOMEM;
    return gcomp_frame_finish(params, where, out, &tail, scratch, info_p);
}

gcomp_status_t gcomp_cuda_frame_encode(gcomp_cuda_ctx_t *ctx, const gcomp_codec_params_t *params,
                                       const gcomp_frame_info_t *where, const void *src, float *residual,
                                       void *frame, size_t capacity, gcomp_frame_info_t *info_p)
{
    return frame_encode(ctx, params, where, src, where->dtype, residual, frame, capacity, info_p);
}

gcomp_status_t gcomp_cuda_frame_encode_f32(gcomp_cuda_ctx_t *ctx, const gcomp_codec_params_t *params,
                                           const gcomp_frame_info_t *where, const float *src, float *residual,
                                           void *frame, size_t capacity, gcomp_frame_info_t *info_p)
{
    return frame_encode(ctx, params, where, src, GCOMP_DTYPE_FP32, residual, frame, capacity, info_p);
}
