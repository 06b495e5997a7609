/*
 * Fuzz target: encode arbitrary floats with arbitrary valid parameters, decode, and hold the result
 * to the codec's stated bounds and to error feedback's invariant.
 *
 * Input: 16 bytes of parameters, then float32 values (little-endian) taken in pairs (gradient,
 * residual); non-finite residuals become 0 (gcomp never stores one).
 *   byte 0      codec (mod 4)
 *   byte 1      bit 0 nearest rounding, bit 1 exact selection, bit 2 fp16 values, bit 3 checksum,
 *               bit 4 zstd (level 1 + bits 5..6), bit 7 error feedback off
 *   bytes 2-3   q8 bucket - 1 (mod 4096)
 *   byte 4      top-k ratio (byte + 1) / 256
 *   bytes 5-12  generator seed
 *   bytes 13-14 chunk offset in the vector
 *   byte 15     unused
 *
 * Properties, each a crash (abort) when broken:
 *   - encode succeeds within gcomp_frame_bound, decode of its frame succeeds;
 *   - every CPU variant produces the same frame, residual and decoded values as the scalar one;
 *   - non-finite inputs come back exactly (NaN as NaN) and leave a zero residual;
 *   - error feedback: decoded + new residual = input + old residual within one rounding, and the new
 *     residual is finite;
 *   - none is exact; q8 stays within its bound (q8_ref.h); topk with fp32 values sends each value
 *     exactly or not at all, and carries at most kept of them.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec/codec.h"
#include "codec/isa.h"
#include "codec/q8_ref.h"
#include "codec/wire.h"
#include "fuzz_common.h"

enum { PARAM_BYTES = 16 };

typedef struct encoded {
    uint8_t *frame;
    size_t len;
    float *residual;
    float *decoded;
    gcomp_frame_info_t info;
} encoded_t;

static void run_isa(const gcomp_codec_params_t *p, const gcomp_frame_info_t *where, const float *src,
                    const float *res0, size_t n, size_t cap, gcomp_isa_t isa, encoded_t *e)
{
    e->frame = malloc(cap);
    e->residual = malloc((n ? n : 1) * sizeof(float));
    e->decoded = malloc((n + 1) * sizeof(float));
    FUZZ_ASSERT(e->frame && e->residual && e->decoded, "out of memory");
    memcpy(e->residual, res0, n * sizeof(float));
    gcomp_status_t st = gcomp_frame_encode_ex(p, where, src, p->error_feedback ? e->residual : NULL, e->frame, cap,
                                              isa, fuzz_scratch(), &e->info);
    FUZZ_ASSERT(st == GCOMP_OK, "%s encode of %zu values (codec %s): %s", gcomp_isa_name(isa), n,
                gcomp_codec_name(p->codec), gcomp_status_string(st));
    e->len = e->info.frame_bytes;
    FUZZ_ASSERT(e->len <= cap, "frame of %zu bytes over its bound %zu", e->len, cap);
    e->decoded[n] = 1234.5f;
    gcomp_frame_info_t expect = *where;
    expect.codec = p->codec;
    st = gcomp_frame_decode_ex(e->frame, e->len, &expect, e->decoded, 0, isa, fuzz_scratch(), p->checksum, NULL);
    FUZZ_ASSERT(st == GCOMP_OK, "%s decode of its own frame: %s", gcomp_isa_name(isa), gcomp_status_string(st));
    FUZZ_ASSERT(e->decoded[n] == 1234.5f, "decode wrote past the chunk");
}

static void encoded_free(encoded_t *e)
{
    free(e->frame), free(e->residual), free(e->decoded);
}

static int same_bits(const float *a, const float *b, size_t n)
{
    return memcmp(a, b, n * sizeof(float)) == 0;
}

/* q8: each bucket of the chunk within scale/2 (nearest) or scale (stochastic) + 2^-20 absmax. */
static void check_q8(const gcomp_codec_params_t *p, const float *g, const float *dec, size_t n)
{
    for (size_t b0 = 0; b0 < n; b0 += p->q8_bucket) {
        size_t b1 = b0 + p->q8_bucket < n ? b0 + p->q8_bucket : n;
        float absmax = 0.0f;
        for (size_t i = b0; i < b1; i++)
            if (isfinite(g[i]) && fabsf(g[i]) > absmax) absmax = fabsf(g[i]);
        if (gcomp_q8_qmax(absmax) != 127) continue; /* FLT_MAX buckets leave the excess to the residual */
        double scale = gcomp_q8_scale(absmax);
        double tol = (p->rounding == GCOMP_ROUND_NEAREST ? scale / 2 : scale) + 0x1p-20 * absmax;
        if (scale == 0.0) tol = GCOMP_Q8_MIN_ABSMAX; /* tiny buckets decode as 0 */
        for (size_t i = b0; i < b1; i++) {
            if (!isfinite(g[i])) continue;
            double err = fabs((double)dec[i] - (double)g[i]);
            FUZZ_ASSERT(err <= tol, "q8 element %zu: %g decoded as %g, error %g over the bound %g", i, (double)g[i],
                        (double)dec[i], err, tol);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < PARAM_BYTES) return 0;
    gcomp_codec_params_t p = {
        .codec = (gcomp_codec_t)(data[0] % 4),
        .error_feedback = !(data[1] & 0x80),
        .q8_bucket = 1 + (uint32_t)(gcomp_load_le16(data + 2) % 4096),
        .rounding = (data[1] & 1) ? GCOMP_ROUND_NEAREST : GCOMP_ROUND_STOCHASTIC,
        .topk_ratio = (float)(data[4] + 1) / 256.0f,
        .topk_select = (data[1] & 2) ? GCOMP_TOPK_EXACT : GCOMP_TOPK_SAMPLED,
        .topk_values = (data[1] & 4) && data[0] % 4 == GCOMP_CODEC_TOPK ? GCOMP_VALUES_FP16 : GCOMP_VALUES_FP32,
        .zstd_level = (data[1] & 0x10) ? 1 + ((data[1] >> 5) & 3) : 0,
        .checksum = (data[1] >> 3) & 1,
    };
    memcpy(&p.seed, data + 5, sizeof(p.seed));
#if !GCOMP_HAVE_ZSTD
    p.zstd_level = 0;
#endif
    FUZZ_ASSERT(gcomp_codec_params_check(&p) == GCOMP_OK, "parameters built valid are rejected");

    size_t n = (size - PARAM_BYTES) / 8;
    float *src = malloc((n ? n : 1) * sizeof(float)), *res0 = malloc((n ? n : 1) * sizeof(float));
    FUZZ_ASSERT(src && res0, "out of memory");
    for (size_t i = 0; i < n; i++) {
        src[i] = gcomp_bits_f32(gcomp_load_le32(data + PARAM_BYTES + 8 * i));
        float r = gcomp_bits_f32(gcomp_load_le32(data + PARAM_BYTES + 8 * i + 4));
        res0[i] = isfinite(r) ? r : 0.0f;
    }
    uint64_t offset = gcomp_load_le16(data + 13);
    gcomp_frame_info_t where = {
        .codec = p.codec,
        .dtype = GCOMP_DTYPE_FP32,
        .total_count = offset + n,
        .chunk_offset = offset,
        .chunk_count = n,
        .rank = 1,
        .comm_id = 0x5eed,
        .seq = 42,
    };
    size_t cap = gcomp_frame_bound(&p, n);
    FUZZ_ASSERT(cap >= GCOMP_WIRE_HEADER_LEN, "no bound for %zu values", n);

    encoded_t ref;
    run_isa(&p, &where, src, res0, n, cap, GCOMP_ISA_SCALAR, &ref);
    for (int isa = GCOMP_ISA_SCALAR + 1; isa < GCOMP_ISA_COUNT; isa++) {
        if (!gcomp_isa_available((gcomp_isa_t)isa)) continue;
        encoded_t e;
        run_isa(&p, &where, src, res0, n, cap, (gcomp_isa_t)isa, &e);
        const char *name = gcomp_isa_name((gcomp_isa_t)isa);
        FUZZ_ASSERT(e.len == ref.len && memcmp(e.frame, ref.frame, ref.len) == 0, "%s frame differs from scalar",
                    name);
        FUZZ_ASSERT(same_bits(e.residual, ref.residual, n), "%s residual differs from scalar", name);
        FUZZ_ASSERT(same_bits(e.decoded, ref.decoded, n), "%s decode differs from scalar", name);
        encoded_free(&e);
    }

    int overflow = (ref.frame[GCOMP_WIRE_OFF_FLAGS] & GCOMP_WIRE_FLAG_NONFINITE_OVERFLOW) != 0;
    float *g = malloc((n ? n : 1) * sizeof(float)); /* what was encoded: input + residual */
    FUZZ_ASSERT(g != NULL, "out of memory");
    size_t nonzero = 0;
    for (size_t i = 0; i < n; i++) {
        g[i] = p.error_feedback ? src[i] + res0[i] : src[i];
        float d = ref.decoded[i], r = ref.residual[i];
        if (p.error_feedback) FUZZ_ASSERT(isfinite(r), "element %zu: residual %g", i, (double)r);
        if (overflow) {
            FUZZ_ASSERT(isnan(d), "element %zu: %g in a chunk that overflowed its exception list", i, (double)d);
            continue;
        }
        if (!isfinite(src[i])) {
            FUZZ_ASSERT(isnan(src[i]) ? isnan(d) : d == src[i], "element %zu: %g came back as %g", i, (double)src[i],
                        (double)d);
            if (p.error_feedback) FUZZ_ASSERT(r == 0.0f, "element %zu: non-finite input left residual %g", i, (double)r);
            continue;
        }
        if (!isfinite(g[i])) continue; /* input + residual overflowed: travels as an exception */
        nonzero += d != 0.0f;
        if (p.error_feedback) {
            double miss = fabs((double)d + (double)r - (double)g[i]);
            double tol = 0x1p-23 * (fabs((double)g[i]) + fabs((double)d));
            FUZZ_ASSERT(miss <= tol, "element %zu: decoded %a + residual %a misses %a by %g (bound %g)", i, (double)d,
                        (double)r, (double)g[i], miss, tol);
        }
        if (p.codec == GCOMP_CODEC_NONE)
            FUZZ_ASSERT(d == g[i], "none: element %zu %a decoded as %a", i, (double)g[i], (double)d);
        if (p.codec == GCOMP_CODEC_TOPK && p.topk_values == GCOMP_VALUES_FP32)
            FUZZ_ASSERT(d == 0.0f || d == g[i], "topk: element %zu %a decoded as %a", i, (double)g[i], (double)d);
    }
    if (!overflow && p.codec == GCOMP_CODEC_Q8) check_q8(&p, g, ref.decoded, n);
    if (!overflow && (p.codec == GCOMP_CODEC_TOPK || p.codec == GCOMP_CODEC_TOPK_Q8))
        FUZZ_ASSERT(ref.info.kept <= n && nonzero <= ref.info.kept, "topk: %zu values nonzero, kept %llu of %zu",
                    nonzero, (unsigned long long)ref.info.kept, n);
    encoded_free(&ref);
    free(g), free(src), free(res0);
    return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    setenv("GCOMP_DEBUG", "error", 1);
    return 0;
}
