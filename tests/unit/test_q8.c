/*
 * The q8 and none codecs through their ops tables and through the frame API: bytes equal to an
 * element-by-element reference written here from q8_ref.h, the error bounds of q8_ref.h, unbiased
 * stochastic rounding, exact cases, error feedback that loses nothing, non-finite values, and a
 * decoder that rejects malformed payloads. Runs with the kernel variant gcomp_isa_active() picks;
 * test_isa compares the variants with each other.
 */
#include <float.h>
#include <string.h>

#include "check.h"
#include "payload.h"
#include "gcomp.h"
#include "codec/codec.h"
#include "codec/isa.h"
#include "codec/q8_ref.h"

static gcomp_isa_t isa;

typedef struct encoded {
    uint8_t *payload;   /* payload_bound bytes + 1 spare, for the one-too-long check */
    size_t len;
    uint8_t *exc;       /* n exception entries of capacity */
    uint64_t exc_count;
} encoded_t;

static void encoded_free(encoded_t *e)
{
    free(e->payload);
    free(e->exc);
}

static gcomp_codec_params_t q8_params(uint32_t bucket, gcomp_rounding_t rounding)
{
    gcomp_codec_params_t p = {.codec = GCOMP_CODEC_Q8, .error_feedback = 1, .q8_bucket = bucket,
                              .rounding = rounding, .topk_ratio = 1.0f, .seed = 1234};
    return p;
}

static encoded_t encode_ops(const gcomp_codec_t codec, const gcomp_codec_params_t *p, gcomp_rng_key_t key,
                            uint64_t base, const float *src, float *res, size_t n)
{
    const gcomp_codec_ops_t *ops = gcomp_codec_ops_get(codec);
    encoded_t e = {malloc(ops->payload_bound(p, n) + 1), 0, malloc(n * GCOMP_WIRE_EXC_LEN + 1), 0};
    gcomp_exc_sink_t sink = {e.exc, n, 0, 0};
    gcomp_encode_job_t job = {.params = p, .isa = isa, .key = key, .base = base, .src = src, .residual = res,
                              .n = n, .payload = e.payload, .exc = &sink};
    gcomp_status_t st = ops->encode(&job);
    REQUIRE(st == GCOMP_OK, "%s encode n=%zu: %s", ops->name, n, gcomp_status_string(st));
    CHECK(job.payload_len == ops->payload_bound(p, n) && job.kept == n, "%s n=%zu: payload %zu kept %llu",
          ops->name, n, job.payload_len, (unsigned long long)job.kept);
    CHECK(sink.seen == sink.count, "exceptions seen %llu, listed %llu", (unsigned long long)sink.seen,
          (unsigned long long)sink.count);
    e.len = job.payload_len;
    e.exc_count = sink.count;
    return e;
}

static gcomp_status_t decode_ops(gcomp_codec_t codec, uint32_t bucket, const uint8_t *payload, size_t len,
                                 float *dst, size_t n, int accumulate)
{
    gcomp_wire_header_t h = {.codec = (uint8_t)codec, .q8_bucket = bucket, .chunk_count = n, .kept = n};
    return test_payload_decode(&h, payload, len, isa, dst, accumulate);
}

/*
 * The reference: q8_ref.h one element at a time, non-finite values and the FLT_MAX absmax handled
 * as codec.h and q8_kernels.h say. Fills scales, q, the new residual (when res is not NULL) and
 * the exception list; the codec's bytes must equal these.
 */
static uint64_t ref_encode(const gcomp_codec_params_t *p, gcomp_rng_key_t key, uint64_t base, const float *src,
                           float *res, size_t n, float *scales, int8_t *q, uint8_t *exc)
{
    uint64_t nexc = 0;
    size_t B = p->q8_bucket;
    for (size_t s = 0; s < n; s += B) {
        size_t len = GCOMP_MIN(B, n - s);
        float absmax = 0.0f;
        for (size_t i = s; i < s + len; i++) {
            float g = res ? src[i] + res[i] : src[i];
            if (isfinite(g) && fabsf(g) > absmax) absmax = fabsf(g);
        }
        float scale = gcomp_q8_scale(absmax), inv = gcomp_q8_inv(absmax);
        int qmax = absmax == FLT_MAX ? 126 : 127;
        for (size_t i = s; i < s + len; i++) {
            float g = res ? src[i] + res[i] : src[i];
            if (!isfinite(g)) {
                q[i] = 0;
                if (res) res[i] = 0.0f;
                gcomp_store_le32(exc + 8 * nexc, (uint32_t)i);
                gcomp_store_le32(exc + 8 * nexc + 4, gcomp_f32_bits(g));
                nexc++;
                continue;
            }
            int8_t v = gcomp_q8_quantize(g, inv, p->rounding, gcomp_rng_bits(key, base + i));
            q[i] = (int8_t)GCOMP_MAX(-qmax, GCOMP_MIN(qmax, v));
            if (res) res[i] = g - gcomp_q8_dequantize(q[i], scale);
        }
        scales[s / B] = scale;
    }
    return nexc;
}

