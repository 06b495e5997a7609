/*
 * CUDA codecs against the CPU codecs, frame for frame: the same inputs encoded by gcomp_frame_encode_ex
 * (plain C kernels) and by gcomp_cuda_frame_encode must give the same bytes and the same residual,
 * and every frame must decode to the same values through gcomp_frame_decode_ex and
 * gcomp_cuda_frame_decode (NaN payloads aside). Also: several frames summed at once, fp16 and bf16
 * sources, unaligned chunks, non-finite inputs (including more than a frame lists), corrupted frames.
 *
 * Built twice: with GCOMP_TEST_EMULATED (suite unit) against the host emulation of the kernels, which
 * runs everywhere; without (suite gpu) against the device, which exits 77 where there is none.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "codec/codec.h"
#include "codec/q8_ref.h"
#include "core/mem.h"
#include "ctx.h"
#include "elem.h"
#include "gcomp_cuda.h"
#ifdef GCOMP_TEST_SIMT
#include "simt.h"
#endif

static gcomp_cuda_ctx_t *ctx;
static gcomp_scratch_t scratch;
static int big; /* sizes up to 10^8 on a GPU */
static unsigned long frames_compared;
static unsigned mode_seen[8], after_seen[4], ties_cut;

static void *dev_alloc(size_t bytes)
{
    void *p = NULL;
    gcomp_status_t st = gcomp_cuda_malloc(ctx, &p, bytes ? bytes : 4);
    REQUIRE(st == GCOMP_OK, "allocating %zu bytes", bytes);
    return p;
}

static void to_dev(void *d, const void *h, size_t bytes)
{
    gcomp_status_t st = bytes ? gcomp_cuda_memcpy(ctx, d, h, bytes) : GCOMP_OK;
    REQUIRE(st == GCOMP_OK, "copy to device");
}

static void from_dev(void *h, const void *d, size_t bytes)
{
    gcomp_status_t st = bytes ? gcomp_cuda_memcpy(ctx, h, d, bytes) : GCOMP_OK;
    REQUIRE(st == GCOMP_OK, "copy from device");
}

/* Same bits, or both NaN. */
static int same_float(float a, float b)
{
    uint32_t x = gcomp_f32_bits(a), y = gcomp_f32_bits(b);
    return x == y || (isnan(a) && isnan(b));
}

enum { DIST_GAUSS, DIST_HEAVY, DIST_LEVELS, DIST_SPIKES, DIST_SAMPLE_BAIT, DIST_CONST, DIST_TINY };

static float gen(test_rng_t *r, int dist, size_t i)
{
    switch (dist) {
    case DIST_HEAVY: return (float)(1e-3 * test_rng_heavy(r));
    case DIST_LEVELS: return (float)((int)(test_rng_uniform(r) * 9) - 4) * 0.25f; /* many ties */
    case DIST_SPIKES: return i % 7 == 0 ? 1.0f : (float)(1e-3 * test_rng_gauss(r));
    case DIST_CONST: return (i & 1) ? 2.0f : -2.0f;
    case DIST_TINY: return (float)(test_rng_gauss(r) * 1e-30);
    default: return (float)test_rng_gauss(r);
    }
}

typedef struct tcase {
    gcomp_codec_params_t p;
    size_t n;
    int dtype;
    int dist;
    int nonfinite;  /* 0 none, 1 a few, 2 more than a frame lists */
    int ef;
    int misalign;   /* chunk starts one element into the buffer */
    uint64_t offset;
} tcase_t;

/* Put big values where the sampled threshold looks, so its estimate is far off (exact fallback). */
static void bait_sample(float *x, size_t n, float ratio)
{
    uint64_t k = (uint64_t)ceil((double)ratio * (double)n), s, stride;
    if (!gcomp_cu_sample_plan(n, k, &s, &stride)) return;
    for (uint64_t j = 0; j < s; j++) x[gcomp_cu_sample_pos(j, stride)] = 100.0f;
}

