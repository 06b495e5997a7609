/*
 * Frames: header, codec payload, exception list, optional zstd stage and checksum around the codec
 * ops (wire.h has the layout). Everything read from a frame is validated before it is used, by
 * gcomp_frame_parse and the codec's validate op, which the CUDA decoder shares.
 */
#define GCOMP_LOG_SUBSYS GCOMP_SUBSYS_CODEC
#include <math.h>
#include <string.h>

#include <xxhash.h>

#include "gcomp_config.h"
#include "codec/codec.h"
#include "codec/codec_vars.h"
#include "codec/isa.h"
#include "core/log.h"

#if GCOMP_HAVE_ZSTD
#include <zstd.h>
#endif

uint64_t gcomp_frame_checksum(const uint8_t *frame, size_t frame_len)
{
    uint8_t head[GCOMP_WIRE_HEADER_LEN];
    memcpy(head, frame, sizeof(head));
    gcomp_store_le64(head + GCOMP_WIRE_OFF_CHECKSUM, 0);
    /* Chained rather than streamed: the streaming state's layout is not part of libxxhash's ABI. */
    XXH64_hash_t head_hash = XXH3_64bits(head, sizeof(head));
    return XXH3_64bits_withSeed(frame + GCOMP_WIRE_HEADER_LEN, frame_len - GCOMP_WIRE_HEADER_LEN, head_hash);
}

gcomp_status_t gcomp_frame_check_where(const gcomp_frame_info_t *w, const void *src)
{
    if (w == NULL) return GCOMP_ERR_INVALID;
    if (w->chunk_count > GCOMP_WIRE_MAX_COUNT || w->chunk_offset > w->total_count ||
        w->chunk_count > w->total_count - w->chunk_offset || w->rank < 0 ||
        (unsigned)w->dtype > GCOMP_DTYPE_FP64 || (w->chunk_count > 0 && src == NULL)) {
        gcomp_warn("invalid chunk: offset %llu count %llu total %llu rank %d dtype %d",
                   (unsigned long long)w->chunk_offset, (unsigned long long)w->chunk_count,
                   (unsigned long long)w->total_count, (int)w->rank, (int)w->dtype);
        return GCOMP_ERR_INVALID;
    }
    return GCOMP_OK;
}

gcomp_status_t gcomp_frame_compress(const gcomp_codec_params_t *params, uint8_t *payload, size_t *len,
                                     gcomp_scratch_t *scratch, uint8_t *flags)
{
    if (params->zstd_level <= 0 || *len < 64) return GCOMP_OK;
#if GCOMP_HAVE_ZSTD
    GCOMP_CHECK(gcomp_scratch_reserve(scratch, *len));
    size_t c = ZSTD_compress(scratch->ptr, *len - 1, payload, *len, params->zstd_level);
    if (ZSTD_isError(c)) return GCOMP_OK; /* typically "destination too small": it does not shrink */
    memcpy(payload, scratch->ptr, c);
    *len = c;
    *flags |= GCOMP_WIRE_FLAG_ZSTD;
#else
    gcomp_warn_once("GCOMP_ZSTD=%d but this build has no zstd; frames are sent without it", params->zstd_level);
#endif
    return GCOMP_OK;
}

gcomp_status_t gcomp_frame_encode_ex(const gcomp_codec_params_t *params, const gcomp_frame_info_t *where,
                                     const float *src, float *residual, void *frame, size_t capacity,
                                     gcomp_isa_t isa, gcomp_scratch_t *scratch, gcomp_frame_info_t *info_p)
{
    if (gcomp_codec_params_check(params) != GCOMP_OK) return GCOMP_ERR_INVALID;
    GCOMP_CHECK(gcomp_frame_check_where(where, src));
    if (frame == NULL || scratch == NULL) return GCOMP_ERR_INVALID;
    const gcomp_codec_ops_t *ops = gcomp_codec_ops_get(params->codec);
    uint64_t n = where->chunk_count;
    size_t payload_cap = ops->payload_bound(params, n);
    uint64_t exc_cap = gcomp_wire_exc_cap(n);
    if (capacity < GCOMP_WIRE_HEADER_LEN + payload_cap + exc_cap * GCOMP_WIRE_EXC_LEN) {
        gcomp_warn("frame buffer of %zu bytes is below the bound %zu", capacity,
                   gcomp_frame_bound(params, n));
        return GCOMP_ERR_NOSPACE;
    }

    uint8_t *out = frame;
    uint8_t *payload = out + GCOMP_WIRE_HEADER_LEN;
    gcomp_exc_sink_t exc = {payload + payload_cap, exc_cap, 0, 0};
    gcomp_encode_job_t job = {
        .params = params,
        .isa = isa,
        .key = gcomp_rng_key(params->seed, where->seq, where->rank),
        .base = where->chunk_offset,
        .src = src,
        .residual = params->error_feedback ? residual : NULL,
        .n = (size_t)n,
        .payload = payload,
        .exc = &exc,
        .scratch = scratch,
    };
    GCOMP_CHECK(ops->encode(&job));
    if (job.payload_len > payload_cap) {
        gcomp_error("%s encoder wrote %zu bytes past its bound %zu", ops->name, job.payload_len, payload_cap);
        return GCOMP_ERR_INTERNAL;
    }

    memmove(payload + job.payload_len, exc.out, exc.count * GCOMP_WIRE_EXC_LEN);
    gcomp_frame_tail_t tail = {job.payload_len, job.kept, exc.count, exc.seen, exc.cap, job.residual != NULL};
    return gcomp_frame_finish(params, where, out, &tail, scratch, info_p);
}

