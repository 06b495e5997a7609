/*
 * gcomp_allreduce against known answers: exact sums where compression loses nothing (none; q8 on
 * values that are multiples of a power-of-two scale, with sums that stay so; top-k with at most k
 * non-zeros per frame), a stated error bound for q8 with error feedback over repeated calls,
 * bit-identical output on every rank for every codec, awkward counts, MPI_IN_PLACE, other types,
 * split and reordered communicators, and NaN/Inf placed like plain MPI_Allreduce places them.
 */
#include "coll_util.h"

static gcomp_comm_t *world_ctx;

static void case_line(const char *name, int failures_before)
{
    int failed = check_failures > failures_before, any = 0;
    PMPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_LOR, MPI_COMM_WORLD);
    if (world_rank == 0) printf("%-58s %s\n", name, any ? "FAIL" : "ok");
}

/* Exact sum over the ranks 0..size-1 of int_value. */
static double int_sum(size_t i, int size)
{
    double s = 0;
    for (int r = 0; r < size; r++) s += int_value(i, r);
    return s;
}

/* none, integer-valued inputs: the exact sum, bit for bit, at every count. */
static void test_none_exact(gcomp_comm_t *ctx, MPI_Comm comm, size_t n, int in_place)
{
    int rank, size, f0 = check_failures;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    float *in = malloc((n + 1) * sizeof(float)), *out = malloc((n + 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) in[i] = int_value(i, rank);
    if (in_place) memcpy(out, in, n * sizeof(float));
    gcomp_residual_t *res;
    gcomp_residual_create(&res);
    gcomp_codec_params_t p = params_for(GCOMP_CODEC_NONE);
    for (int call = 0; call < 2; call++) {
        if (in_place && call > 0) memcpy(out, in, n * sizeof(float));
        gcomp_status_t st = gcomp_allreduce(ctx, in_place ? MPI_IN_PLACE : in, out, n, MPI_FLOAT, MPI_SUM, res, &p);
        CHECK(st == GCOMP_OK, "none n=%zu: %s", n, gcomp_status_string(st));
        size_t bad = 0;
        for (size_t i = 0; i < n; i++) bad += out[i] != (float)int_sum(i, size);
        CHECK(bad == 0, "none n=%zu in_place=%d: %zu elements differ from the exact sum", n, in_place, bad);
    }
    gcomp_residual_destroy(res);
    free(in);
    free(out);
    char name[96];
    snprintf(name, sizeof(name), "none exact, n=%zu%s", n, in_place ? ", in place" : "");
    case_line(name, f0);
}

/*
 * q8 exact: bucket 64 (chunks and stages are 64-aligned, so every frame's buckets are the global
 * 64-blocks). In each block, rank r holds +-127 s at position r and 0 at the other ranks' anchor
 * positions; elsewhere multiples q s with |q| <= 127 / P. Each rank's block then has scale s (a
 * power of two: absmax / 127 and 127 / absmax are exact) and decodes exactly; the sum's block has
 * absmax 127 s (the anchors do not overlap) and |sum| <= 127 s elsewhere, so the owner's re-encoding
 * is exact too. Nearest rounding only: stochastic floor(t + u) is evaluated in fp32, where t + u
 * rounds up to t + 1 for u within half an ulp of 1 (about 2^-18 of the draws at |t| >= 64), so it
 * is not exact even for integer t (q8_ref.h and test_q8.c say so).
 */
static float q8_value(size_t i, size_t n, int rank, int size, uint64_t salt)
{
    const float s = 0.0625f;
    size_t block = i / 64, pos = i % 64;
    (void)n;
    if (pos == (size_t)rank) return (block % 2 ? -127.0f : 127.0f) * s;
    if (pos < (size_t)size) return 0.0f;
    int lim = 127 / size;
    uint64_t h = (i * 0x9e3779b97f4a7c15ull) ^ ((uint64_t)rank << 40) ^ salt;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 32;
    return (float)((int)(h % (uint64_t)(2 * lim + 1)) - lim) * s;
}

static void test_q8_exact(size_t n, gcomp_rounding_t rounding)
{
    int f0 = check_failures;
    float *in = malloc((n + 1) * sizeof(float)), *out = malloc((n + 1) * sizeof(float));
    gcomp_residual_t *res;
    gcomp_residual_create(&res);
    gcomp_codec_params_t p = params_for(GCOMP_CODEC_Q8);
    p.q8_bucket = 64;
    p.rounding = rounding;
    for (int call = 0; call < 3; call++) {
        for (size_t i = 0; i < n; i++) in[i] = q8_value(i, n, world_rank, world_size, (uint64_t)call);
        gcomp_status_t st = gcomp_allreduce(world_ctx, in, out, n, MPI_FLOAT, MPI_SUM, res, &p);
        CHECK(st == GCOMP_OK, "q8 n=%zu: %s", n, gcomp_status_string(st));
        size_t bad = 0;
        for (size_t i = 0; i < n; i++) {
            double s = 0;
            for (int r = 0; r < world_size; r++) s += q8_value(i, n, r, world_size, (uint64_t)call);
            if (out[i] != (float)s && bad++ < 3)
                fprintf(stderr, "rank %d: q8 n=%zu element %zu: %.9g, exact %.9g\n", world_rank, n, i,
                        (double)out[i], s);
        }
        CHECK(bad == 0, "q8 n=%zu rounding %d call %d: %zu elements differ from the exact sum", n, (int)rounding,
              call, bad);
        size_t len;
        const float *l1 = gcomp_residual_view(res, 1, &len);
        size_t nonzero = 0;
        for (size_t i = 0; i < len; i++) nonzero += l1[i] != 0.0f;
        CHECK(nonzero == 0, "q8 exact inputs left %zu non-zero residual values", nonzero);
    }
    gcomp_residual_destroy(res);
    free(in);
    free(out);
    char name[96];
    snprintf(name, sizeof(name), "q8 exact (%s), n=%zu", rounding == GCOMP_ROUND_NEAREST ? "nearest" : "stochastic", n);
    case_line(name, f0);
}

/*
 * topk exact: ratio 1/100, exact selection, fp32 values. Rank r's non-zeros sit at i % 128 == c_r,
 * so any frame of len elements holds at most ceil(len / 128) <= ceil(len / 100) = k of them: all
 * are kept, and the integer sums are exact whatever the algorithm.
 */
static void test_topk_exact(gcomp_codec_t codec, size_t n)
{
    int f0 = check_failures;
    float *in = calloc(n + 1, sizeof(float)), *out = malloc((n + 1) * sizeof(float));
    double *exact = calloc(n + 1, sizeof(double));
    for (int r = 0; r < world_size; r++) {
        size_t c = (size_t)(r * 37) % 128;
        for (size_t i = c; i < n; i += 128) {
            float v = (float)((long)((i * 31 + (size_t)r * 7) % 2001) - 1000);
            if (v == 0.0f) v = 1.0f;
            exact[i] += v;
            if (r == world_rank) in[i] = v;
        }
    }
    gcomp_residual_t *res;
    gcomp_residual_create(&res);
    gcomp_codec_params_t p = params_for(codec);
    p.topk_ratio = 0.01f;
    p.topk_select = GCOMP_TOPK_EXACT;
    p.topk_values = GCOMP_VALUES_FP32;
    gcomp_status_t st = gcomp_allreduce(world_ctx, in, out, n, MPI_FLOAT, MPI_SUM, res, &p);
    CHECK(st == GCOMP_OK, "topk n=%zu: %s", n, gcomp_status_string(st));
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) bad += out[i] != (float)exact[i];
    CHECK(bad == 0, "topk exact n=%zu: %zu elements differ", n, bad);
    CHECK(identical_across(MPI_COMM_WORLD, out, n * sizeof(float)), "topk n=%zu: ranks differ", n);
    gcomp_residual_destroy(res);
    free(in);
    free(out);
    free(exact);
    char name[96];
    snprintf(name, sizeof(name), "%s exact (k non-zeros), n=%zu", gcomp_codec_name(codec), n);
    case_line(name, f0);
}

