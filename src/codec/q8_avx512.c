/*
 * AVX-512 q8 kernels (built with -mavx512f -mavx512bw -mavx512vl -mavx512dq -mf16c, called only
 * where gcomp_isa_available says so): q8_avx2.c widened to sixteen lanes, with masked loads and
 * stores for the tails instead of a scalar remainder.
 *
 * Bit-identical to q8_scalar.c for the reasons given in q8_avx2.c; here:
 *   floorf       -> _mm512_roundscale_ps(x, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC)
 *   nearbyintf   -> _mm512_roundscale_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)
 *   (int8_t)q    -> cvtps_epi32 then vpmovdb (truncation, exact for q in [-127, 127])
 * Masked-off lanes load as 0, which adds nothing to the absmax, and are never stored.
 */
#include "gcomp_config.h"

#if GCOMP_BUILD_AVX512

#include <immintrin.h>

#include "codec/q8_kernels.h"

/* The first count (< 16) lanes. */
static inline __mmask16 tail_mask(size_t count)
{
    return (__mmask16)((1u << count) - 1u);
}

/* |g| as integer keys: an integer max finds the absmax and any NaN/Inf in one instruction. */
static inline __m512i abs_key(__m512 g)
{
    return _mm512_and_si512(_mm512_castps_si512(g), _mm512_set1_epi32(0x7fffffff));
}

/* Pass 1 over [s, s + len): g' = src + residual stored into the residual (with error feedback);
 * returns the absmax key of g'. */
static uint32_t pass1(const gcomp_q8_encode_args_t *a, size_t s, size_t len)
{
    const float *src = a->src + s;
    __m512i m0 = _mm512_setzero_si512(), m1 = m0, m2 = m0, m3 = m0;
    size_t i = 0;
    if (a->residual != NULL) {
        float *res = a->residual + s;
        for (; i + 64 <= len; i += 64) {
            __m512 g0 = _mm512_add_ps(_mm512_loadu_ps(src + i), _mm512_loadu_ps(res + i));
            __m512 g1 = _mm512_add_ps(_mm512_loadu_ps(src + i + 16), _mm512_loadu_ps(res + i + 16));
            __m512 g2 = _mm512_add_ps(_mm512_loadu_ps(src + i + 32), _mm512_loadu_ps(res + i + 32));
            __m512 g3 = _mm512_add_ps(_mm512_loadu_ps(src + i + 48), _mm512_loadu_ps(res + i + 48));
            _mm512_storeu_ps(res + i, g0);
            _mm512_storeu_ps(res + i + 16, g1);
            _mm512_storeu_ps(res + i + 32, g2);
            _mm512_storeu_ps(res + i + 48, g3);
            m0 = _mm512_max_epu32(m0, abs_key(g0));
            m1 = _mm512_max_epu32(m1, abs_key(g1));
            m2 = _mm512_max_epu32(m2, abs_key(g2));
            m3 = _mm512_max_epu32(m3, abs_key(g3));
        }
        for (; i < len; i += 16) {
            __mmask16 k = len - i >= 16 ? (__mmask16)0xffff : tail_mask(len - i);
            __m512 g = _mm512_add_ps(_mm512_maskz_loadu_ps(k, src + i), _mm512_maskz_loadu_ps(k, res + i));
            _mm512_mask_storeu_ps(res + i, k, g);
            m0 = _mm512_max_epu32(m0, abs_key(g));
        }
    } else {
        for (; i + 64 <= len; i += 64) {
            m0 = _mm512_max_epu32(m0, abs_key(_mm512_loadu_ps(src + i)));
            m1 = _mm512_max_epu32(m1, abs_key(_mm512_loadu_ps(src + i + 16)));
            m2 = _mm512_max_epu32(m2, abs_key(_mm512_loadu_ps(src + i + 32)));
            m3 = _mm512_max_epu32(m3, abs_key(_mm512_loadu_ps(src + i + 48)));
        }
        for (; i < len; i += 16) {
            __mmask16 k = len - i >= 16 ? (__mmask16)0xffff : tail_mask(len - i);
            m0 = _mm512_max_epu32(m0, abs_key(_mm512_maskz_loadu_ps(k, src + i)));
        }
    }
    m0 = _mm512_max_epu32(_mm512_max_epu32(m0, m1), _mm512_max_epu32(m2, m3));
    return (uint32_t)_mm512_reduce_max_epu32(m0);
}

