/* Frames of every codec: round trips, the exception list, zstd, and a decoder that rejects every
 * malformed frame (truncated, flipped, mutated, mismatched) with an error status and never crashes. */
#include <string.h>

#include "check.h"
#include "gcomp_config.h"
#include "gcomp.h"
#include "codec/codec.h"
#include "codec/isa.h"
#include "codec/wire.h"

static const gcomp_codec_t codecs[] = {GCOMP_CODEC_NONE, GCOMP_CODEC_Q8, GCOMP_CODEC_TOPK, GCOMP_CODEC_TOPK_Q8};

static gcomp_codec_params_t params_for(gcomp_codec_t codec)
{
    gcomp_codec_params_t p;
    gcomp_codec_params_default(&p);
    p.codec = codec;
    p.topk_ratio = 0.05f;
    p.q8_bucket = 64;
    p.zstd_level = 0;
    p.checksum = 1;
    return p;
}

typedef struct encoded {
    uint8_t *frame;
    size_t len;
    size_t cap;
} encoded_t;

static encoded_t encode(const gcomp_codec_params_t *p, const float *src, float *res, uint64_t n, uint64_t off,
                        uint64_t total)
{
    encoded_t e;
    e.cap = gcomp_frame_bound(p, n);
    REQUIRE(e.cap >= GCOMP_WIRE_HEADER_LEN, "bound %zu", e.cap);
    e.frame = malloc(e.cap);
    gcomp_frame_info_t where = {.dtype = GCOMP_DTYPE_FP32, .total_count = total, .chunk_offset = off,
                                .chunk_count = n, .rank = 3, .comm_id = 77, .seq = 9};
    gcomp_frame_info_t info;
    gcomp_status_t st = gcomp_frame_encode(p, &where, src, res, e.frame, e.cap, &info);
    REQUIRE(st == GCOMP_OK, "encode %s n=%llu: %s", gcomp_codec_name(p->codec), (unsigned long long)n,
            gcomp_status_string(st));
    e.len = info.frame_bytes;
    CHECK(e.len <= e.cap, "frame %zu > bound %zu", e.len, e.cap);
    return e;
}

static void test_round_trip(void)
{
    test_rng_t r = {42};
    const uint64_t sizes[] = {0, 1, 2, 7, 63, 64, 65, 511, 512, 513, 100000};
    for (size_t c = 0; c < GCOMP_ARRAY_SIZE(codecs); c++) {
        gcomp_codec_params_t p = params_for(codecs[c]);
        for (size_t s = 0; s < GCOMP_ARRAY_SIZE(sizes); s++) {
            uint64_t n = sizes[s], off = 3, total = n + 10;
            float *src = malloc((n + 1) * 4), *res = calloc(n + 1, 4), *dst = malloc((n + 1) * 4);
            for (uint64_t i = 0; i < n; i++) src[i] = (float)test_rng_gauss(&r);
            encoded_t e = encode(&p, src, res, n, off, total);
            gcomp_frame_info_t expect = {.codec = p.codec, .dtype = GCOMP_DTYPE_FP32, .total_count = total,
                                         .chunk_offset = off, .chunk_count = n, .rank = 3, .comm_id = 77, .seq = 9};
            gcomp_frame_info_t info;
            gcomp_status_t st = gcomp_frame_decode(e.frame, e.len, &expect, dst, 0, &info);
            CHECK(st == GCOMP_OK, "%s n=%llu: %s", gcomp_codec_name(p.codec), (unsigned long long)n,
                  gcomp_status_string(st));
            /* decoded + residual == input, to float rounding of one subtraction */
            double worst = 0;
            for (uint64_t i = 0; i < n && st == GCOMP_OK; i++) {
                double err = fabs((double)dst[i] + (double)res[i] - (double)src[i]);
                /* res = fl(src - dst): one rounding, half an ulp of |res| */
                double tol = 1e-6 * fabs((double)src[i]) + 0x1p-23 * fabs((double)res[i]) + 1e-30;
                if (err > tol && err > worst) worst = err;
            }
            CHECK(worst == 0, "%s n=%llu: decoded+residual differs from input by %g", gcomp_codec_name(p.codec),
                  (unsigned long long)n, worst);
            CHECK(info.chunk_count == n && info.rank == 3 && info.seq == 9, "info fields");
            /* accumulate adds exactly the decoded values */
            float *acc = malloc((n + 1) * 4);
            for (uint64_t i = 0; i < n; i++) acc[i] = 1.0f;
            st = gcomp_frame_decode(e.frame, e.len, &expect, acc, 1, NULL);
            CHECK(st == GCOMP_OK, "accumulate: %s", gcomp_status_string(st));
            for (uint64_t i = 0; i < n && st == GCOMP_OK; i++) {
                if (acc[i] != 1.0f + dst[i]) {
                    CHECK(0, "%s accumulate at %llu: %g != 1 + %g", gcomp_codec_name(p.codec),
                          (unsigned long long)i, (double)acc[i], (double)dst[i]);
                    break;
                }
            }
            free(acc);
            free(e.frame);
            free(src);
            free(res);
            free(dst);
        }
    }
}

