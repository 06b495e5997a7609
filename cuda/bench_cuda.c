/*
 * `gcomp_codec_bench --gpu`: the codecs on device buffers, with a device-to-device copy of the same
 * buffer timed in the same run as the baseline (nccl-tests style: medians, ratio to the baseline).
 *
 * Bytes touched as in the CPU bench: a copy reads and writes the buffer (2 x size); encode reads src
 * and the residual and writes the residual and the frame (3 x size + frame); decode reads the frame
 * and writes the output. "device" times are CUDA events around the kernels; "call" times are the
 * whole gcomp_cuda_frame_encode/decode, including the frame's trip to pinned host memory, the header
 * and the checksum.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/timing.h"
#include "bench_cuda.h"
#include "core/compiler.h"
#include "gcomp_cuda.h"

typedef struct gpu_codec {
    const char *label;
    gcomp_codec_t codec;
    gcomp_topk_select_t select;
} gpu_codec_t;

static const gpu_codec_t codecs[] = {
    {"none", GCOMP_CODEC_NONE, GCOMP_TOPK_SAMPLED},
    {"q8", GCOMP_CODEC_Q8, GCOMP_TOPK_SAMPLED},
    {"topk", GCOMP_CODEC_TOPK, GCOMP_TOPK_SAMPLED},
    {"topk-exact", GCOMP_CODEC_TOPK, GCOMP_TOPK_EXACT},
    {"topk-q8", GCOMP_CODEC_TOPK_Q8, GCOMP_TOPK_SAMPLED},
};

/* Heavy-tailed gradient-like values, as the CPU bench makes them. */
static void fill(float *g, size_t n)
{
    uint64_t s = 0x9e3779b97f4a7c16ull;
    for (size_t i = 0; i < n; i++) {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        uint64_t r = s * 0x2545f4914f6cdd1dull;
        double u = ((double)(r >> 11) + 0.5) * 0x1p-53;
        g[i] = (float)(1e-3 * (u - 0.5) / sqrt(u * (1.0 - u) + 1e-12));
    }
}

