/*
 * Frames into device buffers: the decode half of src/codec/frame.c's twin (frame_encode_cuda.c is
 * the encode half). The codec payload and the exception list are decoded by the steps of kernels.h
 * on the device; the header, the zstd stage and the checksum are checked here on the host, with the
 * same functions the CPU codecs use.
 *
 * Decode validates everything it can on the host first (header, checksum, exception list, payload
 * layout, scales), then lets the device check what needs the data (indices, values) before writing.
 */
#define GCOMP_LOG_SUBSYS GCOMP_SUBSYS_CUDA
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "gcomp_config.h"
#include "codec/bitpack.h"
#include "codec/codec.h"
#include "codec/topk_payload.h"
#include "codec/topk_select.h"
#include "core/log.h"
#include "ctx.h"
#include "elem.h"

#if GCOMP_HAVE_ZSTD
#include <zstd.h>
#endif

static uint64_t tiles(uint64_t n)
{
    return (n + GCOMP_CU_TILE - 1) / GCOMP_CU_TILE;
}

/* ---- decode ----------------------------------------------------------------------------------- */

/* A frame validated on the host, ready for the device. */
typedef struct parsed {
    gcomp_wire_header_t h;
    const uint8_t *codec;  /* codec payload (host) */
    size_t codec_len;
    const uint8_t *exc;    /* exception list (host) */
    void *unzstd;          /* owned buffer when the frame was zstd-compressed */
    /* topk */
    unsigned width;
    int kind;
    uint64_t packed_len, values_off, q_off;
} parsed_t;

#define REJECT(...)                                                                               \
    do {                                                                                          \
        gcomp_warn("rejecting frame: " __VA_ARGS__);                                              \
        return GCOMP_ERR_FRAME;                                                                   \
    } while (0)

static int scales_ok(const uint8_t *p, uint64_t count)
{
    for (uint64_t b = 0; b < count; b++) {
        float x = gcomp_bits_f32(gcomp_load_le32(p + 4 * b));
        if (!(isfinite(x) && x >= 0.0f)) return 0;
    }
    return 1;
}

static gcomp_status_t check_payload(parsed_t *f)
{
    const gcomp_wire_header_t *h = &f->h;
    uint64_t n = h->chunk_count;
    const uint8_t *p = f->codec;
    size_t len = f->codec_len;
    switch (h->codec) {
    case GCOMP_CODEC_NONE:
        if (len != 4 * n) REJECT("none payload of %zu bytes for %llu elements", len, (unsigned long long)n);
        return GCOMP_OK;
    case GCOMP_CODEC_Q8: {
        uint64_t nb = (n + h->q8_bucket - 1) / h->q8_bucket;
        if (len != 4 * nb + n) REJECT("q8 payload of %zu bytes for %llu elements", len, (unsigned long long)n);
        if (!scales_ok(p, nb)) REJECT("q8 payload from rank %d has a negative or non-finite scale", h->rank);
        return GCOMP_OK;
    }
    default: break;
    }
    int q8 = h->codec == GCOMP_CODEC_TOPK_Q8;
    if (q8 && (h->flags & GCOMP_WIRE_FLAG_VALUES_FP16)) REJECT("fp16 value flag on a topk-q8 frame");
    f->kind = q8 ? GCOMP_CU_VALUES_Q8 : (h->flags & GCOMP_WIRE_FLAG_VALUES_FP16) ? GCOMP_CU_VALUES_F16
                                                                                : GCOMP_CU_VALUES_F32;
    if (len < GCOMP_TOPK_INDEX_HEADER_LEN) REJECT("top-k payload of %zu bytes", len);
    f->width = p[0];
    if (f->width > GCOMP_BITPACK_MAX_WIDTH || p[1] || p[2] || p[3])
        REJECT("top-k index width %u, pad bytes %02x %02x %02x", f->width, p[1], p[2], p[3]);
    uint32_t bucket = q8 ? h->q8_bucket : 1;
    uint64_t want = gcomp_topk_payload_bytes((gcomp_topk_values_t)f->kind, h->kept, f->width, bucket);
    if ((uint64_t)len != want)
        REJECT("top-k payload of %zu bytes, expected %llu for %llu kept with %u-bit deltas", len,
               (unsigned long long)want, (unsigned long long)h->kept, f->width);
    f->packed_len = gcomp_bitpack_bytes(h->kept, f->width);
    f->values_off = GCOMP_TOPK_INDEX_HEADER_LEN + f->packed_len;
    f->q_off = f->values_off + (q8 ? 4 * ((h->kept + bucket - 1) / bucket) : 0);
    if (!gcomp_bitpack_padding_is_zero(p + GCOMP_TOPK_INDEX_HEADER_LEN, (size_t)f->packed_len, h->kept, f->width))
        REJECT("nonzero padding after %llu %u-bit deltas", (unsigned long long)h->kept, f->width);
    if (q8 && !scales_ok(p + f->values_off, (h->kept + bucket - 1) / bucket))
        REJECT("topk-q8 payload from rank %d has a negative or non-finite scale", h->rank);
    return GCOMP_OK;
}

