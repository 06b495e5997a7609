/*
 * The communicator API around the algorithms: contexts on dup and split communicators and the
 * arguments they refuse, residual handles (reset on a layout change, kept otherwise, restored
 * exactly after a failed call), a corrupted frame on one rank failing the call on every rank, the
 * counters, passthrough of what is not compressed, and many create/destroy cycles (run this program
 * under valgrind --leak-check=full to see that they leak nothing).
 */
#include "coll_util.h"

static void case_line(const char *name, int failures_before)
{
    int failed = check_failures > failures_before, any = 0;
    PMPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_LOR, MPI_COMM_WORLD);
    if (world_rank == 0) printf("%-60s %s\n", name, any ? "FAIL" : "ok");
}

static void test_contexts(void)
{
    int f0 = check_failures;
    gcomp_comm_t *ctx = NULL;
    CHECK(gcomp_comm_create(MPI_COMM_NULL, &ctx) == GCOMP_ERR_INVALID && ctx == NULL, "MPI_COMM_NULL accepted");
    CHECK(gcomp_comm_create(MPI_COMM_WORLD, NULL) == GCOMP_ERR_INVALID, "NULL output accepted");
    gcomp_comm_destroy(NULL);

    /* Two halves joined by an intercommunicator. */
    MPI_Comm half, inter;
    int color = world_rank < world_size / 2;
    MPI_Comm_split(MPI_COMM_WORLD, color, world_rank, &half);
    MPI_Intercomm_create(half, 0, MPI_COMM_WORLD, color ? world_size / 2 : 0, 7, &inter);
    CHECK(gcomp_comm_create(inter, &ctx) == GCOMP_ERR_INVALID && ctx == NULL, "intercommunicator accepted");
    MPI_Comm_free(&inter);

    MPI_Comm dup;
    MPI_Comm_dup(MPI_COMM_WORLD, &dup);
    MPI_Comm comms[2] = {dup, half};
    for (int c = 0; c < 2; c++) {
        gcomp_status_t st = gcomp_comm_create(comms[c], &ctx);
        CHECK(st == GCOMP_OK, "create: %s", gcomp_status_string(st));
        if (st != GCOMP_OK) continue;
        int size;
        MPI_Comm_size(comms[c], &size);
        CHECK(ctx->size == size, "context size %d, communicator %d", ctx->size, size);
        /* The identifier is the same on every rank of the communicator. */
        CHECK(identical_across(comms[c], &ctx->comm_id, sizeof(ctx->comm_id)), "comm_id differs across ranks");
        float x[5] = {1, 2, 3, 4, 5}, y[5];
        gcomp_codec_params_t p = params_for(GCOMP_CODEC_NONE);
        st = gcomp_allreduce(ctx, x, y, 5, MPI_FLOAT, MPI_SUM, NULL, &p);
        CHECK(st == GCOMP_OK && y[4] == 5.0f * (float)size, "allreduce on the context: %s, %g",
              gcomp_status_string(st), (double)y[4]);
        gcomp_comm_destroy(ctx);
    }
    MPI_Comm_free(&dup);
    MPI_Comm_free(&half);
    case_line("contexts: dup, split; NULL and intercommunicator refused", f0);
}

static void residual_copy(const gcomp_residual_t *r, float **l1_p, size_t *len1_p, float **l2_p, size_t *len2_p)
{
    const float *l1 = gcomp_residual_view(r, 1, len1_p), *l2 = gcomp_residual_view(r, 2, len2_p);
    *l1_p = malloc(*len1_p * sizeof(float) + 1);
    *l2_p = malloc(*len2_p * sizeof(float) + 1);
    if (*len1_p) memcpy(*l1_p, l1, *len1_p * sizeof(float));
    if (*len2_p) memcpy(*l2_p, l2, *len2_p * sizeof(float));
}

