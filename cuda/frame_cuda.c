/*
 * Frames into device buffers: the decode half of src/codec/frame.c's twin (frame_encode_cuda.c is
 * the encode half). The codec payload and the exception list are decoded by the steps of kernels.h
 * on the device; the header, the zstd stage and the checksum are checked here on the host, with the
 * same functions the CPU codecs use.
 *
 * Decode validates on the host first with the CPU decoder's own validator (gcomp_frame_parse and the
 * codec's validate op for GCOMP_VALIDATE_LAYOUT: header, checksum, zstd stage, exception list, payload
 * layout, scales), then lets the device check what needs the data (indices, values) before writing.
 */
#define GCOMP_LOG_SUBSYS GCOMP_SUBSYS_CUDA
#include <stdlib.h>
#include <string.h>

#include "gcomp_config.h"
#include "codec/codec.h"
#include "codec/topk_payload.h"
#include "core/log.h"
#include "ctx.h"
#include "elem.h"

static uint64_t tiles(uint64_t n)
{
    return (n + GCOMP_CU_TILE - 1) / GCOMP_CU_TILE;
}

/* ---- decode ----------------------------------------------------------------------------------- */

/* The topk kernels take the value kind that the codec's validate op puts in the layout. */
_Static_assert(GCOMP_CU_VALUES_F32 == (int)GCOMP_TOPK_VALUES_F32 && GCOMP_CU_VALUES_F16 == (int)GCOMP_TOPK_VALUES_F16 &&
                   GCOMP_CU_VALUES_Q8 == (int)GCOMP_TOPK_VALUES_Q8,
               "device value kinds are the payload's");

static gcomp_status_t decode_one(gcomp_cuda_ctx_t *ctx, const gcomp_frame_view_t *f, const uint8_t *dev, float *dst,
                                 int accumulate)
{
    const gcomp_cu_backend_t *be = ctx->be;
    void *s = ctx->stream;
    uint64_t n = f->h.chunk_count;
    switch (f->h.codec) {
    case GCOMP_CODEC_NONE: {
        gcomp_cu_none_t a = {.src = dev, .n = n, .dst = dst, .accumulate = accumulate};
        GCOMP_CU_CALL(ctx, be->none_decode(s, &a), "none decode");
        break;
    }
    case GCOMP_CODEC_Q8: {
        gcomp_cu_q8_decode_t a = {.nframes = 1, .n = n, .dst = dst, .accumulate = accumulate, .ctl = ctx->ctl};
        a.scales[0] = dev;
        a.q[0] = (const int8_t *)(dev + f->layout.q_off);
        a.bucket[0] = f->h.q8_bucket;
        GCOMP_CU_CALL(ctx, be->q8_decode(s, &a), "q8 decode");
        break;
    }
    default: {
        uint32_t *idx;
        uint64_t *status;
        GCOMP_CHECK(gcomp_cuda_ctx_reserve(ctx, GCOMP_CU_BUF_KEPT_IDX, f->h.kept * 4 + 4, (void **)&idx));
        GCOMP_CHECK(gcomp_cuda_ctx_reserve(ctx, GCOMP_CU_BUF_STATUS, tiles(f->h.kept) * 8 + 8, (void **)&status));
        const gcomp_payload_layout_t *l = &f->layout;
        gcomp_cu_topk_decode_t a = {.payload = dev, .n = n, .k = f->h.kept, .width = l->width, .kind = l->kind,
                                    .bucket = f->h.q8_bucket, .packed_len = l->packed_len,
                                    .values_off = l->values_off, .q_off = l->q_off, .idx = idx, .status = status,
                                    .dst = dst, .accumulate = accumulate, .ctl = ctx->ctl};
        GCOMP_CU_CALL(ctx, be->topk_decode(s, &a), "top-k decode");
        break;
    }
    }
    if (f->h.n_exceptions > 0 || (f->h.flags & GCOMP_WIRE_FLAG_NONFINITE_OVERFLOW)) {
        gcomp_cu_exc_apply_t x = {.list = dev + f->payload_len, .count = f->h.n_exceptions,
                                  .overflow = (f->h.flags & GCOMP_WIRE_FLAG_NONFINITE_OVERFLOW) != 0, .n = n,
                                  .dst = dst, .accumulate = accumulate, .ctl = ctx->ctl};
        GCOMP_CU_CALL(ctx, be->exc_apply(s, &x), "exceptions");
    }
    return GCOMP_OK;
}

