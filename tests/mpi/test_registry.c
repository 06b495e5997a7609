/*
 * The interposer's residual registry, seen from a user's program (links only MPI; run with
 * LD_PRELOAD=libgcomp_preload.so and GCOMP_CODEC=q8 GCOMP_ROUNDING=nearest GCOMP_MIN_BYTES=4K
 * GCOMP_EF_MAX_BYTES=132K).
 *
 * Error feedback is observable: with it, the sum of T outputs of the same input stays within one
 * quantization step of T times the exact sum (the residual carries what each call dropped); without
 * it, round-to-nearest drops the same amount every call and the error grows T-fold. So:
 *   1. LRU: buffer A (16 KiB) is used every iteration, buffers B, C, D (64 KiB each) in turn. Their
 *      residuals (4-6 bytes per element, whatever the algorithm keeps) fit A plus one of B/C/D
 *      under the cap, never A plus two: least-recently-used eviction must evict B, C, D before
 *      each reuse (their error grows) and never A (its error stays bounded). FIFO, no cap, or a
 *      cap that evicts everything all fail one of the two checks.
 *   2. A changed count on the same buffer resets its residual: the first call is bit-identical to
 *      the first call on a fresh buffer.
 *   3. MPI_Comm_free drops the communicator's residuals: a new communicator (MPICH reuses the
 *      handle) starts fresh on the same buffer.
 *   4. Many buffers (more than the registry's first hash table, more bytes than the cap).
 *   5. Two threads compressing on two communicators at once (when MPI_THREAD_MULTIPLE is provided).
 * Memory: the valgrind test runs this program and requires that nothing the interposer allocated
 * is left at exit.
 */
#include <mpi.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define M 16384 /* elements of B, C, D: 64 KiB */
#define N (M / 4) /* elements of A: 16 KiB */

static int rank, nranks;

static void fill(float *x, size_t n, uint64_t seed)
{
    test_rng_t r = {seed * 0x9e3779b97f4a7c15ull + 4242};
    for (size_t i = 0; i < n; i++) x[i] = (float)(2.0 * test_rng_uniform(&r) - 1.0);
}

/* The exact sum over ranks of fill(seed_base + rank). */
static double *exact_sum(size_t n, uint64_t seed_base)
{
    double *s = calloc(n, sizeof(double));
    float *x = malloc(n * sizeof(float));
    for (int r = 0; r < nranks; r++) {
        fill(x, n, seed_base + (uint64_t)r);
        for (size_t i = 0; i < n; i++) s[i] += x[i];
    }
    free(x);
    return s;
}

/* |x| <= 1: a q8 step is at most 1/127 per rank, P/127 for the sum; nearest rounding errs by half
 * a step, and error feedback leaves at most the last residuals: P half steps of 1/127 plus the
 * owner's half of P/127, so P/127 (and 10% for scales taken over x plus the residual). */
static double ef_bound(void)
{
    return nranks * 1.1 / 127.0 + 1e-5;
}

static double max_abs_diff(const double *acc, const double *exact, size_t n, double times)
{
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = acc[i] - times * exact[i];
        if (d < 0) d = -d;
        if (!(d <= m)) m = d;
    }
    return m;
}

static int all_ranks(int ok)
{
    int all;
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
    return all;
}

