/*
 * Per-element arithmetic of the CUDA codecs, compiled twice: as __host__ __device__ functions into
 * the kernels (nvcc) and as plain static inline C into the host emulation (cuda/emulate.c), which the
 * unit suite compares byte for byte with the CPU codecs on machines without a GPU.
 *
 * Everything here reproduces src/codec exactly:
 *   - floating point: one rounding per operation, never contracted into FMA (the device side uses
 *     the explicit __fadd_rn/__fmul_rn/__fdiv_rn intrinsics, the host side -ffp-contract=off);
 *   - g' = src + residual with the x86 NaN rule (a NaN operand comes back quieted with its payload;
 *     the GPU's adder would return its canonical NaN), so exception lists match a CPU sender;
 *   - the counter-based generator of src/core/rng.h and the fp16 conversions of codec/half.h are
 *     those headers' own functions (compiled for both sides); q8_ref.h's quantizer is copied
 *     because it is a host-only inline function (test_cuda_emu checks the copy against it).
 */
#ifndef GCOMP_CUDA_ELEM_H
#define GCOMP_CUDA_ELEM_H

#include <stdint.h>
#include <string.h>

#include "codec/half.h"
#include "core/rng.h"
#include "kernels.h"

#define GCOMP_HD GCOMP_HOST_DEVICE_INLINE

#if defined(__CUDA_ARCH__)
#define GCOMP_CU_ADD(a, b) __fadd_rn((a), (b))
#define GCOMP_CU_SUB(a, b) __fsub_rn((a), (b))
#define GCOMP_CU_MUL(a, b) __fmul_rn((a), (b))
#define GCOMP_CU_DIV(a, b) __fdiv_rn((a), (b))
#define GCOMP_CU_RINT(x) rintf(x)
#define GCOMP_CU_FLOOR(x) floorf(x)
#else
#include <math.h>
#define GCOMP_CU_ADD(a, b) ((a) + (b))
#define GCOMP_CU_SUB(a, b) ((a) - (b))
#define GCOMP_CU_MUL(a, b) ((a) * (b))
#define GCOMP_CU_DIV(a, b) ((a) / (b))
#define GCOMP_CU_RINT(x) nearbyintf(x)
#define GCOMP_CU_FLOOR(x) floorf(x)
#endif

/* Element types of a source buffer (values of gcomp_dtype_t; fp64 is converted before it gets here). */
enum { GCOMP_CU_F32 = 0, GCOMP_CU_F16 = 1, GCOMP_CU_BF16 = 2 };

#define GCOMP_CU_KEY_NONFINITE 0x7f800000u
#define GCOMP_CU_KEY_Q8_SLOW 0x7f7fffffu /* FLT_MAX: its scale times 127 rounds to Inf */
#define GCOMP_CU_Q8_MIN_ABSMAX 0x1p-96f
#define GCOMP_CU_F16_MAX 65504.0f

GCOMP_HD uint32_t gcomp_cu_bits(float f)
{
#if defined(__CUDA_ARCH__)
    return __float_as_uint(f);
#else
    uint32_t u;
    memcpy(&u, &f, sizeof(u));
    return u;
#endif
}

GCOMP_HD float gcomp_cu_float(uint32_t u)
{
#if defined(__CUDA_ARCH__)
    return __uint_as_float(u);
#else
    float f;
    memcpy(&f, &u, sizeof(f));
    return f;
#endif
}

/* |x| as an ordered integer (compiler.h's gcomp_abs_key): non-finite is >= GCOMP_CU_KEY_NONFINITE. */
GCOMP_HD uint32_t gcomp_cu_key(float x)
{
    return gcomp_cu_bits(x) & 0x7fffffffu;
}

GCOMP_HD unsigned gcomp_cu_bit_width(uint32_t v)
{
    unsigned w = 0;
    while (v) {
        w++;
        v >>= 1;
    }
    return w;
}

/* ---- fp16 and bf16 (half.c, bit for bit; NaN payloads are kept, not quieted) ---------------- */

GCOMP_HD float gcomp_cu_f16_to_f32(uint16_t h)
{
    return gcomp_cu_float(gcomp_half_to_f32_bits(h));
}

GCOMP_HD uint16_t gcomp_cu_f32_to_f16(float f)
{
    return gcomp_half_from_f32_bits(gcomp_cu_bits(f));
}