static void run_case(const tcase_t *tc, test_rng_t *r)
{
    const size_t n = tc->n, off = tc->misalign ? 1 : 0;
    const int esz = tc->dtype == GCOMP_DTYPE_FP32 ? 4 : 2;
    float *x = malloc((n + 1) * 4), *res0 = malloc((n + 1) * 4), *res_cpu = malloc((n + 1) * 4),
          *res_gpu = malloc((n + 1) * 4);
    uint16_t *half = malloc((n + 1) * 2);
    REQUIRE(x && res0 && res_cpu && res_gpu && half, "out of memory");
    for (size_t i = 0; i < n; i++) {
        float v = gen(r, tc->dist, i);
        if (tc->dtype == GCOMP_DTYPE_FP16) {
            half[i] = gcomp_f32_to_f16(fabsf(v) > 60000.0f ? 1.0f : v);
            v = gcomp_f16_to_f32(half[i]);
        } else if (tc->dtype == GCOMP_DTYPE_BF16) {
            half[i] = (uint16_t)(gcomp_f32_bits(v) >> 16);
            v = gcomp_bits_f32((uint32_t)half[i] << 16);
        }
        x[i] = v;
        res0[i] = tc->ef ? (float)(1e-2 * test_rng_gauss(r)) : 0.0f;
    }
    if (tc->dist == DIST_SAMPLE_BAIT) {
        bait_sample(x, n, tc->p.topk_ratio);
        for (size_t i = 0; i < n && tc->dtype != GCOMP_DTYPE_FP32; i++)
            half[i] = tc->dtype == GCOMP_DTYPE_FP16 ? gcomp_f32_to_f16(x[i]) : (uint16_t)(gcomp_f32_bits(x[i]) >> 16);
    }
    if (tc->nonfinite && n > 0) {
        static const uint32_t specials[] = {0x7fc00000u, 0xffc00000u, 0x7f800001u, 0x7fa00123u,
                                            0x7f800000u, 0xff800000u, 0xffffffffu};
        size_t count = tc->nonfinite == 2 ? n / 512 + 80 : 1 + n / 4096;
        if (count > n) count = n;
        for (size_t c = 0; c < count; c++) {
            size_t i = (size_t)(test_rng_next(r) % n);
            uint32_t b = specials[test_rng_next(r) % GCOMP_ARRAY_SIZE(specials)];
            if (tc->dtype != GCOMP_DTYPE_FP32) {
                /* What the half source can hold: Inf, or a NaN with a half payload. */
                half[i] = tc->dtype == GCOMP_DTYPE_FP16 ? (uint16_t)(((b >> 16) & 0x8000u) | 0x7c00u | (b & 1 ? 0x201u : 0))
                                                       : (uint16_t)(b >> 16);
                x[i] = tc->dtype == GCOMP_DTYPE_FP16 ? gcomp_f16_to_f32(half[i]) : gcomp_bits_f32((uint32_t)half[i] << 16);
            } else {
                x[i] = gcomp_bits_f32(b);
            }
        }
        /* A finite value whose sum with the residual overflows. */
        if (tc->ef && tc->dtype == GCOMP_DTYPE_FP32) {
            size_t i = (size_t)(test_rng_next(r) % n);
            x[i] = 3.4e38f;
            res0[i] = 1e38f;
        }
    }
    memcpy(res_cpu, res0, n * 4);

    gcomp_codec_params_t p = tc->p;
    p.error_feedback = tc->ef;
    gcomp_frame_info_t where = {.codec = p.codec, .dtype = (gcomp_dtype_t)tc->dtype,
                                .total_count = tc->offset + n + 5, .chunk_offset = tc->offset,
                                .chunk_count = n, .rank = 3, .comm_id = 11, .seq = 42};
    size_t cap = gcomp_frame_bound(&p, n);
    uint8_t *f_cpu = malloc(cap), *f_gpu = gcomp_cuda_host_alloc(cap);
    REQUIRE(f_cpu && f_gpu, "out of memory");
    gcomp_frame_info_t ic, ig;
    gcomp_status_t sc = gcomp_frame_encode_ex(&p, &where, x, tc->ef ? res_cpu : NULL, f_cpu, cap, GCOMP_ISA_SCALAR,
                                              &scratch, &ic);

    uint8_t *d_src = dev_alloc((n + 1) * esz);
    float *d_res = dev_alloc((n + 1) * 4);
    to_dev(d_src + off * esz, tc->dtype == GCOMP_DTYPE_FP32 ? (const void *)x : (const void *)half, n * esz);
    to_dev(d_res + off, res0, n * 4);
    gcomp_status_t sg = gcomp_cuda_frame_encode(ctx, &p, &where, d_src + off * esz, tc->ef ? d_res + off : NULL,
                                                f_gpu, cap, &ig);
    if (p.codec == GCOMP_CODEC_TOPK || p.codec == GCOMP_CODEC_TOPK_Q8) {
        mode_seen[ctx->ctl_host->mode & 7]++;
        after_seen[ctx->ctl_host->after_pass & 3]++;
        const gcomp_cu_sel_t *sel = &ctx->ctl_host->sel[1];
        ties_cut += !sel->all && sel->ties_total > sel->ties && ctx->ctl_host->mode != GCOMP_CU_MODE_KEEP;
    }
    const char *name = gcomp_codec_name(p.codec);
    CHECK(sc == GCOMP_OK && sg == GCOMP_OK, "%s n=%zu: encode cpu %d gpu %d", name, n, sc, sg);
    if (sc == GCOMP_OK && sg == GCOMP_OK) {
        frames_compared++;
        int same = ic.frame_bytes == ig.frame_bytes && memcmp(f_cpu, f_gpu, ic.frame_bytes) == 0;
        size_t first = 0;
        if (!same)
            while (first < ic.frame_bytes && first < ig.frame_bytes && f_cpu[first] == f_gpu[first]) first++;
        CHECK(same, "%s n=%zu dtype %d dist %d ef %d select %d values %d rounding %d bucket %u nonfinite %d: frames "
              "differ (%zu vs %zu bytes, first at %zu; kept %llu vs %llu)", name, n, tc->dtype, tc->dist, tc->ef,
              p.topk_select, p.topk_values, p.rounding, p.q8_bucket, tc->nonfinite, ic.frame_bytes, ig.frame_bytes,
              first, (unsigned long long)ic.kept, (unsigned long long)ig.kept);
        if (tc->ef) {
            from_dev(res_gpu, d_res + off, n * 4);
            size_t bad = 0, where_bad = 0;
            for (size_t i = 0; i < n; i++)
                if (gcomp_f32_bits(res_gpu[i]) != gcomp_f32_bits(res_cpu[i]) && bad++ == 0) where_bad = i;
            CHECK(bad == 0, "%s n=%zu: %zu residuals differ, first at %zu (%g vs %g)", name, n, bad, where_bad,
                  (double)res_cpu[where_bad], (double)res_gpu[where_bad]);
        }
        /* Decode the frame both ways, plain and accumulating. */
        float *d_cpu = malloc((n + 1) * 4), *d_gpu = malloc((n + 1) * 4);
        float *d_dst = dev_alloc((n + 1) * 4);
        for (int acc = 0; acc < 2; acc++) {
            for (size_t i = 0; i < n; i++) d_cpu[i] = (float)i * 0.5f;
            to_dev(d_dst + off, d_cpu, n * 4);
            gcomp_status_t dc = gcomp_frame_decode_ex(f_cpu, ic.frame_bytes, &where, d_cpu, acc, GCOMP_ISA_SCALAR,
                                                      &scratch, 0, NULL);
            gcomp_status_t dg = gcomp_cuda_frame_decode(ctx, f_gpu, ig.frame_bytes, &where, d_dst + off, acc, 0, NULL);
            CHECK(dc == GCOMP_OK && dg == GCOMP_OK, "%s n=%zu: decode cpu %d gpu %d", name, n, dc, dg);
            from_dev(d_gpu, d_dst + off, n * 4);
            size_t bad = 0, at = 0;
            for (size_t i = 0; i < n; i++)
                if (!same_float(d_cpu[i], d_gpu[i]) && bad++ == 0) at = i;
            CHECK(bad == 0, "%s n=%zu acc %d: %zu decoded values differ, first at %zu (%g vs %g)", name, n, acc, bad,
                  at, (double)d_cpu[at], (double)d_gpu[at]);
        }
        free(d_cpu);
        free(d_gpu);
        gcomp_cuda_free(ctx, d_dst);
    }
    gcomp_cuda_free(ctx, d_src);
    gcomp_cuda_free(ctx, d_res);
    free(f_cpu);
    gcomp_cuda_host_free(f_gpu);
    free(x);
    free(res0);
    free(res_cpu);
    free(res_gpu);
    free(half);
}