gcomp_status_t gcomp_frame_finish(const gcomp_codec_params_t *params, const gcomp_frame_info_t *where,
                                  uint8_t *frame, const gcomp_frame_tail_t *t, gcomp_scratch_t *scratch,
                                  gcomp_frame_info_t *info_p)
{
    uint64_t n = where->chunk_count;
    uint8_t flags = 0;
    if (t->nonfinite_seen > t->exc_cap) {
        flags |= GCOMP_WIRE_FLAG_NONFINITE_OVERFLOW;
        gcomp_warn("chunk at %llu has %llu non-finite values, more than the %llu a frame lists: the "
                   "result is NaN over its %llu elements", (unsigned long long)where->chunk_offset,
                   (unsigned long long)t->nonfinite_seen, (unsigned long long)t->exc_cap, (unsigned long long)n);
    }
    size_t raw_len = t->payload_len + t->exc_listed * GCOMP_WIRE_EXC_LEN;
    size_t payload_len = raw_len;
    GCOMP_CHECK(gcomp_frame_compress(params, frame + GCOMP_WIRE_HEADER_LEN, &payload_len, scratch, &flags));

    if (params->checksum) flags |= GCOMP_WIRE_FLAG_CHECKSUM;
    if (t->error_feedback) flags |= GCOMP_WIRE_FLAG_EF;
    if (params->rounding == GCOMP_ROUND_NEAREST) flags |= GCOMP_WIRE_FLAG_ROUND_NEAREST;
    if (params->codec == GCOMP_CODEC_TOPK && params->topk_values == GCOMP_VALUES_FP16)
        flags |= GCOMP_WIRE_FLAG_VALUES_FP16;
    gcomp_wire_header_t h = {
        .version = GCOMP_WIRE_VERSION,
        .codec = (uint8_t)params->codec,
        .dtype = (uint8_t)where->dtype,
        .flags = flags,
        .q8_bucket = params->q8_bucket,
        .topk_ratio = params->topk_ratio,
        .total_count = where->total_count,
        .chunk_offset = where->chunk_offset,
        .chunk_count = n,
        .kept = t->kept,
        .seq = where->seq,
        .rank = where->rank,
        .comm_id = where->comm_id,
        .n_exceptions = (uint32_t)t->exc_listed,
        .payload_len = payload_len,
        .raw_len = raw_len,
        .checksum = 0,
    };
    gcomp_wire_header_store(frame, &h);
    size_t frame_len = GCOMP_WIRE_HEADER_LEN + payload_len;
    if (params->checksum) gcomp_store_le64(frame + GCOMP_WIRE_OFF_CHECKSUM, gcomp_frame_checksum(frame, frame_len));

    if (info_p != NULL) {
        *info_p = *where;
        info_p->codec = params->codec;
        info_p->kept = t->kept;
        info_p->nonfinite = t->nonfinite_seen;
        info_p->payload_bytes = raw_len;
        info_p->frame_bytes = frame_len;
    }
    return GCOMP_OK;
}

void gcomp_frame_header_info(const gcomp_wire_header_t *h, size_t frame_len, gcomp_frame_info_t *info)
{
    info->codec = (gcomp_codec_t)h->codec;
    info->dtype = (gcomp_dtype_t)h->dtype;
    info->total_count = h->total_count;
    info->chunk_offset = h->chunk_offset;
    info->chunk_count = h->chunk_count;
    info->rank = h->rank;
    info->comm_id = h->comm_id;
    info->seq = h->seq;
    info->kept = h->kept;
    info->nonfinite = h->n_exceptions;
    info->payload_bytes = h->raw_len;
    info->frame_bytes = frame_len;
}