/*
 * q8 with two-level error feedback over repeated calls. The running sum of outputs differs from the
 * running sum of exact sums by what the residuals hold at the end (sum over ranks of e_r, plus the
 * owner's level-2 residual) plus fp32 rounding per call. A q8 rounding is off by at most
 * c * absmax with c = 1/127 + 2^-20 (test_q8.c), so with |inputs| <= 1:
 *     |e_r| <= c (1 + |e_r|)             ->  e1 = c / (1 - c)
 *     |l2|  <= c (P (1 + e1) + |l2|)     ->  e2 = c P (1 + e1) / (1 - c)
 *     |error| <= P e1 + e2 + calls * (P^2 + 3P) * 2^-23
 * It does not grow with the number of calls. Without error feedback the same error is a random
 * walk that passes the bound: checked too, so this test can tell the two apart.
 */
static double q8_ef_bound(double P, int calls)
{
    double c = 1.0 / 127 + 0x1p-20, e1 = c / (1 - c), e2 = c * P * (1 + e1) / (1 - c);
    return P * e1 + e2 + calls * (P * P + 3 * P) * 0x1p-23;
}

static double q8_running_error(int use_ef, int calls, size_t n)
{
    float *in = malloc(n * sizeof(float)), *out = malloc(n * sizeof(float));
    double *run_out = calloc(n, sizeof(double)), *run_exact = calloc(n, sizeof(double));
    double *local = malloc(n * sizeof(double)), *exact = malloc(n * sizeof(double));
    gcomp_residual_t *res = NULL;
    if (use_ef) gcomp_residual_create(&res);
    gcomp_codec_params_t p = params_for(GCOMP_CODEC_Q8);
    test_rng_t r = {77 + (uint64_t)world_rank};
    double P = world_size, worst = 0;
    for (int t = 0; t < calls; t++) {
        for (size_t i = 0; i < n; i++) in[i] = (float)(2 * test_rng_uniform(&r) - 1), local[i] = in[i];
        gcomp_status_t st = gcomp_allreduce(world_ctx, in, out, n, MPI_FLOAT, MPI_SUM, res, &p);
        CHECK(st == GCOMP_OK, "q8 call %d: %s", t, gcomp_status_string(st));
        PMPI_Allreduce(local, exact, (int)n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
        double bound = q8_ef_bound(P, t + 1);
        double err = 0;
        for (size_t i = 0; i < n; i++) {
            run_out[i] += out[i];
            run_exact[i] += exact[i];
            err = fmax(err, fabs(run_out[i] - run_exact[i]));
        }
        if (use_ef) CHECK(err <= bound, "q8 with EF, call %d: running error %.4g above the bound %.4g", t, err, bound);
        worst = err;
    }
    gcomp_residual_destroy(res);
    free(in), free(out), free(run_out), free(run_exact), free(local), free(exact);
    return worst;
}

static void test_q8_ef_bound(void)
{
    int f0 = check_failures;
    const int calls = 40;
    const size_t n = 5000;
    double bound = q8_ef_bound(world_size, calls);
    double with_ef = q8_running_error(1, calls, n);
    double without = q8_running_error(0, calls, n);
    if (world_rank == 0)
        printf("  running error after %d calls: %.4f with error feedback, %.4f without (bound %.4f)\n", calls,
               with_ef, without, bound);
    CHECK(without > bound, "without error feedback the running error %.4g stays below %.4g: the bound test "
          "would not notice lost residuals", without, bound);
    case_line("q8 error feedback: running error bounded over 40 calls", f0);
}

/* Every codec, both algorithms where there are two, gives the same bytes on every rank. */
static void test_identical(gcomp_codec_t codec, size_t n, gcomp_rounding_t rounding)
{
    int f0 = check_failures;
    float *in = malloc((n + 1) * sizeof(float)), *out = malloc((n + 1) * sizeof(float));
    gcomp_residual_t *res;
    gcomp_residual_create(&res);
    gcomp_codec_params_t p = params_for(codec);
    p.rounding = rounding;
    p.topk_ratio = 0.05f;
    for (int call = 0; call < 2; call++) {
        fill_heavy(in, n, (uint64_t)(world_rank * 10 + call));
        gcomp_status_t st = gcomp_allreduce(world_ctx, in, out, n, MPI_FLOAT, MPI_SUM, res, &p);
        CHECK(st == GCOMP_OK, "%s n=%zu: %s", gcomp_codec_name(codec), n, gcomp_status_string(st));
        CHECK(identical_across(MPI_COMM_WORLD, out, n * sizeof(float)), "%s n=%zu: output differs across ranks",
              gcomp_codec_name(codec), n);
    }
    gcomp_residual_destroy(res);
    free(in);
    free(out);
    char name[96];
    snprintf(name, sizeof(name), "%s%s bit-identical on every rank, n=%zu", gcomp_codec_name(codec),
             codec == GCOMP_CODEC_Q8 ? (rounding == GCOMP_ROUND_NEAREST ? " nearest" : " stochastic") : "", n);
    case_line(name, f0);
}

/* The pipeline depth (GCOMP_PIPELINE_DEPTH) changes only how many stages are in flight, never the
 * bytes: two calls through each algorithm give the same outputs and residuals with depth 2, 8, and
 * a depth that differs between ranks (which also checks that frames of stages in flight together
 * never match each other's receives). */
static void test_depth_invariant(gcomp_codec_t codec, gcomp_algo_t algo, size_t n)
{
    int f0 = check_failures;
    float *in = malloc(n * sizeof(float)), *out = malloc(n * sizeof(float)), *ref = malloc(n * sizeof(float));
    const float *ref_res = NULL;
    float *ref_l1 = malloc(n * sizeof(float));
    const char *depths[3] = {"2", "8", world_rank % 2 == 0 ? "2" : "7"};
    for (int d = 0; d < 3; d++) {
        set_env("GCOMP_PIPELINE_DEPTH", depths[d]);
        /* A context of its own: stochastic rounding is keyed by the call's sequence number. */
        gcomp_comm_t *ctx;
        gcomp_status_t created = gcomp_comm_create(MPI_COMM_WORLD, &ctx);
        REQUIRE(created == GCOMP_OK, "context: %s", gcomp_status_string(created));
        gcomp_residual_t *res;
        gcomp_residual_create(&res);
        gcomp_codec_params_t p = params_for(codec);
        p.topk_ratio = 0.05f;
        for (int call = 0; call < 2; call++) {
            fill_heavy(in, n, 700 + (uint64_t)(world_rank * 10 + call));
            gcomp_status_t st = gcomp_allreduce_algo(ctx, in, out, n, MPI_FLOAT, MPI_SUM, res, &p, algo);
            CHECK(st == GCOMP_OK, "%s depth %s: %s", gcomp_codec_name(codec), depths[d], gcomp_status_string(st));
        }
        size_t k1;
        const float *l1 = gcomp_residual_view(res, 1, &k1);
        CHECK(l1 != NULL && k1 == n, "%s depth %s: residual of %zu values", gcomp_codec_name(codec), depths[d], k1);
        if (d == 0) {
            memcpy(ref, out, n * sizeof(float));
            if (l1 != NULL && k1 == n) memcpy(ref_l1, l1, n * sizeof(float)), ref_res = ref_l1;
        } else {
            CHECK(memcmp(ref, out, n * sizeof(float)) == 0, "%s %s: depth %s gives other output than depth 2",
                  gcomp_codec_name(codec), gcomp_algo_name(algo), depths[d]);
            CHECK(ref_res != NULL && l1 != NULL && k1 == n && memcmp(ref_res, l1, n * sizeof(float)) == 0,
                  "%s %s: depth %s leaves another residual than depth 2", gcomp_codec_name(codec),
                  gcomp_algo_name(algo), depths[d]);
        }
        CHECK(identical_across(MPI_COMM_WORLD, out, n * sizeof(float)), "%s depth %s: output differs across ranks",
              gcomp_codec_name(codec), depths[d]);
        gcomp_residual_destroy(res);
        gcomp_comm_destroy(ctx);
    }
    set_env("GCOMP_PIPELINE_DEPTH", NULL);
    free(in), free(out), free(ref), free(ref_l1);
    char name[96];
    snprintf(name, sizeof(name), "%s %s: same bytes with pipeline depth 2, 8 and mixed", gcomp_codec_name(codec),
             gcomp_algo_name(algo));
    case_line(name, f0);
}

/* In place equals out of place (nearest rounding: no dependence on the call number). */
static void test_in_place_q8(size_t n)
{
    int f0 = check_failures;
    float *in = malloc(n * sizeof(float)), *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float));
    fill_heavy(in, n, 500 + (uint64_t)world_rank);
    gcomp_codec_params_t p = params_for(GCOMP_CODEC_Q8);
    p.rounding = GCOMP_ROUND_NEAREST;
    gcomp_status_t st = gcomp_allreduce(world_ctx, in, a, n, MPI_FLOAT, MPI_SUM, NULL, &p);
    memcpy(b, in, n * sizeof(float));
    gcomp_status_t st2 = gcomp_allreduce(world_ctx, MPI_IN_PLACE, b, n, MPI_FLOAT, MPI_SUM, NULL, &p);
    CHECK(st == GCOMP_OK && st2 == GCOMP_OK, "q8 in place: %s / %s", gcomp_status_string(st), gcomp_status_string(st2));
    CHECK(memcmp(a, b, n * sizeof(float)) == 0, "q8 n=%zu: MPI_IN_PLACE gives other bytes than out of place", n);
    free(in), free(a), free(b);
    case_line("q8 MPI_IN_PLACE equals out of place", f0);
}

