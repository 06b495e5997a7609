/*
 * gcomp_bench: compressed all-reduce against plain MPI_Allreduce, nccl-tests style.
 *
 *   mpiexec -n 4 gcomp_bench -b 1M -e 64M -f 4 -n 10 -w 3 -c dense,q8,topk,topk-q8 [--json F] [--preload]
 *
 * For each size and codec: median time (the slowest rank's time per iteration), algorithm and bus
 * bandwidth, frame bytes each rank sent per call, the speed-up over dense measured in the same run,
 * the largest error against the exact sum (relative to the largest |exact| element), and whether
 * every rank ended with the same bytes. Inputs are gradient-like (heavy-tailed, new every iteration)
 * so that error feedback and top-k work as they would in training.
 *
 * The exact sum is not all-reduced: every rank can regenerate every rank's input, so each rank
 * computes the exact sum of its 1/P slice locally and only two numbers travel. On a slow emulated
 * link that keeps the untimed checking from costing more than the timed work.
 *
 * --split adds the time split from gcomp_comm_stats (encode, wire, decode per call, slowest rank);
 * the JSON always has it, with the codec parameters and the run's metadata.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mpi.h>

#include "gcomp.h"

#define MAX_CODECS 8

typedef struct run_cfg {
    size_t min_bytes, max_bytes;
    double factor;
    int iters, warmup, preload, split;
    int n_codecs;
    char codecs[MAX_CODECS][16];
    const char *json_path, *label;
} run_cfg_t;

typedef struct result {
    double time_s, wire_bytes, max_err;
    double encode_s, wire_s, decode_s, total_s; /* per call, slowest rank; NAN without stats */
    int identical;
} result_t;

static int rank, nranks;

static size_t parse_bytes(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    switch (*end) {
    case 'K': case 'k': v *= 1024; break;
    case 'M': case 'm': v *= 1024 * 1024; break;
    case 'G': case 'g': v *= 1024.0 * 1024 * 1024; break;
    default: break;
    }
    return (size_t)v;
}

static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

/* Heavy-tailed values (a Student-t-like ratio) with a per-element scale, different per rank and call.
 * Elements [first, first + m) of rank r's input at iteration iter. */
static void fill_gradient_range(float *g, size_t first, size_t m, int r, int iter)
{
    uint64_t key = mix(((uint64_t)r << 32) ^ (uint64_t)iter);
    for (size_t k = 0; k < m; k++) {
        size_t i = first + k;
        uint64_t h = mix(key ^ i);
        double u = ((double)(h >> 11) + 0.5) * 0x1p-53;
        double t = (u - 0.5) / sqrt(u * (1.0 - u) + 1e-9);
        double layer = 1.0 + (double)((i >> 16) & 7); /* layers of different magnitude */
        g[k] = (float)(1e-3 * layer * t);
    }
}

static void fill_gradient(float *g, size_t n, int r, int iter)
{
    fill_gradient_range(g, 0, n, r, iter);
}

/* Only compared across ranks: any deterministic hash of every byte does, and a word at a time keeps
 * the untimed checking of 256 MiB short. */