static void test_expect_and_peek(void)
{
    gcomp_codec_params_t p = params_for(GCOMP_CODEC_Q8);
    float src[100], res[100] = {0}, dst[100];
    for (int i = 0; i < 100; i++) src[i] = (float)i;
    encoded_t e = encode(&p, src, res, 100, 0, 100);
    gcomp_frame_info_t ok = {.codec = GCOMP_CODEC_Q8, .dtype = GCOMP_DTYPE_FP32, .total_count = 100,
                             .chunk_offset = 0, .chunk_count = 100, .rank = 3, .comm_id = 77, .seq = 9};
    CHECK(gcomp_frame_decode(e.frame, e.len, &ok, dst, 0, NULL) == GCOMP_OK, "expected frame");
    gcomp_frame_info_t bad;
    bad = ok; bad.seq = 10;
    CHECK(gcomp_frame_decode(e.frame, e.len, &bad, dst, 0, NULL) == GCOMP_ERR_MISMATCH, "seq");
    bad = ok; bad.comm_id = 1;
    CHECK(gcomp_frame_decode(e.frame, e.len, &bad, dst, 0, NULL) == GCOMP_ERR_MISMATCH, "comm id");
    bad = ok; bad.rank = 2;
    CHECK(gcomp_frame_decode(e.frame, e.len, &bad, dst, 0, NULL) == GCOMP_ERR_MISMATCH, "rank");
    bad = ok; bad.codec = GCOMP_CODEC_TOPK;
    CHECK(gcomp_frame_decode(e.frame, e.len, &bad, dst, 0, NULL) == GCOMP_ERR_MISMATCH, "codec");
    bad = ok; bad.chunk_count = 99;
    CHECK(gcomp_frame_decode(e.frame, e.len, &bad, dst, 0, NULL) == GCOMP_ERR_MISMATCH, "count");
    gcomp_frame_info_t info;
    CHECK(gcomp_frame_peek(e.frame, e.len, &info) == GCOMP_OK && info.chunk_count == 100, "peek");

    /* A frame without a checksum is refused by a receiver that requires one. */
    gcomp_codec_params_t nosum = p;
    nosum.checksum = 0;
    encoded_t e2 = encode(&nosum, src, res, 100, 0, 100);
    CHECK(gcomp_frame_decode_ex(e2.frame, e2.len, &ok, dst, 0, GCOMP_ISA_SCALAR, gcomp_thread_scratch(), 1, NULL) ==
              GCOMP_ERR_MISMATCH, "missing checksum accepted");
    CHECK(gcomp_frame_decode_ex(e2.frame, e2.len, &ok, dst, 0, GCOMP_ISA_SCALAR, gcomp_thread_scratch(), 0, NULL) ==
              GCOMP_OK, "checksum-less frame when not required");
    CHECK(gcomp_frame_encode(&p, &(gcomp_frame_info_t){.total_count = 100, .chunk_count = 100}, src, res, e.frame,
                             e.len / 2, NULL) == GCOMP_ERR_NOSPACE, "small capacity");
    CHECK(gcomp_frame_encode(&p, &(gcomp_frame_info_t){.total_count = 10, .chunk_offset = 5, .chunk_count = 6},
                             src, res, e.frame, e.cap, NULL) == GCOMP_ERR_INVALID, "chunk outside vector");
    free(e.frame);
    free(e2.frame);
}