static gcomp_codec_params_t base_params(gcomp_codec_t codec)
{
    gcomp_codec_params_t p;
    gcomp_codec_params_default(&p);
    p.codec = codec;
    p.q8_bucket = 512;
    p.rounding = GCOMP_ROUND_STOCHASTIC;
    p.topk_ratio = 0.01f;
    p.topk_select = GCOMP_TOPK_EXACT;
    p.topk_values = GCOMP_VALUES_FP32;
    p.zstd_level = 0;
    p.checksum = 1;
    p.seed = 0x1234;
    return p;
}

static void test_q8_and_none(test_rng_t *r)
{
    static const size_t sizes[] = {0, 1, 7, 100, 513, 4099, 70001};
    static const uint32_t buckets[] = {1, 3, 32, 100, 512, 1024, 4096};
    for (size_t si = 0; si < GCOMP_ARRAY_SIZE(sizes); si++)
        for (size_t bi = 0; bi < GCOMP_ARRAY_SIZE(buckets); bi++)
            for (int variant = 0; variant < 4; variant++) {
                tcase_t tc = {.p = base_params(GCOMP_CODEC_Q8), .n = sizes[si], .ef = variant != 1,
                              .misalign = variant & 1, .offset = variant * 1000003ull};
                tc.p.q8_bucket = buckets[bi];
                tc.p.rounding = variant & 2 ? GCOMP_ROUND_NEAREST : GCOMP_ROUND_STOCHASTIC;
                tc.dtype = (int)((si + bi + variant) % 3);
                tc.dist = (int)((si + variant) % 7);
                tc.nonfinite = (si + bi) % 3 == 0 ? 1 : (si + bi) % 5 == 0 ? 2 : 0;
                run_case(&tc, r);
            }
    /* Stochastic rounding across a 2^32 index boundary, and the FLT_MAX bucket. */
    tcase_t tc = {.p = base_params(GCOMP_CODEC_Q8), .n = 5000, .ef = 1, .offset = (1ull << 32) - 2100};
    tc.p.rounding = GCOMP_ROUND_STOCHASTIC;
    run_case(&tc, r);
    for (int dt = 0; dt < 3; dt++)
        for (int ef = 0; ef < 2; ef++) {
            tcase_t t2 = {.p = base_params(GCOMP_CODEC_NONE), .n = 3001, .dtype = dt, .ef = ef, .nonfinite = 1,
                          .misalign = ef};
            run_case(&t2, r);
        }
}

