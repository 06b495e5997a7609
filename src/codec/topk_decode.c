/*
 * Validator and decoder of topk and topk-q8 payloads. The payload came from a peer and is untrusted:
 * its length must be exactly what (kept, width, value type, bucket) imply, padding must be zero and
 * every scale finite and non-negative (GCOMP_VALIDATE_LAYOUT, which the CUDA decoder relies on too);
 * every index must be below the chunk count and strictly increasing and every value finite
 * (GCOMP_VALIDATE_ELEMENTS), all checked before dst is touched. Indices are rebuilt in u64, so no
 * delta can wrap around to an earlier one.
 *
 * Neither has scratch memory: deltas are unpacked in blocks into a small stack buffer, once to
 * validate and once to scatter.
 */
#define GCOMP_LOG_SUBSYS GCOMP_SUBSYS_CODEC
#include <math.h>
#include <string.h>

#include "codec/bitpack.h"
#include "codec/q8_ref.h"
#include "codec/topk_payload.h"
#include "core/log.h"

#define BLOCK 256
#define SCATTER_PREFETCH 16

static const char *kind_name(gcomp_topk_values_t kind)
{
    switch (kind) {
    case GCOMP_TOPK_VALUES_F16: return "topk (fp16)";
    case GCOMP_TOPK_VALUES_Q8: return "topk-q8";
    case GCOMP_TOPK_VALUES_F32: break;
    }
    return "topk";
}

#define REJECT(...)                                                                               \
    do {                                                                                          \
        gcomp_warn(__VA_ARGS__);                                                                  \
        return GCOMP_ERR_FRAME;                                                                   \
    } while (0)

/* The payload's parts, from a view whose layout has been checked. */
typedef struct topk_view {
    const uint8_t *packed;  /* bit-packed deltas */
    size_t packed_len;
    const uint8_t *values;  /* f32 / f16 values, or the q8 scales */
    const uint8_t *q;       /* q8 values */
    uint64_t n, k;
    unsigned width;
    uint32_t bucket;
    gcomp_topk_values_t kind;
} topk_view_t;

static topk_view_t parts(const gcomp_frame_view_t *f)
{
    const gcomp_payload_layout_t *l = &f->layout;
    gcomp_topk_values_t kind = (gcomp_topk_values_t)l->kind;
    return (topk_view_t){
        .packed = f->payload + GCOMP_TOPK_INDEX_HEADER_LEN,
        .packed_len = (size_t)l->packed_len,
        .values = f->payload + l->values_off,
        .q = kind == GCOMP_TOPK_VALUES_Q8 ? f->payload + l->q_off : NULL,
        .n = f->h.chunk_count,
        .k = f->h.kept,
        .width = l->width,
        .bucket = kind == GCOMP_TOPK_VALUES_Q8 ? f->h.q8_bucket : 1,
        .kind = kind,
    };
}

static gcomp_status_t check_layout(gcomp_frame_view_t *f, gcomp_topk_values_t kind)
{
    const gcomp_wire_header_t *h = &f->h;
    const uint8_t *p = f->payload;
    size_t len = f->payload_len;
    const char *name = kind_name(kind);
    if (h->chunk_count > GCOMP_WIRE_MAX_COUNT || h->kept > h->chunk_count)
        REJECT("rejecting %s payload from rank %d: kept %llu of a chunk of %llu", name, h->rank,
               (unsigned long long)h->kept, (unsigned long long)h->chunk_count);
    if (len < GCOMP_TOPK_INDEX_HEADER_LEN)
        REJECT("rejecting %s payload from rank %d: %zu bytes, shorter than the index header", name,
               h->rank, len);
    unsigned width = p[0];
    if (width > GCOMP_BITPACK_MAX_WIDTH || p[1] != 0 || p[2] != 0 || p[3] != 0)
        REJECT("rejecting %s payload from rank %d: index width %u, pad bytes %02x %02x %02x", name,
               h->rank, width, p[1], p[2], p[3]);
    if (kind == GCOMP_TOPK_VALUES_Q8 && h->q8_bucket == 0)
        REJECT("rejecting %s payload from rank %d: q8 bucket of 0", name, h->rank);
    uint32_t bucket = kind == GCOMP_TOPK_VALUES_Q8 ? h->q8_bucket : 1;
    uint64_t want = gcomp_topk_payload_bytes(kind, h->kept, width, bucket);
    if ((uint64_t)len != want)
        REJECT("rejecting %s payload from rank %d: %zu bytes, expected %llu for %llu kept with %u-bit "
               "deltas", name, h->rank, len, (unsigned long long)want, (unsigned long long)h->kept, width);
    gcomp_payload_layout_t l = {.width = width, .kind = (int)kind};
    l.packed_len = gcomp_bitpack_bytes(h->kept, width);
    l.values_off = GCOMP_TOPK_INDEX_HEADER_LEN + l.packed_len;
    if (kind == GCOMP_TOPK_VALUES_Q8) {
        l.nb = (h->kept + bucket - 1) / bucket;
        l.q_off = l.values_off + 4 * l.nb;
    }
    if (!gcomp_bitpack_padding_is_zero(p + GCOMP_TOPK_INDEX_HEADER_LEN, (size_t)l.packed_len, h->kept, width))
        REJECT("rejecting %s payload from rank %d: nonzero padding after %llu %u-bit deltas", name,
               h->rank, (unsigned long long)h->kept, width);
    /* Scales are few and the device decoder reads them as they are: checked with the layout. */
    for (uint64_t b = 0; b < l.nb; b++) {
        float s = gcomp_bits_f32(gcomp_load_le32(p + l.values_off + 4 * b));
        if (!(s >= 0.0f) || !isfinite(s))
            REJECT("rejecting %s payload from rank %d: scale %llu is %g", name, h->rank, (unsigned long long)b,
                   (double)s);
    }
    f->layout = l;
    return GCOMP_OK;
}

