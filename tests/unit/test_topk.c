/*
 * The topk and topk-q8 codecs, called through their ops tables with hand-built jobs and headers
 * (and once through the frame API): exact selection against a qsort reference, the sampled path's
 * kept-count window and threshold property, value error bounds (fp16, q8), error feedback over many
 * calls, non-finite inputs, the bit packer, and a decoder that rejects every malformed payload without
 * touching dst. Encodes run with plain C unless said otherwise; test_isa compares the AVX2 pass and
 * encode with the plain C ones.
 */
#include <float.h>
#include <string.h>

#include "check.h"
#include "payload.h"
#include "gcomp.h"
#include "codec/bitpack.h"
#include "codec/codec.h"
#include "codec/isa.h"
#include "codec/q8_ref.h"
#include "codec/topk_select.h"

static gcomp_scratch_t scratch;

enum { DATA_GAUSS, DATA_HEAVY, DATA_TIES, DATA_EQUAL, DATA_SPARSE, DATA_KINDS };
static const char *data_name[DATA_KINDS] = {"gauss", "student-t", "ties", "all-equal", "sparse"};

/* Gaussian and Student-t draws are costly (log, cos); the large tests draw from pools of them, each
 * value times a random factor in [1, 1 + 2^-10) so that ties stay as rare as in real data. */
#define POOL 65536
static float pool[2][POOL];

static void pools_init(void)
{
    test_rng_t r = {99};
    for (int i = 0; i < POOL; i++) {
        pool[0][i] = (float)test_rng_gauss(&r);
        pool[1][i] = (float)test_rng_heavy(&r);
    }
}

static float draw(int which, test_rng_t *r)
{
    uint64_t h = test_rng_next(r);
    return pool[which][h % POOL] * (1.0f + (float)(h >> 54) * 0x1p-20f);
}

static void fill(float *x, size_t n, int kind, test_rng_t *r)
{
    for (size_t i = 0; i < n; i++) {
        switch (kind) {
        case DATA_GAUSS: x[i] = draw(0, r); break;
        case DATA_HEAVY: x[i] = draw(1, r); break;
        case DATA_TIES: x[i] = (float)(int)(draw(0, r) * 3.0f) * 0.25f; break; /* many equal |x|, zeros */
        case DATA_EQUAL: x[i] = (i & 1) ? 0.5f : -0.5f; break;
        default: x[i] = test_rng_uniform(r) < 0.004 ? draw(0, r) : 0.0f; break;
        }
    }
}

static gcomp_codec_params_t params_for(gcomp_codec_t codec, gcomp_topk_select_t sel, float ratio)
{
    gcomp_codec_params_t p = {.codec = codec, .error_feedback = 1, .q8_bucket = 64,
                              .rounding = GCOMP_ROUND_NEAREST, .topk_ratio = ratio, .topk_select = sel,
                              .topk_values = GCOMP_VALUES_FP32, .seed = 1234};
    return p;
}

static const gcomp_codec_ops_t *ops_for(const gcomp_codec_params_t *p)
{
    return p->codec == GCOMP_CODEC_TOPK_Q8 ? &gcomp_codec_topk_q8_ops : &gcomp_codec_topk_ops;
}

typedef struct enc {
    uint8_t *payload; /* exactly payload_bound bytes, so a sanitizer sees any overrun */
    size_t len;
    uint64_t kept;
    uint8_t *exc_buf;
    gcomp_exc_sink_t exc;
} enc_t;

static void enc_free(enc_t *e)
{
    free(e->payload);
    free(e->exc_buf);
}

static enc_t encode(const gcomp_codec_params_t *p, gcomp_isa_t isa, const float *src, float *res, size_t n,
                    uint64_t base)
{
    enc_t e;
    size_t bound = ops_for(p)->payload_bound(p, n);
    e.payload = malloc(bound);
    uint64_t cap = gcomp_wire_exc_cap(n);
    e.exc_buf = malloc(cap * GCOMP_WIRE_EXC_LEN + 1);
    e.exc = (gcomp_exc_sink_t){e.exc_buf, cap, 0, 0};
    gcomp_encode_job_t job = {.params = p, .isa = isa, .key = gcomp_rng_key(p->seed, 5, 1), .base = base,
                              .src = src, .residual = res, .n = n, .payload = e.payload, .exc = &e.exc,
                              .scratch = &scratch};
    gcomp_status_t st = ops_for(p)->encode(&job);
    REQUIRE(st == GCOMP_OK, "encode n=%zu: %s", n, gcomp_status_string(st));
    CHECK(job.payload_len <= bound, "payload %zu > bound %zu (n=%zu ratio %g)", job.payload_len, bound, n,
          (double)p->topk_ratio);
    e.len = job.payload_len;
    e.kept = job.kept;
    return e;
}

