/*
 * The plain C q8 kernels: the variant every SIMD one is tested against, and the shared slow path
 * and tails (q8_kernels.h). Everything here goes through q8_ref.h one element at a time, so this
 * file is the reference arithmetic in loop form.
 *
 * Encode works bucket by bucket in two passes so that src and the residual are read from memory
 * once: pass 1 forms g' = src + residual (into the residual array) and its absmax; pass 2 reads g'
 * back from L1, quantizes it and leaves g' - decode(q) in the residual.
 */
#include "codec/q8_kernels.h"

#include <math.h>

/* Pass 1 over [s, s + len): g' into the residual (with error feedback); returns the absmax key. */
static uint32_t pass1(const gcomp_q8_encode_args_t *a, size_t s, size_t len)
{
    const float *src = a->src + s;
    uint32_t maxkey = 0;
    if (a->residual != NULL) {
        float *res = a->residual + s;
        for (size_t i = 0; i < len; i++) {
            float g = src[i] + res[i];
            res[i] = g;
            uint32_t k = gcomp_abs_key(g);
            maxkey = k > maxkey ? k : maxkey;
        }
    } else {
        for (size_t i = 0; i < len; i++) {
            uint32_t k = gcomp_abs_key(src[i]);
            maxkey = k > maxkey ? k : maxkey;
        }
    }
    return maxkey;
}

void gcomp_q8_quantize_tail(const gcomp_q8_encode_args_t *a, size_t i, size_t end, float scale, float inv)
{
    const float *g = gcomp_q8_gprime(a);
    int stochastic = a->rounding != GCOMP_ROUND_NEAREST;
    for (; i < end; i++) {
        float v = g[i];
        uint32_t bits = stochastic ? gcomp_rng_bits(a->key, a->base + i) : 0;
        int8_t q = gcomp_q8_quantize(v, inv, a->rounding, bits);
        a->q[i] = q;
        if (a->residual != NULL) a->residual[i] = v - gcomp_q8_dequantize(q, scale);
    }
}

void gcomp_q8_bucket_slow(const gcomp_q8_encode_args_t *a, size_t s, size_t len, uint32_t maxkey)
{
    const float *g = gcomp_q8_gprime(a);
    size_t end = s + len;
    /* The scale comes from the finite values only: one Inf must not flatten the rest to 0. */
    uint32_t finite_max = 0;
    if (maxkey >= GCOMP_ABS_KEY_NONFINITE) {
        for (size_t i = s; i < end; i++) {
            uint32_t k = gcomp_abs_key(g[i]);
            if (k < GCOMP_ABS_KEY_NONFINITE && k > finite_max) finite_max = k;
        }
    } else {
        finite_max = maxkey;
    }
    float absmax = gcomp_bits_f32(finite_max);
    float scale = gcomp_q8_scale(absmax), inv = gcomp_q8_inv(absmax);
    /* 127 * (FLT_MAX / 127) rounds to Inf: with that absmax, |q| stops at 126 so that neither the
     * decoded value nor the residual overflows. No other absmax does this. */
    int8_t qmax = finite_max >= GCOMP_Q8_KEY_SLOW ? 126 : 127;
    int stochastic = a->rounding != GCOMP_ROUND_NEAREST;

    for (size_t i = s; i < end; i++) {
        float v = g[i];
        if (!isfinite(v)) {
            a->q[i] = 0;
            if (a->residual != NULL) a->residual[i] = 0.0f;
            gcomp_exc_push(a->exc, i, v);
            continue;
        }
        uint32_t bits = stochastic ? gcomp_rng_bits(a->key, a->base + i) : 0;
        int8_t q = gcomp_q8_quantize(v, inv, a->rounding, bits);
        if (q > qmax) q = qmax;
        if (q < -qmax) q = (int8_t)-qmax;
        a->q[i] = q;
        if (a->residual != NULL) a->residual[i] = v - gcomp_q8_dequantize(q, scale);
    }
    gcomp_q8_store_scale(a, s / a->bucket, scale);
}

/* Bucket by bucket: pass 1, then the fast pass 2 or the slow path. */
static void encode_scalar(const gcomp_q8_encode_args_t *a)
{
    for (size_t s = 0; s < a->n; s += a->bucket) {
        size_t len = GCOMP_MIN(a->bucket, a->n - s);
        uint32_t maxkey = pass1(a, s, len);
        if (GCOMP_UNLIKELY(maxkey >= GCOMP_Q8_KEY_SLOW)) {
            gcomp_q8_bucket_slow(a, s, len, maxkey);
            continue;
        }
        float absmax = gcomp_bits_f32(maxkey);
        float scale = gcomp_q8_scale(absmax);
        gcomp_q8_quantize_tail(a, s, s + len, scale, gcomp_q8_inv(absmax));
        gcomp_q8_store_scale(a, s / a->bucket, scale);
    }
}

/* Bucket by bucket: reject a -128, then q * scale into (or onto) dst. */
static size_t decode_scalar(const gcomp_q8_decode_args_t *a)
{
    for (size_t s = 0; s < a->n; s += a->bucket) {
        size_t len = GCOMP_MIN(a->bucket, a->n - s);
        const int8_t *q = a->q + s;
        float *dst = a->dst + s;
        size_t bad = gcomp_q8_find_bad(q, len);
        if (bad < len) return s + bad;
        float scale = gcomp_q8_load_scale(a->scales, s / a->bucket);
        if (a->accumulate) {
            for (size_t i = 0; i < len; i++) dst[i] += gcomp_q8_dequantize(q[i], scale);
        } else {
            for (size_t i = 0; i < len; i++) dst[i] = gcomp_q8_dequantize(q[i], scale);
        }
    }
    return a->n;
}

const gcomp_q8_kernels_t gcomp_q8_kernels_scalar = {
    .name = "scalar",
    .encode = encode_scalar,
    .decode = decode_scalar,
};