int gcomp_cuda_codec_bench(const char *sizes_mib, const char *codec_list, int iters, double ratio, FILE *json)
{
    const char *why = NULL;
    if (!gcomp_cuda_available(&why)) {
        fprintf(stderr, "gcomp_codec_bench --gpu: %s\n", why);
        return 77;
    }
    gcomp_cuda_ctx_t *ctx;
    if (gcomp_cuda_ctx_create(0, &ctx) != GCOMP_OK) return 1;
    int reps = iters < 1 ? 1 : iters > 64 ? 64 : iters;
    printf("# gcomp_codec_bench --gpu: device 0, median of %d, top-k ratio %g\n", reps, ratio);
    printf("# GB/s of bytes touched; ratio = GB/s / device copy GB/s in the same run; device = kernels only,\n"
           "# call = whole call with the frame in pinned host memory\n");
    printf("%8s %-11s %9s %9s %9s %7s %9s %9s %7s %9s\n", "MiB", "codec", "frame/in", "copy", "enc dev", "ratio",
           "enc call", "dec dev", "ratio", "dec call");
    if (json) fprintf(json, "{\"device\": \"cuda:0\", \"results\": [\n");
    int first = 1, rc = 0;
    char sizes[256];
    snprintf(sizes, sizeof(sizes), "%s", sizes_mib);
    char *save = NULL;
    for (char *tok = strtok_r(sizes, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        double mib = atof(tok);
        size_t n = (size_t)(mib * 1024 * 1024 / 4), bytes = n * 4;
        if (n == 0) continue;
        float *host = malloc(bytes);
        void *src = NULL, *res = NULL, *dst = NULL, *copy = NULL;
        if (!host || gcomp_cuda_malloc(ctx, &src, bytes) || gcomp_cuda_malloc(ctx, &res, bytes) ||
            gcomp_cuda_malloc(ctx, &dst, bytes) || gcomp_cuda_malloc(ctx, &copy, bytes)) {
            fprintf(stderr, "out of memory for %zu bytes\n", bytes);
            rc = 1;
            break;
        }
        fill(host, n);
        gcomp_cuda_memcpy(ctx, src, host, bytes);
        char list[256];
        snprintf(list, sizeof(list), "%s", codec_list);
        char *save2 = NULL;
        for (char *name = strtok_r(list, ",", &save2); name; name = strtok_r(NULL, ",", &save2)) {
            const gpu_codec_t *bc = NULL;
            for (size_t c = 0; c < GCOMP_ARRAY_SIZE(codecs); c++)
                if (!strcmp(codecs[c].label, name)) bc = &codecs[c];
            if (!bc) continue;
            gcomp_codec_params_t p;
            gcomp_codec_params_default(&p);
            p.codec = bc->codec;
            p.topk_select = bc->select;
            p.topk_ratio = (float)ratio;
            p.error_feedback = 1;
            size_t cap = gcomp_frame_bound(&p, n);
            uint8_t *frame = gcomp_cuda_host_alloc(cap);
            gcomp_frame_info_t where = {.codec = p.codec, .total_count = n, .chunk_count = n};
            gcomp_frame_info_t info = {0};
            double te[64], tec[64], td[64], tdc[64], tc[64];
            memset(host, 0, bytes);
            gcomp_status_t st = gcomp_cuda_memcpy(ctx, res, host, bytes); /* a fresh residual per codec */
            for (int i = 0; i < reps + 1 && st == GCOMP_OK; i++) {
                where.seq = (uint64_t)i;
                double t0 = gcomp_now_s();
                st = gcomp_cuda_frame_encode(ctx, &p, &where, src, res, frame, cap, &info);
                double t1 = gcomp_now_s();
                double dev_e = gcomp_cuda_last_device_ms(ctx);
                if (st == GCOMP_OK) st = gcomp_cuda_frame_decode(ctx, frame, info.frame_bytes, NULL, dst, 0, 0, NULL);
                double t2 = gcomp_now_s();
                double dev_d = gcomp_cuda_last_device_ms(ctx);
                double ms = 0;
                if (st == GCOMP_OK) st = gcomp_cuda_time_copy(ctx, copy, src, bytes, &ms);
                if (i > 0) {
                    te[i - 1] = dev_e * 1e-3;
                    tec[i - 1] = t1 - t0;
                    td[i - 1] = dev_d * 1e-3;
                    tdc[i - 1] = t2 - t1;
                    tc[i - 1] = ms * 1e-3;
                }
            }
            if (st != GCOMP_OK) {
                printf("%8.0f %-11s failed: %s\n", mib, bc->label, gcomp_status_string(st));
                gcomp_cuda_host_free(frame);
                rc = 1;
                continue;
            }
            double copy_gbs = 2.0 * (double)bytes / gcomp_median(tc, reps) / 1e9;
            double enc_bytes = 3.0 * (double)bytes + (double)info.frame_bytes;
            double dec_bytes = (double)info.frame_bytes + (double)bytes;
            double enc_gbs = enc_bytes / gcomp_median(te, reps) / 1e9, dec_gbs = dec_bytes / gcomp_median(td, reps) / 1e9;
            double enc_call_ms = 1e3 * gcomp_median(tec, reps), dec_call_ms = 1e3 * gcomp_median(tdc, reps);
            double shrink = (double)info.frame_bytes / (double)bytes;
            printf("%8.0f %-11s %9.4f %9.1f %9.1f %7.2f %7.3fms %9.1f %7.2f %7.3fms\n", mib, bc->label, shrink, copy_gbs,
                   enc_gbs, enc_gbs / copy_gbs, enc_call_ms, dec_gbs, dec_gbs / copy_gbs, dec_call_ms);
            if (json) {
                fprintf(json,
                        "%s  {\"mib\": %g, \"codec\": \"%s\", \"frame_over_input\": %.6f, \"copy_gbs\": %.2f, "
                        "\"encode_device_gbs\": %.2f, \"encode_ratio\": %.3f, \"encode_call_ms\": %.4f, "
                        "\"decode_device_gbs\": %.2f, \"decode_ratio\": %.3f, \"decode_call_ms\": %.4f}",
                        first ? "" : ",\n", mib, bc->label, shrink, copy_gbs, enc_gbs, enc_gbs / copy_gbs, enc_call_ms,
                        dec_gbs, dec_gbs / copy_gbs, dec_call_ms);
                first = 0;
            }
            gcomp_cuda_host_free(frame);
        }
        free(host);
        gcomp_cuda_free(ctx, src);
        gcomp_cuda_free(ctx, res);
        gcomp_cuda_free(ctx, dst);
        gcomp_cuda_free(ctx, copy);
    }
    if (json) fprintf(json, "\n]}\n");
    gcomp_cuda_ctx_destroy(ctx);
    return rc;
}