static void test_topk(test_rng_t *r)
{
    static const size_t sizes[] = {0, 1, 5, 300, 4097, 70001, 200003};
    static const float ratios[] = {0.01f, 0.1f, 1.0f};
    for (size_t si = 0; si < GCOMP_ARRAY_SIZE(sizes); si++)
        for (size_t ri = 0; ri < GCOMP_ARRAY_SIZE(ratios); ri++)
            for (int variant = 0; variant < 12; variant++) {
                gcomp_codec_t codec = variant % 3 == 2 ? GCOMP_CODEC_TOPK_Q8 : GCOMP_CODEC_TOPK;
                tcase_t tc = {.p = base_params(codec), .n = sizes[si], .ef = variant % 4 != 1,
                              .misalign = variant & 1, .offset = variant * 77ull};
                tc.p.topk_ratio = ratios[ri];
                tc.p.topk_select = variant & 2 ? GCOMP_TOPK_EXACT : GCOMP_TOPK_SAMPLED;
                tc.p.topk_values = variant % 3 == 1 ? GCOMP_VALUES_FP16 : GCOMP_VALUES_FP32;
                tc.p.rounding = variant & 4 ? GCOMP_ROUND_NEAREST : GCOMP_ROUND_STOCHASTIC;
                tc.p.q8_bucket = variant & 8 ? 7 : 512;
                tc.dtype = (int)((si + variant) % 3);
                tc.dist = (int)((si * 3 + ri + variant) % 7);
                tc.nonfinite = variant % 5 == 0 ? 1 : variant % 7 == 0 ? 2 : 0;
                run_case(&tc, r);
            }
}