/* gcomp_hash32 on sixteen lanes. */
static inline __m512i hash32(__m512i x)
{
    x = _mm512_xor_si512(x, _mm512_srli_epi32(x, 16));
    x = _mm512_mullo_epi32(x, _mm512_set1_epi32(0x7feb352d));
    x = _mm512_xor_si512(x, _mm512_srli_epi32(x, 15));
    x = _mm512_mullo_epi32(x, _mm512_set1_epi32((int)0x846ca68bu));
    x = _mm512_xor_si512(x, _mm512_srli_epi32(x, 16));
    return x;
}

/* Per-bucket constants of pass 2. */
typedef struct {
    __m512 inv, scale, lo, hi;
    __m512i k0, khi;   /* key.k0 and gcomp_rng_hi of the bucket */
} q8_consts_t;

/* q for sixteen values of g' whose global indices are the low 32 bits in idx, as int32 lanes. */
static inline __attribute__((always_inline)) __m512i quantize16(const q8_consts_t *c, __m512 g, __m512i idx,
                                                                const int stochastic)
{
    __m512 t = _mm512_mul_ps(g, c->inv);
    if (stochastic) {
        __m512i bits = hash32(_mm512_add_epi32(hash32(_mm512_xor_si512(idx, c->k0)), c->khi));
        __m512 u = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_srli_epi32(bits, 8)), _mm512_set1_ps(0x1p-24f));
        t = _mm512_roundscale_ps(_mm512_add_ps(t, u), _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
    } else {
        t = _mm512_roundscale_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    }
    t = _mm512_min_ps(_mm512_max_ps(t, c->lo), c->hi);
    return _mm512_cvtps_epi32(t);
}

/* g' - q * scale, multiply and subtract rounded separately as in q8_ref.h. */
static inline __m512 residual16(const q8_consts_t *c, __m512 g, __m512i q)
{
    return _mm512_sub_ps(g, _mm512_mul_ps(_mm512_cvtepi32_ps(q), c->scale));
}

/* Elements of the next bucket prefetched during pass 2 (as in q8_avx2.c). */
#define PREFETCH_MAX 1024

/* always_inline: as an out-of-line function it has no visible effect, so GCC drops the calls. */
static inline __attribute__((always_inline)) void prefetch(const void *base, size_t byte_offset)
{
    /* Integer arithmetic: the address may lie up to a line past the array (prefetches never fault). */
    _mm_prefetch((const char *)((uintptr_t)base + byte_offset), _MM_HINT_T0);
}

/* Pass 2 over a fast-path bucket [s, s + len); stochastic and ef are constants at each call site. */
static inline __attribute__((always_inline)) void pass2_body(const gcomp_q8_encode_args_t *a, size_t s,
                                                             size_t len, float scale, float inv,
                                                             const int stochastic, const int ef)
{
    const float *g = gcomp_q8_gprime(a) + s;
    float *res = ef ? a->residual + s : NULL;
    int8_t *q = a->q + s;
    q8_consts_t c = {
        .inv = _mm512_set1_ps(inv),
        .scale = _mm512_set1_ps(scale),
        .lo = _mm512_set1_ps(-127.0f),
        .hi = _mm512_set1_ps(127.0f),
        .k0 = _mm512_set1_epi32((int)a->key.k0),
        .khi = _mm512_set1_epi32((int)gcomp_rng_hi(a->key, a->base + s)),
    };
    __m512i idx = _mm512_add_epi32(_mm512_set1_epi32((int)(uint32_t)(a->base + s)),
                                   _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15));
    const __m512i step16 = _mm512_set1_epi32(16);
    size_t next = s + len, pf_len = GCOMP_MIN(GCOMP_MIN(len, a->n - next), (size_t)PREFETCH_MAX);
    const float *pf_src = a->src + next, *pf_res = ef ? a->residual + next : NULL;
    size_t i = 0;
    for (; i + 64 <= len; i += 64) {
        if (i < pf_len) {
            for (size_t line = 0; line < 256; line += 64) {
                prefetch(pf_src, 4 * i + line);
                if (ef) prefetch(pf_res, 4 * i + line);
            }
        }
        __m512 g0 = _mm512_loadu_ps(g + i), g1 = _mm512_loadu_ps(g + i + 16);
        __m512 g2 = _mm512_loadu_ps(g + i + 32), g3 = _mm512_loadu_ps(g + i + 48);
        __m512i i1 = _mm512_add_epi32(idx, step16), i2 = _mm512_add_epi32(i1, step16);
        __m512i i3 = _mm512_add_epi32(i2, step16);
        __m512i q0 = quantize16(&c, g0, idx, stochastic), q1 = quantize16(&c, g1, i1, stochastic);
        __m512i q2 = quantize16(&c, g2, i2, stochastic), q3 = quantize16(&c, g3, i3, stochastic);
        idx = _mm512_add_epi32(i3, step16);
        if (ef) {
            _mm512_storeu_ps(res + i, residual16(&c, g0, q0));
            _mm512_storeu_ps(res + i + 16, residual16(&c, g1, q1));
            _mm512_storeu_ps(res + i + 32, residual16(&c, g2, q2));
            _mm512_storeu_ps(res + i + 48, residual16(&c, g3, q3));
        }
        _mm_storeu_si128((__m128i *)(q + i), _mm512_cvtepi32_epi8(q0));
        _mm_storeu_si128((__m128i *)(q + i + 16), _mm512_cvtepi32_epi8(q1));
        _mm_storeu_si128((__m128i *)(q + i + 32), _mm512_cvtepi32_epi8(q2));
        _mm_storeu_si128((__m128i *)(q + i + 48), _mm512_cvtepi32_epi8(q3));
    }
    for (; i < len; i += 16) {
        __mmask16 k = len - i >= 16 ? (__mmask16)0xffff : tail_mask(len - i);
        __m512 g0 = _mm512_maskz_loadu_ps(k, g + i);
        __m512i q0 = quantize16(&c, g0, idx, stochastic);
        idx = _mm512_add_epi32(idx, step16);
        if (ef) _mm512_mask_storeu_ps(res + i, k, residual16(&c, g0, q0));
        _mm512_mask_cvtepi32_storeu_epi8(q + i, k, q0);
    }
}

