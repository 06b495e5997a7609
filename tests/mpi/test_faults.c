/*
 * Fault injection (GCOMP_FAULT, builds with -Dfault_injection=true): a flipped bit on the wire, a
 * truncated frame, a frame of the wrong call and a peer that stops sending each end the call with an
 * error on every rank, within GCOMP_TIMEOUT_S, with the residuals exactly as they were before the
 * call. The damaged frames are soft errors: the context stays usable and the next call is right. A
 * silent or vanished peer is a hard error: the context fails from then on. The log lines (the peer
 * and the reason) are checked by the meson test through preload_run.sh --expect.
 *
 * Exits 77 (skipped) in builds without fault injection.
 */
#include "coll_util.h"

#include "gcomp_config.h"

enum { N = 200000, GOOD_CALLS = 2 };
static const double timeout_s = 3.0;

typedef struct fault_case {
    const char *kind;
    gcomp_status_t others; /* what every other rank must return */
    gcomp_status_t faulty; /* what the faulty rank must return */
    int hard;              /* the context fails */
} fault_case_t;

static void case_line(const char *name, int failures_before)
{
    int failed = check_failures > failures_before, any = 0;
    PMPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_LOR, MPI_COMM_WORLD);
    if (world_rank == 0) printf("%-60s %s\n", name, any ? "FAIL" : "ok");
}

/* A copy of both levels of a residual. */
typedef struct snapshot {
    float *v[2];
    size_t len[2];
} snapshot_t;

static snapshot_t snapshot(const gcomp_residual_t *res)
{
    snapshot_t s;
    for (int level = 1; level <= 2; level++) {
        const float *v = gcomp_residual_view(res, level, &s.len[level - 1]);
        s.v[level - 1] = malloc(s.len[level - 1] * sizeof(float) + 1);
        if (s.len[level - 1]) memcpy(s.v[level - 1], v, s.len[level - 1] * sizeof(float));
    }
    return s;
}

static int snapshot_equal(const snapshot_t *s, const gcomp_residual_t *res)
{
    for (int level = 1; level <= 2; level++) {
        size_t len;
        const float *v = gcomp_residual_view(res, level, &len);
        if (len != s->len[level - 1] || (len && memcmp(v, s->v[level - 1], len * sizeof(float)) != 0)) return 0;
    }
    return 1;
}