/* Several frames summed in one call equal the CPU decoding them one after another. */
static void test_multi(test_rng_t *r)
{
    static const gcomp_codec_t codecs[] = {GCOMP_CODEC_Q8, GCOMP_CODEC_Q8, GCOMP_CODEC_TOPK, GCOMP_CODEC_NONE};
    const size_t n = 20011;
    for (size_t ci = 0; ci < GCOMP_ARRAY_SIZE(codecs); ci++)
        for (int nf = 1; nf <= 19; nf += 9) {
            gcomp_codec_params_t p = base_params(codecs[ci]);
            p.q8_bucket = ci == 1 ? 100 : 512;
            gcomp_frame_info_t where = {.codec = p.codec, .total_count = n, .chunk_count = n, .comm_id = 1, .seq = 9};
            size_t cap = gcomp_frame_bound(&p, n);
            uint8_t **frames = calloc((size_t)nf, sizeof(*frames));
            size_t *lens = calloc((size_t)nf, sizeof(*lens));
            float *x = malloc(n * 4), *sum = malloc(n * 4), *got = malloc(n * 4);
            float *d_sum = dev_alloc(n * 4);
            for (int f = 0; f < nf; f++) {
                for (size_t i = 0; i < n; i++) x[i] = (float)test_rng_heavy(r);
                if (f == 1 && ci == 0) x[17] = NAN; /* one frame with an exception: the unfused path */
                frames[f] = gcomp_cuda_host_alloc(cap);
                where.rank = f;
                gcomp_frame_info_t info;
                gcomp_status_t st = gcomp_frame_encode_ex(&p, &where, x, NULL, frames[f], cap, GCOMP_ISA_SCALAR,
                                                          &scratch, &info);
                REQUIRE(st == GCOMP_OK, "encode");
                lens[f] = info.frame_bytes;
            }
            for (int acc = 0; acc < 2; acc++) {
                for (size_t i = 0; i < n; i++) sum[i] = (float)i;
                to_dev(d_sum, sum, n * 4);
                for (int f = 0; f < nf; f++) {
                    where.rank = f;
                    gcomp_status_t st = gcomp_frame_decode_ex(frames[f], lens[f], &where, sum, acc || f > 0,
                                                              GCOMP_ISA_SCALAR, &scratch, 0, NULL);
                    REQUIRE(st == GCOMP_OK, "cpu decode");
                }
                where.rank = -1;
                gcomp_status_t st = gcomp_cuda_frames_decode(ctx, nf, (const void *const *)frames, lens, &where, d_sum,
                                                             acc, 1);
                CHECK(st == GCOMP_OK, "frames_decode: %d", st);
                from_dev(got, d_sum, n * 4);
                size_t bad = 0, at = 0;
                for (size_t i = 0; i < n; i++)
                    if (!same_float(sum[i], got[i]) && bad++ == 0) at = i;
                CHECK(bad == 0, "%s: %d frames summed (acc %d): %zu values differ, first at %zu (%g vs %g)",
                      gcomp_codec_name(p.codec), nf, acc, bad, at, (double)sum[at], (double)got[at]);
            }
            for (int f = 0; f < nf; f++) gcomp_cuda_host_free(frames[f]);
            free(frames);
            free(lens);
            free(x);
            free(sum);
            free(got);
            gcomp_cuda_free(ctx, d_sum);
        }
}