/* Non-finite values travel exactly and leave a zero residual; too many of them turn the chunk NaN. */
static void test_nonfinite(void)
{
    for (size_t c = 0; c < GCOMP_ARRAY_SIZE(codecs); c++) {
        gcomp_codec_params_t p = params_for(codecs[c]);
        enum { N = 1000 };
        float src[N], res[N], dst[N];
        for (int i = 0; i < N; i++) {
            src[i] = (float)(i % 17) - 8.0f;
            res[i] = 0.25f;
        }
        src[5] = NAN;
        src[6] = INFINITY;
        src[700] = -INFINITY;
        res[900] = 3e38f;
        src[900] = 3e38f; /* finite + finite overflows */
        encoded_t e = encode(&p, src, res, N, 0, N);
        CHECK(gcomp_frame_decode(e.frame, e.len, NULL, dst, 0, NULL) == GCOMP_OK, "decode");
        CHECK(isnan(dst[5]) && dst[6] == INFINITY && dst[700] == -INFINITY && dst[900] == INFINITY,
              "%s: non-finite values %g %g %g %g", gcomp_codec_name(p.codec), (double)dst[5], (double)dst[6],
              (double)dst[700], (double)dst[900]);
        int finite = 1;
        for (int i = 0; i < N; i++) finite &= isfinite(res[i]) != 0;
        CHECK(finite, "%s: residual not finite", gcomp_codec_name(p.codec));
        CHECK(res[5] == 0 && res[6] == 0 && res[700] == 0 && res[900] == 0, "%s: residual at non-finite",
              gcomp_codec_name(p.codec));
        free(e.frame);

        if (p.codec == GCOMP_CODEC_NONE) continue; /* none carries them in its payload: no list, no cap */
        for (int i = 0; i < N; i++) src[i] = i % 2 ? NAN : 1.0f;
        memset(res, 0, sizeof(res));
        e = encode(&p, src, res, N, 0, N);
        CHECK(gcomp_frame_decode(e.frame, e.len, NULL, dst, 0, NULL) == GCOMP_OK, "decode overflow");
        int all_nan = 1;
        for (int i = 0; i < N; i++) all_nan &= isnan(dst[i]) != 0;
        CHECK(all_nan, "%s: overflowing exception list must give NaN over the chunk", gcomp_codec_name(p.codec));
        free(e.frame);
    }
}

static void test_zstd(void)
{
    gcomp_codec_params_t p = params_for(GCOMP_CODEC_NONE);
    p.zstd_level = 3;
    enum { N = 20000 };
    static float src[N], res[N], dst[N];
    for (int i = 0; i < N; i++) src[i] = (float)(i % 4);
    encoded_t e = encode(&p, src, res, N, 0, N);
    gcomp_frame_info_t info;
    CHECK(gcomp_frame_peek(e.frame, e.len, &info) == GCOMP_OK, "peek");
#if !GCOMP_HAVE_ZSTD
    /* Without zstd the stage is skipped (with one warning) and the frame is sent as it is. */
    CHECK(e.len == GCOMP_WIRE_HEADER_LEN + (size_t)N * 4, "frame of %zu bytes without zstd", e.len);
    CHECK(gcomp_frame_decode(e.frame, e.len, NULL, dst, 0, NULL) == GCOMP_OK && memcmp(src, dst, sizeof(src)) == 0,
          "round trip without zstd");
    printf("  zstd: not in this build; checked that frames go out without it\n");
    free(e.frame);
    return;
#endif
    CHECK(e.len < N * 4 / 4, "zstd did not shrink a repetitive frame: %zu", e.len);
    CHECK(gcomp_frame_decode(e.frame, e.len, NULL, dst, 0, NULL) == GCOMP_OK && memcmp(src, dst, sizeof(src)) == 0,
          "zstd round trip");
    /* Corrupt the compressed bytes with the checksum off: the zstd stage or the codec must reject it. */
    p.checksum = 0;
    free(e.frame);
    e = encode(&p, src, res, N, 0, N);
    for (size_t i = GCOMP_WIRE_HEADER_LEN; i < e.len; i += 7) e.frame[i] ^= 0x5a;
    gcomp_status_t st = gcomp_frame_decode(e.frame, e.len, NULL, dst, 0, NULL);
    CHECK(st == GCOMP_ERR_FRAME || st == GCOMP_OK, "corrupt zstd: %s", gcomp_status_string(st));
    free(e.frame);
}

/* Every truncation and every single-byte flip of a checksummed frame is an error; random mutations of
 * checksum-less frames are errors or valid decodes, never crashes or out-of-bounds writes. */
