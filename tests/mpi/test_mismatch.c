/*
 * Ranks that disagree about a call get GCOMP_ERR_MISMATCH on every rank (different counts, both
 * large; different codecs; error feedback on some ranks only), a rank with invalid parameters
 * stops the call on every rank with its status, and the context stays usable after all of these.
 * A rank that does not call at all costs the others GCOMP_TIMEOUT_S (2 s here) and a
 * GCOMP_ERR_TIMEOUT, after which their context fails fast with that status. (A rank that stops
 * after the call agreement, and damaged frames: test_faults.c.)
 */
#include "coll_util.h"

static void case_line(const char *name, int failures_before)
{
    int failed = check_failures > failures_before, any = 0;
    PMPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_LOR, MPI_COMM_WORLD);
    if (world_rank == 0) printf("%-60s %s\n", name, any ? "FAIL" : "ok");
}

/* One call with per-rank arguments; every rank must get want. */
static void expect_all(gcomp_comm_t *ctx, size_t n, const gcomp_codec_params_t *p, gcomp_residual_t *res,
                       gcomp_status_t want, const char *what)
{
    float *x = calloc(n + 1, sizeof(float)), *y = malloc((n + 1) * sizeof(float));
    for (size_t i = 0; i < n; i++) x[i] = (float)(i % 17);
    gcomp_status_t st = gcomp_allreduce(ctx, x, y, n, MPI_FLOAT, MPI_SUM, res, p);
    CHECK(st == want, "%s: rank %d got %s, expected %s", what, world_rank, gcomp_status_string(st),
          gcomp_status_string(want));
    free(x), free(y);
}

static void check_usable(gcomp_comm_t *ctx)
{
    gcomp_codec_params_t p = params_for(GCOMP_CODEC_NONE);
    float x[100], y[100];
    for (int i = 0; i < 100; i++) x[i] = (float)i;
    gcomp_status_t st = gcomp_allreduce(ctx, x, y, 100, MPI_FLOAT, MPI_SUM, NULL, &p);
    CHECK(st == GCOMP_OK && y[99] == 99.0f * (float)world_size, "the context after a mismatch: %s",
          gcomp_status_string(st));
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world_size);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    set_env("GCOMP_TIMEOUT_S", "2");
    set_env("GCOMP_ALGO", NULL);
    gcomp_comm_t *ctx;
    gcomp_status_t created = gcomp_comm_create(MPI_COMM_WORLD, &ctx);
    REQUIRE(created == GCOMP_OK, "context: %s", gcomp_status_string(created));
    int last = world_size - 1;

    int f0 = check_failures;
    gcomp_codec_params_t q8 = params_for(GCOMP_CODEC_Q8);
    expect_all(ctx, world_rank == last ? (1u << 20) + 64 : 1u << 20, &q8, NULL, GCOMP_ERR_MISMATCH, "counts");
    check_usable(ctx);
    case_line("different counts (1M and 1M + 64): mismatch on every rank", f0);

    f0 = check_failures;
    gcomp_codec_params_t mine = params_for(world_rank == 0 ? GCOMP_CODEC_NONE : GCOMP_CODEC_Q8);
    expect_all(ctx, 100000, &mine, NULL, GCOMP_ERR_MISMATCH, "codecs");
    gcomp_codec_params_t topk = params_for(GCOMP_CODEC_TOPK);
    if (world_rank == last) topk.topk_ratio = 0.02f;
    expect_all(ctx, 100000, &topk, NULL, GCOMP_ERR_MISMATCH, "top-k ratios");
    check_usable(ctx);
    case_line("different codecs and top-k ratios: mismatch on every rank", f0);

    f0 = check_failures;
    {
        /* Same count, different element types: fp32 on every rank but the last, fp64 there. */
        size_t n = 1u << 16;
        double *x = calloc(n, sizeof(double)), *y = malloc(n * sizeof(double));
        MPI_Datatype type = world_rank == last ? MPI_DOUBLE : MPI_FLOAT;
        gcomp_status_t st = gcomp_allreduce(ctx, x, y, n, type, MPI_SUM, NULL, &q8);
        CHECK(st == GCOMP_ERR_MISMATCH, "datatypes: rank %d got %s", world_rank, gcomp_status_string(st));
        free(x), free(y);
    }
    check_usable(ctx);
    case_line("different datatypes (fp32 and fp64): mismatch on every rank", f0);

    f0 = check_failures;
    gcomp_codec_params_t conf = q8;
    if (world_rank == last) conf.q8_bucket = q8.q8_bucket * 2;
    expect_all(ctx, 100000, &conf, NULL, GCOMP_ERR_MISMATCH, "q8 buckets");
    conf = q8;
    if (world_rank == 0) conf.rounding = conf.rounding == GCOMP_ROUND_NEAREST ? GCOMP_ROUND_STOCHASTIC
                                                                              : GCOMP_ROUND_NEAREST;
    expect_all(ctx, 100000, &conf, NULL, GCOMP_ERR_MISMATCH, "rounding");
    conf = q8;
    if (world_rank == last) conf.checksum = 0;
    expect_all(ctx, 100000, &conf, NULL, GCOMP_ERR_MISMATCH, "checksums");
    conf = q8;
    if (world_rank == last) conf.seed ^= 1;
    expect_all(ctx, 100000, &conf, NULL, GCOMP_ERR_MISMATCH, "seeds");
    check_usable(ctx);
    case_line("different configuration (bucket, rounding, checksum, seed): mismatch", f0);

    f0 = check_failures;
    gcomp_residual_t *res;
    gcomp_residual_create(&res);
    expect_all(ctx, 50000, &q8, world_rank == 0 ? res : NULL, GCOMP_ERR_MISMATCH, "error feedback");
    size_t len;
    gcomp_residual_view(res, 1, &len);
    CHECK(len == 0, "a failed call left a residual of %zu values", len);
    gcomp_residual_destroy(res);
    check_usable(ctx);
    case_line("error feedback on one rank only: mismatch on every rank", f0);

    f0 = check_failures;
    gcomp_codec_params_t bad = q8;
    if (world_rank == last) bad.q8_bucket = 0;
    expect_all(ctx, 50000, &bad, NULL, GCOMP_ERR_CONFIG, "invalid bucket on one rank");
    check_usable(ctx);
    case_line("invalid parameters on one rank: its status on every rank", f0);

    /* Rank 0 stays away; the others wait GCOMP_TIMEOUT_S, then fail fast. */
    f0 = check_failures;
    if (world_rank != 0) {
        expect_all(ctx, 10000, &q8, NULL, GCOMP_ERR_TIMEOUT, "a rank that does not call");
        CHECK(ctx->failed == GCOMP_ERR_TIMEOUT, "the context is not marked failed");
        expect_all(ctx, 10000, &q8, NULL, GCOMP_ERR_TIMEOUT, "the call after a timeout");
        gcomp_stats_t s;
        gcomp_comm_stats(ctx, &s);
        CHECK(s.errors >= 2, "errors counted: %llu", (unsigned long long)s.errors);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    case_line("a rank that does not call: timeout, then the context fails fast", f0);
    gcomp_comm_destroy(ctx);

    /* A new context works again. */
    f0 = check_failures;
    created = gcomp_comm_create(MPI_COMM_WORLD, &ctx);
    REQUIRE(created == GCOMP_OK, "context: %s", gcomp_status_string(created));
    check_usable(ctx);
    gcomp_comm_destroy(ctx);
    case_line("a new context after a failed one", f0);

    int rc = check_finish("test_mismatch");
    MPI_Finalize();
    return rc;
}