/* Corrupted frames: the CUDA decoder rejects exactly what the CPU decoder rejects, with the same
 * status (both run gcomp_frame_parse and the codec's validate op), and what it accepts decodes to the
 * same values. With zstd, the damage mostly lands in the zstd stage; among several frames summed at
 * once, a damaged one fails the call with the status the CPU decoder gives that frame. */
static void test_corrupt(test_rng_t *r)
{
    static const gcomp_codec_t codecs[] = {GCOMP_CODEC_Q8, GCOMP_CODEC_TOPK, GCOMP_CODEC_TOPK_Q8, GCOMP_CODEC_NONE};
    const size_t n = 3000;
    float *x = malloc(n * 4), *a = malloc(n * 4), *b = malloc(n * 4), *d = dev_alloc(n * 4);
    int accepted = 0, rejected = 0, multi = 0;
    for (int zstd = 0; zstd < 2; zstd++)
    for (size_t ci = 0; ci < GCOMP_ARRAY_SIZE(codecs); ci++) {
        gcomp_codec_params_t p = base_params(codecs[ci]);
        p.checksum = 0; /* let the damage reach the payload checks */
        p.topk_ratio = 0.05f;
        p.zstd_level = zstd ? 3 : 0;
        gcomp_frame_info_t where = {.codec = p.codec, .total_count = n, .chunk_count = n};
        gcomp_frame_info_t any_rank = where;
        any_rank.rank = -1; /* what gcomp_cuda_frames_decode expects of each frame */
        size_t cap = gcomp_frame_bound(&p, n);
        uint8_t *good = malloc(cap), *bad = malloc(cap);
        for (size_t i = 0; i < n; i++) x[i] = (float)test_rng_gauss(r);
        if (zstd) for (size_t i = 0; i < n; i++) x[i] = (float)(int)(x[i] * 2.0f); /* compressible */
        x[5] = INFINITY;
        gcomp_frame_info_t info;
        gcomp_status_t st = gcomp_frame_encode_ex(&p, &where, x, NULL, good, cap, GCOMP_ISA_SCALAR, &scratch, &info);
        REQUIRE(st == GCOMP_OK, "encode");
        for (int trial = 0; trial < 300; trial++) {
            memcpy(bad, good, info.frame_bytes);
            int flips = 1 + (int)(test_rng_next(r) % 3);
            for (int f = 0; f < flips; f++) {
                size_t at = trial < 60 ? (size_t)(test_rng_next(r) % GCOMP_WIRE_HEADER_LEN)
                                       : (size_t)(test_rng_next(r) % info.frame_bytes);
                bad[at] ^= (uint8_t)(1u << (test_rng_next(r) % 8));
            }
            for (size_t i = 0; i < n; i++) a[i] = b[i] = 1.0f;
            to_dev(d, b, n * 4);
            gcomp_status_t sc = gcomp_frame_decode_ex(bad, info.frame_bytes, &where, a, 1, GCOMP_ISA_SCALAR, &scratch,
                                                      0, NULL);
            gcomp_status_t sg = gcomp_cuda_frame_decode(ctx, bad, info.frame_bytes, &where, d, 1, 0, NULL);
            CHECK(sc == sg, "%s%s trial %d: cpu %s, cuda %s", gcomp_codec_name(p.codec), zstd ? " zstd" : "", trial,
                  gcomp_status_string(sc), gcomp_status_string(sg));
            if (sc == GCOMP_OK && sg == GCOMP_OK) {
                accepted++;
                from_dev(b, d, n * 4);
                size_t diff = 0;
                for (size_t i = 0; i < n; i++) diff += !same_float(a[i], b[i]);
                CHECK(diff == 0, "%s trial %d: accepted frame decodes differently at %zu places",
                      gcomp_codec_name(p.codec), trial, diff);
            } else {
                rejected++;
            }
            if (trial % 10 == 0) {
                /* good, bad, good: frames are validated in order, before anything is decoded. */
                const void *three[3] = {good, bad, good};
                size_t lens[3] = {info.frame_bytes, info.frame_bytes, info.frame_bytes};
                gcomp_status_t s1 = gcomp_frame_decode_ex(bad, info.frame_bytes, &any_rank, a, 1, GCOMP_ISA_SCALAR,
                                                          &scratch, 0, NULL);
                gcomp_status_t s3 = gcomp_cuda_frames_decode(ctx, 3, three, lens, &where, d, 0, 0);
                CHECK(s1 == s3, "%s%s trial %d among three frames: cpu %s, cuda %s", gcomp_codec_name(p.codec),
                      zstd ? " zstd" : "", trial, gcomp_status_string(s1), gcomp_status_string(s3));
                multi++;
            }
        }
        free(good);
        free(bad);
    }
    printf("corrupted frames: %d accepted alike, %d rejected alike; %d among others\n", accepted, rejected, multi);
    free(x);
    free(a);
    free(b);
    gcomp_cuda_free(ctx, d);
}

