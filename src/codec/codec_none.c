/*
 * The none codec: the chunk as n little-endian fp32 values. It is the dense baseline every other
 * codec is measured against, and what a collective falls back to when compression would not pay.
 *
 * With error feedback the residual is added and then cleared: nothing is dropped, so nothing is
 * carried over. Non-finite values travel in the payload as they are (no exception list needed).
 */
#define GCOMP_LOG_SUBSYS GCOMP_SUBSYS_CODEC
#include <string.h>

#include "codec/codec.h"
#include "core/log.h"

/* Values are moved with memcpy: the wire is little-endian and so must the host be. */
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the none codec copies fp32 values to the wire as they are and needs a little-endian host"
#endif

/* Exactly 4 bytes an element. */
static size_t none_payload_bound(const gcomp_codec_params_t *params, uint64_t n)
{
    (void)params;
    return (size_t)n * 4;
}

static double none_payload_bytes(const gcomp_codec_params_t *params, double n, double kept, double width)
{
    (void)params, (void)kept, (void)width;
    return 4 * n;
}

/* g' = src + residual into the payload, and the residual cleared: nothing was dropped. */
static gcomp_status_t none_encode(gcomp_encode_job_t *job)
{
    size_t n = job->n;
    if (job->residual == NULL) {
        if (n > 0) memcpy(job->payload, job->src, n * 4);
    } else {
        const float *src = job->src;
        float *res = job->residual;
        uint8_t *out = job->payload;
        for (size_t i = 0; i < n; i++) {
            float v = src[i] + res[i];
            memcpy(out + 4 * i, &v, sizeof(v));
            res[i] = 0.0f;
        }
    }
    job->payload_len = n * 4;
    job->kept = n;
    return GCOMP_OK;
}

/* The length must be exactly 4 n; any bits are a value (non-finite ones travel as they are). */
static gcomp_status_t none_validate(gcomp_frame_view_t *view, unsigned checks)
{
    (void)checks;
    uint64_t n = view->h.chunk_count;
    if (n > GCOMP_WIRE_MAX_COUNT || view->payload_len != n * 4) {
        gcomp_warn("rejecting none payload from rank %d: %zu bytes, expected %llu for %llu elements",
                   view->h.rank, view->payload_len, (unsigned long long)(n * 4), (unsigned long long)n);
        return GCOMP_ERR_FRAME;
    }
    view->layout = (gcomp_payload_layout_t){0};
    return GCOMP_OK;
}

/* Values are copied or added (one rounding per element). */
static gcomp_status_t none_decode(const gcomp_decode_job_t *job)
{
    size_t n = (size_t)job->view->h.chunk_count;
    if (n == 0) return GCOMP_OK;
    if (!job->accumulate) {
        memcpy(job->dst, job->view->payload, n * 4);
        return GCOMP_OK;
    }
    const uint8_t *in = job->view->payload;
    float *dst = job->dst;
    for (size_t i = 0; i < n; i++) {
        float v;
        memcpy(&v, in + 4 * i, sizeof(v));
        dst[i] += v;
    }
    return GCOMP_OK;
}

const gcomp_codec_ops_t gcomp_codec_none_ops = {
    .name = "none", .id = GCOMP_CODEC_NONE,
    .payload_bound = none_payload_bound, .payload_bytes = none_payload_bytes, .exceptions_inline = 1,
    .encode = none_encode, .validate = none_validate, .decode = none_decode,
};