/* MPI_DOUBLE and the MPI's fp16 type: summed in fp32, written back in their type. */
static void test_other_types(size_t n)
{
    int f0 = check_failures;
    double *din = malloc(n * sizeof(double)), *dout = malloc(n * sizeof(double));
    for (size_t i = 0; i < n; i++) din[i] = int_value(i, world_rank);
    gcomp_codec_params_t p = params_for(GCOMP_CODEC_NONE);
    gcomp_status_t st = gcomp_allreduce(world_ctx, din, dout, n, MPI_DOUBLE, MPI_SUM, NULL, &p);
    CHECK(st == GCOMP_OK, "double none: %s", gcomp_status_string(st));
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) bad += dout[i] != int_sum(i, world_size);
    CHECK(bad == 0, "double none: %zu elements differ from the exact sum", bad);
    /* q8 on doubles: within the q8 bound of the exact sum, in place. */
    for (size_t i = 0; i < n; i++) din[i] = sin(0.01 * (double)i + world_rank), dout[i] = din[i];
    p = params_for(GCOMP_CODEC_Q8);
    st = gcomp_allreduce(world_ctx, MPI_IN_PLACE, dout, n, MPI_DOUBLE, MPI_SUM, NULL, &p);
    CHECK(st == GCOMP_OK, "double q8: %s", gcomp_status_string(st));
    double err = 0;
    for (size_t i = 0; i < n; i++) {
        double s = 0;
        for (int r = 0; r < world_size; r++) s += sin(0.01 * (double)i + r);
        err = fmax(err, fabs(dout[i] - s));
    }
    /* Each contribution within 1/127 (|x| <= 1), the sum's re-encoding within P/127. */
    CHECK(err <= 2.0 * world_size / 127 * 1.01, "double q8: error %.4g", err);
    CHECK(identical_across(MPI_COMM_WORLD, dout, n * sizeof(double)), "double q8: ranks differ");
    free(din), free(dout);