/* gcomp_cuda_count_sparse against a plain loop: sparse, dense, empty, non-finite, gaps across parts. */
static void test_count(test_rng_t *r)
{
    static const size_t sizes[] = {0, 1, 255, 257, 65536, 65537, 200003, 1000003};
    for (size_t si = 0; si < GCOMP_ARRAY_SIZE(sizes); si++) {
        size_t n = sizes[si];
        for (int pattern = 0; pattern < 4; pattern++) {
            float *x = malloc((n + 1) * sizeof(float));
            for (size_t i = 0; i < n; i++) {
                uint64_t u = test_rng_next(r);
                switch (pattern) {
                case 0: x[i] = u % 1000 == 0 ? (float)test_rng_gauss(r) : 0.0f; break; /* sparse */
                case 1: x[i] = (float)test_rng_gauss(r); break;                       /* dense */
                case 2: x[i] = 0.0f; break;                                           /* empty */
                default: x[i] = u % 97 == 0 ? NAN : u % 89 == 0 ? -INFINITY : u % 50000 == 0 ? 1.0f : 0.0f;
                }
            }
            if (pattern == 0 && n > 70000) x[n - 1] = 3.0f, x[70000] = 0.0f; /* a gap that spans parts */
            uint64_t nnz = 0, nonfinite = 0, max_delta = 0;
            size_t prev = 0;
            for (size_t i = 0; i < n; i++) {
                if (!isfinite(x[i])) {
                    nonfinite++;
                } else if (x[i] != 0.0f) {
                    uint64_t d = nnz == 0 ? i : i - prev - 1;
                    if (d > max_delta) max_delta = d;
                    prev = i, nnz++;
                }
            }
            float *d = dev_alloc(n * sizeof(float));
            to_dev(d, x, n * sizeof(float));
            gcomp_cuda_sparse_count_t c;
            gcomp_status_t st = gcomp_cuda_count_sparse(ctx, d, n, &c);
            CHECK(st == GCOMP_OK && c.nnz == nnz && c.nonfinite == nonfinite && c.max_delta == max_delta,
                  "count n=%zu pattern %d: %s, nnz %llu/%llu, non-finite %llu/%llu, max delta %llu/%llu", n, pattern,
                  gcomp_status_string(st), (unsigned long long)c.nnz, (unsigned long long)nnz,
                  (unsigned long long)c.nonfinite, (unsigned long long)nonfinite, (unsigned long long)c.max_delta,
                  (unsigned long long)max_delta);
            gcomp_cuda_free(ctx, d);
            free(x);
        }
    }
}