/* GCOMP_ERR_MISMATCH (logged) when a header is not what the receiver expects. */
static gcomp_status_t check_expected(const gcomp_wire_header_t *h, const gcomp_frame_info_t *e)
{
#define EXPECT(field, hv, ev)                                                                     \
    if ((uint64_t)(hv) != (uint64_t)(ev)) {                                                       \
        gcomp_warn("frame from rank %d has " field " %llu, expected %llu", h->rank,               \
                   (unsigned long long)(hv), (unsigned long long)(ev));                           \
        return GCOMP_ERR_MISMATCH;                                                                \
    }
    EXPECT("codec", h->codec, e->codec);
    EXPECT("dtype", h->dtype, e->dtype);
    EXPECT("total count", h->total_count, e->total_count);
    EXPECT("chunk offset", h->chunk_offset, e->chunk_offset);
    EXPECT("chunk count", h->chunk_count, e->chunk_count);
    EXPECT("communicator id", h->comm_id, e->comm_id);
    EXPECT("call sequence", h->seq, e->seq);
    if (e->rank >= 0) EXPECT("sender rank", h->rank, e->rank);
#undef EXPECT
    return GCOMP_OK;
}

/* The exception list, completely, before anything is written: offsets in the chunk and increasing,
 * values non-finite. */
static gcomp_status_t check_exceptions(const uint8_t *list, uint32_t count, uint64_t chunk_count)
{
    uint64_t prev = 0;
    for (uint32_t i = 0; i < count; i++) {
        uint64_t off = gcomp_load_le32(list + (size_t)i * GCOMP_WIRE_EXC_LEN);
        float v = gcomp_bits_f32(gcomp_load_le32(list + (size_t)i * GCOMP_WIRE_EXC_LEN + 4));
        if (off >= chunk_count || (i > 0 && off <= prev) || isfinite(v)) {
            gcomp_warn("rejecting frame: exception %u at offset %llu (previous %llu, chunk %llu) holds %g",
                       i, (unsigned long long)off, (unsigned long long)prev,
                       (unsigned long long)chunk_count, (double)v);
            return GCOMP_ERR_FRAME;
        }
        prev = off;
    }
    return GCOMP_OK;
}

gcomp_status_t gcomp_frame_open(const void *frame, size_t frame_len, const gcomp_frame_info_t *expect,
                                int require_checksum, gcomp_frame_view_t *view_p)
{
    const uint8_t *in = frame;
    gcomp_wire_header_t h;
    GCOMP_CHECK(gcomp_wire_header_load(in, frame_len, &h));
    if (expect != NULL) GCOMP_CHECK(check_expected(&h, expect));
    if (h.flags & GCOMP_WIRE_FLAG_CHECKSUM) {
        uint64_t sum = gcomp_frame_checksum(in, frame_len);
        if (sum != h.checksum) {
            gcomp_warn("frame from rank %d (seq %llu, chunk at %llu): checksum 0x%016llx, computed 0x%016llx",
                       h.rank, (unsigned long long)h.seq, (unsigned long long)h.chunk_offset,
                       (unsigned long long)h.checksum, (unsigned long long)sum);
            return GCOMP_ERR_CHECKSUM;
        }
    } else if (require_checksum) {
        gcomp_warn("frame from rank %d has no checksum but this rank requires one: set GCOMP_CHECKSUM "
                   "alike on every rank", h.rank);
        return GCOMP_ERR_MISMATCH;
    }
    *view_p = (gcomp_frame_view_t){
        .h = h,
        .frame_len = frame_len,
        .ops = gcomp_codec_ops_get((gcomp_codec_t)h.codec),
        .sent = in + GCOMP_WIRE_HEADER_LEN,
        .unzstd_len = (h.flags & GCOMP_WIRE_FLAG_ZSTD) ? (size_t)h.raw_len : 0,
    };
    return GCOMP_OK;
}

gcomp_status_t gcomp_frame_unpack(gcomp_frame_view_t *view, void *unzstd, unsigned checks)
{
    const gcomp_wire_header_t *h = &view->h;
    const uint8_t *raw = view->sent;
    if (h->flags & GCOMP_WIRE_FLAG_ZSTD) {
#if GCOMP_HAVE_ZSTD
        if (unzstd == NULL) return GCOMP_ERR_INVALID;
        size_t got = ZSTD_decompress(unzstd, h->raw_len, raw, h->payload_len);
        if (ZSTD_isError(got) || got != h->raw_len) {
            gcomp_warn("rejecting frame from rank %d: zstd stage gives %s, expected %llu bytes", h->rank,
                       ZSTD_isError(got) ? ZSTD_getErrorName(got) : "a different length",
                       (unsigned long long)h->raw_len);
            return GCOMP_ERR_FRAME;
        }
        raw = unzstd;
#else
        (void)unzstd;
        gcomp_warn("frame from rank %d is zstd-compressed but this build has no zstd: build with zstd or "
                   "set GCOMP_ZSTD=0 on every rank", h->rank);
        return GCOMP_ERR_UNSUPPORTED;
#endif
    }
    /* gcomp_wire_header_load made sure the list fits in raw_len. */
    size_t exc_bytes = (size_t)h->n_exceptions * GCOMP_WIRE_EXC_LEN;
    gcomp_frame_view_t v = *view;
    v.payload = raw;
    v.payload_len = (size_t)h->raw_len - exc_bytes;
    v.exc = raw + v.payload_len;
    GCOMP_CHECK(check_exceptions(v.exc, h->n_exceptions, h->chunk_count));
    GCOMP_CHECK(v.ops->validate(&v, checks));
    *view = v;
    return GCOMP_OK;
}

