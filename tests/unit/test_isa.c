/*
 * Every CPU kernel that has ISA variants, each variant this CPU runs against the plain C one, bit
 * for bit, in one place (the other unit tests run whichever variant gcomp_isa_active() picks and
 * check behaviour, not equivalence). Each kernel reports which variants ran and which did not
 * (not compiled in, or the CPU lacks the instructions); when no variant but plain C could run, the
 * test skips (exit 77) and says so, rather than passing on nothing.
 *
 * q8 encode and decode (q8_kernels.h: scalar, avx2, avx512): payload, residual, exception list and
 * both decodes. Inputs cover the vector bodies and every tail length (all sizes 0..70, then up to
 * 4100), unaligned pointers, buckets from 1 to 4096, both roundings, error feedback on and off,
 * non-finite values, an absmax of FLT_MAX, and chunks whose global indices cross 2^32 (where the
 * vector generator hands over to the slow path).
 *
 * The top-k data pass (topk_select.h: scalar, avx2): candidates, residual, exceptions and histogram,
 * with and without residual and histogram, a full candidate list, NaN and Inf, and thresholds 0
 * (take all) and NONFINITE (take none).
 *
 * topk and topk-q8 encode end to end (exact and sampled selection; avx512 runs the avx2 pass): payload,
 * kept count and residual, on sizes that take each selection path (small chunks, the one-pass exact
 * path with a sampled bound, the sampled path, its fallback to exact).
 */
#include <float.h>
#include <string.h>

#include "check.h"
#include "payload.h"
#include "gcomp.h"
#include "codec/codec.h"
#include "codec/isa.h"
#include "codec/topk_select.h"

enum { DIST_GAUSS, DIST_HEAVY, DIST_ZEROS, DIST_SPECIAL, DIST_COUNT };
static const char *const dist_names[] = {"gauss", "heavy", "zeros", "special"};

/* What one variant produced for one input. */
typedef struct result {
    uint8_t *payload;
    size_t payload_len;
    float *residual;
    uint8_t *exc;
    uint64_t exc_count, exc_seen;
    float *dst;   /* overwrite decode */
    float *acc;   /* accumulate decode onto a fixed pattern */
} result_t;

static void fill(test_rng_t *r, int dist, float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        double v = dist == DIST_HEAVY ? test_rng_heavy(r) * 1e-3 : test_rng_gauss(r);
        if (dist == DIST_ZEROS && (test_rng_next(r) % 3 == 0 || (i / 64) % 4 == 1)) v = 0.0;
        x[i] = (float)v;
    }
    if (dist == DIST_SPECIAL && n > 0) {
        const float specials[] = {NAN, INFINITY, -INFINITY, FLT_MAX, -FLT_MAX, 3e38f, -0.0f, 1e-40f};
        size_t count = 1 + n / 200;
        for (size_t k = 0; k < count; k++) x[test_rng_next(r) % n] = specials[test_rng_next(r) % 8];
    }
}