/* Encode through the ops and check payload, residual, exceptions and both decodes against the
 * reference, and the error bounds of q8_ref.h per element. */
static void check_against_ref(const gcomp_codec_params_t *p, gcomp_rng_key_t key, uint64_t base, const float *src,
                              const float *res0, size_t n, const char *what)
{
    size_t nb = n / p->q8_bucket + (n % p->q8_bucket != 0);
    float *res = res0 ? malloc(n * 4 + 1) : NULL, *ref_res = res0 ? malloc(n * 4 + 1) : NULL;
    if (res0) {
        memcpy(res, res0, n * 4);
        memcpy(ref_res, res0, n * 4);
    }
    float *scales = malloc(nb * 4 + 4), *dst = malloc(n * 4 + 1), *acc = malloc(n * 4 + 1);
    int8_t *q = malloc(n + 1);
    uint8_t *exc = malloc(n * 8 + 1);
    uint64_t nexc = ref_encode(p, key, base, src, ref_res, n, scales, q, exc);
    encoded_t e = encode_ops(GCOMP_CODEC_Q8, p, key, base, src, res, n);

    CHECK(memcmp(e.payload, scales, nb * 4) == 0, "%s n=%zu B=%u: scales differ", what, n, p->q8_bucket);
    CHECK(memcmp(e.payload + nb * 4, q, n) == 0, "%s n=%zu B=%u: values differ", what, n, p->q8_bucket);
    CHECK(!res0 || memcmp(res, ref_res, n * 4) == 0, "%s n=%zu: residual differs", what, n);
    CHECK(e.exc_count == nexc && memcmp(e.exc, exc, nexc * 8) == 0, "%s n=%zu: exceptions %llu vs %llu", what,
          n, (unsigned long long)e.exc_count, (unsigned long long)nexc);

    for (size_t i = 0; i < n; i++) acc[i] = (float)i;
    CHECK(decode_ops(GCOMP_CODEC_Q8, p->q8_bucket, e.payload, e.len, dst, n, 0) == GCOMP_OK, "%s decode", what);
    CHECK(decode_ops(GCOMP_CODEC_Q8, p->q8_bucket, e.payload, e.len, acc, n, 1) == GCOMP_OK, "%s accumulate", what);
    size_t bad_decode = n, bad_bound = n;
    for (size_t i = 0; i < n; i++) {
        size_t b = i / p->q8_bucket;
        float d = gcomp_q8_dequantize(q[i], scales[b]);
        if (gcomp_f32_bits(dst[i]) != gcomp_f32_bits(d) || acc[i] != (float)i + d)
            bad_decode = GCOMP_MIN(bad_decode, i);
        float g = res0 ? src[i] + res0[i] : src[i];
        if (!isfinite(g)) continue;
        /* Nearest |g - d| <= scale/2 + 2^-20 absmax (q8_ref.h); stochastic <= scale + 2^-20 absmax.
         * The 2^-20 absmax term covers the roundings of 127 / absmax, g * inv and q * scale (about
         * 4 * 2^-24 absmax); q8_ref.h's stochastic scale (1 + 2^-20) is too tight by that much: with
         * q = 126 next to an absmax of 127 scale the error reaches scale (1 + 2^-19.6). A bucket below
         * GCOMP_Q8_MIN_ABSMAX decodes to 0, off by at most its absmax. */
        double absmax = scales[b] * 127.0, err = fabs((double)g - (double)d);
        double tol = (p->rounding == GCOMP_ROUND_NEAREST ? scales[b] / 2.0 : scales[b]) + 0x1p-20 * absmax;
        if (scales[b] == 0.0f) tol = GCOMP_Q8_MIN_ABSMAX;
        /* An absmax of FLT_MAX stops q at +-126 (127 * scale would overflow): one scale more. */
        if (absmax > FLT_MAX) tol += scales[b];
        if (err > tol) bad_bound = GCOMP_MIN(bad_bound, i);
    }
    CHECK(bad_decode == n, "%s n=%zu: decoded element %zu differs from q * scale", what, n, bad_decode);
    CHECK(bad_bound == n, "%s n=%zu: element %zu outside the error bound", what, n, bad_bound);
    encoded_free(&e);
    free(res), free(ref_res), free(scales), free(dst), free(acc), free(q), free(exc);
}