GCOMP_HD float gcomp_cu_bf16_to_f32(uint16_t h)
{
    return gcomp_cu_float((uint32_t)h << 16);
}

/* Round to nearest even; NaN stays NaN (quieted, sign kept). */
GCOMP_HD uint16_t gcomp_cu_f32_to_bf16(float f)
{
    uint32_t x = gcomp_cu_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40u);
    return (uint16_t)((x + 0x7fffu + ((x >> 16) & 1u)) >> 16);
}

/* Element i of a source buffer of type dtype, as fp32. */
GCOMP_HD float gcomp_cu_load(const void *p, int dtype, uint64_t i)
{
    if (dtype == GCOMP_CU_F16) return gcomp_cu_f16_to_f32(((const uint16_t *)p)[i]);
    if (dtype == GCOMP_CU_BF16) return gcomp_cu_bf16_to_f32(((const uint16_t *)p)[i]);
    return ((const float *)p)[i];
}

/* ---- g' = src + residual ------------------------------------------------------------------ */

GCOMP_HD int gcomp_cu_isnan_bits(uint32_t b)
{
    return (b & 0x7fffffffu) > 0x7f800000u;
}

/* src + residual, with the NaN an x86 adder gives: the NaN operand quieted, or the default NaN. */
GCOMP_HD float gcomp_cu_gprime(float s, float e)
{
    float g = GCOMP_CU_ADD(s, e);
    uint32_t gb = gcomp_cu_bits(g);
    if (gcomp_cu_isnan_bits(gb)) {
        uint32_t sb = gcomp_cu_bits(s), eb = gcomp_cu_bits(e);
        if (gcomp_cu_isnan_bits(sb)) gb = sb | 0x400000u;
        else if (gcomp_cu_isnan_bits(eb)) gb = eb | 0x400000u;
        else gb = 0xffc00000u;
        g = gcomp_cu_float(gb);
    }
    return g;
}

/* ---- the counter-based generator (src/core/rng.h) ------------------------------------------ */

GCOMP_HD uint32_t gcomp_cu_rng_bits(uint32_t k0, uint32_t k1, uint64_t idx)
{
    gcomp_rng_key_t key = {k0, k1};
    return gcomp_rng_bits(key, idx);
}

GCOMP_HD float gcomp_cu_rng_uniform(uint32_t bits)
{
    return GCOMP_CU_MUL((float)(bits >> 8), 0x1p-24f);
}

/* ---- q8 (q8_ref.h and q8_scalar.c's bucket rules) ---------------------------------------- */

typedef struct gcomp_cu_q8_bucket {
    float scale;
    float inv;
    int qmax; /* 126 when absmax is FLT_MAX (127 * scale would round to Inf), else 127 */
} gcomp_cu_q8_bucket_t;

/* The bucket's parameters from the largest key among its finite values (0 if none). */
GCOMP_HD gcomp_cu_q8_bucket_t gcomp_cu_q8_bucket(uint32_t finite_max_key, int clamp_flt_max)
{
    gcomp_cu_q8_bucket_t b;
    float absmax = gcomp_cu_float(finite_max_key);
    int ok = absmax >= GCOMP_CU_Q8_MIN_ABSMAX;
    b.scale = ok ? GCOMP_CU_DIV(absmax, 127.0f) : 0.0f;
    b.inv = ok ? GCOMP_CU_DIV(127.0f, absmax) : 0.0f;
    b.qmax = clamp_flt_max && finite_max_key >= GCOMP_CU_KEY_Q8_SLOW ? 126 : 127;
    return b;
}

/* v finite. bits: the generator's bits for v's global index (ignored when nearest). */
GCOMP_HD int gcomp_cu_q8_quantize(float v, gcomp_cu_q8_bucket_t b, int nearest, uint32_t bits)
{
    float t = GCOMP_CU_MUL(v, b.inv);
    float q = nearest ? GCOMP_CU_RINT(t) : GCOMP_CU_FLOOR(GCOMP_CU_ADD(t, gcomp_cu_rng_uniform(bits)));
    if (q > 127.0f) q = 127.0f;
    if (q < -127.0f) q = -127.0f;
    int qi = (int)q;
    if (qi > b.qmax) qi = b.qmax;
    if (qi < -b.qmax) qi = -b.qmax;
    return qi;
}

GCOMP_HD float gcomp_cu_q8_dequantize(int q, float scale)
{
    return GCOMP_CU_MUL((float)q, scale);
}