static void run(gcomp_isa_t isa, const gcomp_codec_params_t *p, gcomp_rng_key_t key, uint64_t base, const float *src,
                const float *res0, size_t n, int misalign, result_t *out)
{
    const gcomp_codec_ops_t *ops = &gcomp_codec_q8_ops;
    size_t bound = ops->payload_bound(p, n);
    /* Unaligned everywhere: the residual and dst by `misalign` floats, the payload by one byte; each
     * array ends where its allocation ends, so that a sanitizer sees any overrun. */
    uint8_t *payload_mem = malloc(bound + 1);
    size_t bytes = (n + (size_t)misalign) * 4 + 1;
    float *res_mem = malloc(bytes), *dst_mem = malloc(bytes), *acc_mem = malloc(bytes);
    float *res = res0 ? res_mem + misalign : NULL;
    if (res) memcpy(res, res0, n * 4);
    out->exc = malloc(n * GCOMP_WIRE_EXC_LEN + 1);
    gcomp_exc_sink_t sink = {out->exc, n, 0, 0};
    gcomp_encode_job_t job = {.params = p, .isa = isa, .key = key, .base = base, .src = src, .residual = res,
                              .n = n, .payload = payload_mem + 1, .exc = &sink};
    REQUIRE(ops->encode(&job) == GCOMP_OK, "encode");
    out->payload_len = job.payload_len;
    out->payload = malloc(job.payload_len + 1);
    memcpy(out->payload, job.payload, job.payload_len);
    out->residual = malloc(n * 4 + 1);
    if (res) memcpy(out->residual, res, n * 4);
    out->exc_count = sink.count;
    out->exc_seen = sink.seen;

    gcomp_wire_header_t h = {.codec = GCOMP_CODEC_Q8, .q8_bucket = p->q8_bucket, .chunk_count = n, .kept = n};
    REQUIRE(test_payload_decode(&h, job.payload, job.payload_len, isa, dst_mem + misalign, 0) == GCOMP_OK, "decode");
    float *acc = acc_mem + misalign;
    for (size_t i = 0; i < n; i++) acc[i] = (float)(i % 13) - 6.5f;
    REQUIRE(test_payload_decode(&h, job.payload, job.payload_len, isa, acc, 1) == GCOMP_OK, "decode accumulate");
    out->dst = malloc(n * 4 + 1);
    out->acc = malloc(n * 4 + 1);
    memcpy(out->dst, dst_mem + misalign, n * 4);
    memcpy(out->acc, acc, n * 4);
    free(payload_mem), free(res_mem), free(dst_mem), free(acc_mem);
}

static void result_free(result_t *r)
{
    free(r->payload), free(r->residual), free(r->exc), free(r->dst), free(r->acc);
}

/* Compare one variant with the scalar one on one input; 1 if identical. */
static int compare(gcomp_isa_t isa, const gcomp_codec_params_t *p, uint64_t base, const float *src, const float *res0,
                   size_t n, int misalign, int dist)
{
    gcomp_rng_key_t key = gcomp_rng_key(p->seed, n, (int32_t)misalign);
    result_t want, got;
    run(GCOMP_ISA_SCALAR, p, key, base, src, res0, n, misalign, &want);
    run(isa, p, key, base, src, res0, n, misalign, &got);
    int same = want.payload_len == got.payload_len && memcmp(want.payload, got.payload, got.payload_len) == 0;
    const char *what = !same ? "payload" : NULL;
    if (!what && res0 && memcmp(want.residual, got.residual, n * 4) != 0) what = "residual";
    if (!what && (want.exc_count != got.exc_count || want.exc_seen != got.exc_seen ||
                  memcmp(want.exc, got.exc, got.exc_count * GCOMP_WIRE_EXC_LEN) != 0))
        what = "exceptions";
    if (!what && memcmp(want.dst, got.dst, n * 4) != 0) what = "decode";
    if (!what && memcmp(want.acc, got.acc, n * 4) != 0) what = "accumulate";
    CHECK(what == NULL, "%s differs from scalar in %s: n=%zu B=%u %s ef=%d %s misalign=%d base=%llu",
          gcomp_isa_name(isa), what, n, p->q8_bucket, p->rounding == GCOMP_ROUND_NEAREST ? "nearest" : "stochastic",
          res0 != NULL, dist_names[dist], misalign, (unsigned long long)base);
    result_free(&want);
    result_free(&got);
    return what == NULL;
}

/* Sizes: every one up to 70, then a spread up to 4100 that hits the bodies and tails. */
static size_t size_at(size_t k)
{
    static const size_t more[] = {95, 96, 97, 127, 128, 129, 255, 256, 257, 511, 512, 513, 700, 999, 1000, 1001,
                                  1023, 1024, 1025, 2047, 2048, 2049, 3001, 4095, 4096, 4097, 4100};
    return k <= 70 ? k : k - 71 < GCOMP_ARRAY_SIZE(more) ? more[k - 71] : SIZE_MAX;
}

