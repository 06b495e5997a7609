/*
 * gcomp_codec_bench: single-core encode (with fused error feedback) and decode throughput of every
 * codec, with memcpy of the same buffer measured in the same run as the baseline.
 *
 * Bytes touched: memcpy reads and writes the buffer (2 x size); encode reads src and the residual and
 * writes the residual and the frame; decode reads the frame and writes (or, for decode-accumulate,
 * reads and writes) the output. Reported as GB/s and as a ratio to memcpy's GB/s.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/timing.h"
#include "gcomp.h"
#include "codec/codec.h"
#include "codec/isa.h"
#include "core/mem.h"
#include "gcomp_config.h"
#if GCOMP_HAVE_CUDA
#include "bench_cuda.h"
#endif

typedef struct bench_codec {
    const char *label;
    gcomp_codec_t codec;
    gcomp_topk_select_t select;
} bench_codec_t;

static const bench_codec_t all_codecs[] = {
    {"none", GCOMP_CODEC_NONE, GCOMP_TOPK_SAMPLED},
    {"q8", GCOMP_CODEC_Q8, GCOMP_TOPK_SAMPLED},
    {"topk", GCOMP_CODEC_TOPK, GCOMP_TOPK_SAMPLED},
    {"topk-exact", GCOMP_CODEC_TOPK, GCOMP_TOPK_EXACT},
    {"topk-q8", GCOMP_CODEC_TOPK_Q8, GCOMP_TOPK_SAMPLED},
};

/* Gradient-like data: heavy-tailed (Student-t, 3 degrees of freedom) with a per-call drift, so that
 * top-k's threshold and the error feedback see changing inputs. */
static void fill_gradient(float *g, size_t n, uint64_t seed)
{
    uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
    for (size_t i = 0; i < n; i++) {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        uint64_t r = s * 0x2545f4914f6cdd1dull;
        double u = ((double)(r >> 11) + 0.5) * 0x1p-53;
        double t = (u - 0.5) / sqrt(u * (1.0 - u) + 1e-12); /* cheap heavy tail */
        g[i] = (float)(1e-3 * t);
    }
}

static void usage(void)
{
    printf("usage: gcomp_codec_bench [-s MIB,MIB,...] [-n ITERS] [-c CODECS] [-r RATIO] [--isa NAME] [--json FILE]\n"
           "  -s  sizes in MiB of fp32 input (default 1,16,64)\n"
           "  -n  timed iterations per measurement, median reported (default 7)\n"
           "  -c  comma list of none,q8,topk,topk-exact,topk-q8 (default all)\n"
           "  -r  top-k ratio (default 0.01)\n"
           "  --isa scalar|avx2|avx512 (default: the best this CPU runs)\n"
           "  --gpu the CUDA codecs on device 0 instead (builds with CUDA; exit 77 without a GPU)\n");
}