static void test_rejects(void)
{
    test_rng_t r = {7};
    for (size_t c = 0; c < GCOMP_ARRAY_SIZE(codecs); c++) {
        gcomp_codec_params_t p = params_for(codecs[c]);
        enum { N = 300 };
        float src[N], res[N] = {0}, dst[N + 16];
        for (int i = 0; i < N; i++) src[i] = (float)test_rng_heavy(&r);
        src[10] = NAN;
        encoded_t e = encode(&p, src, res, N, 0, N);
        for (size_t len = 0; len < e.len; len++) {
            gcomp_status_t st = gcomp_frame_decode(e.frame, len, NULL, dst, 0, NULL);
            if (st == GCOMP_OK) {
                CHECK(0, "%s: frame truncated to %zu of %zu accepted", gcomp_codec_name(p.codec), len, e.len);
                break;
            }
        }
        for (size_t i = 0; i < e.len; i++) {
            for (int bit = 0; bit < 8; bit += 3) {
                e.frame[i] ^= (uint8_t)(1u << bit);
                gcomp_status_t st = gcomp_frame_decode(e.frame, e.len, NULL, dst, 0, NULL);
                e.frame[i] ^= (uint8_t)(1u << bit);
                if (st == GCOMP_OK) {
                    CHECK(0, "%s: flipped bit %d of byte %zu accepted", gcomp_codec_name(p.codec), bit, i);
                    i = e.len;
                    break;
                }
            }
        }
        free(e.frame);

        p.checksum = 0;
        e = encode(&p, src, res, N, 0, N);
        gcomp_frame_info_t expect = {.codec = p.codec, .dtype = GCOMP_DTYPE_FP32, .total_count = N,
                                     .chunk_offset = 0, .chunk_count = N, .rank = 3, .comm_id = 77, .seq = 9};
        uint8_t *m = malloc(e.len);
        int accepted = 0;
        for (int iter = 0; iter < 20000; iter++) {
            memcpy(m, e.frame, e.len);
            int flips = 1 + (int)(test_rng_next(&r) % 4);
            for (int f = 0; f < flips; f++) m[test_rng_next(&r) % e.len] = (uint8_t)test_rng_next(&r);
            for (int i = 0; i < N; i++) dst[i] = (float)(i % 7);
            dst[N] = 12345.0f; /* a canary just past the chunk */
            /* A receiver always states what it expects: that is what bounds dst. Checksums are off on
             * both sides here so that the mutations reach the header and payload validators. */
            gcomp_status_t st = gcomp_frame_decode_ex(m, e.len, &expect, dst, iter & 1, gcomp_isa_active(),
                                                      gcomp_thread_scratch(), 0, NULL);
            CHECK(dst[N] == 12345.0f, "%s: decoder wrote past the chunk", gcomp_codec_name(p.codec));
            /* The validator alone decides: what it rejects, with the same status, never reaches a
             * decoder (dst untouched, a q8 -128 included); what it accepts decodes. */
            gcomp_frame_view_t v;
            gcomp_status_t sv = gcomp_frame_parse(m, e.len, &expect, 0, gcomp_thread_scratch(), GCOMP_VALIDATE_ALL, &v);
            CHECK(sv == st, "%s: validator says %s, decoder %s", gcomp_codec_name(p.codec), gcomp_status_string(sv),
                  gcomp_status_string(st));
            if (st != GCOMP_OK) {
                int touched = 0;
                for (int i = 0; i < N; i++) touched += dst[i] != (float)(i % 7);
                CHECK(touched == 0, "%s: rejected frame (%s) changed %d values", gcomp_codec_name(p.codec),
                      gcomp_status_string(st), touched);
            }
            accepted += st == GCOMP_OK;
        }
        printf("  %s: %d of 20000 random mutations decode (checksum off), none crashed\n", gcomp_codec_name(p.codec),
               accepted);
        /* Some mutations only change values: if none decodes, the test is not reaching the decoder. */
        CHECK(accepted > 0 && accepted < 20000, "%s: %d of 20000 mutations accepted", gcomp_codec_name(p.codec),
              accepted);
        free(m);
        free(e.frame);
    }
}

/* gcomp_frame_parse's view of a frame, and the split between the layout checks (which the CUDA
 * decoder asks for, its kernels checking the elements) and the element checks. */