static int fusable(const gcomp_frame_view_t *f)
{
    return f->h.codec == GCOMP_CODEC_Q8 && f->h.n_exceptions == 0 &&
           !(f->h.flags & GCOMP_WIRE_FLAG_NONFINITE_OVERFLOW);
}

static gcomp_status_t decode_frames(gcomp_cuda_ctx_t *ctx, int nframes, const gcomp_frame_view_t *fs, float *dst,
                                    int accumulate)
{
    const gcomp_cu_backend_t *be = ctx->be;
    void *s = ctx->stream;
    size_t total = 0, offs[GCOMP_CU_MAX_FRAMES];
    for (int i = 0; i < nframes; i++) total += GCOMP_ALIGN_UP(fs[i].h.raw_len, (size_t)16);
    uint8_t *stage;
    GCOMP_CHECK(gcomp_cuda_ctx_reserve(ctx, GCOMP_CU_BUF_PAYLOAD, total + 16, (void **)&stage));
    GCOMP_CU_CALL(ctx, be->memset(s, &ctx->ctl->bad, 0, sizeof(ctx->ctl->bad)), "control block clear");
    gcomp_cuda_ctx_mark(ctx, 0);
    int all_fusable = nframes > 1;
    for (int i = 0; i < nframes; i++) all_fusable &= fusable(&fs[i]);
    size_t off = 0;
    for (int i = 0; i < nframes; i += GCOMP_CU_MAX_FRAMES) {
        int group = nframes - i < GCOMP_CU_MAX_FRAMES ? nframes - i : GCOMP_CU_MAX_FRAMES;
        for (int j = 0; j < group; j++) {
            const gcomp_frame_view_t *f = &fs[i + j];
            offs[j] = off;
            GCOMP_CU_CALL(ctx, be->copy(s, stage + off, f->payload, f->payload_len + f->h.n_exceptions * GCOMP_WIRE_EXC_LEN),
                          "payload upload");
            off += GCOMP_ALIGN_UP(f->h.raw_len, (size_t)16);
        }
        if (all_fusable) {
            gcomp_cu_q8_decode_t a = {.nframes = group, .n = fs[i].h.chunk_count, .dst = dst,
                                      .accumulate = accumulate || i > 0, .ctl = ctx->ctl};
            for (int j = 0; j < group; j++) {
                a.scales[j] = stage + offs[j];
                a.q[j] = (const int8_t *)(stage + offs[j] + fs[i + j].layout.q_off);
                a.bucket[j] = fs[i + j].h.q8_bucket;
            }
            GCOMP_CU_CALL(ctx, be->q8_decode(s, &a), "q8 decode-accumulate");
        } else {
            for (int j = 0; j < group; j++)
                GCOMP_CHECK(decode_one(ctx, &fs[i + j], stage + offs[j], dst, accumulate || i + j > 0));
        }
        if (i + group < nframes) {
            /* The staging buffer is reused by the next group. */
            GCOMP_CU_CALL(ctx, be->sync(s), "stream synchronize");
            off = 0;
        }
    }
    gcomp_cuda_ctx_mark(ctx, 1);
    GCOMP_CU_CALL(ctx, be->copy(s, &ctx->ctl_host->bad, &ctx->ctl->bad, sizeof(ctx->ctl->bad)), "status download");
    GCOMP_CU_CALL(ctx, be->sync(s), "stream synchronize");
    gcomp_cuda_ctx_measure(ctx);
    uint32_t bad = ctx->ctl_host->bad;
    if (bad) {
        gcomp_warn("rejecting frame from rank %d: %s", fs[0].h.rank,
                   bad & GCOMP_CU_BAD_INDEX   ? "a top-k index is out of range"
                   : bad & GCOMP_CU_BAD_VALUE ? "a top-k value is non-finite or -128"
                                              : "a q8 value is -128");
        return GCOMP_ERR_FRAME;
    }
    return GCOMP_OK;
}

