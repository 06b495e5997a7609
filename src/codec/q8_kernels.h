/*
 * The q8 kernel variants (plain C, AVX2, AVX-512) behind one table, so that codec_q8.c picks one
 * by gcomp_isa_t and the tests compare every variant against the plain C one byte for byte.
 *
 * Each variant reproduces q8_ref.h exactly. The pieces every variant shares live in q8_scalar.c:
 * the per-bucket slow path (non-finite values, a bucket whose absmax is FLT_MAX, stochastic
 * rounding across a 2^32 index boundary) and the per-element tails, so that the rare cases have one
 * implementation and the SIMD files only hold the common one.
 */
#ifndef GCOMP_CODEC_Q8_KERNELS_H
#define GCOMP_CODEC_Q8_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "gcomp.h"
#include "gcomp_config.h"
#include "codec/codec.h"
#include "codec/q8_ref.h"
#include "core/compiler.h"
#include "core/rng.h"

/* Scales are stored with memcpy: the wire is little-endian and so must the host be. */
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the q8 kernels store fp32 scales with memcpy and need a little-endian host"
#endif

/* Absmax keys (gcomp_abs_key) from here on leave the fast path: 0x7f7fffff is FLT_MAX, whose
 * scale FLT_MAX / 127 times 127 rounds to Inf, and everything above is non-finite. */
#define GCOMP_Q8_KEY_SLOW 0x7f7fffffu

/* One encode call: n elements, buckets of `bucket`, payload split into scales and values. */
typedef struct gcomp_q8_encode_args {
    const float *src;
    float *residual;            /* NULL: no error feedback */
    size_t n;
    size_t bucket;              /* >= 1 */
    gcomp_rounding_t rounding;
    gcomp_rng_key_t key;
    uint64_t base;              /* global index of element 0 */
    uint8_t *scales;            /* ceil(n / bucket) little-endian f32, any alignment */
    int8_t *q;                  /* n values, any alignment */
    gcomp_exc_sink_t *exc;      /* non-finite g' values, in offset order; never NULL */
} gcomp_q8_encode_args_t;

/* One decode call; the caller has checked the length and every scale. */
typedef struct gcomp_q8_decode_args {
    const uint8_t *scales;      /* ceil(n / bucket) f32, finite and >= 0 */
    const int8_t *q;
    size_t n;
    size_t bucket;
    float *dst;
    int accumulate;             /* 0: dst = q * scale, 1: dst += q * scale */
} gcomp_q8_decode_args_t;

typedef struct gcomp_q8_kernels {
    const char *name;
    void (*encode)(const gcomp_q8_encode_args_t *a);
    /* @return n, or the offset of a q of -128 (the frame is malformed); buckets before that one
     * have been written to dst. */
    size_t (*decode)(const gcomp_q8_decode_args_t *a);
} gcomp_q8_kernels_t;

GCOMP_INTERNAL extern const gcomp_q8_kernels_t gcomp_q8_kernels_scalar;
#if GCOMP_BUILD_AVX2
GCOMP_INTERNAL extern const gcomp_q8_kernels_t gcomp_q8_kernels_avx2;
#endif
#if GCOMP_BUILD_AVX512
GCOMP_INTERNAL extern const gcomp_q8_kernels_t gcomp_q8_kernels_avx512;
#endif

/*
 * Shared pieces (q8_scalar.c).
 */

/* Where pass 2 reads g' = src + residual: pass 1 leaves it in the residual array with error
 * feedback; without, g' is src itself. */
static inline const float *gcomp_q8_gprime(const gcomp_q8_encode_args_t *a)
{
    return a->residual != NULL ? a->residual : a->src;
}

/* Pass 2 over the bucket [s, s + len) whose absmax key over g' is maxkey, for every case: non-finite
 * values (q = 0, residual 0, one exception each, the scale from the finite ones) and an absmax of
 * FLT_MAX (|q| <= 126 so that q * scale stays finite). Writes the scale, q and the residual. */