static long q8_variant(gcomp_isa_t isa, long *cases_p)
{
    static const uint32_t buckets[] = {1, 3, 8, 16, 31, 64, 100, 512, 1000, 4096};
    static const uint64_t bases[] = {0, 7, (1ull << 32) - 40, (3ull << 32) + 5};
    test_rng_t r = {0x51d};
    long cases = 0, failed = 0;
    for (size_t k = 0; size_at(k) != SIZE_MAX; k++) {
        size_t n = size_at(k);
        float *res0 = malloc(n * 4 + 1);
        for (int dist = 0; dist < DIST_COUNT; dist++) {
            int misalign = (int)((k + (size_t)dist) % 4);   /* 0..3 floats */
            float *src_mem = malloc((n + (size_t)misalign) * 4 + 1);
            const float *src = src_mem + misalign;
            fill(&r, dist, src_mem + misalign, n);
            for (size_t i = 0; i < n; i++) res0[i] = (float)(0.05 * test_rng_gauss(&r));
            if (dist == DIST_SPECIAL && n > 0) {
                /* Two finite values whose sum overflows: non-finite only with error feedback. */
                src_mem[misalign + n / 2] = 3e38f;
                res0[n / 2] = 3e38f;
            }
            for (int rounding = 0; rounding < 2; rounding++) {
                for (int ef = 0; ef < 2; ef++) {
                    /* Two buckets per case: one small, one from the list, so tails meet buckets. */
                    uint32_t bs[2] = {buckets[(k + (size_t)rounding) % 5],
                                      buckets[5 + (k + (size_t)ef + (size_t)dist) % 5]};
                    for (int b = 0; b < 2; b++) {
                        gcomp_codec_params_t p = {.codec = GCOMP_CODEC_Q8, .q8_bucket = bs[b],
                                                  .rounding = (gcomp_rounding_t)rounding, .seed = 42};
                        uint64_t base = bases[(k + (size_t)b + (size_t)ef) % 4];
                        failed += !compare(isa, &p, base, src, ef ? res0 : NULL, n, misalign, dist);
                        cases++;
                    }
                }
            }
            free(src_mem);
        }
        free(res0);
        if (failed > 20) break;   /* enough to see the pattern */
    }
    *cases_p = cases;
    return failed;
}

/* Heavy-tailed values rounded to quarters: many equal |x| (ties broken by the lower index). */
static void fill_ties(test_rng_t *r, float *x, size_t n)
{
    for (size_t i = 0; i < n; i++) x[i] = (float)(int)(test_rng_heavy(r) * 3.0) * 0.25f;
}

static long topk_pass_variant(gcomp_isa_t isa, long *cases_p)
{
    (void)isa; /* one vector pass: gcomp_topk_pass_avx2 */
    test_rng_t r = {31};
    long failed = 0;
    uint32_t *hist1 = malloc(GCOMP_TOPK_HIST_BINS * 4), *hist2 = malloc(GCOMP_TOPK_HIST_BINS * 4);
    for (int rep = 0; rep < 60; rep++) {
        size_t n = 1 + test_rng_next(&r) % 5000;
        float *src = malloc(n * 4), *res1 = malloc(n * 4), *res2 = malloc(n * 4), *val1 = malloc(n * 4);
        float *val2 = malloc(n * 4);
        uint32_t *idx1 = malloc(n * 4), *idx2 = malloc(n * 4);
        uint8_t exc1[64 * 8], exc2[64 * 8];
        if (rep % 3) fill(&r, DIST_HEAVY, src, n);
        else fill_ties(&r, src, n);
        for (size_t i = 0; i < n; i++) res1[i] = res2[i] = (float)(0.1 * test_rng_gauss(&r));
        if (rep % 4 == 0) src[n / 2] = NAN;
        if (rep % 8 == 0) src[n - 1] = INFINITY;
        uint32_t thr = rep % 5 == 0   ? 0
                       : rep % 5 == 1 ? GCOMP_ABS_KEY_NONFINITE
                                      : gcomp_abs_key(1.0f + (float)(rep % 7));
        gcomp_exc_sink_t s1 = {exc1, 64, 0, 0}, s2 = {exc2, 64, 0, 0};
        int with_res = rep % 6 != 1, with_hist = rep % 3 == 0;
        gcomp_topk_pass_t a = {.src = src, .residual = with_res ? res1 : NULL, .n = n, .thr = thr,
                               .hist = with_hist ? hist1 : NULL, .idx = idx1, .val = val1,
                               .cap = rep % 2 ? n : n / 50, .exc = &s1};
        gcomp_topk_pass_t b = a;
        b.residual = with_res ? res2 : NULL, b.hist = with_hist ? hist2 : NULL;
        b.idx = idx2, b.val = val2, b.exc = &s2;
        gcomp_topk_pass_scalar(&a);
        gcomp_topk_pass_avx2(&b);
        int same = a.count == b.count && a.overflow == b.overflow && memcmp(idx1, idx2, a.count * 4) == 0 &&
                   memcmp(val1, val2, a.count * 4) == 0 && memcmp(res1, res2, n * 4) == 0 && s1.seen == s2.seen &&
                   s1.count == s2.count && memcmp(exc1, exc2, s1.count * 8) == 0 &&
                   (!with_hist || memcmp(hist1, hist2, GCOMP_TOPK_HIST_BINS * 4) == 0);
        CHECK(same, "pass n=%zu thr=%08x res=%d hist=%d: avx2 %zu/%d differs from plain C %zu/%d", n, thr, with_res,
              with_hist, b.count, b.overflow, a.count, a.overflow);
        failed += !same;
        if (with_hist) { /* the histogram counts exactly the finite elements */
            size_t total = 0, finite = 0;
            for (size_t bin = 0; bin < GCOMP_TOPK_HIST_BINS; bin++) total += hist1[bin];
            for (size_t i = 0; i < n; i++) finite += isfinite(with_res ? res1[i] : src[i]);
            CHECK(total == finite, "pass histogram holds %zu of %zu finite", total, finite);
        }
        free(src), free(res1), free(res2), free(val1), free(val2), free(idx1), free(idx2);
    }
    free(hist1), free(hist2);
    *cases_p = 60;
    return failed;
}