static gcomp_wire_header_t header_for(const gcomp_codec_params_t *p, uint64_t n, uint64_t kept)
{
    gcomp_wire_header_t h = {.version = GCOMP_WIRE_VERSION, .codec = (uint8_t)p->codec, .q8_bucket = p->q8_bucket,
                             .chunk_count = n, .kept = kept, .total_count = n};
    if (p->codec == GCOMP_CODEC_TOPK && p->topk_values == GCOMP_VALUES_FP16) h.flags = GCOMP_WIRE_FLAG_VALUES_FP16;
    return h;
}

static gcomp_status_t decode_hdr(const gcomp_wire_header_t *h, const uint8_t *payload, size_t len, float *dst,
                                 int accumulate)
{
    return test_payload_decode(h, payload, len, GCOMP_ISA_SCALAR, dst, accumulate);
}

static void decode_ok(const gcomp_codec_params_t *p, const enc_t *e, size_t n, float *dst)
{
    gcomp_wire_header_t h = header_for(p, n, e->kept);
    gcomp_status_t st = decode_hdr(&h, e->payload, e->len, dst, 0);
    REQUIRE(st == GCOMP_OK, "decode n=%zu kept=%llu: %s", n, (unsigned long long)e->kept, gcomp_status_string(st));
}

/* The kept indices, read back bit by bit (independently of bitpack.c). */
static uint32_t *kept_indices(const enc_t *e)
{
    uint32_t *idx = malloc((e->kept + 1) * sizeof(*idx));
    unsigned w = e->payload[0];
    uint64_t prev = 0;
    for (uint64_t j = 0; j < e->kept; j++) {
        uint64_t d = 0;
        for (unsigned b = 0; b < w; b++) {
            uint64_t bit = j * w + b;
            d |= (uint64_t)((e->payload[4 + bit / 8] >> (bit % 8)) & 1) << b;
        }
        uint64_t v = j == 0 ? d : prev + d + 1;
        idx[j] = (uint32_t)v;
        prev = v;
    }
    return idx;
}

typedef struct keyidx {
    uint32_t key, idx;
} keyidx_t;

static int cmp_keyidx(const void *a, const void *b)
{
    const keyidx_t *x = a, *y = b;
    if (x->key != y->key) return x->key > y->key ? -1 : 1;
    return (x->idx > y->idx) - (x->idx < y->idx);
}

/* mark[i] = 1 for the k largest finite |g| (ties by lower index). @return how many were marked. */
static size_t reference_topk(const float *g, size_t n, size_t k, uint8_t *mark)
{
    keyidx_t *a = malloc((n + 1) * sizeof(*a));
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (isfinite(g[i])) a[m++] = (keyidx_t){gcomp_abs_key(g[i]), (uint32_t)i};
    qsort(a, m, sizeof(*a), cmp_keyidx);
    memset(mark, 0, n);
    size_t c = m < k ? m : k;
    for (size_t j = 0; j < c; j++) mark[a[j].idx] = 1;
    free(a);
    return c;
}

static void test_k(void)
{
    const float ratios[] = {1e-4f, 0.01f, 0.1f, 1.0f / 3, 0.5f, 0.7f, 0.999f, 1.0f, 1e-30f, 1e-45f};
    const uint64_t sizes[] = {0, 1, 2, 3, 7, 100, 511, 1000, 65536, 1000000, 123456789, 1ull << 31};
    for (size_t r = 0; r < GCOMP_ARRAY_SIZE(ratios); r++)
        for (size_t s = 0; s < GCOMP_ARRAY_SIZE(sizes); s++) {
            uint64_t n = sizes[s], k = gcomp_topk_k(ratios[r], n);
            long double exact = (long double)ratios[r] * (long double)n; /* exact: 24 + 32 bits < 64 */
            uint64_t want = n == 0 ? 0 : (uint64_t)ceill(exact);
            if (n > 0 && want < 1) want = 1;
            if (want > n) want = n;
            CHECK(k == want, "k(%g, %llu) = %llu, expected %llu", (double)ratios[r], (unsigned long long)n,
                  (unsigned long long)k, (unsigned long long)want);
        }
    /* The float ratio is taken as it is: 0.1f is a little above 0.1 and 0.01f a little below. */
    CHECK(gcomp_topk_k(0.1f, 10) == 2 && gcomp_topk_k(0.01f, 100) == 1, "k(0.1f, 10) = %llu, k(0.01f, 100) = %llu",
          (unsigned long long)gcomp_topk_k(0.1f, 10), (unsigned long long)gcomp_topk_k(0.01f, 100));
}

