/*
 * The host memory space: plain 64-byte aligned memory and the host codecs, exactly what the
 * collectives called before spaces were an ops table. Each operation is one indirect call per frame
 * or per chunk; the loops stay here, never behind a call per element.
 */
#include <math.h>
#include <string.h>

#include "codec/codec.h"
#include "codec/space.h"

static gcomp_status_t host_alloc(const gcomp_space_t *sp, size_t bytes, void **p_p)
{
    (void)sp;
    void *p = gcomp_aligned_alloc(bytes ? bytes : 1);
    if (p == NULL) return GCOMP_ERR_NOMEM;
    *p_p = p;
    return GCOMP_OK;
}

static void host_free(const gcomp_space_t *sp, void *p)
{
    (void)sp;
    gcomp_aligned_free(p);
}

static gcomp_status_t host_copy(const gcomp_space_t *sp, void *dst, const void *src, size_t bytes)
{
    (void)sp;
    memcpy(dst, src, bytes);
    return GCOMP_OK;
}

static gcomp_status_t host_zero(const gcomp_space_t *sp, void *p, size_t bytes)
{
    (void)sp;
    memset(p, 0, bytes);
    return GCOMP_OK;
}

static gcomp_status_t host_encode(const gcomp_space_t *sp, const gcomp_codec_params_t *params,
                                  const gcomp_frame_info_t *where, const float *src, float *residual, void *frame,
                                  size_t capacity, gcomp_isa_t isa, gcomp_scratch_t *scratch,
                                  gcomp_frame_info_t *info_p)
{
    (void)sp;
    return gcomp_frame_encode_ex(params, where, src, residual, frame, capacity, isa, scratch, info_p);
}

static gcomp_status_t host_decode(const gcomp_space_t *sp, const void *frame, size_t frame_len,
                                  const gcomp_frame_info_t *expect, float *dst, int accumulate, int require_checksum,
                                  gcomp_isa_t isa, gcomp_scratch_t *scratch, gcomp_frame_info_t *info_p)
{
    (void)sp;
    return gcomp_frame_decode_ex(frame, frame_len, expect, dst, accumulate, isa, scratch, require_checksum, info_p);
}

static gcomp_status_t host_fold(const gcomp_space_t *sp, float *acc, float *res, size_t n)
{
    (void)sp;
    for (size_t i = 0; i < n; i++) {
        acc[i] += res[i];
        res[i] = 0.0f;
    }
    return GCOMP_OK;
}

static gcomp_status_t host_count(const gcomp_space_t *sp, const float *acc, size_t n, uint64_t *nnz_p,
                                 uint64_t *nonfinite_p, uint64_t *max_delta_p)
{
    (void)sp;
    uint64_t nnz = 0, nonfinite = 0, max_delta = 0;
    size_t prev = 0;
    for (size_t i = 0; i < n; i++) {
        float v = acc[i];
        if (!isfinite(v)) {
            nonfinite++;
        } else if (v != 0.0f) {
            uint64_t delta = nnz == 0 ? i : i - prev - 1;
            if (delta > max_delta) max_delta = delta;
            prev = i;
            nnz++;
        }
    }
    *nnz_p = nnz, *nonfinite_p = nonfinite, *max_delta_p = max_delta;
    return GCOMP_OK;
}

/* bf16 is the top half of an fp32; rounding to nearest even, NaN kept quiet. */
static uint16_t f32_to_bf16(float f)
{
    uint32_t x = gcomp_f32_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40u);
    return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

static gcomp_status_t host_widen(const gcomp_space_t *sp, const void *in, gcomp_dtype_t dtype, float *out, size_t n)
{
    (void)sp;
    switch (dtype) {
    case GCOMP_DTYPE_FP64:
        for (size_t i = 0; i < n; i++) out[i] = (float)((const double *)in)[i];
        break;
    case GCOMP_DTYPE_FP16:
        for (size_t i = 0; i < n; i++) out[i] = gcomp_f16_to_f32(((const uint16_t *)in)[i]);
        break;
    case GCOMP_DTYPE_BF16:
        for (size_t i = 0; i < n; i++) out[i] = gcomp_bits_f32((uint32_t)((const uint16_t *)in)[i] << 16);
        break;
    case GCOMP_DTYPE_FP32:
        memcpy(out, in, n * sizeof(float));
        break;
    }
    return GCOMP_OK;
}

/* Sums beyond a narrower type's range become Inf, as they would in that type. */
static gcomp_status_t host_narrow(const gcomp_space_t *sp, const float *in, void *out, gcomp_dtype_t dtype, size_t n)
{
    (void)sp;
    switch (dtype) {
    case GCOMP_DTYPE_FP64:
        for (size_t i = 0; i < n; i++) ((double *)out)[i] = in[i];
        break;
    case GCOMP_DTYPE_FP16:
        for (size_t i = 0; i < n; i++) ((uint16_t *)out)[i] = gcomp_f32_to_f16(in[i]);
        break;
    case GCOMP_DTYPE_BF16:
        for (size_t i = 0; i < n; i++) ((uint16_t *)out)[i] = f32_to_bf16(in[i]);
        break;
    case GCOMP_DTYPE_FP32:
        if (out != in) memcpy(out, in, n * sizeof(float));
        break;
    }
    return GCOMP_OK;
}

const gcomp_space_ops_t gcomp_space_host_ops = {
    .name = "host",
    .alloc = host_alloc, .free = host_free, .copy = host_copy, .zero = host_zero,
    .encode = host_encode, .decode = host_decode, .fold = host_fold, .count = host_count,
    .widen = host_widen, .narrow = host_narrow,
    .frame_alloc = NULL, .frame_free = NULL,
};