static void test_sizes(void)
{
    test_rng_t r = {7};
    const uint32_t buckets[] = {1, 512, 1000};
    gcomp_rng_key_t key = gcomp_rng_key(99, 5, 2);
    for (size_t b = 0; b < GCOMP_ARRAY_SIZE(buckets); b++) {
        uint32_t B = buckets[b];
        const size_t sizes[] = {0, 1, 2, 7, B - 1, B, B + 1, 1000000};
        for (size_t s = 0; s < GCOMP_ARRAY_SIZE(sizes); s++) {
            size_t n = sizes[s];
            float *src = malloc(n * 4 + 1), *res = malloc(n * 4 + 1);
            for (size_t i = 0; i < n; i++) {
                src[i] = (float)test_rng_heavy(&r);
                res[i] = (float)(0.01 * test_rng_gauss(&r));
            }
            for (int rounding = 0; rounding < 2; rounding++) {
                gcomp_codec_params_t p = q8_params(B, (gcomp_rounding_t)rounding);
                check_against_ref(&p, key, 12345, src, NULL, n, "sizes, no ef");
                check_against_ref(&p, key, 12345, src, res, n, "sizes, ef");
            }
            free(src), free(res);
        }
    }
    /* A chunk whose global indices cross 2^32: the generator's high part changes mid-bucket. */
    size_t n = 3000;
    float *src = malloc(n * 4);
    for (size_t i = 0; i < n; i++) src[i] = (float)test_rng_gauss(&r);
    gcomp_codec_params_t p = q8_params(512, GCOMP_ROUND_STOCHASTIC);
    check_against_ref(&p, key, (1ull << 32) - 1001, src, NULL, n, "2^32 boundary");
    free(src);
}

/* E[decode] = input: the mean error over D keys of a fixed input stays within 4 scale / sqrt(D)
 * (|err| <= scale, so sd(err) <= scale / 2 and sd(mean) <= scale / (2 sqrt(D)): the bound is 8 sd,
 * for 1000 elements), and each error is at most scale + 2^-20 absmax. */
static void test_unbiased(void)
{
    enum { N = 1000, DRAWS = 2000 };
    test_rng_t r = {11};
    float src[N], dst[N];
    double sum_err[N] = {0};
    for (size_t i = 0; i < N; i++) src[i] = (float)test_rng_gauss(&r);
    gcomp_codec_params_t p = q8_params(250, GCOMP_ROUND_STOCHASTIC);
    float scale[4];
    double worst = 0;
    for (uint64_t seq = 0; seq < DRAWS; seq++) {
        encoded_t e = encode_ops(GCOMP_CODEC_Q8, &p, gcomp_rng_key(p.seed, seq, 0), 777, src, NULL, N);
        memcpy(scale, e.payload, sizeof(scale));
        decode_ops(GCOMP_CODEC_Q8, 250, e.payload, e.len, dst, N, 0);
        for (size_t i = 0; i < N; i++) {
            double err = (double)dst[i] - (double)src[i];
            sum_err[i] += err;
            worst = fmax(worst, fabs(err) / (scale[i / 250] * (1.0 + 127 * 0x1p-20)));
        }
        encoded_free(&e);
    }
    CHECK(worst <= 1.0, "stochastic error reaches %g of scale + 2^-20 absmax", worst);
    double worst_mean = 0;
    for (size_t i = 0; i < N; i++)
        worst_mean = fmax(worst_mean, fabs(sum_err[i] / DRAWS) / (4.0 * scale[i / 250] / sqrt(DRAWS)));
    CHECK(worst_mean <= 1.0, "mean stochastic error reaches %g of 4 scale / sqrt(draws)", worst_mean);
    printf("stochastic rounding: worst |mean error| = %.3f of 4 scale / sqrt(%d)\n", worst_mean, DRAWS);
}