static void test_bitpack(void)
{
    test_rng_t r = {7};
    uint32_t vals[700], back[700];
    uint8_t buf[700 * 4 + 16];
    for (unsigned w = 0; w <= 32; w++) {
        for (size_t count = 0; count < 700; count += 1 + count / 3) {
            uint32_t mask = w == 32 ? 0xffffffffu : (1u << w) - 1;
            for (size_t j = 0; j < count; j++) vals[j] = (uint32_t)test_rng_next(&r) & mask;
            size_t bytes = (size_t)gcomp_bitpack_bytes(count, w);
            memset(buf, 0xa5, sizeof(buf));
            gcomp_bitpack(buf, vals, count, w);
            CHECK(bytes % 4 == 0 && buf[bytes] == 0xa5, "w=%u count=%zu wrote past %zu bytes", w, count, bytes);
            CHECK(gcomp_bitpack_padding_is_zero(buf, bytes, count, w), "w=%u count=%zu padding", w, count);
            size_t first = count / 3;
            CHECK(gcomp_bitunpack(back, buf, bytes, first, count - first, w) == 0, "unpack w=%u", w);
            CHECK(memcmp(back, vals + first, (count - first) * 4) == 0, "w=%u count=%zu round trip", w, count);
            if (w > 0 && count > 0)
                CHECK(gcomp_bitunpack(back, buf, bytes, first, count - first + 32 / w + 1, w) == -1,
                      "w=%u count=%zu over-long unpack accepted", w, count);
        }
    }
    CHECK(gcomp_bitunpack(back, buf, 8, 0, 1, 33) == -1, "width 33 accepted");
}

static int cmp_desc_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x < y) - (x > y);
}

static void test_kth(void)
{
    test_rng_t r = {3};
    for (int rep = 0; rep < 50; rep++) {
        size_t m = 1 + test_rng_next(&r) % 3000, rank = 1 + test_rng_next(&r) % m;
        uint32_t *keys = malloc(m * 4), *sorted = malloc(m * 4);
        uint32_t span = rep % 2 ? 20 : 0x7fffffffu; /* many ties, or few */
        for (size_t j = 0; j < m; j++) sorted[j] = keys[j] = (uint32_t)(test_rng_next(&r) % span);
        qsort(sorted, m, 4, cmp_desc_u32);
        size_t ties, above = 0;
        uint32_t t = gcomp_topk_kth_key(keys, m, rank, &ties);
        while (sorted[above] > t) above++;
        CHECK(t == sorted[rank - 1] && ties == rank - above, "kth m=%zu r=%zu: %u/%zu, expected %u/%zu", m,
              rank, t, ties, sorted[rank - 1], rank - above);
        free(keys);
        free(sorted);
    }
}

/* Encode src (+ res0) in one mode and check the kept set, values and residual. */
static void check_exact(size_t n, float ratio, int kind, int ef, test_rng_t *r)
{
    gcomp_codec_params_t p = params_for(GCOMP_CODEC_TOPK, GCOMP_TOPK_EXACT, ratio);
    float *src = malloc((n + 1) * 4), *res = malloc((n + 1) * 4), *g = malloc((n + 1) * 4);
    float *dst = malloc((n + 1) * 4);
    uint8_t *mark = malloc(n + 1);
    fill(src, n, kind, r);
    for (size_t i = 0; i < n; i++) {
        res[i] = ef ? draw(0, r) * 0.01f : 0.0f;
        g[i] = ef ? src[i] + res[i] : src[i];
    }
    size_t k = (size_t)gcomp_topk_k(ratio, n);
    enc_t e = encode(&p, GCOMP_ISA_SCALAR, src, ef ? res : NULL, n, 0);
    size_t want = reference_topk(g, n, k, mark);
    CHECK(e.kept == want, "exact n=%zu ratio=%g %s: kept %llu, expected %zu", n, (double)ratio,
          data_name[kind], (unsigned long long)e.kept, want);
    decode_ok(&p, &e, n, dst);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        float expect = mark[i] ? g[i] : 0.0f;
        if (gcomp_f32_bits(dst[i]) != gcomp_f32_bits(expect) && !(dst[i] == 0 && expect == 0)) bad++;
        if (ef && gcomp_f32_bits(res[i]) != gcomp_f32_bits(mark[i] ? 0.0f : g[i])) bad++;
    }
    CHECK(bad == 0, "exact n=%zu ratio=%g %s ef=%d: %zu elements differ from the reference", n, (double)ratio,
          data_name[kind], ef, bad);
    enc_free(&e);
    free(src), free(res), free(g), free(dst), free(mark);
}