static gcomp_status_t parse_frame(const void *frame, size_t frame_len, const gcomp_frame_info_t *expect,
                                  int require_checksum, parsed_t *f)
{
    const uint8_t *in = frame;
    memset(f, 0, sizeof(*f));
    GCOMP_CHECK(gcomp_wire_header_load(in, frame_len, &f->h));
    const gcomp_wire_header_t *h = &f->h;
    if (expect != NULL) GCOMP_CHECK(gcomp_frame_check_expected(h, expect));
    if (h->flags & GCOMP_WIRE_FLAG_CHECKSUM) {
        uint64_t sum = gcomp_frame_checksum(in, frame_len);
        if (sum != h->checksum) {
            gcomp_warn("frame from rank %d (seq %llu, chunk at %llu): checksum 0x%016llx, computed 0x%016llx",
                       h->rank, (unsigned long long)h->seq, (unsigned long long)h->chunk_offset,
                       (unsigned long long)h->checksum, (unsigned long long)sum);
            return GCOMP_ERR_CHECKSUM;
        }
    } else if (require_checksum) {
        gcomp_warn("frame from rank %d has no checksum but this rank requires one", h->rank);
        return GCOMP_ERR_MISMATCH;
    }
    const uint8_t *raw = in + GCOMP_WIRE_HEADER_LEN;
    if (h->flags & GCOMP_WIRE_FLAG_ZSTD) {
#if GCOMP_HAVE_ZSTD
        f->unzstd = malloc(h->raw_len ? h->raw_len : 1);
        if (f->unzstd == NULL) return GCOMP_ERR_NOMEM;
        size_t got = ZSTD_decompress(f->unzstd, h->raw_len, raw, h->payload_len);
        if (ZSTD_isError(got) || got != h->raw_len) {
            free(f->unzstd);
            f->unzstd = NULL;
            REJECT("zstd stage of rank %d's frame does not give %llu bytes", h->rank, (unsigned long long)h->raw_len);
        }
        raw = f->unzstd;
#else
        gcomp_warn("frame from rank %d is zstd-compressed but this build has no zstd", h->rank);
        return GCOMP_ERR_UNSUPPORTED;
#endif
    }
    size_t exc_bytes = (size_t)h->n_exceptions * GCOMP_WIRE_EXC_LEN;
    f->codec = raw;
    f->codec_len = (size_t)h->raw_len - exc_bytes;
    f->exc = raw + f->codec_len;
    gcomp_status_t st = gcomp_frame_check_exceptions(f->exc, h->n_exceptions, h->chunk_count);
    if (st == GCOMP_OK) st = check_payload(f);
    if (st != GCOMP_OK) {
        free(f->unzstd);
        f->unzstd = NULL;
    }
    return st;
}

static gcomp_status_t decode_one(gcomp_cuda_ctx_t *ctx, const parsed_t *f, const uint8_t *dev, float *dst,
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
        uint64_t nb = (n + f->h.q8_bucket - 1) / f->h.q8_bucket;
        gcomp_cu_q8_decode_t a = {.nframes = 1, .n = n, .dst = dst, .accumulate = accumulate, .ctl = ctx->ctl};
        a.scales[0] = dev;
        a.q[0] = (const int8_t *)(dev + 4 * nb);
        a.bucket[0] = f->h.q8_bucket;
        GCOMP_CU_CALL(ctx, be->q8_decode(s, &a), "q8 decode");
        break;
    }
    default: {
        uint32_t *idx;
        uint64_t *status;
        GCOMP_CHECK(gcomp_cuda_ctx_reserve(ctx, GCOMP_CU_BUF_KEPT_IDX, f->h.kept * 4 + 4, (void **)&idx));
        GCOMP_CHECK(gcomp_cuda_ctx_reserve(ctx, GCOMP_CU_BUF_STATUS, tiles(f->h.kept) * 8 + 8, (void **)&status));
        gcomp_cu_topk_decode_t a = {.payload = dev, .n = n, .k = f->h.kept, .width = f->width, .kind = f->kind,
                                    .bucket = f->h.q8_bucket, .packed_len = f->packed_len,
                                    .values_off = f->values_off, .q_off = f->q_off, .idx = idx, .status = status,
                                    .dst = dst, .accumulate = accumulate, .ctl = ctx->ctl};
        GCOMP_CU_CALL(ctx, be->topk_decode(s, &a), "top-k decode");
        break;
    }
    }
    if (f->h.n_exceptions > 0 || (f->h.flags & GCOMP_WIRE_FLAG_NONFINITE_OVERFLOW)) {
        gcomp_cu_exc_apply_t x = {.list = dev + f->codec_len, .count = f->h.n_exceptions,
                                  .overflow = (f->h.flags & GCOMP_WIRE_FLAG_NONFINITE_OVERFLOW) != 0, .n = n,
                                  .dst = dst, .accumulate = accumulate, .ctl = ctx->ctl};
        GCOMP_CU_CALL(ctx, be->exc_apply(s, &x), "exceptions");
    }
    return GCOMP_OK;
}