/* Zero buckets, constant buckets and multiples of a power-of-two scale decode exactly. */
static void test_exact(void)
{
    enum { N = 1500, B = 500 };
    float src[N], dst[N], res[N];
    gcomp_rng_key_t key = gcomp_rng_key(3, 4, 5);
    const float constants[] = {127.0f, -63.5f, 127.0f * 0x1p-40f, -0.9921875f, 0.3f, -1e-20f, 3e38f};
    for (size_t c = 0; c < GCOMP_ARRAY_SIZE(constants); c++) {
        for (size_t i = 0; i < N; i++)
            src[i] = i < B ? 0.0f : i < 2 * B ? constants[c] : (float)((int)(i % 255) - 127) * 0x1p-3f;
        for (int rounding = 0; rounding < 2; rounding++) {
            gcomp_codec_params_t p = q8_params(B, (gcomp_rounding_t)rounding);
            memset(res, 0, sizeof(res));
            encoded_t e = encode_ops(GCOMP_CODEC_Q8, &p, key, 1, src, res, N);
            decode_ops(GCOMP_CODEC_Q8, B, e.payload, e.len, dst, N, 0);
            const int8_t *q = (const int8_t *)e.payload + 12;
            for (size_t i = 0; i < B; i++)
                CHECK(dst[i] == 0.0f && q[i] == 0 && res[i] == 0.0f, "zero bucket %zu: %g", i, (double)dst[i]);
            /* A constant v: t = v * (127 / |v|) is within an ulp of +-127, so nearest gives q = +-127
             * and q * (|v| / 127) is v to one ulp. When |v| = 127 * 2^k, t = +-127 exactly and both
             * roundings give q = +-127 and v exactly; otherwise stochastic rounding may give 126. */
            float ulp = nextafterf(fabsf(constants[c]), INFINITY) - fabsf(constants[c]);
            int pow2 = c < 4;
            for (size_t i = B; i < 2 * B && (pow2 || rounding == GCOMP_ROUND_NEAREST); i++) {
                CHECK(q[i] == (constants[c] > 0 ? 127 : -127), "constant %g: q %d", (double)constants[c], q[i]);
                CHECK(pow2 ? dst[i] == constants[c] : fabsf(dst[i] - constants[c]) <= ulp,
                      "constant %a decodes to %a", (double)constants[c], (double)dst[i]);
                if (!(pow2 ? dst[i] == constants[c] : fabsf(dst[i] - constants[c]) <= ulp)) break;
            }
            /* j / 8 for j in [-127, 127]: scale 1/8, t = j exactly. Nearest gives q = j; stochastic
             * floor(j + u) is j except when j + u rounds up to j + 1 (1 - u below half an ulp of j). */
            if (rounding == GCOMP_ROUND_NEAREST) {
                for (size_t i = 2 * B; i < N; i++)
                    CHECK(dst[i] == src[i] && res[i] == 0.0f, "multiple of scale %a decodes to %a",
                          (double)src[i], (double)dst[i]);
            }
            encoded_free(&e);
        }
    }
}

/* Error feedback loses nothing: after T calls, sum_t decoded_t + residual_T = sum_t x_t up to the
 * rounding of the two float operations per call, g_t = fl(x_t + r_(t-1)) and r_t = fl(g_t - d_t),
 * each off by at most 2^-24 of its result. Enforced per element, in double:
 *     |sum d_t + r_T - sum x_t| <= 2^-23 * sum_t (|g_t| + |r_t|)
 * (twice the rounding terms, the slack covers the double sums), and |r_t| <= scale_t + 2^-20 absmax_t. */
