/*
 * The q8 codec: 8-bit quantization with one fp32 scale per bucket of B elements, error feedback
 * fused into encode (codec.h has the payload layout, q8_ref.h the arithmetic).
 *
 * This file owns the parts that do not depend on the CPU: picking the kernel variant, the payload
 * bound, and checking a received payload's length and scales before any kernel sees it. The
 * kernels (q8_scalar.c, q8_avx2.c, q8_avx512.c) produce identical bytes.
 */
#define GCOMP_LOG_SUBSYS GCOMP_SUBSYS_CODEC
#include <math.h>
#include <string.h>

#include "gcomp_config.h"
#include "codec/codec.h"
#include "codec/isa.h"
#include "codec/q8_kernels.h"
#include "core/log.h"

/* The kernels for @p isa, or the plain C ones when that variant is not built or not runnable here
 * (a wrong isa must cost speed, not an illegal instruction). */
static const gcomp_q8_kernels_t *q8_kernels(gcomp_isa_t isa)
{
    if (isa != GCOMP_ISA_SCALAR && !gcomp_isa_available(isa)) return &gcomp_q8_kernels_scalar;
    switch (isa) {
#if GCOMP_BUILD_AVX512
    case GCOMP_ISA_AVX512: return &gcomp_q8_kernels_avx512;
#endif
#if GCOMP_BUILD_AVX2
    case GCOMP_ISA_AVX2: return &gcomp_q8_kernels_avx2;
#endif
    default: return &gcomp_q8_kernels_scalar;
    }
}

/* ceil(n / bucket) without the overflow of n + bucket - 1. */
static uint64_t bucket_count(uint64_t n, uint64_t bucket)
{
    return n / bucket + (n % bucket != 0);
}

/* nb scales of 4 bytes, then one byte per element. */
static size_t q8_payload_bound(const gcomp_codec_params_t *params, uint64_t n)
{
    uint64_t bucket = params->q8_bucket > 0 ? params->q8_bucket : 1;
    return (size_t)(bucket_count(n, bucket) * 4 + n);
}

/* The bound is exact; this is it for a fractional n too (a mean chunk). */
static double q8_payload_bytes(const gcomp_codec_params_t *params, double n, double kept, double width)
{
    (void)kept, (void)width;
    double bucket = params->q8_bucket > 0 ? params->q8_bucket : 1;
    return n + 4 * ceil(n / bucket);
}

/* Scales then values into job->payload, the residual updated in place (codec.h's contract). */
static gcomp_status_t q8_encode(gcomp_encode_job_t *job)
{
    const gcomp_codec_params_t *params = job->params;
    if (params->q8_bucket == 0) {
        gcomp_warn("q8 bucket of 0");
        return GCOMP_ERR_INVALID;
    }
    size_t nb = (size_t)bucket_count(job->n, params->q8_bucket);
    gcomp_q8_encode_args_t args = {
        .src = job->src,
        .residual = job->residual,
        .n = job->n,
        .bucket = params->q8_bucket,
        .rounding = params->rounding,
        .key = job->key,
        .base = job->base,
        .scales = job->payload,
        .q = (int8_t *)(job->payload + 4 * nb),
        .exc = job->exc,
    };
    q8_kernels(job->isa)->encode(&args);
    job->payload_len = 4 * nb + job->n;
    job->kept = job->n;
    return GCOMP_OK;
}

/* Length and scales (LAYOUT), then the values (ELEMENTS): the encoder clamps to [-127, 127], so a
 * -128 only comes from corruption or another writer. */
static gcomp_status_t q8_validate(gcomp_frame_view_t *view, unsigned checks)
{
    const gcomp_wire_header_t *h = &view->h;
    uint64_t n = h->chunk_count;
    if (h->q8_bucket == 0 || n > GCOMP_WIRE_MAX_COUNT) {
        gcomp_warn("rejecting q8 payload: bucket %u, chunk count %llu", h->q8_bucket, (unsigned long long)n);
        return GCOMP_ERR_FRAME;
    }
    uint64_t nb = bucket_count(n, h->q8_bucket);
    uint64_t expect = nb * 4 + n;
    if (view->payload_len != expect) {
        gcomp_warn("rejecting q8 payload from rank %d: %zu bytes, expected %llu for %llu elements in "
                   "buckets of %u", h->rank, view->payload_len, (unsigned long long)expect,
                   (unsigned long long)n, h->q8_bucket);
        return GCOMP_ERR_FRAME;
    }
    /* A scale is the only thing that can turn finite bytes into NaN or Inf, or flip signs. */
    for (uint64_t b = 0; b < nb; b++) {
        float scale = gcomp_q8_load_scale(view->payload, (size_t)b);
        if (!(isfinite(scale) && scale >= 0.0f)) {
            gcomp_warn("rejecting q8 payload from rank %d: bucket %llu has scale %g", h->rank,
                       (unsigned long long)b, (double)scale);
            return GCOMP_ERR_FRAME;
        }
    }
    if (checks & GCOMP_VALIDATE_ELEMENTS) {
        const uint8_t *q = view->payload + 4 * nb;
        const uint8_t *bad = n > 0 ? memchr(q, 0x80, (size_t)n) : NULL;
        if (bad != NULL) {
            gcomp_warn("rejecting q8 payload from rank %d: value -128 at offset %zu", h->rank, (size_t)(bad - q));
            return GCOMP_ERR_FRAME;
        }
    }
    view->layout = (gcomp_payload_layout_t){.nb = nb, .q_off = 4 * nb};
    return GCOMP_OK;
}

static gcomp_status_t q8_decode(const gcomp_decode_job_t *job)
{
    const gcomp_frame_view_t *v = job->view;
    gcomp_q8_decode_args_t args = {
        .scales = v->payload,
        .q = (const int8_t *)(v->payload + v->layout.q_off),
        .n = (size_t)v->h.chunk_count,
        .bucket = v->h.q8_bucket,
        .dst = job->dst,
        .accumulate = job->accumulate,
    };
    size_t bad = q8_kernels(job->isa)->decode(&args);
    if (bad < args.n) {
        /* q8_validate looked for -128 first: a kernel that finds one disagrees with it. */
        gcomp_error("q8 %s kernel found -128 at offset %zu of a validated payload", gcomp_isa_name(job->isa), bad);
        return GCOMP_ERR_INTERNAL;
    }
    return GCOMP_OK;
}

const gcomp_codec_ops_t gcomp_codec_q8_ops = {
    .name = "q8", .id = GCOMP_CODEC_Q8,
    .payload_bound = q8_payload_bound, .payload_bytes = q8_payload_bytes,
    .encode = q8_encode, .validate = q8_validate, .decode = q8_decode,
};