static void test_exact(void)
{
    test_rng_t r = {11};
    const size_t sizes[] = {0, 1, 2, 7, 511, 512, 513, 70001, 1000000};
    const float ratios[] = {1e-4f, 0.01f, 0.5f, 1.0f};
    for (size_t s = 0; s < GCOMP_ARRAY_SIZE(sizes); s++)
        for (size_t q = 0; q < GCOMP_ARRAY_SIZE(ratios); q++)
            for (int kind = 0; kind < DATA_KINDS; kind++) {
                if (sizes[s] >= 1000000 && kind != DATA_TIES && kind != DATA_GAUSS) continue;
                check_exact(sizes[s], ratios[q], kind, (int)(s + q + kind) % 2, &r);
            }
    /* Large enough for the one-pass exact path (a sampled bound, proven by the histogram). */
    check_exact(1u << 22, 0.01f, DATA_HEAVY, 1, &r);
    check_exact(1u << 22, 0.01f, DATA_TIES, 0, &r);
}

/* Sampled selection: kept count in [0.8k, 1.25k] and a threshold set. */
static void check_sampled(size_t n, float ratio, int kind, int expect_sampled, test_rng_t *r)
{
    gcomp_codec_params_t p = params_for(GCOMP_CODEC_TOPK, GCOMP_TOPK_SAMPLED, ratio);
    float *src = malloc(n * 4), *res = malloc(n * 4), *g = malloc(n * 4);
    float *dst = malloc(n * 4);
    fill(src, n, kind, r);
    for (size_t i = 0; i < n; i++) {
        res[i] = kind == DATA_EQUAL || kind == DATA_SPARSE ? 0.0f : draw(0, r) * 0.01f;
        g[i] = src[i] + res[i];
    }
    size_t k = (size_t)gcomp_topk_k(ratio, n);
    /* Whether the encoder takes the sampled path here or falls back to exact for a small chunk. */
    gcomp_topk_work_t w;
    REQUIRE(gcomp_scratch_reserve(&scratch, gcomp_topk_work_bytes(n, k)) == GCOMP_OK, "scratch");
    gcomp_topk_work_carve(&w, scratch.ptr, n, k);
    uint32_t thr;
    int sampled = gcomp_topk_sample_threshold(src, res, n, k, 128, &w, &thr);
    CHECK(sampled == expect_sampled, "n=%zu ratio=%g: sampled path %d, expected %d", n, (double)ratio, sampled,
          expect_sampled);
    enc_t e = encode(&p, GCOMP_ISA_SCALAR, src, res, n, 0);
    CHECK(5 * e.kept >= 4 * k && 4 * e.kept <= 5 * k, "sampled n=%zu ratio=%g %s: kept %llu for k=%zu", n,
          (double)ratio, data_name[kind], (unsigned long long)e.kept, k);
    decode_ok(&p, &e, n, dst);
    uint32_t *idx = kept_indices(&e);
    uint8_t *mark = calloc(n, 1);
    uint32_t min_kept = UINT32_MAX, max_dropped = 0;
    size_t bad = 0;
    for (uint64_t j = 0; j < e.kept; j++) mark[idx[j]] = 1;
    for (size_t i = 0; i < n; i++) {
        uint32_t key = gcomp_abs_key(g[i]);
        if (mark[i]) min_kept = key < min_kept ? key : min_kept;
        else max_dropped = key > max_dropped ? key : max_dropped;
        if (dst[i] != (mark[i] ? g[i] : 0.0f) || res[i] != (mark[i] ? 0.0f : g[i])) bad++;
    }
    CHECK(e.kept == 0 || min_kept >= max_dropped, "sampled n=%zu %s: kept |x| down to key %08x, dropped up to %08x",
          n, data_name[kind], min_kept, max_dropped);
    CHECK(bad == 0, "sampled n=%zu %s: %zu elements wrong in decode or residual", n, data_name[kind], bad);
    enc_free(&e);
    free(idx), free(mark), free(src), free(res), free(g), free(dst);
}

static void test_sampled(void)
{
    test_rng_t r = {13};
    /* At 10^6 elements a ratio of 0.01 gives too few sampled hits (exact is used); 0.05 and up
     * sample. */
    const float ratios[] = {0.01f, 0.05f, 0.5f, 1.0f};
    for (size_t q = 0; q < GCOMP_ARRAY_SIZE(ratios); q++)
        for (int kind = 0; kind < DATA_KINDS; kind++) check_sampled(1000000, ratios[q], kind, q > 0, &r);
    check_sampled(1u << 22, 0.01f, DATA_GAUSS, 1, &r);
    check_sampled(1u << 22, 0.01f, DATA_HEAVY, 1, &r);
    check_sampled(1u << 22, 0.001f, DATA_HEAVY, 0, &r);
    check_sampled((1u << 20) + 3, 0.02f, DATA_HEAVY, 1, &r);
}