static int residual_equal(const gcomp_residual_t *a, const gcomp_residual_t *b)
{
    size_t la1, la2, lb1, lb2;
    const float *a1 = gcomp_residual_view(a, 1, &la1), *a2 = gcomp_residual_view(a, 2, &la2);
    const float *b1 = gcomp_residual_view(b, 1, &lb1), *b2 = gcomp_residual_view(b, 2, &lb2);
    return la1 == lb1 && la2 == lb2 && (la1 == 0 || memcmp(a1, b1, la1 * 4) == 0) &&
           (la2 == 0 || memcmp(a2, b2, la2 * 4) == 0);
}

/* Nearest rounding makes a call a pure function of (inputs, residual), so residual states can be
 * compared through outputs and contents. */
static void test_residuals(gcomp_comm_t *ctx)
{
    int f0 = check_failures;
    const size_t n = 3000, m = 2000;
    float *x = malloc(n * sizeof(float)), *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float));
    fill_heavy(x, n, 11 + (uint64_t)world_rank);
    gcomp_codec_params_t p = params_for(GCOMP_CODEC_Q8);
    p.rounding = GCOMP_ROUND_NEAREST;
    gcomp_residual_t *ra, *rb;
    gcomp_residual_create(&ra);
    gcomp_residual_create(&rb);
    CHECK(gcomp_residual_bytes(ra) < 1024, "empty residual holds %zu bytes", gcomp_residual_bytes(ra));

    CHECK(gcomp_allreduce(ctx, x, a, n, MPI_FLOAT, MPI_SUM, ra, &p) == GCOMP_OK, "first call");
    size_t len;
    gcomp_residual_view(ra, 1, &len);
    CHECK(len == n && gcomp_residual_bytes(ra) >= n * sizeof(float), "residual of %zu values, %zu bytes", len,
          gcomp_residual_bytes(ra));
    /* Same layout: the residual carries over, so the same input gives another output. */
    CHECK(gcomp_allreduce(ctx, x, b, n, MPI_FLOAT, MPI_SUM, ra, &p) == GCOMP_OK, "second call");
    CHECK(memcmp(a, b, n * sizeof(float)) != 0, "error feedback changed nothing on the second call");

    /* Count change: reset, so a used residual acts like a fresh one. */
    CHECK(gcomp_allreduce(ctx, x, a, m, MPI_FLOAT, MPI_SUM, ra, &p) == GCOMP_OK, "count change");
    CHECK(gcomp_allreduce(ctx, x, b, m, MPI_FLOAT, MPI_SUM, rb, &p) == GCOMP_OK, "fresh residual");
    gcomp_residual_view(ra, 1, &len);
    CHECK(len == m, "residual of %zu values after a change to %zu", len, m);
    CHECK(memcmp(a, b, m * sizeof(float)) == 0 && residual_equal(ra, rb),
          "after a count change the residual was not reset");

    /* gcomp_residual_reset: the same. */
    CHECK(gcomp_allreduce(ctx, x, a, m, MPI_FLOAT, MPI_SUM, ra, &p) == GCOMP_OK, "call");
    gcomp_residual_reset(ra);
    gcomp_residual_t *rc;
    gcomp_residual_create(&rc);
    CHECK(gcomp_allreduce(ctx, x, a, m, MPI_FLOAT, MPI_SUM, ra, &p) == GCOMP_OK, "after reset");
    CHECK(gcomp_allreduce(ctx, x, b, m, MPI_FLOAT, MPI_SUM, rc, &p) == GCOMP_OK, "fresh");
    CHECK(memcmp(a, b, m * sizeof(float)) == 0 && residual_equal(ra, rc), "gcomp_residual_reset did not reset");
    gcomp_residual_destroy(rc);

    /* A failed call leaves the residual as it was: a mismatch (rank 0 changes layout, the others do
     * not), then a frame corrupted on the wire by one rank (found by its receiver's checksum). */
    float *l1, *l2;
    size_t n1, n2;
    residual_copy(ra, &l1, &n1, &l2, &n2);
    size_t bad_count = world_rank == 0 ? m + 64 : m;
    gcomp_status_t st = gcomp_allreduce(ctx, x, a, bad_count, MPI_FLOAT, MPI_SUM, ra, &p);
    CHECK(st == GCOMP_ERR_MISMATCH, "mismatched counts gave %s", gcomp_status_string(st));
    size_t k1, k2;
    const float *v1 = gcomp_residual_view(ra, 1, &k1), *v2 = gcomp_residual_view(ra, 2, &k2);
    CHECK(k1 == n1 && k2 == n2 && memcmp(v1, l1, n1 * 4) == 0 && (n2 == 0 || memcmp(v2, l2, n2 * 4) == 0),
          "a mismatch changed the residual");
    if (world_rank == world_size - 1) ctx->fault_seq = (int64_t)ctx->seq;
    uint64_t errors_before = ctx->stats.errors;
    st = gcomp_allreduce(ctx, x, a, m, MPI_FLOAT, MPI_SUM, ra, &p);
    CHECK(st == GCOMP_ERR_CHECKSUM, "a corrupted frame gave %s on rank %d", gcomp_status_string(st), world_rank);
    CHECK(ctx->stats.errors == errors_before + 1, "error not counted");
    v1 = gcomp_residual_view(ra, 1, &k1), v2 = gcomp_residual_view(ra, 2, &k2);
    CHECK(k1 == n1 && k2 == n2 && memcmp(v1, l1, n1 * 4) == 0 && (n2 == 0 || memcmp(v2, l2, n2 * 4) == 0),
          "a failed data exchange changed the residual");
    CHECK(ctx->failed == GCOMP_OK, "a checksum error failed the whole context");
    st = gcomp_allreduce(ctx, x, a, m, MPI_FLOAT, MPI_SUM, ra, &p);
    CHECK(st == GCOMP_OK, "the call after a checksum error: %s", gcomp_status_string(st));
    free(l1), free(l2);

    gcomp_residual_destroy(ra);
    gcomp_residual_destroy(rb);
    gcomp_residual_destroy(NULL);
    free(x), free(a), free(b);
    case_line("residuals: kept, reset on count change and reset, kept on error", f0);
}