static void test_error_feedback(void)
{
    enum { N = 10000, B = 512, CALLS = 50 };
    test_rng_t r = {13};
    for (int rounding = 0; rounding < 2; rounding++) {
        gcomp_codec_params_t p = q8_params(B, (gcomp_rounding_t)rounding);
        float *x = malloc(N * 4), *res = calloc(N, 4), *dst = malloc(N * 4);
        double *sum_x = calloc(N, 8), *sum_d = calloc(N, 8), *tol = calloc(N, 8);
        int finite = 1, bounded = 1;
        for (uint64_t t = 0; t < CALLS; t++) {
            for (size_t i = 0; i < N; i++) {
                x[i] = (float)(test_rng_heavy(&r) * (1.0 + (double)(i % 7)));
                sum_x[i] += x[i];
                tol[i] += fabs((double)(x[i] + res[i]));
            }
            encoded_t e = encode_ops(GCOMP_CODEC_Q8, &p, gcomp_rng_key(1, t, 0), 0, x, res, N);
            decode_ops(GCOMP_CODEC_Q8, B, e.payload, e.len, dst, N, 0);
            for (size_t i = 0; i < N; i++) {
                float scale;
                memcpy(&scale, e.payload + 4 * (i / B), 4);
                sum_d[i] += dst[i];
                tol[i] += fabs((double)res[i]);
                finite &= isfinite(res[i]) != 0;
                bounded &= fabs((double)res[i]) <= scale * (1.0 + 127 * 0x1p-20);
            }
            encoded_free(&e);
        }
        double worst = 0;
        for (size_t i = 0; i < N; i++) worst = fmax(worst, fabs(sum_d[i] + res[i] - sum_x[i]) / (0x1p-23 * tol[i]));
        CHECK(finite && bounded, "rounding %d: residual not finite (%d) or above its scale (%d)", rounding, !finite,
              !bounded);
        CHECK(worst <= 1.0, "rounding %d: sum of decoded + residual is off by %g of the bound", rounding, worst);
        printf("error feedback (rounding %d): worst drift %.3f of the bound\n", rounding, worst);
        free(x), free(res), free(dst), free(sum_x), free(sum_d), free(tol);
    }
}

/* NaN and +-Inf (in src, or from src + residual overflowing) go to the exception list in offset
 * order, leave q = 0 and a zero residual, and the rest of the bucket is quantized from the finite
 * values; an absmax of FLT_MAX keeps the decode and the residual finite. */
static void test_nonfinite(void)
{
    enum { N = 2100, B = 300 };
    test_rng_t r = {17};
    float src[N], res[N], res0[N], dst[N];
    for (size_t i = 0; i < N; i++) {
        src[i] = (float)test_rng_gauss(&r);
        res0[i] = (float)(0.1 * test_rng_gauss(&r));
    }
    src[0] = NAN, src[5] = INFINITY, src[299] = -INFINITY, src[300] = -NAN;
    for (size_t i = 600; i < 900; i++) src[i] = i % 2 ? INFINITY : NAN;  /* a bucket of nothing else */
    src[1000] = 3e38f, res0[1000] = 3e38f;                                  /* finite + finite = Inf */
    src[1001] = -3e38f, res0[1001] = -3e38f;
    src[1500] = FLT_MAX, res0[1500] = 0.0f;                                 /* absmax FLT_MAX */
    src[1501] = -FLT_MAX, res0[1501] = 0.0f;
    gcomp_rng_key_t key = gcomp_rng_key(5, 6, 7);
    for (int rounding = 0; rounding < 2; rounding++) {
        gcomp_codec_params_t p = q8_params(B, (gcomp_rounding_t)rounding);
        check_against_ref(&p, key, 3, src, res0, N, "non-finite, ef");
        check_against_ref(&p, key, 3, src, NULL, N, "non-finite, no ef");
        memcpy(res, res0, sizeof(res));
        encoded_t e = encode_ops(GCOMP_CODEC_Q8, &p, key, 3, src, res, N);
        decode_ops(GCOMP_CODEC_Q8, B, e.payload, e.len, dst, N, 0);
        uint64_t k = 0;
        int ok = 1;
        for (size_t i = 0; i < N; i++) {
            float g = src[i] + res0[i];
            ok &= isfinite(res[i]) && isfinite(dst[i]);
            if (isfinite(g)) continue;
            ok &= k < e.exc_count && gcomp_load_le32(e.exc + 8 * k) == i && dst[i] == 0.0f && res[i] == 0.0f;
            float v = gcomp_bits_f32(gcomp_load_le32(e.exc + 8 * k + 4));
            ok &= isnan(g) ? isnan(v) != 0 : v == g;
            k++;
        }
        CHECK(ok && k == e.exc_count && k == 4 + 300 + 2, "rounding %d: %llu exceptions, listed %llu", rounding,
              (unsigned long long)k, (unsigned long long)e.exc_count);
        CHECK(fabsf(dst[1500]) < FLT_MAX && fabsf(dst[1500]) > 0.99f * FLT_MAX, "FLT_MAX decodes to %g",
              (double)dst[1500]);
        encoded_free(&e);
    }
}