/* The q8 step's finite element i, of g' v in bucket b: its q, and its residual with error feedback. */
GCOMP_HD void gcomp_cu_q8_encode_one(const gcomp_cu_q8_encode_t *a, gcomp_cu_q8_bucket_t b, uint64_t i, float v)
{
    uint32_t bits = a->nearest ? 0u : gcomp_cu_rng_bits(a->k0, a->k1, a->base + i);
    int q = gcomp_cu_q8_quantize(v, b, a->nearest, bits);
    a->q[i] = (int8_t)q;
    if (a->res) a->res[i] = GCOMP_CU_SUB(v, gcomp_cu_q8_dequantize(q, b.scale));
}

/* ---- top-k ------------------------------------------------------------------------------- */

/* The radix levels of every selection: 12, 10 and 9 bits of a 31-bit key. */
#define GCOMP_CU_LEVELS 3
GCOMP_HD unsigned gcomp_cu_level_shift(int level)
{
    return level == 0 ? 19u : level == 1 ? 9u : 0u;
}
GCOMP_HD unsigned gcomp_cu_level_bins(int level)
{
    return level == 0 ? 4096u : level == 1 ? 1024u : 512u;
}
#define GCOMP_CU_HIST_TOTAL (4096u + 1024u + 512u)
GCOMP_HD unsigned gcomp_cu_level_offset(int level)
{
    return level == 0 ? 0u : level == 1 ? 4096u : 5120u;
}

/* Sample position j of the sampled threshold (topk_select.c's jittered stride). */
GCOMP_HD uint64_t gcomp_cu_sample_pos(uint64_t j, uint64_t stride)
{
    uint64_t jitter = ((uint64_t)gcomp_hash32((uint32_t)j ^ 0x5bd1e995u) * stride) >> 32;
    return j * stride + jitter;
}

/* Delta j of a kept list (delta_0 = idx_0, then the gap minus one). */
GCOMP_HD uint32_t gcomp_cu_delta(const uint32_t *idx, uint64_t j)
{
    return j == 0 ? idx[0] : idx[j] - idx[j - 1] - 1;
}

/* 32-bit word w of the deltas of idx[0, count) packed LSB-first with width bits each (1..32). */
GCOMP_HD uint32_t gcomp_cu_pack_word(const uint32_t *idx, uint64_t count, unsigned width, uint64_t w)
{
    uint64_t first_bit = 32 * w;
    uint64_t j = first_bit / width;
    uint64_t end = (first_bit + 32 + width - 1) / width;
    if (end > count) end = count;
    uint64_t mask = width == 32 ? 0xffffffffull : (1ull << width) - 1;
    uint64_t word = 0;
    for (; j < end; j++) {
        uint64_t v = gcomp_cu_delta(idx, j) & mask;
        int64_t shift = (int64_t)(j * width) - (int64_t)first_bit;
        word |= shift >= 0 ? v << shift : v >> -shift;
    }
    return (uint32_t)word;
}

/* Delta j of a packed stream of len bytes (the caller checked that it lies inside). */
/* A little-endian u32 at any byte address. Frames put their parts at any offset (the exception list
 * follows a payload of any length), and a GPU faults on a misaligned 4-byte load. */
GCOMP_HD uint32_t gcomp_cu_load_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

GCOMP_HD void gcomp_cu_store_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

GCOMP_HD uint32_t gcomp_cu_unpack(const uint8_t *in, uint64_t len, uint64_t j, unsigned width)
{
    if (width == 0) return 0;
    uint64_t pos = j * width;
    uint64_t byte = pos >> 3;
    uint64_t v = 0;
    for (unsigned b = 0; b < 5 && byte + b < len; b++) v |= (uint64_t)in[byte + b] << (8 * b);
    uint64_t mask = width == 32 ? 0xffffffffull : (1ull << width) - 1;
    return (uint32_t)((v >> (pos & 7)) & mask);
}