#ifdef MPIX_C_FLOAT16
    uint16_t *hin = malloc(n * 2), *hout = malloc(n * 2);
    for (size_t i = 0; i < n; i++) hin[i] = gcomp_f32_to_f16(int_value(i, world_rank));
    p = params_for(GCOMP_CODEC_NONE);
    st = gcomp_allreduce(world_ctx, hin, hout, n, MPIX_C_FLOAT16, MPI_SUM, NULL, &p);
    CHECK(st == GCOMP_OK, "fp16 none: %s", gcomp_status_string(st));
    bad = 0;
    for (size_t i = 0; i < n; i++) bad += gcomp_f16_to_f32(hout[i]) != (float)int_sum(i, world_size);
    CHECK(bad == 0, "fp16 none: %zu elements differ from the exact sum", bad);
    p = params_for(GCOMP_CODEC_Q8);
    st = gcomp_allreduce(world_ctx, hin, hout, n, MPIX_C_FLOAT16, MPI_SUM, NULL, &p);
    CHECK(st == GCOMP_OK, "fp16 q8: %s", gcomp_status_string(st));
    CHECK(identical_across(MPI_COMM_WORLD, hout, n * 2), "fp16 q8: ranks differ");
    free(hin), free(hout);
    case_line("MPI_DOUBLE and MPIX_C_FLOAT16", f0);