static int fusable(const parsed_t *f)
{
    return f->h.codec == GCOMP_CODEC_Q8 && f->h.n_exceptions == 0 &&
           !(f->h.flags & GCOMP_WIRE_FLAG_NONFINITE_OVERFLOW);
}

static gcomp_status_t decode_frames(gcomp_cuda_ctx_t *ctx, int nframes, parsed_t *fs, float *dst, int accumulate)
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
            const parsed_t *f = &fs[i + j];
            offs[j] = off;
            GCOMP_CU_CALL(ctx, be->copy(s, stage + off, f->codec, f->codec_len + f->h.n_exceptions * GCOMP_WIRE_EXC_LEN),
                          "payload upload");
            off += GCOMP_ALIGN_UP(f->h.raw_len, (size_t)16);
        }
        if (all_fusable) {
            gcomp_cu_q8_decode_t a = {.nframes = group, .n = fs[i].h.chunk_count, .dst = dst,
                                      .accumulate = accumulate || i > 0, .ctl = ctx->ctl};
            for (int j = 0; j < group; j++) {
                uint64_t nb = (a.n + fs[i + j].h.q8_bucket - 1) / fs[i + j].h.q8_bucket;
                a.scales[j] = stage + offs[j];
                a.q[j] = (const int8_t *)(stage + offs[j] + 4 * nb);
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
    parsed_t *fs = calloc((size_t)nframes, sizeof(*fs));
    if (fs == NULL) return GCOMP_ERR_NOMEM;
    gcomp_status_t st = GCOMP_OK;
    int parsed = 0;
    for (; parsed < nframes; parsed++) {
        gcomp_frame_info_t e;
        const gcomp_frame_info_t *ep = NULL;
        if (expect != NULL) {
            e = *expect;
            e.rank = -1;
            ep = &e;
        }
        st = parse_frame(frames[parsed], frame_lens[parsed], ep, require_checksum, &fs[parsed]);
        if (st != GCOMP_OK) break;
        if (fs[parsed].h.chunk_count != fs[0].h.chunk_count) {
            gcomp_warn("frames of %llu and %llu elements cannot be summed into one chunk",
                       (unsigned long long)fs[0].h.chunk_count, (unsigned long long)fs[parsed].h.chunk_count);
            st = GCOMP_ERR_MISMATCH;
            parsed++;
            break;
        }
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
    for (int i = 0; i < parsed && i < nframes; i++) free(fs[i].unzstd);
    free(fs);
    return st;
}

gcomp_status_t gcomp_cuda_frame_decode(gcomp_cuda_ctx_t *ctx, const void *frame, size_t frame_len,
                                       const gcomp_frame_info_t *expect, float *dst, int accumulate,
                                       int require_checksum, gcomp_frame_info_t *info_p)
{
    if (ctx == NULL) return GCOMP_ERR_INVALID;
    parsed_t f;
    GCOMP_CHECK(parse_frame(frame, frame_len, expect, require_checksum, &f));
    gcomp_status_t st = GCOMP_OK;
    if (f.h.chunk_count > 0) {
        int prev = 0;
        st = dst == NULL ? GCOMP_ERR_INVALID : gcomp_cuda_ctx_enter(ctx, &prev);
        if (st == GCOMP_OK) {
            st = decode_frames(ctx, 1, &f, dst, accumulate);
            gcomp_cuda_ctx_leave(ctx, prev);
        }
    }
    free(f.unzstd);
    if (st == GCOMP_OK && info_p != NULL) gcomp_frame_header_info(&f.h, frame_len, info_p);
    return st;
}