static uint64_t hash_bytes(const void *p, size_t len)
{
    const unsigned char *b = p;
    uint64_t h = 1469598103934665603ull, w;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        memcpy(&w, b + i, 8);
        h = (h ^ w) * 1099511628211ull;
        h ^= h >> 29;
    }
    for (; i < len; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static int codec_from_name(const char *name, gcomp_codec_t *codec_p)
{
    static const char *const names[] = {"none", "q8", "topk", "topk-q8"};
    for (int i = 0; i < 4; i++) {
        if (strcmp(name, names[i]) == 0) {
            *codec_p = (gcomp_codec_t)i;
            return 0;
        }
    }
    return -1;
}

/* The slice [lo, hi) of every rank's input summed in double: the exact result the ranks' fp32
 * inputs have, up to one rounding. Exactly as fill_gradient makes them, without the buffer. */
static void exact_slice(double *exact, size_t lo, size_t hi, int iter)
{
    memset(exact, 0, (hi - lo) * sizeof(double));
    float tmp[256];
    for (int r = 0; r < nranks; r++) {
        for (size_t i = lo; i < hi; i += 256) {
            size_t m = hi - i < 256 ? hi - i : 256;
            fill_gradient_range(tmp, i, m, r, iter);
            for (size_t j = 0; j < m; j++) exact[i - lo + j] += tmp[j];
        }
    }
}

static double stats_max(double local)
{
    double max;
    PMPI_Allreduce(&local, &max, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    return max;
}

static result_t run_one(const run_cfg_t *cfg, gcomp_comm_t *ctx, const char *codec_name, size_t n, float *in,
                        float *out, double *exact)
{
    result_t res = {0, 0, 0, NAN, NAN, NAN, NAN, 1};
    int dense = strcmp(codec_name, "dense") == 0;
    gcomp_codec_params_t params;
    gcomp_codec_params_default(&params);
    if (!dense && codec_from_name(codec_name, &params.codec) != 0) {
        if (rank == 0) fprintf(stderr, "gcomp_bench: unknown codec %s\n", codec_name);
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    gcomp_residual_t *residual = NULL;
    if (!dense && !cfg->preload && gcomp_residual_create(&residual) != GCOMP_OK) MPI_Abort(MPI_COMM_WORLD, 1);
    double *times = calloc((size_t)cfg->iters, sizeof(double));
    gcomp_stats_t before = {0}, after;
    int stats = !dense && !cfg->preload;

    for (int it = 0; it < cfg->warmup + cfg->iters; it++) {
        if (stats && it == cfg->warmup) gcomp_comm_stats(ctx, &before);
        fill_gradient(in, n, rank, it);
        MPI_Barrier(MPI_COMM_WORLD);
        double t0 = MPI_Wtime();
        int rc;
        if (dense) {
            rc = PMPI_Allreduce(in, out, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        } else if (cfg->preload) {
            rc = MPI_Allreduce(in, out, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        } else {
            gcomp_status_t st = gcomp_allreduce(ctx, in, out, n, MPI_FLOAT, MPI_SUM, residual, &params);
            rc = st == GCOMP_OK ? MPI_SUCCESS : MPI_ERR_OTHER;
            if (st != GCOMP_OK && rank == 0)
                fprintf(stderr, "gcomp_bench: %s failed: %s\n", codec_name, gcomp_status_string(st));
        }
        double local = MPI_Wtime() - t0, slowest;
        if (rc != MPI_SUCCESS) MPI_Abort(MPI_COMM_WORLD, 1);
        PMPI_Allreduce(&local, &slowest, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
        if (it < cfg->warmup) continue;
        times[it - cfg->warmup] = slowest;

        /* Accuracy against the exact (double) sum of this iteration's inputs, each rank checking its
         * slice of the output (all ranks' outputs are compared byte for byte below). */
        size_t lo = n * (size_t)rank / (size_t)nranks, hi = n * (size_t)(rank + 1) / (size_t)nranks;
        exact_slice(exact, lo, hi, it);
        double max_abs = 0, max_diff = 0;
        for (size_t i = lo; i < hi; i++) {
            max_abs = fmax(max_abs, fabs(exact[i - lo]));
            max_diff = fmax(max_diff, fabs((double)out[i] - exact[i - lo]));
        }
        max_abs = stats_max(max_abs);
        max_diff = stats_max(max_diff);
        double err = max_abs > 0 ? max_diff / max_abs : max_diff;
        res.max_err = fmax(res.max_err, err);
        uint64_t h = hash_bytes(out, n * sizeof(float)), hmin, hmax;
        PMPI_Allreduce(&h, &hmin, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD);
        PMPI_Allreduce(&h, &hmax, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
        res.identical &= hmin == hmax;
    }
    qsort(times, (size_t)cfg->iters, sizeof(double), cmp_double);
    res.time_s = cfg->iters % 2 ? times[cfg->iters / 2] : 0.5 * (times[cfg->iters / 2 - 1] + times[cfg->iters / 2]);
    if (dense) {
        res.wire_bytes = 2.0 * (nranks - 1) / nranks * (double)n * 4; /* ring all-reduce's volume */
    } else if (stats) {
        gcomp_comm_stats(ctx, &after);
        double calls = (double)cfg->iters;
        res.wire_bytes = stats_max((double)(after.bytes_sent - before.bytes_sent) / calls);
        res.encode_s = stats_max((after.time_encode_s - before.time_encode_s) / calls);
        res.wire_s = stats_max((after.time_wire_s - before.time_wire_s) / calls);
        res.decode_s = stats_max((after.time_decode_s - before.time_decode_s) / calls);
        res.total_s = stats_max((after.time_total_s - before.time_total_s) / calls);
    } else {
        res.wire_bytes = NAN; /* the interposer keeps its counters to itself: see GCOMP_STATS=1 */
    }
    gcomp_residual_destroy(residual);
    free(times);
    return res;
}

static void usage(void)
{
    printf("usage: gcomp_bench [-b MINBYTES] [-e MAXBYTES] [-f FACTOR] [-n ITERS] [-w WARMUP]\n"
           "                   [-c dense,q8,topk,topk-q8,none] [--json FILE] [--preload] [--split]\n"
           "                   [--label TEXT]\n"
           "  --preload  call MPI_Allreduce for the compressed rows, to measure libgcomp_preload.so under\n"
           "             LD_PRELOAD (the codec then comes from GCOMP_CODEC; give one codec in -c)\n"
           "  --split    add columns: encode, wire and decode time per call (slowest rank, ms)\n"
           "  --label    a note stored in the JSON (e.g. the link rate of an emulated cluster)\n");
}

static void parse_args(int argc, char **argv, run_cfg_t *cfg)
{
    static const struct option longopts[] = {{"json", required_argument, NULL, 'J'},
                                             {"preload", no_argument, NULL, 'P'},
                                             {"split", no_argument, NULL, 'S'},
                                             {"label", required_argument, NULL, 'L'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *codecs = "dense,q8,topk,topk-q8";
    int c;
    while ((c = getopt_long(argc, argv, "b:e:f:n:w:c:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'b': cfg->min_bytes = parse_bytes(optarg); break;
        case 'e': cfg->max_bytes = parse_bytes(optarg); break;
        case 'f': cfg->factor = atof(optarg); break;
        case 'n': cfg->iters = atoi(optarg); break;
        case 'w': cfg->warmup = atoi(optarg); break;
        case 'c': codecs = optarg; break;
        case 'J': cfg->json_path = optarg; break;
        case 'P': cfg->preload = 1; break;
        case 'S': cfg->split = 1; break;
        case 'L': cfg->label = optarg; break;
        default:
            if (rank == 0) usage();
            MPI_Finalize();
            exit(c == 'h' ? 0 : 2);
        }
    }
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", codecs);
    char *save = NULL;
    for (char *tok = strtok_r(buf, ",", &save); tok && cfg->n_codecs < MAX_CODECS; tok = strtok_r(NULL, ",", &save))
        snprintf(cfg->codecs[cfg->n_codecs++], sizeof(cfg->codecs[0]), "%s", tok);
    if (cfg->min_bytes < 4 || cfg->max_bytes < cfg->min_bytes || cfg->factor <= 1 || cfg->iters < 1 ||
        cfg->warmup < 0 || cfg->n_codecs == 0) {
        if (rank == 0) usage();
        MPI_Finalize();
        exit(2);
    }
}

/* JSON has no NaN: a missing number is null. */
static void json_num(FILE *f, const char *key, double v, const char *fmt)
{
    fprintf(f, ", \"%s\": ", key);
    if (isfinite(v)) fprintf(f, fmt, v);
    else fputs("null", f);
}

static void json_begin(FILE *f, const run_cfg_t *cfg)
{
    gcomp_codec_params_t p;
    gcomp_codec_params_default(&p);
    char host[256] = "?", date[64] = "?";
    gethostname(host, sizeof(host) - 1);
    time_t now = time(NULL);
    strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    int len;
    char mpi_version[MPI_MAX_LIBRARY_VERSION_STRING];
    MPI_Get_library_version(mpi_version, &len);
    for (char *c = mpi_version; *c; c++)
        if (*c == '"' || *c == '\\' || *c == '\n' || *c == '\t') *c = ' ';
    fprintf(f, "{\"tool\": \"gcomp_bench\", \"gcomp_version\": \"%s\", \"host\": \"%s\", \"date\": \"%s\",\n",
            gcomp_version_string(), host, date);
    fprintf(f, " \"mpi\": \"%.60s\", \"label\": \"%s\",\n", mpi_version, cfg->label ? cfg->label : "");
    fprintf(f, " \"ranks\": %d, \"iters\": %d, \"warmup\": %d, \"preload\": %d,\n", nranks, cfg->iters, cfg->warmup,
            cfg->preload);
    fprintf(f,
            " \"params\": {\"error_feedback\": %d, \"q8_bucket\": %u, \"rounding\": \"%s\", \"topk_ratio\": %g, "
            "\"topk_select\": \"%s\", \"topk_values\": \"%s\", \"zstd_level\": %d, \"checksum\": %d},\n",
            p.error_feedback, p.q8_bucket, p.rounding == GCOMP_ROUND_NEAREST ? "nearest" : "stochastic",
            (double)p.topk_ratio, p.topk_select == GCOMP_TOPK_EXACT ? "exact" : "sampled",
            p.topk_values == GCOMP_VALUES_FP16 ? "fp16" : "fp32", p.zstd_level, p.checksum);
    fprintf(f, " \"results\": [\n");
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nranks);
    run_cfg_t cfg = {.min_bytes = 1 << 20, .max_bytes = 64 << 20, .factor = 4, .iters = 10, .warmup = 3};
    parse_args(argc, argv, &cfg);

    gcomp_comm_t *ctx = NULL;
    if (!cfg.preload && gcomp_comm_create(MPI_COMM_WORLD, &ctx) != GCOMP_OK) MPI_Abort(MPI_COMM_WORLD, 1);
    size_t max_n = cfg.max_bytes / 4;
    float *in = malloc(max_n * 4), *out = malloc(max_n * 4);
    double *exact = malloc((max_n / (size_t)nranks + 1) * 8);
    if (!in || !out || !exact) MPI_Abort(MPI_COMM_WORLD, 1);

    FILE *json = NULL;
    if (rank == 0) {
        printf("# gcomp_bench: %d ranks, median of %d iterations after %d warm-up, %s\n", nranks, cfg.iters,
               cfg.warmup, cfg.preload ? "compressed rows through MPI_Allreduce (LD_PRELOAD)" : "C API");
        printf("# time: slowest rank; busbw = algbw * 2(P-1)/P; wire: frame bytes sent per rank per call;\n"
               "# speedup: dense time / codec time in this run; err: max |out - exact| / max |exact|\n");
        if (cfg.split)
            printf("# enc, net, dec per call (slowest rank, gcomp_comm_stats): encoding with error feedback and the\n"
                   "# residual's snapshot; the rest (waiting for the wire and for peers, agreements); decoding and zeroing\n");
        printf("%12s %-8s %10s %9s %9s %12s %8s %10s %6s", "bytes", "codec", "time(ms)", "algbw", "busbw",
               "wire(B)", "speedup", "err", "same");
        if (cfg.split) printf(" %8s %8s %8s", "enc(ms)", "net(ms)", "dec(ms)");
        printf("\n");
        if (cfg.json_path && !(json = fopen(cfg.json_path, "w"))) perror(cfg.json_path);
        if (json) json_begin(json, &cfg);
    }
    int first = 1;
    for (double b = (double)cfg.min_bytes; b <= (double)cfg.max_bytes * 1.0001; b *= cfg.factor) {
        size_t n = (size_t)b / 4;
        double dense_time = NAN;
        for (int c = 0; c < cfg.n_codecs; c++) {
            result_t r = run_one(&cfg, ctx, cfg.codecs[c], n, in, out, exact);
            if (strcmp(cfg.codecs[c], "dense") == 0) dense_time = r.time_s;
            if (rank != 0) continue;
            double algbw = (double)n * 4 / r.time_s / 1e9, busbw = algbw * 2.0 * (nranks - 1) / nranks;
            printf("%12zu %-8s %10.3f %9.3f %9.3f %12.0f %8.2f %10.2e %6s", n * 4, cfg.codecs[c], r.time_s * 1e3,
                   algbw, busbw, r.wire_bytes, dense_time / r.time_s, r.max_err, r.identical ? "yes" : "NO");
            if (cfg.split && isfinite(r.total_s))
                printf(" %8.2f %8.2f %8.2f", r.encode_s * 1e3, r.wire_s * 1e3, r.decode_s * 1e3);
            else if (cfg.split)
                printf(" %8s %8s %8s", "-", "-", "-");
            printf("\n");
            fflush(stdout);
            if (json) {
                fprintf(json, "%s  {\"bytes\": %zu, \"codec\": \"%s\"", first ? "" : ",\n", n * 4, cfg.codecs[c]);
                json_num(json, "time_s", r.time_s, "%.6e");
                json_num(json, "algbw_gbs", algbw, "%.4f");
                json_num(json, "busbw_gbs", busbw, "%.4f");
                json_num(json, "wire_bytes", r.wire_bytes, "%.0f");
                json_num(json, "speedup", dense_time / r.time_s, "%.4f");
                json_num(json, "max_rel_err", r.max_err, "%.4e");
                fprintf(json, ", \"identical\": %s", r.identical ? "true" : "false");
                json_num(json, "encode_s", r.encode_s, "%.6e");
                json_num(json, "wire_s", r.wire_s, "%.6e");
                json_num(json, "decode_s", r.decode_s, "%.6e");
                json_num(json, "total_s", r.total_s, "%.6e");
                fprintf(json, "}");
                first = 0;
            }
        }
    }
    if (json) {
        fprintf(json, "\n]}\n");
        fclose(json);
    }
    gcomp_comm_destroy(ctx);
    free(in);
    free(out);
    free(exact);
    /* Everything is measured and printed: launchers that bound MPI_Finalize wait for this line. */
    if (rank == 0) {
        printf("# gcomp_bench: done\n");
        fflush(stdout);
    }
    MPI_Finalize();
    return 0;
}