static uint64_t hash(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

static int ranks_agree(const void *p, size_t n, MPI_Comm comm)
{
    uint64_t h = hash(p, n), lo, hi;
    MPI_Allreduce(&h, &lo, 1, MPI_UINT64_T, MPI_MIN, comm);
    MPI_Allreduce(&h, &hi, 1, MPI_UINT64_T, MPI_MAX, comm);
    return lo == hi;
}

static void test_lru(void)
{
    const int iters = 30;
    float *in_a = malloc(N * sizeof(float)), *a = malloc(N * sizeof(float));
    double *acc_a = calloc(N, sizeof(double)), *ex_a = exact_sum(N, 100);
    float *in_x[3], *x[3];
    double *acc_x[3], *ex_x[3];
    fill(in_a, N, 100 + rank);
    for (int j = 0; j < 3; j++) {
        in_x[j] = malloc(M * sizeof(float));
        x[j] = malloc(M * sizeof(float));
        acc_x[j] = calloc(M, sizeof(double));
        ex_x[j] = exact_sum(M, 200 + 100 * j);
        fill(in_x[j], M, 200 + 100 * j + rank);
    }
    int errors = 0;
    for (int t = 0; t < iters; t++) {
        errors += MPI_Allreduce(in_a, a, N, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS;
        for (int i = 0; i < N; i++) acc_a[i] += a[i];
        int j = t % 3;
        errors += MPI_Allreduce(in_x[j], x[j], M, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS;
        for (int i = 0; i < M; i++) acc_x[j][i] += x[j][i];
    }
    CHECK(errors == 0, "%d calls failed", errors);
    CHECK(ranks_agree(a, N * sizeof(float), MPI_COMM_WORLD), "ranks disagree on A");

    double bound = ef_bound();
    double err_a = max_abs_diff(acc_a, ex_a, N, iters);
    CHECK(err_a <= bound, "A (used every iteration, never evicted): error of the sum of %d outputs %g, "
          "error feedback bounds it by %g", iters, err_a, bound);
    CHECK(err_a > 0, "A: exact sums: were the calls compressed?");
    for (int j = 0; j < 3; j++) {
        double err = max_abs_diff(acc_x[j], ex_x[j], M, iters / 3);
        CHECK(err > 3 * bound, "buffer %c (evicted before each reuse): error of the sum of its %d outputs %g "
              "should grow without error feedback, above %g", 'B' + j, iters / 3, err, 3 * bound);
        if (rank == 0) printf("lru: A error %.3g (bound %.3g), %c error %.3g\n", err_a, bound, 'B' + j, err);
        free(in_x[j]);
        free(x[j]);
        free(acc_x[j]);
        free(ex_x[j]);
    }
    free(in_a);
    free(a);
    free(acc_a);
    free(ex_a);
}

static void test_count_change(void)
{
    const int n2 = N / 2;
    float *in = malloc(N * sizeof(float)), *a = malloc(N * sizeof(float)), *fresh = malloc(n2 * sizeof(float));
    fill(in, N, 500 + rank);
    for (int t = 0; t < 3; t++) MPI_Allreduce(in, a, N, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    /* Same buffer, new count: the residual must start again from zero. */
    CHECK(MPI_Allreduce(in, a, n2, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD) == MPI_SUCCESS, "count change call");
    CHECK(MPI_Allreduce(in, fresh, n2, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD) == MPI_SUCCESS, "fresh call");
    CHECK(all_ranks(memcmp(a, fresh, n2 * sizeof(float)) == 0),
          "first call after a count change differs from a fresh buffer's: stale residual");
    free(in);
    free(a);
    free(fresh);
}

static void test_comm_free(void)
{
    float *in = malloc(N * sizeof(float)), *g = malloc(N * sizeof(float)), *first = malloc(N * sizeof(float));
    fill(in, N, 600 + rank);
    MPI_Comm c1, c2;
    MPI_Comm_dup(MPI_COMM_WORLD, &c1);
    MPI_Allreduce(in, g, N, MPI_FLOAT, MPI_SUM, c1);
    memcpy(first, g, N * sizeof(float));
    MPI_Allreduce(in, g, N, MPI_FLOAT, MPI_SUM, c1);
    CHECK(all_ranks(memcmp(g, first, N * sizeof(float)) != 0),
          "second call equals the first: error feedback had no effect, the test below proves nothing");
    MPI_Allreduce(in, g, N, MPI_FLOAT, MPI_SUM, c1);
    MPI_Comm_free(&c1);

    MPI_Comm_dup(MPI_COMM_WORLD, &c2);
    MPI_Allreduce(in, g, N, MPI_FLOAT, MPI_SUM, c2);
    CHECK(all_ranks(memcmp(g, first, N * sizeof(float)) == 0),
          "first call on a new communicator differs from the first on the freed one: stale residual");
    MPI_Comm_free(&c2);
    free(in);
    free(g);
    free(first);
}

static void test_many_buffers(void)
{
    enum { NBUF = 100, CNT = 1024 }; /* 4 KiB each, 100 of them: more than the cap */
    float *in = malloc(CNT * sizeof(float)), *out[NBUF];
    double *ex = exact_sum(CNT, 700);
    fill(in, CNT, 700 + rank);
    int bad = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (int b = 0; b < NBUF; b++) {
            if (pass == 0) out[b] = malloc(CNT * sizeof(float));
            if (MPI_Allreduce(in, out[b], CNT, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS) bad++;
            double err = 0;
            for (int i = 0; i < CNT; i++) {
                double d = out[b][i] - ex[i];
                if (d < 0) d = -d;
                if (!(d <= err)) err = d;
            }
            /* One call: the residual coming in and the one going out, each within the bound. */
            if (err > 2 * ef_bound()) bad++;
        }
    }
    CHECK(bad == 0, "%d of %d calls on many buffers failed or erred beyond %g", bad, 2 * NBUF, 2 * ef_bound());
    for (int b = 0; b < NBUF; b++) free(out[b]);
    free(in);
    free(ex);
}

typedef struct worker {
    MPI_Comm comm;
    uint64_t seed;
    int failures;
    float *out;
} worker_t;

static void *worker_main(void *arg)
{
    worker_t *w = arg;
    float *in = malloc(M * sizeof(float));
    double *ex = exact_sum(M, w->seed);
    double *acc = calloc(M, sizeof(double));
    fill(in, M, w->seed + (uint64_t)rank);
    const int iters = 8;
    for (int t = 0; t < iters; t++) {
        if (MPI_Allreduce(in, w->out, M, MPI_FLOAT, MPI_SUM, w->comm) != MPI_SUCCESS) w->failures++;
        for (int i = 0; i < M; i++) acc[i] += w->out[i];
    }
    /* The two threads' residuals need not both fit under the cap, so either may lose its residual
     * between calls: bound each call's error, not the sum's. */
    double err = max_abs_diff(acc, ex, M, iters);
    if (err > iters * 2 * ef_bound()) w->failures++;
    free(in);
    free(ex);
    free(acc);
    return NULL;
}

static void test_threads(int provided)
{
    if (provided < MPI_THREAD_MULTIPLE) {
        if (rank == 0) printf("threads: skipped, MPI_THREAD_MULTIPLE not provided\n");
        return;
    }
    worker_t w[2];
    pthread_t th[2];
    for (int i = 0; i < 2; i++) {
        MPI_Comm_dup(MPI_COMM_WORLD, &w[i].comm);
        w[i].seed = 800 + 100 * (uint64_t)i;
        w[i].failures = 0;
        w[i].out = malloc(M * sizeof(float));
    }
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, worker_main, &w[i]);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    if (rank == 0) printf("threads: two threads, two communicators, %d failures\n", w[0].failures + w[1].failures);
    for (int i = 0; i < 2; i++) {
        CHECK(w[i].failures == 0, "thread %d: %d failures", i, w[i].failures);
        CHECK(ranks_agree(w[i].out, M * sizeof(float), w[i].comm), "thread %d: ranks disagree", i);
        MPI_Comm_free(&w[i].comm);
        free(w[i].out);
    }
}

int main(int argc, char **argv)
{
    int provided;
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nranks);
    test_lru();
    test_count_change();
    test_comm_free();
    test_many_buffers();
    test_threads(provided);
    int failed = check_failures, any;
    MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    MPI_Finalize();
    int rc = check_finish("test_registry");
    return any ? 1 : rc;
}