/* Pass 2 with the rounding and error feedback of this call fixed at compile time. */
static void pass2(const gcomp_q8_encode_args_t *a, size_t s, size_t len, float scale, float inv)
{
    GCOMP_Q8_PASS2_SPECIALIZED(pass2_body, a, s, len, scale, inv);
}

/* As encode_scalar, with the vector passes; every rare case goes to the shared slow path. */
static void encode_avx512(const gcomp_q8_encode_args_t *a)
{
    gcomp_q8_encode_buckets(a, pass1, pass2);
}

/* Offset of the first -128 in q[0, len), or len; vector compare, exact position found in C. */
static size_t find_bad(const int8_t *q, size_t len)
{
    const __m512i bad = _mm512_set1_epi8(INT8_MIN);
    size_t i = 0;
    for (; i + 64 <= len; i += 64) {
        if (_mm512_cmpeq_epi8_mask(_mm512_loadu_si512((const void *)(q + i)), bad) != 0) break;
    }
    return i + gcomp_q8_find_bad(q + i, len - i);
}

/* Sixteen q values (the lanes of k) as floats times the scale. */
static inline __m512 dequantize16(const int8_t *q, __mmask16 k, __m512 scale)
{
    __m512i v = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(k, q));
    return _mm512_mul_ps(_mm512_cvtepi32_ps(v), scale);
}

/* As decode_scalar: a mul and a separate add, never an FMA. */
static size_t decode_avx512(const gcomp_q8_decode_args_t *a)
{
    for (size_t s = 0; s < a->n; s += a->bucket) {
        size_t len = GCOMP_MIN(a->bucket, a->n - s);
        const int8_t *q = a->q + s;
        float *dst = a->dst + s;
        /* Checked bucket by bucket just before decoding, while the bytes are in L1. */
        size_t bad = find_bad(q, len);
        if (bad < len) return s + bad;
        __m512 scale = _mm512_set1_ps(gcomp_q8_load_scale(a->scales, s / a->bucket));
        for (size_t i = 0; i < len; i += 16) {
            __mmask16 k = len - i >= 16 ? (__mmask16)0xffff : tail_mask(len - i);
            __m512 d = dequantize16(q + i, k, scale);
            if (a->accumulate) d = _mm512_add_ps(_mm512_maskz_loadu_ps(k, dst + i), d);
            _mm512_mask_storeu_ps(dst + i, k, d);
        }
    }
    return a->n;
}

const gcomp_q8_kernels_t gcomp_q8_kernels_avx512 = {
    .name = "avx512",
    .encode = encode_avx512,
    .decode = decode_avx512,
};

#endif /* GCOMP_BUILD_AVX512 */