/* Truncated, extended, bad scales and a -128 value: GCOMP_ERR_FRAME, never a crash. */
static void test_reject(void)
{
    enum { N = 1100, B = 512 };
    test_rng_t r = {19};
    float src[N], dst[N];
    for (size_t i = 0; i < N; i++) src[i] = (float)test_rng_gauss(&r);
    gcomp_codec_params_t p = q8_params(B, GCOMP_ROUND_NEAREST);
    encoded_t e = encode_ops(GCOMP_CODEC_Q8, &p, gcomp_rng_key(1, 2, 3), 0, src, NULL, N);
    size_t len = e.len, nb = 3;
    CHECK(decode_ops(GCOMP_CODEC_Q8, B, e.payload, len - 1, dst, N, 0) == GCOMP_ERR_FRAME, "one short");
    CHECK(decode_ops(GCOMP_CODEC_Q8, B, e.payload, len + 1, dst, N, 0) == GCOMP_ERR_FRAME, "one long");
    CHECK(decode_ops(GCOMP_CODEC_Q8, B, e.payload, len, dst, N + 1, 0) == GCOMP_ERR_FRAME, "count + 1");
    CHECK(decode_ops(GCOMP_CODEC_Q8, 0, e.payload, len, dst, N, 0) == GCOMP_ERR_FRAME, "bucket 0");
    const float bad_scales[] = {NAN, -1.0f, INFINITY, -INFINITY};
    for (size_t k = 0; k < GCOMP_ARRAY_SIZE(bad_scales); k++) {
        for (size_t b = 0; b < nb; b++) {
            uint8_t *copy = malloc(len);
            memcpy(copy, e.payload, len);
            memcpy(copy + 4 * b, &bad_scales[k], 4);
            CHECK(decode_ops(GCOMP_CODEC_Q8, B, copy, len, dst, N, 1) == GCOMP_ERR_FRAME, "scale %g in bucket %zu",
                  (double)bad_scales[k], b);
            free(copy);
        }
    }
    const size_t bad_at[] = {0, 31, 40, 511, 512, 1023, 1099};
    for (size_t k = 0; k < GCOMP_ARRAY_SIZE(bad_at); k++) {
        uint8_t *copy = malloc(len);
        memcpy(copy, e.payload, len);
        copy[4 * nb + bad_at[k]] = 0x80;
        CHECK(decode_ops(GCOMP_CODEC_Q8, B, copy, len, dst, N, 0) == GCOMP_ERR_FRAME, "-128 at %zu", bad_at[k]);
        free(copy);
    }
    encoded_free(&e);
}

/* none: exact round trip (g' = src + residual, residual cleared), NaN carried, exact lengths. */
static void test_none(void)
{
    enum { N = 1001 };
    test_rng_t r = {23};
    float src[N], res[N], res0[N], dst[N], acc[N];
    for (size_t i = 0; i < N; i++) {
        src[i] = (float)test_rng_heavy(&r);
        res[i] = res0[i] = (float)test_rng_gauss(&r);
        acc[i] = 1.0f;
    }
    src[3] = NAN, src[4] = -INFINITY;
    gcomp_codec_params_t p = q8_params(1, GCOMP_ROUND_NEAREST);
    p.codec = GCOMP_CODEC_NONE;
    encoded_t e = encode_ops(GCOMP_CODEC_NONE, &p, gcomp_rng_key(0, 0, 0), 0, src, res, N);
    CHECK(e.len == 4 * N && e.exc_count == 0, "none payload %zu, %llu exceptions", e.len,
          (unsigned long long)e.exc_count);
    CHECK(decode_ops(GCOMP_CODEC_NONE, 1, e.payload, e.len, dst, N, 0) == GCOMP_OK, "none decode");
    CHECK(decode_ops(GCOMP_CODEC_NONE, 1, e.payload, e.len, acc, N, 1) == GCOMP_OK, "none accumulate");
    int ok = 1;
    for (size_t i = 0; i < N; i++) {
        float g = src[i] + res0[i];
        ok &= res[i] == 0.0f && (isnan(g) ? isnan(dst[i]) != 0 : dst[i] == g && acc[i] == 1.0f + g);
    }
    CHECK(ok, "none round trip");
    encoded_free(&e);
    e = encode_ops(GCOMP_CODEC_NONE, &p, gcomp_rng_key(0, 0, 0), 0, src, NULL, N);
    CHECK(memcmp(e.payload, src, 4 * N) == 0, "none without error feedback sends src");
    CHECK(decode_ops(GCOMP_CODEC_NONE, 1, e.payload, e.len - 1, dst, N, 0) == GCOMP_ERR_FRAME, "none one short");
    CHECK(decode_ops(GCOMP_CODEC_NONE, 1, e.payload, e.len + 1, dst, N, 0) == GCOMP_ERR_FRAME, "none one long");
    encoded_free(&e);
}