/* The same over a 19-stage pipeline, q8 and topk-q8 (level-2 residual): every stage encoded after
 * the corrupted frame changes the residual too, and all of it must come back. A context of its own:
 * a context keeps GCOMP_PIPELINE_BYTES as it was when it was made. */
static void test_rollback_pipelined(void)
{
    int f0 = check_failures;
    const size_t n = 300000;
    float *x = malloc(n * sizeof(float)), *y = malloc(n * sizeof(float));
    set_env("GCOMP_PIPELINE_BYTES", "64K");
    gcomp_comm_t *ctx;
    gcomp_status_t created = gcomp_comm_create(MPI_COMM_WORLD, &ctx);
    REQUIRE(created == GCOMP_OK, "context: %s", gcomp_status_string(created));
    CHECK(gcomp_coll_stage_elems(ctx->cfg.pipeline_bytes, n) == 16384, "stages of %zu elements", gcomp_coll_stage_elems(ctx->cfg.pipeline_bytes, n));
    gcomp_codec_t codecs[2] = {GCOMP_CODEC_Q8, GCOMP_CODEC_TOPK_Q8};
    gcomp_algo_t algos[2] = {GCOMP_ALGO_SRA, GCOMP_ALGO_SPARSE_RS};
    for (int c = 0; c < 2; c++) {
        gcomp_residual_t *res;
        gcomp_residual_create(&res);
        gcomp_codec_params_t p = params_for(codecs[c]);
        p.topk_ratio = 0.3f;
        for (int call = 0; call < 2; call++) {
            fill_heavy(x, n, 40 + (uint64_t)(world_rank * 3 + call));
            gcomp_status_t st = gcomp_allreduce_algo(ctx, x, y, n, MPI_FLOAT, MPI_SUM, res, &p, algos[c]);
            CHECK(st == GCOMP_OK, "%s: %s", gcomp_codec_name(codecs[c]), gcomp_status_string(st));
        }
        float *l1, *l2;
        size_t n1, n2, k1, k2;
        residual_copy(res, &l1, &n1, &l2, &n2);
        CHECK(n1 == n && n2 > 0, "%s: residual of %zu + %zu values", gcomp_codec_name(codecs[c]), n1, n2);
        if (world_rank == 0) ctx->fault_seq = (int64_t)ctx->seq;
        gcomp_status_t st = gcomp_allreduce_algo(ctx, x, y, n, MPI_FLOAT, MPI_SUM, res, &p, algos[c]);
        CHECK(st == GCOMP_ERR_CHECKSUM, "%s: a corrupted frame gave %s", gcomp_codec_name(codecs[c]),
              gcomp_status_string(st));
        const float *v1 = gcomp_residual_view(res, 1, &k1), *v2 = gcomp_residual_view(res, 2, &k2);
        CHECK(k1 == n1 && k2 == n2 && memcmp(v1, l1, n1 * 4) == 0 && memcmp(v2, l2, n2 * 4) == 0,
              "%s: a failed pipelined call changed the residual", gcomp_codec_name(codecs[c]));
        free(l1), free(l2);
        gcomp_residual_destroy(res);
    }
    gcomp_comm_destroy(ctx);
    set_env("GCOMP_PIPELINE_BYTES", NULL);
    free(x), free(y);
    case_line("residuals restored after a failed 19-stage call (q8, topk-q8)", f0);
}