/* fp16 values: within fp16 rounding of g' (after clamping), residual exactly g' - decoded. */
static void test_fp16(void)
{
    test_rng_t r = {17};
    const size_t sizes[] = {7, 513, 1000000};
    for (size_t s = 0; s < GCOMP_ARRAY_SIZE(sizes); s++) {
        size_t n = sizes[s];
        gcomp_codec_params_t p = params_for(GCOMP_CODEC_TOPK, (gcomp_topk_select_t)(s % 2), 0.02f);
        p.topk_values = GCOMP_VALUES_FP16;
        float *src = malloc(n * 4), *res = calloc(n, 4), *g = malloc(n * 4), *dst = malloc(n * 4);
        fill(src, n, DATA_HEAVY, &r);
        src[n / 2] = 1e6f; /* beyond the fp16 range: clamped, the excess stays in the residual */
        src[n - 1] = -3e-6f; /* a subnormal half if kept */
        memcpy(g, src, n * 4);
        enc_t e = encode(&p, GCOMP_ISA_SCALAR, src, res, n, 0);
        decode_ok(&p, &e, n, dst);
        size_t bad = 0;
        for (size_t i = 0; i < n; i++) {
            if (dst[i] == 0.0f && res[i] == g[i]) continue; /* dropped */
            float c = fminf(fmaxf(g[i], -GCOMP_F16_MAX), GCOMP_F16_MAX);
            if (fabsf(dst[i] - c) > fabsf(c) * 0x1p-11f + 0x1p-25f) bad++;
            if (res[i] != g[i] - dst[i]) bad++;
        }
        CHECK(bad == 0, "fp16 n=%zu: %zu values outside fp16 rounding or residuals inexact", n, bad);
        CHECK(dst[n / 2] == GCOMP_F16_MAX && res[n / 2] == 1e6f - GCOMP_F16_MAX, "fp16 clamp: %g, residual %g",
              (double)dst[n / 2], (double)res[n / 2]);
        enc_free(&e);
        free(src), free(res), free(g), free(dst);
    }
}

/* topk-q8: the q8 error bound per bucket of the kept list; the same bytes as the q8 reference. */
static void test_q8(void)
{
    test_rng_t r = {19};
    const size_t sizes[] = {1, 2, 7, 513, 300000};
    const uint32_t buckets[] = {1, 37, 512};
    for (int t = 0; t < 2 * 5 * 3; t++) {
        int rounding = t % 2;
        size_t n = sizes[t / 2 % 5];
        gcomp_codec_params_t p = params_for(GCOMP_CODEC_TOPK_Q8, (gcomp_topk_select_t)(t % 3 == 0), 0.05f);
        p.rounding = (gcomp_rounding_t)rounding;
        p.q8_bucket = buckets[t / 10];
        float *src = malloc(n * 4), *res = calloc(n, 4), *g = malloc(n * 4), *dst = malloc(n * 4);
        fill(src, n, DATA_HEAVY, &r);
        memcpy(g, src, n * 4);
        uint64_t base = 1000003;
        enc_t e = encode(&p, GCOMP_ISA_SCALAR, src, res, n, base);
        decode_ok(&p, &e, n, dst);
        uint32_t *idx = kept_indices(&e);
        size_t nb = (size_t)((e.kept + p.q8_bucket - 1) / p.q8_bucket), bad = 0, bytes_bad = 0;
        const uint8_t *scales = e.payload + 4 + gcomp_bitpack_bytes(e.kept, e.payload[0]);
        gcomp_rng_key_t key = gcomp_rng_key(p.seed, 5, 1);
        for (size_t b = 0; b < nb; b++) {
            size_t j0 = b * p.q8_bucket, j1 = j0 + p.q8_bucket < e.kept ? j0 + p.q8_bucket : (size_t)e.kept;
            float absmax = 0, scale = gcomp_bits_f32(gcomp_load_le32(scales + 4 * b));
            for (size_t j = j0; j < j1; j++) absmax = fmaxf(absmax, fabsf(g[idx[j]]));
            float bound = rounding == GCOMP_ROUND_NEAREST ? scale / 2 + 0x1p-20f * absmax : scale * (1 + 0x1p-20f);
            for (size_t j = j0; j < j1; j++) {
                float v = g[idx[j]], err = fabsf(v - dst[idx[j]]);
                if (rounding == GCOMP_ROUND_NEAREST ? err > bound : err >= bound) bad++;
                if (res[idx[j]] != v - dst[idx[j]]) bad++;
                int8_t q = gcomp_q8_quantize(v, gcomp_q8_inv(absmax), p.rounding, gcomp_rng_bits(key, base + idx[j]));
                if ((int8_t)scales[4 * nb + j] != q || scale != gcomp_q8_scale(absmax)) bytes_bad++;
            }
        }
        CHECK(bad == 0, "topk-q8 n=%zu B=%u rounding %d: %zu outside the error bound or inexact residual", n,
              p.q8_bucket, rounding, bad);
        CHECK(bytes_bad == 0, "topk-q8 n=%zu B=%u rounding %d: %zu bytes differ from the q8 reference", n,
              p.q8_bucket, rounding, bytes_bad);
        enc_free(&e);
        free(idx), free(src), free(res), free(g), free(dst);
    }
}