gcomp_status_t gcomp_cuda_frames_decode(gcomp_cuda_ctx_t *ctx, int nframes, const void *const *frames,
                                        const size_t *frame_lens, const gcomp_frame_info_t *expect, float *dst,
                                        int accumulate, int require_checksum)
{
    if (ctx == NULL || nframes < 1 || frames == NULL || frame_lens == NULL) return GCOMP_ERR_INVALID;
    gcomp_scratch_t *scratch = gcomp_thread_scratch();
    if (scratch == NULL) return GCOMP_ERR_NOMEM;
    gcomp_frame_view_t *fs = calloc((size_t)nframes, sizeof(*fs));
    if (fs == NULL) return GCOMP_ERR_NOMEM;
    gcomp_frame_info_t e;
    const gcomp_frame_info_t *ep = NULL;
    if (expect != NULL) {
        e = *expect;
        e.rank = -1;
        ep = &e;
    }
    /* Headers and checksums first, so that the zstd stages of all frames go into one reservation of
     * the thread's scratch: their payloads must all stay on the host until the uploads. */
    gcomp_status_t st = GCOMP_OK;
    size_t unzstd_total = 0;
    for (int i = 0; i < nframes && st == GCOMP_OK; i++) {
        st = gcomp_frame_open(frames[i], frame_lens[i], ep, require_checksum, &fs[i]);
        if (st == GCOMP_OK && fs[i].h.chunk_count != fs[0].h.chunk_count) {
            gcomp_warn("frames of %llu and %llu elements cannot be summed into one chunk",
                       (unsigned long long)fs[0].h.chunk_count, (unsigned long long)fs[i].h.chunk_count);
            st = GCOMP_ERR_MISMATCH;
        }
        unzstd_total += GCOMP_ALIGN_UP(fs[i].unzstd_len, (size_t)64);
    }
    if (st == GCOMP_OK && unzstd_total > 0) st = gcomp_scratch_reserve(scratch, unzstd_total);
    size_t at = 0;
    for (int i = 0; i < nframes && st == GCOMP_OK; i++) {
        void *unzstd = fs[i].unzstd_len > 0 ? (uint8_t *)scratch->ptr + at : NULL;
        at += GCOMP_ALIGN_UP(fs[i].unzstd_len, (size_t)64);
        st = gcomp_frame_unpack(&fs[i], unzstd, GCOMP_VALIDATE_LAYOUT);
    }
    if (st == GCOMP_OK && fs[0].h.chunk_count > 0 && dst == NULL) st = GCOMP_ERR_INVALID;
    if (st == GCOMP_OK && fs[0].h.chunk_count > 0) {
        int prev = 0;
        st = gcomp_cuda_ctx_enter(ctx, &prev);
        if (st == GCOMP_OK) {
            st = decode_frames(ctx, nframes, fs, dst, accumulate);
            gcomp_cuda_ctx_leave(ctx, prev);
        }
    }
    free(fs);
    return st;
}

gcomp_status_t gcomp_cuda_frame_decode(gcomp_cuda_ctx_t *ctx, const void *frame, size_t frame_len,
                                       const gcomp_frame_info_t *expect, float *dst, int accumulate,
                                       int require_checksum, gcomp_frame_info_t *info_p)
{
    if (ctx == NULL) return GCOMP_ERR_INVALID;
    gcomp_scratch_t *scratch = gcomp_thread_scratch();
    if (scratch == NULL) return GCOMP_ERR_NOMEM;
    gcomp_frame_view_t f;
    GCOMP_CHECK(gcomp_frame_parse(frame, frame_len, expect, require_checksum, scratch, GCOMP_VALIDATE_LAYOUT, &f));
    gcomp_status_t st = GCOMP_OK;
    if (f.h.chunk_count > 0) {
        int prev = 0;
        st = dst == NULL ? GCOMP_ERR_INVALID : gcomp_cuda_ctx_enter(ctx, &prev);
        if (st == GCOMP_OK) {
            st = decode_frames(ctx, 1, &f, dst, accumulate);
            gcomp_cuda_ctx_leave(ctx, prev);
        }
    }
    if (st == GCOMP_OK && info_p != NULL) gcomp_frame_header_info(&f.h, frame_len, info_p);
    return st;
}