GCOMP_INTERNAL void gcomp_q8_bucket_slow(const gcomp_q8_encode_args_t *a, size_t s, size_t len,
                                         uint32_t maxkey);

/* Pass 2 over elements [i, end) of a fast-path bucket (all finite, absmax key below
 * GCOMP_Q8_KEY_SLOW), one at a time with q8_ref.h: the SIMD loops' tails. */
GCOMP_INTERNAL void gcomp_q8_quantize_tail(const gcomp_q8_encode_args_t *a, size_t i, size_t end,
                                           float scale, float inv);

/* 1 if stochastic rounding of [s, s + len) crosses a multiple of 2^32 in the global index, where
 * gcomp_rng_hi changes and the vector generator (one hi per bucket) does not apply. */
static inline int gcomp_q8_rng_straddles(const gcomp_q8_encode_args_t *a, size_t s, size_t len)
{
    uint64_t first = a->base + s, last = a->base + s + len - 1;
    return a->rounding != GCOMP_ROUND_NEAREST && (first >> 32) != (last >> 32);
}

static inline void gcomp_q8_store_scale(const gcomp_q8_encode_args_t *a, size_t bucket_index, float scale)
{
    memcpy(a->scales + 4 * bucket_index, &scale, sizeof(scale));
}

static inline float gcomp_q8_load_scale(const uint8_t *scales, size_t bucket_index)
{
    float scale;
    memcpy(&scale, scales + 4 * bucket_index, sizeof(scale));
    return scale;
}

/*
 * The bucket loop of the SIMD encoders (q8_avx2.c, q8_avx512.c), which differ only in their passes.
 */

/* Calls body(a, s, len, scale, inv, stochastic, ef), an always-inline pass 2, with the call's
 * rounding and error feedback as constants, so that each of the four copies keeps only the
 * registers and branches it needs. */
#define GCOMP_Q8_PASS2_SPECIALIZED(body, a, s, len, scale, inv)                                    \
    do {                                                                                           \
        int stochastic_ = (a)->rounding != GCOMP_ROUND_NEAREST, ef_ = (a)->residual != NULL;      \
        if (stochastic_ && ef_) body(a, s, len, scale, inv, 1, 1);                                 \
        else if (stochastic_) body(a, s, len, scale, inv, 1, 0);                                   \
        else if (ef_) body(a, s, len, scale, inv, 0, 1);                                           \
        else body(a, s, len, scale, inv, 0, 0);                                                    \
    } while (0)

/* Bucket by bucket: pass1 gives the absmax key of g'; a bucket with a non-finite value, an absmax
 * of FLT_MAX or stochastic rounding across a 2^32 index boundary goes to the shared slow path, any
 * other to pass2 (the fast path) with its scale. */
static inline void gcomp_q8_encode_buckets(const gcomp_q8_encode_args_t *a,
                                           uint32_t (*pass1)(const gcomp_q8_encode_args_t *a, size_t s, size_t len),
                                           void (*pass2)(const gcomp_q8_encode_args_t *a, size_t s, size_t len,
                                                         float scale, float inv))
{
    for (size_t s = 0; s < a->n; s += a->bucket) {
        size_t len = GCOMP_MIN(a->bucket, a->n - s);
        uint32_t maxkey = pass1(a, s, len);
        if (GCOMP_UNLIKELY(maxkey >= GCOMP_Q8_KEY_SLOW || gcomp_q8_rng_straddles(a, s, len))) {
            gcomp_q8_bucket_slow(a, s, len, maxkey);
            continue;
        }
        float absmax = gcomp_bits_f32(maxkey);
        float scale = gcomp_q8_scale(absmax);
        pass2(a, s, len, scale, gcomp_q8_inv(absmax));
        gcomp_q8_store_scale(a, s / a->bucket, scale);
    }
}

/* Offset of the first byte of q[0, len) that is -128, or len. */
static inline size_t gcomp_q8_find_bad(const int8_t *q, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (q[i] == INT8_MIN) return i;
    return len;
}

#endif
