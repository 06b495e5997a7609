/*
 * AVX2 q8 kernels (built with -mavx2 -mf16c, called only where gcomp_isa_available says so).
 *
 * Bit-identical to q8_scalar.c: the same operations in the same order, each one rounded on its
 * own (the build has -ffp-contract=off and no -mfma, and there is no FMA intrinsic here):
 *   floorf       -> _mm256_floor_ps
 *   nearbyintf   -> _mm256_round_ps(x, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC) (ties to even)
 *   clamp        -> max then min (no NaN reaches them: such buckets take the slow path)
 *   (int8_t)q    -> cvtps_epi32 (exact: q is already an integer) and saturating packs (no-ops in range)
 * The stochastic-rounding bits are gcomp_rng_bits with hi = gcomp_rng_hi held fixed over the
 * bucket; a bucket that crosses a multiple of 2^32 in the global index takes the slow path.
 * Loads and stores are unaligned: buckets start anywhere and the payload follows a 96-byte header.
 */
#include "gcomp_config.h"

#if GCOMP_BUILD_AVX2

#include <immintrin.h>

#include "codec/q8_kernels.h"

/* The horizontal maximum of eight unsigned keys. */
static inline uint32_t hmax_epu32(__m256i m)
{
    __m128i x = _mm_max_epu32(_mm256_castsi256_si128(m), _mm256_extracti128_si256(m, 1));
    x = _mm_max_epu32(x, _mm_shuffle_epi32(x, _MM_SHUFFLE(1, 0, 3, 2)));
    x = _mm_max_epu32(x, _mm_shuffle_epi32(x, _MM_SHUFFLE(2, 3, 0, 1)));
    return (uint32_t)_mm_cvtsi128_si32(x);
}

/* |g| as integer keys: an integer max finds the absmax and any NaN/Inf in one instruction. */
static inline __m256i abs_key(__m256 g)
{
    return _mm256_and_si256(_mm256_castps_si256(g), _mm256_set1_epi32(0x7fffffff));
}

/* Pass 1 over [s, s + len): g' = src + residual stored into the residual (with error feedback);
 * returns the absmax key of g'. */
static uint32_t pass1(const gcomp_q8_encode_args_t *a, size_t s, size_t len)
{
    const float *src = a->src + s;
    __m256i m0 = _mm256_setzero_si256(), m1 = m0, m2 = m0, m3 = m0;
    uint32_t maxkey = 0;
    size_t i = 0;
    if (a->residual != NULL) {
        float *res = a->residual + s;
        for (; i + 32 <= len; i += 32) {
            __m256 g0 = _mm256_add_ps(_mm256_loadu_ps(src + i), _mm256_loadu_ps(res + i));
            __m256 g1 = _mm256_add_ps(_mm256_loadu_ps(src + i + 8), _mm256_loadu_ps(res + i + 8));
            __m256 g2 = _mm256_add_ps(_mm256_loadu_ps(src + i + 16), _mm256_loadu_ps(res + i + 16));
            __m256 g3 = _mm256_add_ps(_mm256_loadu_ps(src + i + 24), _mm256_loadu_ps(res + i + 24));
            _mm256_storeu_ps(res + i, g0);
            _mm256_storeu_ps(res + i + 8, g1);
            _mm256_storeu_ps(res + i + 16, g2);
            _mm256_storeu_ps(res + i + 24, g3);
            m0 = _mm256_max_epu32(m0, abs_key(g0));
            m1 = _mm256_max_epu32(m1, abs_key(g1));
            m2 = _mm256_max_epu32(m2, abs_key(g2));
            m3 = _mm256_max_epu32(m3, abs_key(g3));
        }
        for (; i + 8 <= len; i += 8) {
            __m256 g = _mm256_add_ps(_mm256_loadu_ps(src + i), _mm256_loadu_ps(res + i));
            _mm256_storeu_ps(res + i, g);
            m0 = _mm256_max_epu32(m0, abs_key(g));
        }
        for (; i < len; i++) {
            float g = src[i] + res[i];
            res[i] = g;
            maxkey = GCOMP_MAX(maxkey, gcomp_abs_key(g));
        }
    } else {
        for (; i + 32 <= len; i += 32) {
            m0 = _mm256_max_epu32(m0, abs_key(_mm256_loadu_ps(src + i)));
            m1 = _mm256_max_epu32(m1, abs_key(_mm256_loadu_ps(src + i + 8)));
            m2 = _mm256_max_epu32(m2, abs_key(_mm256_loadu_ps(src + i + 16)));
            m3 = _mm256_max_epu32(m3, abs_key(_mm256_loadu_ps(src + i + 24)));
        }
        for (; i + 8 <= len; i += 8) m0 = _mm256_max_epu32(m0, abs_key(_mm256_loadu_ps(src + i)));
        for (; i < len; i++) maxkey = GCOMP_MAX(maxkey, gcomp_abs_key(src[i]));
    }
    m0 = _mm256_max_epu32(_mm256_max_epu32(m0, m1), _mm256_max_epu32(m2, m3));
    return GCOMP_MAX(maxkey, hmax_epu32(m0));
}