static void run_case(const fault_case_t *fc, int faulty_rank)
{
    int f0 = check_failures;
    char spec[64];
    snprintf(spec, sizeof(spec), "%s,rank=%d,call=%d", fc->kind, faulty_rank, GOOD_CALLS);
    set_env("GCOMP_FAULT", spec);
    gcomp_comm_t *ctx;
    gcomp_status_t created = gcomp_comm_create(MPI_COMM_WORLD, &ctx);
    REQUIRE(created == GCOMP_OK, "context: %s", gcomp_status_string(created));
    set_env("GCOMP_FAULT", NULL);

    gcomp_codec_params_t q8 = params_for(GCOMP_CODEC_Q8);
    gcomp_residual_t *res;
    gcomp_residual_create(&res);
    float *x = malloc(N * sizeof(float)), *y = malloc(N * sizeof(float));
    for (int call = 0; call < GOOD_CALLS; call++) {
        fill_heavy(x, N, (uint64_t)(world_rank * 100 + call));
        gcomp_status_t st = gcomp_allreduce(ctx, x, y, N, MPI_FLOAT, MPI_SUM, res, &q8);
        CHECK(st == GCOMP_OK, "%s: good call %d: %s", fc->kind, call, gcomp_status_string(st));
    }
    snapshot_t before = snapshot(res);
    CHECK(before.len[0] == N, "%s: residual of %zu values before the faulty call", fc->kind, before.len[0]);

    fill_heavy(x, N, (uint64_t)(world_rank * 100 + GOOD_CALLS));
    double t0 = MPI_Wtime();
    gcomp_status_t st = gcomp_allreduce(ctx, x, y, N, MPI_FLOAT, MPI_SUM, res, &q8);
    double took = MPI_Wtime() - t0;
    gcomp_status_t want = world_rank == faulty_rank ? fc->faulty : fc->others;
    CHECK(st == want, "%s: rank %d got %s, expected %s", fc->kind, world_rank, gcomp_status_string(st),
          gcomp_status_string(want));
    /* A soft error ends within one round of messages; a hard one after GCOMP_TIMEOUT_S without
     * progress (a rank may wait that long for a peer that is itself waiting out its own). */
    double limit = fc->hard ? 2 * timeout_s + 5 : timeout_s;
    CHECK(took <= limit, "%s: the failed call took %.1f s (limit %.1f s)", fc->kind, took, limit);
    CHECK(snapshot_equal(&before, res), "%s: the failed call changed the residual", fc->kind);
    CHECK(fc->hard == (ctx->failed != GCOMP_OK), "%s: context failed = %d", fc->kind, ctx->failed != GCOMP_OK);

    if (!fc->hard) {
        /* The same call again, no fault now: right on every rank, and the same everywhere. */
        for (size_t i = 0; i < N; i++) x[i] = int_value(i, world_rank);
        gcomp_codec_params_t none = params_for(GCOMP_CODEC_NONE);
        st = gcomp_allreduce(ctx, x, y, N, MPI_FLOAT, MPI_SUM, NULL, &none);
        int exact = 1;
        for (size_t i = 0; i < N; i++) {
            float want_i = 0;
            for (int r = 0; r < world_size; r++) want_i += int_value(i, r);
            exact &= y[i] == want_i;
        }
        CHECK(st == GCOMP_OK && exact, "%s: the call after a soft fault: %s, exact %d", fc->kind,
              gcomp_status_string(st), exact);
        st = gcomp_allreduce(ctx, x, y, N, MPI_FLOAT, MPI_SUM, res, &q8);
        CHECK(st == GCOMP_OK && identical_across(MPI_COMM_WORLD, y, N * sizeof(float)),
              "%s: a compressed call after a soft fault: %s", fc->kind, gcomp_status_string(st));
    } else {
        st = gcomp_allreduce(ctx, x, y, N, MPI_FLOAT, MPI_SUM, res, &q8);
        CHECK(st != GCOMP_OK, "%s: a call on the failed context succeeded", fc->kind);
    }
    free(before.v[0]), free(before.v[1]);
    free(x), free(y);
    gcomp_residual_destroy(res);
    MPI_Barrier(MPI_COMM_WORLD); /* every rank is past its timeouts before the next case */
    gcomp_comm_destroy(ctx);
    char name[96];
    snprintf(name, sizeof(name), "%s from rank %d: %s on every rank", fc->kind, faulty_rank,
             gcomp_status_string(fc->others));
    case_line(name, f0);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &world_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &world_size);
#if !GCOMP_HAVE_FAULT_INJECTION
    if (world_rank == 0) printf("SKIP: this build has no fault injection (meson -Dfault_injection=true)\n");
    MPI_Finalize();
    return 77;
#endif
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    char t[16];
    snprintf(t, sizeof(t), "%g", timeout_s);
    set_env("GCOMP_TIMEOUT_S", t);
    set_env("GCOMP_ALGO", NULL);
    int faulty = 1;
    static const fault_case_t cases[] = {
        {"flip", GCOMP_ERR_CHECKSUM, GCOMP_ERR_CHECKSUM, 0},
        {"truncate", GCOMP_ERR_FRAME, GCOMP_ERR_FRAME, 0},
        {"stale", GCOMP_ERR_MISMATCH, GCOMP_ERR_MISMATCH, 0},
        {"silent", GCOMP_ERR_TIMEOUT, GCOMP_ERR_TIMEOUT, 1},
        {"vanish", GCOMP_ERR_TIMEOUT, GCOMP_ERR_INTERNAL, 1},
    };
    for (size_t c = 0; c < GCOMP_ARRAY_SIZE(cases); c++) run_case(&cases[c], faulty);

    int rc = check_finish("test_faults");
    MPI_Finalize();
    return rc;
}