/* Big chunks on a GPU: 10^6 .. 10^8 elements, the sizes the benchmarks use. */
static void test_big(test_rng_t *r)
{
    static const size_t sizes[] = {1000003, 10000019, 100000000};
    for (size_t si = 0; si < GCOMP_ARRAY_SIZE(sizes); si++) {
        tcase_t q = {.p = base_params(GCOMP_CODEC_Q8), .n = sizes[si], .ef = 1, .dist = DIST_HEAVY, .nonfinite = 1};
        run_case(&q, r);
        for (int sel = 0; sel < 2; sel++) {
            tcase_t t = {.p = base_params(GCOMP_CODEC_TOPK), .n = sizes[si], .ef = 1, .dist = DIST_HEAVY};
            t.p.topk_select = sel ? GCOMP_TOPK_EXACT : GCOMP_TOPK_SAMPLED;
            run_case(&t, r);
        }
    }
}

int main(void)
{
    setenv("GCOMP_DEBUG", "error", 0); /* the overflow cases warn by design */
#ifdef GCOMP_TEST_EMULATED
    gcomp_status_t st = gcomp_cuda_ctx_create_emulated(&ctx);
    REQUIRE(st == GCOMP_OK, "emulated context");
#ifdef GCOMP_TEST_SIMT
    ctx->be = gcomp_cu_backend_simt(); /* the kernels themselves, each CUDA thread a fiber */
#endif
#else
    const char *why = NULL;
    if (!gcomp_cuda_available(&why)) check_skip(why);
    gcomp_status_t st = gcomp_cuda_ctx_create(0, &ctx);
    REQUIRE(st == GCOMP_OK, "CUDA context on device 0");
    big = getenv("GCOMP_TEST_GPU_SMALL") == NULL;
    /* Device buffers are classified as such; host ones are not. */
    void *d = dev_alloc(64);
    int dev = -1;
    CHECK(gcomp_cuda_classify(d, &dev) == GCOMP_MEM_DEVICE && dev == 0, "device pointer classified as %d",
          (int)gcomp_cuda_classify(d, NULL));
    gcomp_cuda_free(ctx, d);
    int local = 0;
    CHECK(gcomp_cuda_classify(&local, NULL) == GCOMP_MEM_HOST, "stack pointer is host memory");
    void *pinned = gcomp_cuda_host_alloc(64);
    CHECK(gcomp_cuda_classify(pinned, NULL) == GCOMP_MEM_PINNED, "pinned memory classified as pinned");
    gcomp_cuda_host_free(pinned);
#endif
    test_rng_t r = {0x9e3779b97f4a7c15ull};
    test_q8_and_none(&r);
    test_topk(&r);
    test_multi(&r);
    test_corrupt(&r);
    test_count(&r);
    if (big) test_big(&r);
    printf("%lu frames compared; top-k: sampled pass then keep %u, trim %u, exact %u; exact from the start %u; "
           "final mode keep %u trim %u candidates %u all elements %u keep-all-finite %u; ties cut %u\n",
           frames_compared, after_seen[1], after_seen[2], after_seen[3], after_seen[0], mode_seen[2], mode_seen[3],
           mode_seen[5], mode_seen[6], mode_seen[7], ties_cut);
    CHECK(ties_cut > 0, "no selection had to cut among equal keys");
    /* Every path of the selection ran at least once. */
    CHECK(after_seen[1] && after_seen[2] && after_seen[3] && after_seen[0], "a sampled top-k path was not exercised");
    CHECK(mode_seen[5] && mode_seen[6] && mode_seen[7], "an exact top-k path was not exercised");
    gcomp_cuda_ctx_destroy(ctx);
    gcomp_scratch_free(&scratch);
#if defined(GCOMP_TEST_SIMT)
    gcomp_simt_report(stdout);
    return check_finish("test_cuda_frames (kernels on the SIMT emulator)");
#elif defined(GCOMP_TEST_EMULATED)
    return check_finish("test_cuda_frames (emulated kernels)");
#else
    return check_finish("test_cuda_frames (GPU)");
#endif
}