/* gcomp_hash32 on eight lanes. */
static inline __m256i hash32(__m256i x)
{
    x = _mm256_xor_si256(x, _mm256_srli_epi32(x, 16));
    x = _mm256_mullo_epi32(x, _mm256_set1_epi32(0x7feb352d));
    x = _mm256_xor_si256(x, _mm256_srli_epi32(x, 15));
    x = _mm256_mullo_epi32(x, _mm256_set1_epi32((int)0x846ca68bu));
    x = _mm256_xor_si256(x, _mm256_srli_epi32(x, 16));
    return x;
}

/* Per-bucket constants of pass 2. */
typedef struct {
    __m256 inv, scale, lo, hi;
    __m256i k0, khi;   /* key.k0 and gcomp_rng_hi of the bucket */
} q8_consts_t;

/* q for eight values of g' whose global indices are the low 32 bits in idx, as int32 lanes. */
static inline __attribute__((always_inline)) __m256i quantize8(const q8_consts_t *c, __m256 g, __m256i idx,
                                                               const int stochastic)
{
    __m256 t = _mm256_mul_ps(g, c->inv);
    if (stochastic) {
        __m256i bits = hash32(_mm256_add_epi32(hash32(_mm256_xor_si256(idx, c->k0)), c->khi));
        __m256 u = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_srli_epi32(bits, 8)), _mm256_set1_ps(0x1p-24f));
        t = _mm256_floor_ps(_mm256_add_ps(t, u));
    } else {
        t = _mm256_round_ps(t, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    }
    t = _mm256_min_ps(_mm256_max_ps(t, c->lo), c->hi);
    return _mm256_cvtps_epi32(t);
}

/* residual = g' - q * scale, multiply and subtract rounded separately as in q8_ref.h. */
static inline void store_residual(const q8_consts_t *c, float *res, __m256 g, __m256i q)
{
    _mm256_storeu_ps(res, _mm256_sub_ps(g, _mm256_mul_ps(_mm256_cvtepi32_ps(q), c->scale)));
}

/* Elements of the next bucket prefetched during pass 2: beyond that (8 KiB of src and residual),
 * the hardware prefetcher follows pass 1's stream on its own, and more would push this bucket out
 * of L1. */
#define PREFETCH_MAX 1024

/* always_inline: as an out-of-line function it has no visible effect, so GCC drops the calls. */
static inline __attribute__((always_inline)) void prefetch(const void *base, size_t byte_offset)
{
    /* Integer arithmetic: the address may lie up to a line past the array (prefetches never fault). */
    _mm_prefetch((const char *)((uintptr_t)base + byte_offset), _MM_HINT_T0);
}

/* Pass 2 over a fast-path bucket [s, s + len); stochastic and ef are constants at each call site
 * so that each of the four loops keeps only the registers and branches it needs. */
static inline __attribute__((always_inline)) void pass2_body(const gcomp_q8_encode_args_t *a, size_t s,
                                                             size_t len, float scale, float inv,
                                                             const int stochastic, const int ef)
{
    const float *g = gcomp_q8_gprime(a) + s;
    float *res = ef ? a->residual + s : NULL;
    int8_t *q = a->q + s;
    q8_consts_t c = {
        .inv = _mm256_set1_ps(inv),
        .scale = _mm256_set1_ps(scale),
        .lo = _mm256_set1_ps(-127.0f),
        .hi = _mm256_set1_ps(127.0f),
        .k0 = _mm256_set1_epi32((int)a->key.k0),
        .khi = _mm256_set1_epi32((int)gcomp_rng_hi(a->key, a->base + s)),
    };
    __m256i idx = _mm256_add_epi32(_mm256_set1_epi32((int)(uint32_t)(a->base + s)),
                                   _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    const __m256i step8 = _mm256_set1_epi32(8);
    /* After the two packs each 128-bit lane holds 4-byte groups a0 b0 c0 d0 | a1 b1 c1 d1. */
    const __m256i unzip = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    /* Pull the next bucket's src and residual in while this one computes, so that the memory
     * stream does not stall behind the arithmetic (the stochastic hash is not free). */
    size_t next = s + len, pf_len = GCOMP_MIN(GCOMP_MIN(len, a->n - next), (size_t)PREFETCH_MAX);
    const float *pf_src = a->src + next, *pf_res = ef ? a->residual + next : NULL;
    size_t i = 0;
    for (; i + 32 <= len; i += 32) {
        if (i < pf_len) {
            prefetch(pf_src, 4 * i);
            prefetch(pf_src, 4 * i + 64);
            if (ef) {
                prefetch(pf_res, 4 * i);
                prefetch(pf_res, 4 * i + 64);
            }
        }
        __m256 g0 = _mm256_loadu_ps(g + i), g1 = _mm256_loadu_ps(g + i + 8);
        __m256 g2 = _mm256_loadu_ps(g + i + 16), g3 = _mm256_loadu_ps(g + i + 24);
        __m256i i1 = _mm256_add_epi32(idx, step8), i2 = _mm256_add_epi32(i1, step8);
        __m256i i3 = _mm256_add_epi32(i2, step8);
        __m256i q0 = quantize8(&c, g0, idx, stochastic), q1 = quantize8(&c, g1, i1, stochastic);
        __m256i q2 = quantize8(&c, g2, i2, stochastic), q3 = quantize8(&c, g3, i3, stochastic);
        idx = _mm256_add_epi32(i3, step8);
        if (ef) {
            store_residual(&c, res + i, g0, q0);
            store_residual(&c, res + i + 8, g1, q1);
            store_residual(&c, res + i + 16, g2, q2);
            store_residual(&c, res + i + 24, g3, q3);
        }
        __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(q0, q1), _mm256_packs_epi32(q2, q3));
        _mm256_storeu_si256((__m256i *)(q + i), _mm256_permutevar8x32_epi32(p, unzip));
    }
    for (; i + 8 <= len; i += 8) {
        __m256 g0 = _mm256_loadu_ps(g + i);
        __m256i q0 = quantize8(&c, g0, idx, stochastic);
        idx = _mm256_add_epi32(idx, step8);
        if (ef) store_residual(&c, res + i, g0, q0);
        __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(q0), _mm256_extracti128_si256(q0, 1));
        _mm_storel_epi64((__m128i *)(q + i), _mm_packs_epi16(w, w));
    }
    gcomp_q8_quantize_tail(a, s + i, s + len, scale, inv);
}