/* Error feedback: over many calls, sum(decoded) + final residual == sum(inputs) up to the rounding of
 * the two float operations per call and element: |err| <= 2^-24 * sum_t (|g'_t| + |residual_t|). */
static void test_error_feedback(void)
{
    test_rng_t r = {23};
    const size_t n = 1u << 20;
    float *src = malloc(n * 4), *res = calloc(n, 4), *dst = malloc(n * 4);
    double *want = calloc(n, 8), *got = calloc(n, 8), *tol = calloc(n, 8);
    for (int mode = 0; mode < 5; mode++) {
        gcomp_codec_params_t p = params_for(mode < 3 ? GCOMP_CODEC_TOPK : GCOMP_CODEC_TOPK_Q8,
                                            mode == 1 ? GCOMP_TOPK_EXACT : GCOMP_TOPK_SAMPLED, 0.05f);
        if (mode == 2) p.topk_values = GCOMP_VALUES_FP16;
        if (mode == 4) p.rounding = GCOMP_ROUND_STOCHASTIC;
        memset(res, 0, n * 4);
        memset(want, 0, n * 8), memset(got, 0, n * 8), memset(tol, 0, n * 8);
        for (int call = 0; call < 20; call++) {
            fill(src, n, DATA_HEAVY, &r);
            for (size_t i = 0; i < n; i++) {
                want[i] += src[i];
                tol[i] += fabs((double)(src[i] + res[i]));
            }
            enc_t e = encode(&p, GCOMP_ISA_SCALAR, src, res, n, 0);
            decode_ok(&p, &e, n, dst);
            for (size_t i = 0; i < n; i++) {
                got[i] += dst[i];
                tol[i] += fabs((double)res[i]);
            }
            enc_free(&e);
        }
        size_t bad = 0;
        for (size_t i = 0; i < n; i++)
            if (fabs(got[i] + res[i] - want[i]) > tol[i] * 0x1p-24 * (1 + 1e-9)) bad++;
        CHECK(bad == 0, "error feedback mode %d: %zu elements lose mass beyond rounding", mode, bad);
    }
    free(src), free(res), free(dst), free(want), free(got), free(tol);
}

/* NaN, Inf and finite + finite overflow: excluded, listed in order with their bits, residual 0; with
 * the variant gcomp_isa_active() picks, whose vector pass sorts them out on its own. */
static void test_nonfinite(void)
{
    test_rng_t r = {29};
    const size_t sizes[] = {7, 5000, 1000000};
    for (size_t s = 0; s < GCOMP_ARRAY_SIZE(sizes); s++)
        for (int sel = 0; sel < 2; sel++)
            for (int many = 0; many < 2; many++) {
                size_t n = sizes[s];
                gcomp_codec_params_t p = params_for(GCOMP_CODEC_TOPK, (gcomp_topk_select_t)sel, 0.01f);
                float *src = malloc(n * 4), *res = malloc(n * 4), *dst = malloc(n * 4);
                fill(src, n, DATA_GAUSS, &r);
                for (size_t i = 0; i < n; i++) res[i] = 0.0f;
                size_t step = many ? 2 : n / 5 + 1; /* many: more than the exception list holds */
                for (size_t i = 1; i < n; i += step) {
                    switch ((i / step) % 3) {
                    case 0: src[i] = NAN; break;
                    case 1: src[i] = -INFINITY; break;
                    default: src[i] = 3e38f, res[i] = 3e38f; break; /* overflows to Inf */
                    }
                }
                enc_t e = encode(&p, gcomp_isa_active(), src, res, n, 0);
                decode_ok(&p, &e, n, dst);
                size_t bad = 0, listed = 0;
                uint64_t prev = 0;
                for (size_t i = 1; i < n; i += step) {
                    if (dst[i] != 0.0f || res[i] != 0.0f) bad++;
                    if (listed < e.exc.count) {
                        uint64_t off = gcomp_load_le32(e.exc_buf + listed * 8);
                        float v = gcomp_bits_f32(gcomp_load_le32(e.exc_buf + listed * 8 + 4));
                        if (off != i || isfinite(v) || (listed > 0 && off <= prev)) bad++;
                        prev = off;
                        listed++;
                    }
                }
                for (size_t i = 0; i < n; i++)
                    if (!isfinite(res[i])) bad++;
                CHECK(bad == 0 && e.exc.seen == (n - 2) / step + 1,
                      "non-finite n=%zu sel=%d many=%d: %zu bad, %llu seen", n, sel, many, bad,
                      (unsigned long long)e.exc.seen);
                enc_free(&e);
                free(src), free(res), free(dst);
            }
}