/* One topk or topk-q8 encode: payload (exactly payload_bound bytes, so a sanitizer sees any overrun),
 * kept count, residual. */
typedef struct topk_out {
    uint8_t *payload;
    size_t len;
    uint64_t kept;
    float *residual;
} topk_out_t;

static void topk_encode(const gcomp_codec_params_t *p, gcomp_isa_t isa, const float *src, const float *res0,
                        size_t n, gcomp_scratch_t *scratch, topk_out_t *out)
{
    const gcomp_codec_ops_t *ops = p->codec == GCOMP_CODEC_TOPK_Q8 ? &gcomp_codec_topk_q8_ops : &gcomp_codec_topk_ops;
    out->payload = malloc(ops->payload_bound(p, n));
    out->residual = malloc(n * 4 + 1);
    if (res0) memcpy(out->residual, res0, n * 4);
    uint64_t cap = gcomp_wire_exc_cap(n);
    uint8_t *exc_buf = malloc(cap * GCOMP_WIRE_EXC_LEN + 1);
    gcomp_exc_sink_t exc = {exc_buf, cap, 0, 0};
    gcomp_encode_job_t job = {.params = p, .isa = isa, .key = gcomp_rng_key(p->seed, 5, 1), .src = src,
                              .residual = res0 ? out->residual : NULL, .n = n, .payload = out->payload,
                              .exc = &exc, .scratch = scratch};
    gcomp_status_t st = ops->encode(&job);
    REQUIRE(st == GCOMP_OK, "topk encode n=%zu with %s: %s", n, gcomp_isa_name(isa), gcomp_status_string(st));
    out->len = job.payload_len;
    out->kept = job.kept;
    free(exc_buf);
}