/* Pass 2 with the rounding and error feedback of this call fixed at compile time. */
static void pass2(const gcomp_q8_encode_args_t *a, size_t s, size_t len, float scale, float inv)
{
    GCOMP_Q8_PASS2_SPECIALIZED(pass2_body, a, s, len, scale, inv);
}

/* As encode_scalar, with the vector passes; every rare case goes to the shared slow path. */
static void encode_avx2(const gcomp_q8_encode_args_t *a)
{
    gcomp_q8_encode_buckets(a, pass1, pass2);
}

/* Offset of the first -128 in q[0, len), or len; vector compare, exact position found in C. */
static size_t find_bad(const int8_t *q, size_t len)
{
    const __m256i bad = _mm256_set1_epi8(INT8_MIN);
    size_t i = 0;
    for (; i + 32 <= len; i += 32) {
        __m256i v = _mm256_loadu_si256((const __m256i *)(q + i));
        if (_mm256_movemask_epi8(_mm256_cmpeq_epi8(v, bad)) != 0) break;
    }
    return i + gcomp_q8_find_bad(q + i, len - i);
}

/* Eight q values from memory as floats times the scale. */
static inline __m256 dequantize8(const int8_t *q, __m256 scale)
{
    __m256i v = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)q));
    return _mm256_mul_ps(_mm256_cvtepi32_ps(v), scale);
}

/* As decode_scalar: a mul and a separate add, never an FMA. */
static size_t decode_avx2(const gcomp_q8_decode_args_t *a)
{
    for (size_t s = 0; s < a->n; s += a->bucket) {
        size_t len = GCOMP_MIN(a->bucket, a->n - s);
        const int8_t *q = a->q + s;
        float *dst = a->dst + s;
        /* Checked bucket by bucket just before decoding, while the bytes are in L1. */
        size_t bad = find_bad(q, len);
        if (bad < len) return s + bad;
        float scale_1 = gcomp_q8_load_scale(a->scales, s / a->bucket);
        __m256 scale = _mm256_set1_ps(scale_1);
        size_t i = 0;
        if (a->accumulate) {
            for (; i + 32 <= len; i += 32) {
                for (size_t k = 0; k < 32; k += 8) {
                    __m256 d = _mm256_add_ps(_mm256_loadu_ps(dst + i + k), dequantize8(q + i + k, scale));
                    _mm256_storeu_ps(dst + i + k, d);
                }
            }
            for (; i + 8 <= len; i += 8)
                _mm256_storeu_ps(dst + i, _mm256_add_ps(_mm256_loadu_ps(dst + i), dequantize8(q + i, scale)));
            for (; i < len; i++) dst[i] += gcomp_q8_dequantize(q[i], scale_1);
        } else {
            for (; i + 32 <= len; i += 32) {
                for (size_t k = 0; k < 32; k += 8) _mm256_storeu_ps(dst + i + k, dequantize8(q + i + k, scale));
            }
            for (; i + 8 <= len; i += 8) _mm256_storeu_ps(dst + i, dequantize8(q + i, scale));
            for (; i < len; i++) dst[i] = gcomp_q8_dequantize(q[i], scale_1);
        }
    }
    return a->n;
}

const gcomp_q8_kernels_t gcomp_q8_kernels_avx2 = {
    .name = "avx2",
    .encode = encode_avx2,
    .decode = decode_avx2,
};

#endif /* GCOMP_BUILD_AVX2 */
