/*
 * Every q8 kernel variant this CPU runs against the plain C one, byte for byte: payload, residual,
 * exception list, and both decodes. Inputs cover the vector bodies and every tail length (all sizes
 * 0..70, then up to 4100), unaligned pointers, buckets from 1 to 4096, both roundings, error
 * feedback on and off, non-finite values, an absmax of FLT_MAX, and chunks whose global indices cross
 * 2^32 (where the vector generator hands over to the slow path).
 */
#include <float.h>
#include <string.h>

#include "check.h"
#include "payload.h"
#include "gcomp.h"
#include "codec/codec.h"
#include "codec/isa.h"

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

static long test_variant(gcomp_isa_t isa)
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
    printf("%s: %ld cases, %ld differ from scalar\n", gcomp_isa_name(isa), cases, failed);
    return cases;
}

int main(void)
{
    const gcomp_isa_t variants[] = {GCOMP_ISA_AVX2, GCOMP_ISA_AVX512};
    int tested = 0;
    for (size_t v = 0; v < GCOMP_ARRAY_SIZE(variants); v++) {
        if (!gcomp_isa_available(variants[v])) {
            printf("%s: skipped (not built or not supported by this CPU)\n", gcomp_isa_name(variants[v]));
            continue;
        }
        test_variant(variants[v]);
        tested++;
    }
    if (tested == 0) check_skip("no SIMD q8 variant runs on this machine");
    return check_finish("test_q8_simd");
}