/* Through gcomp_frame_encode / gcomp_frame_decode: the frame's decode equals the ops decode, with
 * the exceptions applied by the frame layer. */
static void test_frames(void)
{
    enum { N = 5000 };
    test_rng_t r = {29};
    float *src = malloc(N * 4), *res = calloc(N, 4), *res_ops = calloc(N, 4);
    float *dst = malloc(N * 4), *ref = malloc(N * 4);
    for (size_t i = 0; i < N; i++) src[i] = (float)test_rng_gauss(&r);
    src[10] = NAN, src[4999] = -INFINITY;
    for (int codec = GCOMP_CODEC_NONE; codec <= GCOMP_CODEC_Q8; codec++) {
        gcomp_codec_params_t p = q8_params(700, GCOMP_ROUND_STOCHASTIC);
        p.codec = (gcomp_codec_t)codec;
        p.checksum = 1;
        gcomp_frame_info_t where = {.codec = p.codec, .dtype = GCOMP_DTYPE_FP32, .total_count = N + 10,
                                    .chunk_offset = 9, .chunk_count = N, .rank = 1, .comm_id = 4, .seq = 77};
        size_t cap = gcomp_frame_bound(&p, N);
        uint8_t *frame = malloc(cap);
        gcomp_frame_info_t info;
        gcomp_status_t st = gcomp_frame_encode(&p, &where, src, res, frame, cap, &info);
        if (st == GCOMP_ERR_UNSUPPORTED) {
            printf("frame API: %s not supported yet, skipped\n", gcomp_codec_name(p.codec));
            free(frame);
            continue;
        }
        CHECK(st == GCOMP_OK, "frame encode %s: %s", gcomp_codec_name(p.codec), gcomp_status_string(st));
        /* none carries NaN and Inf in its payload; q8 lists them as exceptions. */
        CHECK(info.nonfinite == (codec == GCOMP_CODEC_Q8 ? 2u : 0u), "frame nonfinite %llu",
              (unsigned long long)info.nonfinite);
        st = gcomp_frame_decode(frame, info.frame_bytes, &where, dst, 0, NULL);
        CHECK(st == GCOMP_OK, "frame decode %s: %s", gcomp_codec_name(p.codec), gcomp_status_string(st));

        encoded_t e = encode_ops(p.codec, &p, gcomp_rng_key(p.seed, 77, 1), 9, src, res_ops, N);
        decode_ops(p.codec, 700, e.payload, e.len, ref, N, 0);
        ref[10] = NAN, ref[4999] = -INFINITY;
        CHECK(memcmp(res, res_ops, N * 4) == 0, "%s: frame and ops residuals differ", gcomp_codec_name(p.codec));
        int same = 1;
        for (size_t i = 0; i < N; i++) same &= isnan(ref[i]) ? isnan(dst[i]) != 0 : dst[i] == ref[i];
        CHECK(same, "%s: frame decode differs from the ops decode", gcomp_codec_name(p.codec));
        frame[GCOMP_WIRE_HEADER_LEN + 7] ^= 1;
        CHECK(gcomp_frame_decode(frame, info.frame_bytes, &where, dst, 0, NULL) == GCOMP_ERR_CHECKSUM, "flip");
        encoded_free(&e);
        free(frame);
    }
    free(src), free(res), free(res_ops), free(dst), free(ref);
}

int main(void)
{
    isa = gcomp_isa_active();
    printf("q8 kernels: %s\n", gcomp_isa_name(isa));
    test_sizes();
    test_unbiased();
    test_exact();
    test_error_feedback();
    test_nonfinite();
    test_reject();
    test_none();
    test_frames();
    return check_finish("test_q8");
}
