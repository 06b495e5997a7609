/*
 * Writes the seed corpus of the fuzz targets (tests/fuzz/corpus/<target>/): valid frames of every
 * codec and option (checksum, zstd, fp16 values, non-finite values, exception-list overflow, sizes
 * around the bucket and index limits) for the decoder targets, and parameter + value inputs for
 * the round-trip target. Deterministic: rerunning it rewrites the same files.
 * Usage: make_corpus <corpus directory>
 */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "gcomp_config.h"
#include "codec/codec.h"
#include "codec/wire.h"

static const char *root;
static int written;

static uint32_t rng_state = 12345;
static uint32_t rng_next(void)
{
    rng_state = rng_state * 1664525u + 1013904223u;
    return rng_state >> 8;
}

static void write_file(const char *target, const char *name, const uint8_t *a, size_t alen, const uint8_t *b,
                       size_t blen)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", root, target);
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        perror(path);
        exit(1);
    }
    snprintf(path, sizeof(path), "%s/%s/%s", root, target, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(a, 1, alen, f) != alen || (blen && fwrite(b, 1, blen, f) != blen) || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
    written++;
}

static void values(float *x, size_t n, int kind)
{
    for (size_t i = 0; i < n; i++) {
        float u = (float)rng_next() / (float)(1u << 24) - 0.5f;
        x[i] = kind == 0 ? u : kind == 1 ? u * u * u * 1000.0f : (float)(i % 7) - 3.0f;
    }
    if (kind == 3 && n > 4) { /* non-finite values */
        x[1] = NAN, x[n / 2] = INFINITY, x[n - 1] = -INFINITY;
    }
    if (kind == 4) /* more non-finite values than a frame lists */
        for (size_t i = 0; i < n; i += 2) x[i] = NAN;
}

static void frame(const char *target, uint8_t opt, const gcomp_codec_params_t *p, size_t n, int kind,
                  const char *name)
{
    float *x = malloc((n ? n : 1) * sizeof(float)), *r = calloc(n ? n : 1, sizeof(float));
    values(x, n, kind);
    size_t cap = gcomp_frame_bound(p, n);
    uint8_t *buf = malloc(cap);
    gcomp_frame_info_t where = {.codec = p->codec, .dtype = GCOMP_DTYPE_FP32, .total_count = n + 100,
                                .chunk_offset = 100, .chunk_count = n, .rank = 2, .comm_id = 7, .seq = 3};
    gcomp_frame_info_t info;
    if (gcomp_frame_encode(p, &where, x, r, buf, cap, &info) != GCOMP_OK) {
        fprintf(stderr, "make_corpus: encoding %s failed\n", name);
        exit(1);
    }
    write_file(target, name, &opt, 1, buf, info.frame_bytes);
    free(x), free(r), free(buf);
}

static gcomp_codec_params_t params(gcomp_codec_t codec)
{
    gcomp_codec_params_t p = {.codec = codec, .error_feedback = 1, .q8_bucket = 64, .rounding = GCOMP_ROUND_STOCHASTIC,
                              .topk_ratio = 0.1f, .topk_select = GCOMP_TOPK_SAMPLED,
                              .topk_values = GCOMP_VALUES_FP32, .zstd_level = 0, .checksum = 1, .seed = 99};
    return p;
}

static void decoder_seeds(const char *target, gcomp_codec_t codec, uint8_t opt_codec)
{
    static const size_t sizes[] = {0, 1, 7, 64, 65, 300, 1000};
    static const int kinds[] = {0, 1, 2, 3, 4};
    char name[128];
    for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
        for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
            gcomp_codec_params_t p = params(codec);
            p.checksum = (s + k) % 2;
            p.rounding = k % 2 ? GCOMP_ROUND_NEAREST : GCOMP_ROUND_STOCHASTIC;
            p.q8_bucket = s % 3 == 0 ? 64 : s % 3 == 1 ? 1 : 256;
            p.topk_select = k % 2 ? GCOMP_TOPK_EXACT : GCOMP_TOPK_SAMPLED;
            if (codec == GCOMP_CODEC_TOPK && k == 2) p.topk_values = GCOMP_VALUES_FP16;
            uint8_t opt = (uint8_t)(opt_codec | ((s + k) % 2 ? 2 : 0) | (k % 2) | (s % 2 ? 4 : 0));
            snprintf(name, sizeof(name), "%s-n%zu-kind%d-%s", gcomp_codec_name(codec), sizes[s], kinds[k],
                     p.checksum ? "sum" : "nosum");
            frame(target, opt, &p, sizes[s], kinds[k], name);
#if GCOMP_HAVE_ZSTD
            if (sizes[s] >= 300 && k == 2) {
                p.zstd_level = 3;
                snprintf(name, sizeof(name), "%s-n%zu-kind%d-zstd", gcomp_codec_name(codec), sizes[s], kinds[k]);
                frame(target, opt, &p, sizes[s], kinds[k], name);
            }
#endif
        }
    }
}

static void roundtrip_seeds(void)
{
    char name[128];
    for (int codec = 0; codec < 4; codec++) {
        for (int v = 0; v < 6; v++) {
            size_t n = v == 0 ? 0 : v == 1 ? 1 : v == 2 ? 63 : v == 3 ? 200 : 400;
            uint8_t hdr[16] = {0};
            hdr[0] = (uint8_t)codec;
            hdr[1] = (uint8_t)((v & 1) | (v & 2) | (v == 4 ? 4 : 0) | (v % 2 ? 8 : 0) | (v == 5 ? 0x10 : 0) |
                               (v == 3 ? 0x80 : 0));
            hdr[2] = (uint8_t)(v == 2 ? 15 : 63); /* bucket 16 or 64 */
            hdr[4] = (uint8_t)(v * 40 + 2);
            hdr[5] = (uint8_t)(v + 1);
            hdr[13] = (uint8_t)v;
            if (v == 5) n = 300;
            float *x = malloc((2 * n + 1) * sizeof(float));
            values(x, 2 * n, v == 5 ? 2 : v % 4);
            for (size_t i = 1; i < 2 * n; i += 2) x[i] *= 0.01f; /* small residuals */
            uint8_t *bytes = malloc(8 * n + 1);
            for (size_t i = 0; i < 2 * n; i++) gcomp_store_le32(bytes + 4 * i, gcomp_f32_bits(x[i]));
            snprintf(name, sizeof(name), "codec%d-case%d", codec, v);
            write_file("roundtrip", name, hdr, sizeof(hdr), bytes, 8 * n);
            free(x), free(bytes);
        }
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: make_corpus <corpus directory>\n");
        return 2;
    }
    setenv("GCOMP_DEBUG", "error", 1);
    root = argv[1];
    decoder_seeds("decode_none", GCOMP_CODEC_NONE, 0);
    decoder_seeds("decode_q8", GCOMP_CODEC_Q8, 0);
    decoder_seeds("decode_topk", GCOMP_CODEC_TOPK, 0);
    decoder_seeds("decode_topk", GCOMP_CODEC_TOPK_Q8, 8);
    roundtrip_seeds();
    printf("make_corpus: wrote %d files under %s\n", written, root);
    return 0;
}