static void test_parse_view(void)
{
    enum { N = 1000 };
    static float src[N], res[N], dst[N];
    for (int i = 0; i < N; i++) src[i] = (float)(i % 11) - 5.0f;
    src[17] = INFINITY;
    for (int z = 0; z < 1 + GCOMP_HAVE_ZSTD; z++) {
        gcomp_codec_params_t p = params_for(GCOMP_CODEC_Q8);
        p.checksum = 0;
        p.zstd_level = z ? 3 : 0;
        encoded_t e = encode(&p, src, res, N, 0, N);
        gcomp_scratch_t scratch = {0};
        gcomp_frame_view_t v;
        gcomp_status_t st = gcomp_frame_parse(e.frame, e.len, NULL, 0, &scratch, GCOMP_VALIDATE_ALL, &v);
        REQUIRE(st == GCOMP_OK, "parse: %s", gcomp_status_string(st));
        uint64_t nb = (N + 63) / 64;
        CHECK(v.ops == &gcomp_codec_q8_ops && v.h.chunk_count == N && v.h.n_exceptions == 1 &&
                  v.payload_len == 4 * nb + N && v.exc == v.payload + v.payload_len && v.layout.nb == nb &&
                  v.layout.q_off == 4 * nb,
              "zstd %d: view of %zu payload bytes, %u exceptions, %llu scales", z, v.payload_len, v.h.n_exceptions,
              (unsigned long long)v.layout.nb);
        CHECK(z ? v.payload == scratch.ptr && v.unzstd_len == v.h.raw_len
                : v.payload == e.frame + GCOMP_WIRE_HEADER_LEN && v.unzstd_len == 0,
              "zstd %d: payload not where it was decompressed to", z);
        CHECK(gcomp_frame_parse(e.frame, e.len, NULL, 0, NULL, GCOMP_VALIDATE_ALL, &v) ==
                  (z ? GCOMP_ERR_INVALID : GCOMP_OK),
              "zstd %d: parse without scratch", z);
        gcomp_scratch_free(&scratch);
        free(e.frame);
    }

    /* A q8 value of -128 passes the layout checks only; the decoder never sees it. */
    gcomp_codec_params_t p = params_for(GCOMP_CODEC_Q8);
    p.checksum = 0;
    encoded_t e = encode(&p, src, res, N, 0, N);
    gcomp_frame_view_t v;
    REQUIRE(gcomp_frame_parse(e.frame, e.len, NULL, 0, NULL, GCOMP_VALIDATE_ALL, &v) == GCOMP_OK, "parse");
    e.frame[GCOMP_WIRE_HEADER_LEN + v.layout.q_off + 500] = 0x80;
    CHECK(gcomp_frame_parse(e.frame, e.len, NULL, 0, NULL, GCOMP_VALIDATE_LAYOUT, &v) == GCOMP_OK, "layout of -128");
    CHECK(gcomp_frame_parse(e.frame, e.len, NULL, 0, NULL, GCOMP_VALIDATE_ALL, &v) == GCOMP_ERR_FRAME, "-128 accepted");
    for (int i = 0; i < N; i++) dst[i] = 2.0f;
    CHECK(gcomp_frame_decode(e.frame, e.len, NULL, dst, 0, NULL) == GCOMP_ERR_FRAME, "-128 decoded");
    int touched = 0;
    for (int i = 0; i < N; i++) touched += dst[i] != 2.0f;
    CHECK(touched == 0, "a rejected q8 frame changed %d values", touched);
    free(e.frame);

    /* A top-k index past the chunk likewise: the deltas are the elements of a top-k payload. */
    p = params_for(GCOMP_CODEC_TOPK);
    p.checksum = 0;
    e = encode(&p, src, res, N, 0, N);
    REQUIRE(gcomp_frame_parse(e.frame, e.len, NULL, 0, NULL, GCOMP_VALIDATE_ALL, &v) == GCOMP_OK, "parse top-k");
    /* A chunk as short as the kept count: the layout still holds, the last indices do not fit. */
    gcomp_store_le64(e.frame + GCOMP_WIRE_OFF_COUNT, v.h.kept);
    gcomp_store_le64(e.frame + GCOMP_WIRE_OFF_TOTAL, v.h.kept);
    gcomp_status_t sl = gcomp_frame_parse(e.frame, e.len, NULL, 0, NULL, GCOMP_VALIDATE_LAYOUT, &v);
    gcomp_status_t sa = gcomp_frame_parse(e.frame, e.len, NULL, 0, NULL, GCOMP_VALIDATE_ALL, &v);
    CHECK(sl == GCOMP_OK && sa == GCOMP_ERR_FRAME, "top-k indices past the chunk: layout %s, all %s",
          gcomp_status_string(sl), gcomp_status_string(sa));
    free(e.frame);
}

int main(void)
{
    setenv("GCOMP_DEBUG", "error", 1); /* the reject tests log thousands of warnings */
    test_round_trip();
    test_expect_and_peek();
    test_nonfinite();
    test_zstd();
    test_rejects();
    test_parse_view();
    return check_finish("test_frame");
}