int main(int argc, char **argv)
{
    char sizes_arg[256] = "1,16,64", codecs_arg[256] = "none,q8,topk,topk-exact,topk-q8";
    int iters = 7;
    double ratio = 0.01;
    const char *json_path = NULL;
    gcomp_isa_t isa = gcomp_isa_active();
    static const struct option longopts[] = {{"isa", required_argument, NULL, 'I'},
                                             {"json", required_argument, NULL, 'J'},
                                             {"help", no_argument, NULL, 'h'},
                                             {"gpu", no_argument, NULL, 'G'},
                                             {NULL, 0, NULL, 0}};
    int c, gpu = 0;
    while ((c = getopt_long(argc, argv, "s:n:c:r:h", longopts, NULL)) != -1) {
        switch (c) {
        case 's': snprintf(sizes_arg, sizeof(sizes_arg), "%s", optarg); break;
        case 'n': iters = atoi(optarg); break;
        case 'c': snprintf(codecs_arg, sizeof(codecs_arg), "%s", optarg); break;
        case 'r': ratio = atof(optarg); break;
        case 'J': json_path = optarg; break;
        case 'G': gpu = 1; break;
        case 'I':
            if (!strcmp(optarg, "scalar")) isa = GCOMP_ISA_SCALAR;
            else if (!strcmp(optarg, "avx2")) isa = GCOMP_ISA_AVX2;
            else if (!strcmp(optarg, "avx512")) isa = GCOMP_ISA_AVX512;
            else {
                usage();
                return 2;
            }
            if (!gcomp_isa_available(isa)) {
                fprintf(stderr, "gcomp_codec_bench: %s is not available on this CPU or build\n", optarg);
                return 2;
            }
            break;
        default: usage(); return c == 'h' ? 0 : 2;
        }
    }
    if (iters < 1 || !(ratio > 0 && ratio <= 1)) {
        usage();
        return 2;
    }
    FILE *json = json_path ? fopen(json_path, "w") : NULL;
    if (json_path && !json) {
        perror(json_path);
        return 1;
    }
    if (gpu) {
#if GCOMP_HAVE_CUDA
        int rc = gcomp_cuda_codec_bench(sizes_arg, codecs_arg, iters, ratio, json);
        if (json) fclose(json);
        return rc;
#else
        fprintf(stderr, "gcomp_codec_bench: --gpu needs a build with CUDA (-Dcuda=enabled)\n");
        return 77;
#endif
    }
    if (json) fprintf(json, "{\"isa\": \"%s\", \"results\": [\n", gcomp_isa_name(isa));
    int json_first = 1;

    printf("# gcomp_codec_bench: one core, kernels %s, median of %d, top-k ratio %g\n", gcomp_isa_name(isa),
           iters, ratio);
    printf("# GB/s of bytes touched; ratio = codec GB/s / memcpy GB/s in the same run\n");
    printf("%8s %-11s %10s %9s %8s %9s %8s %9s %8s\n", "MiB", "codec", "frame/in", "memcpy", "", "encode", "ratio",
           "decode", "ratio");

    gcomp_scratch_t scratch = {0};
    char *save = NULL;
    for (char *tok = strtok_r(sizes_arg, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        double mib = atof(tok);
        size_t n = (size_t)(mib * 1024 * 1024 / 4);
        if (n == 0) continue;
        size_t bytes = n * 4;
        float *src = gcomp_aligned_alloc(bytes), *res = gcomp_aligned_alloc(bytes);
        float *dst = gcomp_aligned_alloc(bytes), *copy = gcomp_aligned_alloc(bytes);
        if (!src || !res || !dst || !copy) {
            fprintf(stderr, "out of memory for %zu bytes\n", bytes);
            return 1;
        }
        fill_gradient(src, n, 1);
        memset(res, 0, bytes);
        memset(dst, 0, bytes);
        memset(copy, 0, bytes);

        int reps = iters > 64 ? 64 : iters;

        char codecs_copy[256];
        snprintf(codecs_copy, sizeof(codecs_copy), "%s", codecs_arg);
        char *save2 = NULL;
        for (char *name = strtok_r(codecs_copy, ",", &save2); name; name = strtok_r(NULL, ",", &save2)) {
            const bench_codec_t *bc = NULL;
            for (size_t k = 0; k < sizeof(all_codecs) / sizeof(all_codecs[0]); k++)
                if (!strcmp(all_codecs[k].label, name)) bc = &all_codecs[k];
            if (!bc) {
                fprintf(stderr, "unknown codec %s\n", name);
                return 2;
            }
            gcomp_codec_params_t p;
            gcomp_codec_params_default(&p);
            p.codec = bc->codec;
            p.topk_select = bc->select;
            p.topk_ratio = (float)ratio;
            p.error_feedback = 1;
            size_t cap = gcomp_frame_bound(&p, n);
            uint8_t *frame = gcomp_aligned_alloc(cap);
            gcomp_frame_info_t where = {.total_count = n, .chunk_count = n, .dtype = GCOMP_DTYPE_FP32};
            gcomp_frame_info_t info;
            gcomp_status_t st = GCOMP_OK;
            double te[64], td[64];
            memset(res, 0, bytes);
            for (int i = 0; i < reps + 1 && st == GCOMP_OK; i++) { /* first run warms up */
                where.seq = (uint64_t)i;
                double t0 = gcomp_now_s();
                st = gcomp_frame_encode_ex(&p, &where, src, res, frame, cap, isa, &scratch, &info);
                double t1 = gcomp_now_s();
                if (st == GCOMP_OK)
                    st = gcomp_frame_decode_ex(frame, info.frame_bytes, NULL, dst, 0, isa, &scratch, 0, NULL);
                double t2 = gcomp_now_s();
                if (i > 0) {
                    te[i - 1] = t1 - t0;
                    td[i - 1] = t2 - t1;
                }
            }
            /* The baseline is measured right beside each codec: these machines are shared and noisy. */
            double tm[64];
            for (int i = 0; i < reps; i++) {
                double t0 = gcomp_now_s();
                memcpy(copy, src, bytes);
                tm[i] = gcomp_now_s() - t0;
            }
            double memcpy_gbs = 2.0 * (double)bytes / gcomp_median(tm, reps) / 1e9;
            if (st != GCOMP_OK) {
                printf("%8.0f %-11s failed: %s\n", mib, bc->label, gcomp_status_string(st));
                gcomp_aligned_free(frame);
                continue;
            }
            double enc_bytes = 3.0 * (double)bytes + (double)info.frame_bytes;
            double dec_bytes = (double)info.frame_bytes + (double)bytes;
            double enc_gbs = enc_bytes / gcomp_median(te, reps) / 1e9;
            double dec_gbs = dec_bytes / gcomp_median(td, reps) / 1e9;
            double shrink = (double)info.frame_bytes / (double)bytes;
            printf("%8.0f %-11s %10.4f %9.2f %8s %9.2f %8.2f %9.2f %8.2f\n", mib, bc->label, shrink, memcpy_gbs, "",
                   enc_gbs, enc_gbs / memcpy_gbs, dec_gbs, dec_gbs / memcpy_gbs);
            if (json) {
                fprintf(json,
                        "%s  {\"mib\": %g, \"codec\": \"%s\", \"frame_over_input\": %.6f, \"memcpy_gbs\": %.3f, "
                        "\"encode_gbs\": %.3f, \"encode_ratio\": %.3f, \"decode_gbs\": %.3f, \"decode_ratio\": %.3f}",
                        json_first ? "" : ",\n", mib, bc->label, shrink, memcpy_gbs, enc_gbs, enc_gbs / memcpy_gbs,
                        dec_gbs, dec_gbs / memcpy_gbs);
                json_first = 0;
            }
            gcomp_aligned_free(frame);
        }
        gcomp_aligned_free(src);
        gcomp_aligned_free(res);
        gcomp_aligned_free(dst);
        gcomp_aligned_free(copy);
    }
    if (json) {
        fprintf(json, "\n]}\n");
        fclose(json);
    }
    gcomp_scratch_free(&scratch);
    return 0;
}