#else
    case_line("MPI_DOUBLE (this MPI has no fp16 type)", f0);
#endif
}

/* Sub-communicators: ranks reversed, and split by parity (which makes one-rank groups at P=2). */
static void test_split_comms(void)
{
    int f0 = check_failures;
    MPI_Comm rev, par;
    MPI_Comm_split(MPI_COMM_WORLD, 0, world_size - world_rank, &rev);
    MPI_Comm_split(MPI_COMM_WORLD, world_rank % 2, world_rank, &par);
    MPI_Comm comms[2] = {rev, par};
    for (int c = 0; c < 2; c++) {
        gcomp_comm_t *ctx;
        gcomp_status_t st = gcomp_comm_create(comms[c], &ctx);
        REQUIRE(st == GCOMP_OK, "context on a split communicator: %s", gcomp_status_string(st));
        int sub_rank;
        MPI_Comm_rank(comms[c], &sub_rank);
        CHECK(c != 0 || sub_rank == world_size - 1 - world_rank, "reversed rank %d", sub_rank);
        test_none_exact(ctx, comms[c], 1000, 0);
        size_t n = 3000;
        float *in = malloc(n * sizeof(float)), *out = malloc(n * sizeof(float));
        fill_heavy(in, n, 900 + (uint64_t)world_rank);
        gcomp_codec_params_t p = params_for(GCOMP_CODEC_Q8);
        st = gcomp_allreduce(ctx, in, out, n, MPI_FLOAT, MPI_SUM, NULL, &p);
        CHECK(st == GCOMP_OK, "q8 on a split communicator: %s", gcomp_status_string(st));
        CHECK(identical_across(comms[c], out, n * sizeof(float)), "q8 on a split communicator: ranks differ");
        free(in), free(out);
        gcomp_comm_destroy(ctx);
    }
    MPI_Comm_free(&rev);
    MPI_Comm_free(&par);
    case_line("reversed and split communicators", f0);
}