static void test_stats(gcomp_comm_t *ctx)
{
    int f0 = check_failures;
    const size_t n = 1u << 16;
    float *x = malloc(n * sizeof(float)), *y = malloc(n * sizeof(float)), *z = malloc(n * sizeof(float));
    fill_heavy(x, n, 5 + (uint64_t)world_rank);
    x[3] = NAN;
    gcomp_comm_stats_reset(ctx);
    gcomp_stats_t s;
    gcomp_comm_stats(ctx, &s);
    CHECK(s.calls == 0 && s.bytes_in == 0 && s.time_total_s == 0, "reset left counters");
    gcomp_codec_params_t p = params_for(GCOMP_CODEC_Q8);
    for (int i = 0; i < 3; i++)
        CHECK(gcomp_allreduce(ctx, x, y, n, MPI_FLOAT, MPI_SUM, NULL, &p) == GCOMP_OK, "q8 call");
    /* Passthrough: another op, another type. */
    CHECK(gcomp_allreduce(ctx, x + 4, y, 100, MPI_FLOAT, MPI_MAX, NULL, &p) == GCOMP_OK, "MPI_MAX");
    PMPI_Allreduce(x + 4, z, 100, MPI_FLOAT, MPI_MAX, MPI_COMM_WORLD);
    CHECK(memcmp(y, z, 100 * sizeof(float)) == 0, "MPI_MAX passthrough differs from PMPI_Allreduce");
    int ix[4] = {1, 2, 3, world_rank}, iy[4];
    CHECK(gcomp_allreduce(ctx, ix, iy, 4, MPI_INT, MPI_SUM, NULL, &p) == GCOMP_OK, "MPI_INT");
    CHECK(iy[0] == world_size && iy[3] == world_size * (world_size - 1) / 2, "MPI_INT passthrough sum");
    gcomp_comm_stats(ctx, &s);
    CHECK(s.calls == 3 && s.calls_dense == 2 && s.errors == 0, "calls %llu dense %llu errors %llu",
          (unsigned long long)s.calls, (unsigned long long)s.calls_dense, (unsigned long long)s.errors);
    CHECK(s.bytes_in == 3 * n * sizeof(float), "bytes_in %llu", (unsigned long long)s.bytes_in);
    CHECK(s.bytes_sent > 0 && s.bytes_sent < s.bytes_in, "q8 sent %llu of %llu bytes", (unsigned long long)s.bytes_sent,
          (unsigned long long)s.bytes_in);
    /* Every rank sends P-1 contribution frames and receives P-1, and likewise reduced frames: the
     * bytes received over all ranks are the bytes sent. */
    uint64_t mine[2] = {s.bytes_sent, s.bytes_received}, all[2];
    PMPI_Allreduce(mine, all, 2, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
    CHECK(all[0] == all[1], "bytes sent %llu, received %llu over all ranks", (unsigned long long)all[0],
          (unsigned long long)all[1]);
    CHECK(s.nonfinite >= 3, "non-finite count %llu for a NaN input in 3 calls", (unsigned long long)s.nonfinite);
    CHECK(s.time_total_s > 0 && s.time_encode_s > 0 && s.time_decode_s > 0 &&
          s.time_encode_s + s.time_decode_s + s.time_wire_s <= s.time_total_s * 1.0001 + 1e-6,
          "time split %g + %g + %g of %g", s.time_encode_s, s.time_decode_s, s.time_wire_s, s.time_total_s);
    if (world_rank == 0)
        printf("  q8, %zu floats x 3 calls on %d ranks: %llu bytes in, %llu sent (%.1f%%)\n", n, world_size,
               (unsigned long long)s.bytes_in, (unsigned long long)s.bytes_sent,
               100.0 * (double)s.bytes_sent / (double)s.bytes_in);
    free(x), free(y), free(z);
    case_line("statistics and passthrough of MPI_MAX and MPI_INT", f0);
}

static void test_cycles(void)
{
    int f0 = check_failures;
    const size_t n = 4096;
    float *x = malloc(n * sizeof(float)), *y = malloc(n * sizeof(float));
    fill_heavy(x, n, 99 + (uint64_t)world_rank);
    gcomp_codec_t codecs[] = {GCOMP_CODEC_NONE, GCOMP_CODEC_Q8, GCOMP_CODEC_TOPK, GCOMP_CODEC_TOPK_Q8};
    for (int cycle = 0; cycle < 50; cycle++) {
        gcomp_comm_t *ctx;
        gcomp_residual_t *res;
        gcomp_status_t st = gcomp_comm_create(MPI_COMM_WORLD, &ctx);
        REQUIRE(st == GCOMP_OK, "create in cycle %d: %s", cycle, gcomp_status_string(st));
        st = gcomp_residual_create(&res);
        REQUIRE(st == GCOMP_OK, "residual: %s", gcomp_status_string(st));
        gcomp_codec_params_t p = params_for(codecs[cycle % 4]);
        for (int call = 0; call < 2; call++) {
            st = gcomp_allreduce(ctx, x, y, n - (size_t)call * 100, MPI_FLOAT, MPI_SUM, res, &p);
            CHECK(st == GCOMP_OK, "cycle %d: %s", cycle, gcomp_status_string(st));
        }
        gcomp_residual_destroy(res);
        gcomp_comm_destroy(ctx);
    }
    free(x), free(y);
    case_line("50 create / call / destroy cycles", f0);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world_size);
    set_env("GCOMP_ALGO", NULL);
    test_contexts();
    gcomp_comm_t *ctx;
    gcomp_status_t created = gcomp_comm_create(MPI_COMM_WORLD, &ctx);
    REQUIRE(created == GCOMP_OK, "context: %s", gcomp_status_string(created));
    test_residuals(ctx);
    test_rollback_pipelined();
    test_stats(ctx);
    gcomp_comm_destroy(ctx);
    test_cycles();
    int rc = check_finish("test_api");
    MPI_Finalize();
    return rc;
}