/* The counts of src[lo, hi). */
GCOMP_HD gcomp_cu_count_part_t gcomp_cu_count_range(const float *src, uint64_t lo, uint64_t hi)
{
    gcomp_cu_count_part_t r = {0, 0, GCOMP_CU_NONE_INDEX, GCOMP_CU_NONE_INDEX, 0};
    for (uint64_t i = lo; i < hi; i++) {
        float v = src[i];
        if (gcomp_cu_key(v) >= GCOMP_CU_KEY_NONFINITE) {
            r.nonfinite++;
        } else if (v != 0.0f) {
            if (r.last != GCOMP_CU_NONE_INDEX && i - r.last - 1 > r.max_gap) r.max_gap = i - r.last - 1;
            if (r.first == GCOMP_CU_NONE_INDEX) r.first = i;
            r.last = i;
            r.nnz++;
        }
    }
    return r;
}

/* Append part q (the range right after p's) to p: the counts of the two ranges as one. */
GCOMP_HD void gcomp_cu_count_join(gcomp_cu_count_part_t *p, const gcomp_cu_count_part_t *q)
{
    p->nnz += q->nnz;
    p->nonfinite += q->nonfinite;
    if (q->first == GCOMP_CU_NONE_INDEX) return;
    if (q->max_gap > p->max_gap) p->max_gap = q->max_gap;
    if (p->last != GCOMP_CU_NONE_INDEX && q->first - p->last - 1 > p->max_gap) p->max_gap = q->first - p->last - 1;
    if (p->first == GCOMP_CU_NONE_INDEX) p->first = q->first;
    p->last = q->last;
}

/* The fp16 value the topk codec sends for v (clamped so that no Inf reaches the wire). */
GCOMP_HD uint16_t gcomp_cu_topk_f16(float v)
{
    float c = v > GCOMP_CU_F16_MAX ? GCOMP_CU_F16_MAX : v < -GCOMP_CU_F16_MAX ? -GCOMP_CU_F16_MAX : v;
    return gcomp_cu_f32_to_f16(c);
}

/* What the sampled path does after its pass (codec_topk.c, select_kept). */
enum { GCOMP_CU_AFTER_KEEP = 0, GCOMP_CU_AFTER_TRIM = 1, GCOMP_CU_AFTER_EXACT = 2 };
GCOMP_HD int gcomp_cu_after_pass(uint64_t count, uint64_t cap, uint64_t k)
{
    int overflow = count > cap;
    if (!overflow && 5 * count >= 4 * k && 4 * count <= 5 * k) return GCOMP_CU_AFTER_KEEP;
    if (!overflow && 4 * count > 5 * k) return GCOMP_CU_AFTER_TRIM;
    return GCOMP_CU_AFTER_EXACT;
}

/* The topk_decide step (one thread): after the sampled pass, keep its candidates, trim them or
 * fall back to exact selection, as gcomp_cu_after_pass says. */
GCOMP_HD void gcomp_cu_topk_decide(const gcomp_cu_topk_decide_t *a)
{
    gcomp_cu_ctl_t *ctl = a->ctl;
    if (ctl->mode != GCOMP_CU_MODE_PASS) return;
    int after = gcomp_cu_after_pass(ctl->cand_count, a->cap, a->k);
    ctl->after_pass = (uint32_t)after + 1;
    switch (after) {
    case GCOMP_CU_AFTER_KEEP:
        ctl->mode = GCOMP_CU_MODE_KEEP;
        ctl->kept_in_cand = 1;
        ctl->kept = ctl->cand_count;
        break;
    case GCOMP_CU_AFTER_TRIM: ctl->mode = GCOMP_CU_MODE_TRIM; break;
    default: ctl->mode = GCOMP_CU_MODE_EXACT; break;
    }
}

/* The sampled threshold's sample size and stride for n elements, k kept (topk_select.c, which must
 * stay in step: test_cuda_frames_emulated compares the two). @return 0 when exact selection is used. */
GCOMP_HD int gcomp_cu_sample_plan(uint64_t n, uint64_t k, uint64_t *s_p, uint64_t *stride_p)
{
    if (k == 0 || n < 128 * 128) return 0;
    uint64_t want = (256 * n + k - 1) / k;
    uint64_t s = want < n / 128 ? want : n / 128;
    if (s * k / n < 128) return 0;
    *s_p = s;
    *stride_p = n / s;
    return 1;
}

/* The sample's rank for the threshold: over the whole sample of s, clamped to its m finite keys. */
GCOMP_HD uint64_t gcomp_cu_sample_rank(uint64_t s, uint64_t m, uint64_t k, uint64_t n)
{
    uint64_t r = (s * k + n / 2) / n;
    if (r < 1) r = 1;
    if (r > m) r = m;
    return r;
}

#endif