gcomp_status_t gcomp_frame_parse(const void *frame, size_t frame_len, const gcomp_frame_info_t *expect,
                                 int require_checksum, gcomp_scratch_t *scratch, unsigned checks,
                                 gcomp_frame_view_t *view_p)
{
    gcomp_frame_view_t v;
    GCOMP_CHECK(gcomp_frame_open(frame, frame_len, expect, require_checksum, &v));
    void *unzstd = NULL;
    if (v.unzstd_len > 0 && GCOMP_HAVE_ZSTD) {
        if (scratch == NULL) return GCOMP_ERR_INVALID;
        GCOMP_CHECK(gcomp_scratch_reserve(scratch, v.unzstd_len));
        unzstd = scratch->ptr;
    }
    GCOMP_CHECK(gcomp_frame_unpack(&v, unzstd, checks));
    *view_p = v;
    return GCOMP_OK;
}

gcomp_status_t gcomp_frame_decode_ex(const void *frame, size_t frame_len, const gcomp_frame_info_t *expect,
                                     float *dst, int accumulate, gcomp_isa_t isa, gcomp_scratch_t *scratch,
                                     int require_checksum, gcomp_frame_info_t *info_p)
{
    gcomp_frame_view_t v;
    GCOMP_CHECK(gcomp_frame_parse(frame, frame_len, expect, require_checksum, scratch, GCOMP_VALIDATE_ALL, &v));
    const gcomp_wire_header_t *h = &v.h;
    if (h->chunk_count > 0 && dst == NULL) return GCOMP_ERR_INVALID;
    gcomp_decode_job_t job = {.view = &v, .isa = isa, .dst = dst, .accumulate = accumulate};
    GCOMP_CHECK(v.ops->decode(&job));

    if (h->flags & GCOMP_WIRE_FLAG_NONFINITE_OVERFLOW) {
        for (uint64_t i = 0; i < h->chunk_count; i++) dst[i] = accumulate ? dst[i] + NAN : NAN;
    } else {
        for (uint32_t i = 0; i < h->n_exceptions; i++) {
            uint32_t off = gcomp_load_le32(v.exc + (size_t)i * GCOMP_WIRE_EXC_LEN);
            float x = gcomp_bits_f32(gcomp_load_le32(v.exc + (size_t)i * GCOMP_WIRE_EXC_LEN + 4));
            dst[off] = accumulate ? dst[off] + x : x;
        }
    }
    if (info_p != NULL) gcomp_frame_header_info(h, frame_len, info_p);
    return GCOMP_OK;
}

gcomp_status_t gcomp_frame_encode(const gcomp_codec_params_t *params, const gcomp_frame_info_t *where,
                                  const float *src, float *residual, void *frame, size_t capacity,
                                  gcomp_frame_info_t *info_p)
{
    gcomp_scratch_t *scratch = gcomp_thread_scratch();
    if (scratch == NULL) return GCOMP_ERR_NOMEM;
    return gcomp_frame_encode_ex(params, where, src, residual, frame, capacity, gcomp_isa_active(), scratch,
                                 info_p);
}

gcomp_status_t gcomp_frame_decode(const void *frame, size_t frame_len, const gcomp_frame_info_t *expect,
                                  float *dst, int accumulate, gcomp_frame_info_t *info_p)
{
    gcomp_scratch_t *scratch = gcomp_thread_scratch();
    if (scratch == NULL) return GCOMP_ERR_NOMEM;
    return gcomp_frame_decode_ex(frame, frame_len, expect, dst, accumulate, gcomp_isa_active(), scratch,
                                 expect != NULL && gcomp_codec_config()->checksum, info_p);
}

gcomp_status_t gcomp_frame_peek(const void *frame, size_t frame_len, gcomp_frame_info_t *info_p)
{
    gcomp_wire_header_t h;
    GCOMP_CHECK(gcomp_wire_header_load(frame, frame_len, &h));
    if ((h.flags & GCOMP_WIRE_FLAG_CHECKSUM) && gcomp_frame_checksum(frame, frame_len) != h.checksum) {
        gcomp_warn("frame from rank %d: checksum mismatch", h.rank);
        return GCOMP_ERR_CHECKSUM;
    }
    if (info_p != NULL) gcomp_frame_header_info(&h, frame_len, info_p);
    return GCOMP_OK;
}