/* payload_bound is an upper bound for every n and ratio (encode() checks each payload against it). */
static void test_bound(void)
{
    const float ratios[] = {1e-6f, 1e-4f, 0.01f, 0.3f, 0.8f, 1.0f};
    for (size_t q = 0; q < GCOMP_ARRAY_SIZE(ratios); q++) {
        gcomp_codec_params_t p = params_for(GCOMP_CODEC_TOPK_Q8, GCOMP_TOPK_EXACT, ratios[q]);
        p.q8_bucket = 1;
        for (uint64_t n = 0; n < 300; n++) {
            uint64_t kmax = gcomp_topk_kmax(ratios[q], n);
            size_t want = 4 + 4 * kmax + 4 * kmax + kmax;
            CHECK(gcomp_codec_topk_q8_ops.payload_bound(&p, n) >= want, "bound n=%llu", (unsigned long long)n);
        }
        /* Widest delta: one element kept, at index 512. */
        float src[513] = {0};
        src[512] = 1.0f;
        enc_t e = encode(&p, GCOMP_ISA_SCALAR, src, NULL, 513, 0);
        CHECK(e.kept != 1 || e.payload[0] == 10, "width %u for index 512", e.payload[0]);
        enc_free(&e);
    }
}

static void expect_reject(const char *what, const gcomp_wire_header_t *h, const uint8_t *payload, size_t len)
{
    float dst[64];
    for (int i = 0; i < 64; i++) dst[i] = 42.0f;
    gcomp_status_t st = decode_hdr(h, payload, len, dst, 0);
    int untouched = 1;
    for (int i = 0; i < 64; i++) untouched &= dst[i] == 42.0f;
    CHECK(st == GCOMP_ERR_FRAME && untouched, "%s: %s, dst %s", what, gcomp_status_string(st),
          untouched ? "untouched" : "written");
}

/* A payload with kept indices idx[] (as deltas of width w) and fp32 values in buf. @return length. */
static size_t build(uint8_t *buf, const uint32_t *deltas, size_t k, unsigned w, float value)
{
    memset(buf, 0, 256);
    buf[0] = (uint8_t)w;
    gcomp_bitpack(buf + 4, deltas, k, w);
    size_t off = 4 + (size_t)gcomp_bitpack_bytes(k, w);
    for (size_t j = 0; j < k; j++) gcomp_store_le32(buf + off + 4 * j, gcomp_f32_bits(value));
    return off + 4 * k;
}