/* Non-finite inputs: non-finite exactly where MPI_Allreduce's sum is, with its sign; finite
 * elsewhere; residuals stay finite. */
static void test_nonfinite(gcomp_codec_t codec, gcomp_algo_t algo)
{
    int f0 = check_failures;
    const size_t n = 1000;
    int last = world_size - 1;
    float *in = malloc(n * sizeof(float)), *out = malloc(n * sizeof(float)), *ref = malloc(n * sizeof(float));
    gcomp_residual_t *res;
    gcomp_residual_create(&res);
    gcomp_codec_params_t p = params_for(codec);
    p.topk_ratio = 0.1f;
    for (int call = 0; call < 2; call++) {
        fill_heavy(in, n, 1300 + (uint64_t)world_rank);
        if (world_rank == 0) in[10] = NAN, in[20] = INFINITY, in[30] = -INFINITY, in[40] = INFINITY, in[60] = -INFINITY;
        if (world_rank == last) in[40] = -INFINITY, in[50] = INFINITY, in[60] = -INFINITY, in[999] = NAN;
        PMPI_Allreduce(in, ref, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        gcomp_status_t st = gcomp_allreduce_algo(world_ctx, in, out, n, MPI_FLOAT, MPI_SUM, res, &p, algo);
        CHECK(st == GCOMP_OK, "%s with NaN/Inf: %s", gcomp_codec_name(codec), gcomp_status_string(st));
        size_t bad = 0, nonfinite = 0;
        for (size_t i = 0; i < n; i++) {
            int ok = isnan(ref[i]) ? isnan(out[i]) != 0
                   : isinf(ref[i]) ? (isinf(out[i]) && signbit(out[i]) == signbit(ref[i]))
                   : isfinite(out[i]) != 0;
            nonfinite += !isfinite(ref[i]);
            if (!ok && bad++ < 3)
                fprintf(stderr, "rank %d: %s element %zu: %g where MPI_Allreduce gives %g\n", world_rank,
                        gcomp_codec_name(codec), i, (double)out[i], (double)ref[i]);
        }
        CHECK(bad == 0, "%s: %zu elements non-finite unlike MPI_Allreduce", gcomp_codec_name(codec), bad);
        CHECK(nonfinite >= 6, "the reference has only %zu non-finite elements", nonfinite);
        CHECK(residual_finite(res), "%s: a residual holds a non-finite value", gcomp_codec_name(codec));
        CHECK(identical_across(MPI_COMM_WORLD, out, n * sizeof(float)), "%s with NaN/Inf: ranks differ",
              gcomp_codec_name(codec));
    }
    gcomp_residual_destroy(res);
    free(in), free(out), free(ref);
    char name[96];
    snprintf(name, sizeof(name), "NaN/Inf like MPI_Allreduce: %s (%s)", gcomp_codec_name(codec),
             algo == GCOMP_ALGO_AUTO ? "auto" : gcomp_algo_name(algo));
    case_line(name, f0);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world_size);
    /* Small stages, so that 1 << 20 elements run through a 64-stage pipeline. */
    set_env("GCOMP_PIPELINE_BYTES", "64K");
    set_env("GCOMP_ALGO", NULL);
    /* REQUIRE evaluates its condition twice: never a call inside it. */
    gcomp_status_t created = gcomp_comm_create(MPI_COMM_WORLD, &world_ctx);
    REQUIRE(created == GCOMP_OK, "context: %s", gcomp_status_string(created));
    size_t P = (size_t)world_size;
    size_t counts[] = {0, 1, P - 1, P + 1, 1000, 1u << 20};

    for (size_t c = 0; c < GCOMP_ARRAY_SIZE(counts); c++) test_none_exact(world_ctx, MPI_COMM_WORLD, counts[c], 0);
    test_none_exact(world_ctx, MPI_COMM_WORLD, 1000, 1);
    for (size_t c = 1; c < GCOMP_ARRAY_SIZE(counts); c++) {
        test_q8_exact(counts[c], GCOMP_ROUND_NEAREST);
    }
    test_topk_exact(GCOMP_CODEC_TOPK, 1000);
    test_topk_exact(GCOMP_CODEC_TOPK, 1u << 20);
    test_q8_ef_bound();
    gcomp_codec_t codecs[] = {GCOMP_CODEC_NONE, GCOMP_CODEC_Q8, GCOMP_CODEC_TOPK, GCOMP_CODEC_TOPK_Q8};
    for (size_t c = 0; c < GCOMP_ARRAY_SIZE(codecs); c++) {
        test_identical(codecs[c], 1000, GCOMP_ROUND_STOCHASTIC);
        test_identical(codecs[c], 1u << 20, GCOMP_ROUND_STOCHASTIC);
    }
    test_identical(GCOMP_CODEC_Q8, 12345, GCOMP_ROUND_NEAREST);
    test_depth_invariant(GCOMP_CODEC_Q8, GCOMP_ALGO_SRA, 1u << 20);
    test_depth_invariant(GCOMP_CODEC_TOPK, GCOMP_ALGO_ALLGATHER, 1u << 20);
    test_depth_invariant(GCOMP_CODEC_TOPK_Q8, GCOMP_ALGO_SPARSE_RS, 1u << 20);
    test_in_place_q8(100000);
    test_other_types(10000);
    test_split_comms();
    test_nonfinite(GCOMP_CODEC_NONE, GCOMP_ALGO_AUTO);
    test_nonfinite(GCOMP_CODEC_Q8, GCOMP_ALGO_AUTO);
    test_nonfinite(GCOMP_CODEC_TOPK, GCOMP_ALGO_ALLGATHER);
    test_nonfinite(GCOMP_CODEC_TOPK, GCOMP_ALGO_SPARSE_RS);
    test_nonfinite(GCOMP_CODEC_TOPK_Q8, GCOMP_ALGO_ALLGATHER);
    test_nonfinite(GCOMP_CODEC_TOPK_Q8, GCOMP_ALGO_SPARSE_RS);

    gcomp_comm_destroy(world_ctx);
    int rc = check_finish("test_allreduce");
    MPI_Finalize();
    return rc;
}