static long topk_encode_variant(gcomp_isa_t isa, long *cases_p)
{
    static const struct {
        size_t n;
        float ratio;
        gcomp_topk_select_t select;
    } shapes[] = {
        {0, 0.01f, GCOMP_TOPK_EXACT},          {1, 0.5f, GCOMP_TOPK_EXACT},
        {513, 0.01f, GCOMP_TOPK_EXACT},        {70001, 0.5f, GCOMP_TOPK_EXACT},
        {1000000, 1e-4f, GCOMP_TOPK_EXACT},    {1u << 22, 0.01f, GCOMP_TOPK_EXACT}, /* one-pass exact */
        {1000000, 0.01f, GCOMP_TOPK_SAMPLED},  /* too few sampled hits: falls back to exact */
        {1000000, 0.05f, GCOMP_TOPK_SAMPLED},  {1000000, 1.0f, GCOMP_TOPK_SAMPLED},
        {(1u << 20) + 3, 0.02f, GCOMP_TOPK_SAMPLED}, {1u << 22, 0.001f, GCOMP_TOPK_SAMPLED},
    };
    test_rng_t r = {11};
    gcomp_scratch_t scratch = {0};
    long cases = 0, failed = 0;
    for (size_t s = 0; s < GCOMP_ARRAY_SIZE(shapes); s++) {
        size_t n = shapes[s].n;
        float *src = malloc(n * 4 + 1), *res0 = malloc(n * 4 + 1);
        for (int data = 0; data < 3; data++) {
            if (data == 2) fill_ties(&r, src, n);
            else fill(&r, data == 0 ? DIST_HEAVY : DIST_SPECIAL, src, n);
            for (size_t i = 0; i < n; i++) res0[i] = (float)(0.01 * test_rng_gauss(&r));
            for (int codec = 0; codec < 2; codec++) {
                gcomp_codec_params_t p = {.codec = codec ? GCOMP_CODEC_TOPK_Q8 : GCOMP_CODEC_TOPK,
                                          .error_feedback = 1, .q8_bucket = 64,
                                          .rounding = codec ? GCOMP_ROUND_STOCHASTIC : GCOMP_ROUND_NEAREST,
                                          .topk_ratio = shapes[s].ratio, .topk_select = shapes[s].select,
                                          .topk_values = GCOMP_VALUES_FP32, .seed = 1234};
                int ef = (int)(s + (size_t)data) % 2 == 0;
                topk_out_t want, got;
                topk_encode(&p, GCOMP_ISA_SCALAR, src, ef ? res0 : NULL, n, &scratch, &want);
                topk_encode(&p, isa, src, ef ? res0 : NULL, n, &scratch, &got);
                int same = want.len == got.len && want.kept == got.kept &&
                           memcmp(want.payload, got.payload, want.len) == 0 &&
                           (!ef || memcmp(want.residual, got.residual, n * 4) == 0);
                CHECK(same, "%s encode n=%zu ratio=%g %s data %d ef=%d: %s differs from plain C",
                      gcomp_codec_name(p.codec), n, (double)p.topk_ratio,
                      p.topk_select == GCOMP_TOPK_EXACT ? "exact" : "sampled", data, ef, gcomp_isa_name(isa));
                failed += !same;
                cases++;
                free(want.payload), free(want.residual), free(got.payload), free(got.residual);
            }
        }
        free(src), free(res0);
    }
    gcomp_scratch_free(&scratch);
    *cases_p = cases;
    return failed;
}

typedef struct kernel {
    const char *name;
    long (*run)(gcomp_isa_t isa, long *cases_p);
    gcomp_isa_t variants[2]; /* besides plain C; GCOMP_ISA_AUTO ends the list */
} kernel_t;

int main(void)
{
    static const kernel_t kernels[] = {
        {"q8 encode/decode", q8_variant, {GCOMP_ISA_AVX2, GCOMP_ISA_AVX512}},
        {"topk pass", topk_pass_variant, {GCOMP_ISA_AVX2, GCOMP_ISA_AUTO}},
        {"topk encode", topk_encode_variant, {GCOMP_ISA_AVX2, GCOMP_ISA_AVX512}},
    };
    int compared = 0;
    for (size_t k = 0; k < GCOMP_ARRAY_SIZE(kernels); k++)
        for (size_t v = 0; v < 2 && kernels[k].variants[v] != GCOMP_ISA_AUTO; v++) {
            gcomp_isa_t isa = kernels[k].variants[v];
            if (!gcomp_isa_available(isa)) {
                printf("%-17s %-7s not run: not compiled in, or this CPU lacks it\n", kernels[k].name,
                       gcomp_isa_name(isa));
                continue;
            }
            long cases = 0, failed = kernels[k].run(isa, &cases);
            printf("%-17s %-7s %ld cases against scalar, %ld differ\n", kernels[k].name, gcomp_isa_name(isa), cases,
                   failed);
            compared++;
        }
    if (compared == 0) check_skip("only the plain C kernels run on this CPU and build: nothing to compare");
    return check_finish("test_isa");
}