static void test_decode_rejects(void)
{
    gcomp_codec_params_t p = params_for(GCOMP_CODEC_TOPK, GCOMP_TOPK_EXACT, 0.1f);
    gcomp_wire_header_t h = header_for(&p, 64, 3);
    uint8_t buf[256];
    uint32_t good[3] = {1, 0, 5}; /* indices 1, 2, 8 */
    size_t len = build(buf, good, 3, 3, 1.5f);
    float dst[64];
    CHECK(decode_hdr(&h, buf, len, dst, 0) == GCOMP_OK && dst[1] == 1.5f && dst[2] == 1.5f && dst[8] == 1.5f &&
          dst[0] == 0.0f, "valid payload");
    expect_reject("truncated", &h, buf, len - 1);
    expect_reject("too long", &h, buf, len + 1);
    expect_reject("empty", &h, buf, 0);
    expect_reject("3 bytes", &h, buf, 3);
    buf[0] = 33;
    expect_reject("width 33", &h, buf, len);
    buf[0] = 3, buf[2] = 1;
    expect_reject("nonzero pad byte", &h, buf, len);
    buf[2] = 0, buf[5] |= 0x80; /* bit 15: past the 9 bits of the three deltas */
    expect_reject("nonzero padding bits", &h, buf, len);
    uint32_t far[3] = {1, 0, 61}; /* third index 2 + 61 + 1 = 64 */
    len = build(buf, far, 3, 6, 1.0f);
    expect_reject("index >= n", &h, buf, len);
    uint32_t wrap[3] = {5, 0xffffffffu, 0}; /* wraps to 5 in u32 arithmetic */
    len = build(buf, wrap, 3, 32, 1.0f);
    expect_reject("delta overflow", &h, buf, len);
    len = build(buf, good, 3, 3, NAN);
    expect_reject("NaN value", &h, buf, len);
    len = build(buf, good, 3, 3, INFINITY);
    expect_reject("Inf value", &h, buf, len);
    gcomp_wire_header_t big = header_for(&p, 2, 3);
    len = build(buf, good, 3, 3, 1.0f);
    expect_reject("k > n", &big, buf, len);

    /* fp16: an Inf half. */
    gcomp_codec_params_t p16 = p;
    p16.topk_values = GCOMP_VALUES_FP16;
    gcomp_wire_header_t h16 = header_for(&p16, 64, 3);
    len = build(buf, good, 3, 3, 0.0f) - 6;
    CHECK(decode_hdr(&h16, buf, len, dst, 1) == GCOMP_OK, "valid fp16 payload");
    gcomp_store_le16(buf + 8 + 2, 0x7c00);
    expect_reject("fp16 Inf", &h16, buf, len);

    /* q8: NaN scale, negative scale, q = -128. */
    gcomp_codec_params_t pq = params_for(GCOMP_CODEC_TOPK_Q8, GCOMP_TOPK_EXACT, 0.1f);
    pq.q8_bucket = 2;
    gcomp_wire_header_t hq = header_for(&pq, 64, 3);
    len = build(buf, good, 3, 3, 0.5f) - 1; /* 2 scales (8 bytes) + 3 bytes of q = 11 = 12 - 1 */
    buf[8 + 8] = 1, buf[8 + 9] = 0xff, buf[8 + 10] = 127;
    CHECK(decode_hdr(&hq, buf, len, dst, 0) == GCOMP_OK && dst[2] == -0.5f && dst[8] == 63.5f, "valid q8 payload");
    gcomp_store_le32(buf + 8, gcomp_f32_bits(NAN));
    expect_reject("q8 NaN scale", &hq, buf, len);
    gcomp_store_le32(buf + 8, gcomp_f32_bits(-1.0f));
    expect_reject("q8 negative scale", &hq, buf, len);
    gcomp_store_le32(buf + 8, gcomp_f32_bits(1.0f)), buf[8 + 9] = 0x80;
    expect_reject("q8 -128", &hq, buf, len);
    hq.q8_bucket = 0;
    expect_reject("q8 bucket 0", &hq, buf, len);
}

/* Through the frame API when the frame layer is in the build: the same bytes decode the same way. */
static void test_frames(void)
{
    test_rng_t r = {37};
    size_t n = 100000;
    float *src = malloc(n * 4), *res = calloc(n, 4), *dst = malloc(n * 4);
    fill(src, n, DATA_HEAVY, &r);
    for (int c = 0; c < 3; c++) {
        gcomp_codec_params_t p = params_for(c == 2 ? GCOMP_CODEC_TOPK_Q8 : GCOMP_CODEC_TOPK, GCOMP_TOPK_SAMPLED, 0.01f);
        if (c == 1) p.topk_values = GCOMP_VALUES_FP16;
        p.checksum = 1;
        size_t cap = gcomp_frame_bound(&p, n);
        uint8_t *frame = malloc(cap);
        gcomp_frame_info_t where = {.dtype = GCOMP_DTYPE_FP32, .total_count = n, .chunk_count = n, .seq = 1};
        gcomp_frame_info_t info, dinfo;
        gcomp_status_t st = gcomp_frame_encode(&p, &where, src, res, frame, cap, &info);
        CHECK(st == GCOMP_OK, "frame encode %d: %s", c, gcomp_status_string(st));
        if (st == GCOMP_OK) {
            st = gcomp_frame_decode(frame, info.frame_bytes, NULL, dst, 0, &dinfo);
            CHECK(st == GCOMP_OK && dinfo.kept == info.kept && 5 * info.kept >= 4 * gcomp_topk_k(0.01f, n),
                  "frame decode %d: %s, kept %llu", c, gcomp_status_string(st), (unsigned long long)info.kept);
            frame[info.frame_bytes - 1] ^= 1;
            CHECK(gcomp_frame_decode(frame, info.frame_bytes, NULL, dst, 0, NULL) != GCOMP_OK,
                  "frame %d: corrupted frame accepted", c);
        }
        free(frame);
    }
    free(src), free(res), free(dst);
}

int main(void)
{
    pools_init();
    test_k();
    test_bitpack();
    test_kth();
    test_exact();
    test_sampled();
    test_fp16();
    test_q8();
    test_error_feedback();
    test_nonfinite();
    test_bound();
    test_decode_rejects();
    test_frames();
    gcomp_scratch_free(&scratch);
    return check_finish("test_topk");
}