static gcomp_status_t check_indices(const topk_view_t *v, int rank)
{
    uint32_t delta[BLOCK];
    uint64_t next = 0; /* smallest index the next entry may have */
    for (uint64_t j0 = 0; j0 < v->k; j0 += BLOCK) {
        size_t cnt = v->k - j0 < BLOCK ? (size_t)(v->k - j0) : BLOCK;
        if (gcomp_bitunpack(delta, v->packed, v->packed_len, j0, cnt, v->width) != 0)
            REJECT("rejecting %s payload from rank %d: deltas %llu.. do not fit", kind_name(v->kind), rank,
                   (unsigned long long)j0);
        for (size_t t = 0; t < cnt; t++) {
            uint64_t idx = next + delta[t];
            if (idx >= v->n)
                REJECT("rejecting %s payload from rank %d: entry %llu has index %llu (delta %u), chunk "
                       "count %llu", kind_name(v->kind), rank, (unsigned long long)(j0 + t),
                       (unsigned long long)idx, delta[t], (unsigned long long)v->n);
            next = idx + 1;
        }
    }
    return GCOMP_OK;
}

static gcomp_status_t check_values(const topk_view_t *v, int rank)
{
    const char *name = kind_name(v->kind);
    switch (v->kind) {
    case GCOMP_TOPK_VALUES_F32:
        for (uint64_t j = 0; j < v->k; j++) {
            float x = gcomp_bits_f32(gcomp_load_le32(v->values + 4 * j));
            if (!isfinite(x)) REJECT("rejecting %s payload from rank %d: value %llu is %g", name, rank,
                                     (unsigned long long)j, (double)x);
        }
        break;
    case GCOMP_TOPK_VALUES_F16:
        for (uint64_t j = 0; j < v->k; j++) {
            uint16_t x = gcomp_load_le16(v->values + 2 * j);
            if ((x & 0x7c00u) == 0x7c00u)
                REJECT("rejecting %s payload from rank %d: value %llu is the non-finite half 0x%04x", name,
                       rank, (unsigned long long)j, x);
        }
        break;
    case GCOMP_TOPK_VALUES_Q8:
        for (uint64_t j = 0; j < v->k; j++)
            if (v->q[j] == 0x80u)
                REJECT("rejecting %s payload from rank %d: value %llu is -128, outside [-127, 127]", name,
                       rank, (unsigned long long)j);
        break;
    }
    return GCOMP_OK;
}

static inline float value_at(const topk_view_t *v, uint64_t j)
{
    switch (v->kind) {
    case GCOMP_TOPK_VALUES_F16: return gcomp_f16_to_f32(gcomp_load_le16(v->values + 2 * j));
    case GCOMP_TOPK_VALUES_Q8:
        return gcomp_q8_dequantize((int8_t)v->q[j],
                                   gcomp_bits_f32(gcomp_load_le32(v->values + 4 * (j / v->bucket))));
    case GCOMP_TOPK_VALUES_F32: break;
    }
    return gcomp_bits_f32(gcomp_load_le32(v->values + 4 * j));
}

/* Scatter (or add) the values; everything was validated, so the unpacking cannot fail here. Kept
 * elements are typically a cache line or more apart in a dst far larger than the cache: each update
 * is a miss, so the indices of a block are rebuilt first and the updates prefetched a few ahead. */
static void scatter(const topk_view_t *v, float *dst, int accumulate)
{
    uint32_t idx[BLOCK];
    uint64_t next = 0;
    for (uint64_t j0 = 0; j0 < v->k; j0 += BLOCK) {
        size_t cnt = v->k - j0 < BLOCK ? (size_t)(v->k - j0) : BLOCK;
        (void)gcomp_bitunpack(idx, v->packed, v->packed_len, j0, cnt, v->width);
        for (size_t t = 0; t < cnt; t++) {
            next += idx[t];
            idx[t] = (uint32_t)next++; /* < n <= 2^31 after validation */
        }
        for (size_t t = 0; t < cnt; t++) {
            if (t + SCATTER_PREFETCH < cnt) __builtin_prefetch(dst + idx[t + SCATTER_PREFETCH], 1);
            float x = value_at(v, j0 + t);
            if (accumulate) dst[idx[t]] += x;
            else dst[idx[t]] = x;
        }
    }
}

gcomp_status_t gcomp_topk_validate(gcomp_frame_view_t *view, gcomp_topk_values_t kind, unsigned checks)
{
    gcomp_frame_view_t f = *view;
    GCOMP_CHECK(check_layout(&f, kind));
    if (checks & GCOMP_VALIDATE_ELEMENTS) {
        topk_view_t v = parts(&f);
        GCOMP_CHECK(check_indices(&v, f.h.rank));
        GCOMP_CHECK(check_values(&v, f.h.rank));
    }
    view->layout = f.layout;
    return GCOMP_OK;
}

gcomp_status_t gcomp_topk_decode(const gcomp_decode_job_t *job)
{
    topk_view_t v = parts(job->view);
    if (!job->accumulate && v.n > 0) memset(job->dst, 0, (size_t)v.n * sizeof(float));
    scatter(&v, job->dst, job->accumulate);
    return GCOMP_OK;
}
