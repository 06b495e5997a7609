/*
 * What a user of libgcomp_preload.so gets. This program links only MPI; the tests run it with and
 * without LD_PRELOAD.
 *
 *   test_passthrough record PREFIX
 *       Runs calls the interposer must pass to PMPI_Allreduce untouched (ints, doubles, MAX/MIN/PROD,
 *       user ops, derived types, MAXLOC, an intercommunicator, MPI_IN_PLACE, tiny and empty counts,
 *       MPI_COMM_SELF, calls excluded by GCOMP_EXCLUDE) and writes one line "case hash" per call to
 *       PREFIX.RANK. compare_passthrough.sh runs it twice and diffs the files.
 *       Expects GCOMP_MIN_BYTES=64K and GCOMP_EXCLUDE=1,bytes:195000-205000 under the preload.
 *
 *   test_passthrough compressed
 *       Large float MPI_SUM calls (plain, in place on a duplicate, MPI_Allreduce_c) that the
 *       interposer compresses (GCOMP_CODEC=q8): each result differs from the exact sum, stays within
 *       the q8 error bound, and is bit-identical on every rank.
 */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define BIG 32768 /* elements: 128 KiB of floats, above GCOMP_MIN_BYTES=64K */

static int rank, nranks;

static uint64_t fnv1a(const void *p, size_t n)
{
    const unsigned char *b = p;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

static void fill_float(float *x, size_t n, uint64_t seed, double lo, double hi)
{
    test_rng_t r = {seed * 0x9e3779b97f4a7c15ull + 12345};
    for (size_t i = 0; i < n; i++) x[i] = (float)(lo + (hi - lo) * test_rng_uniform(&r));
}

static void fill_double(double *x, size_t n, uint64_t seed)
{
    test_rng_t r = {seed * 0x9e3779b97f4a7c15ull + 777};
    for (size_t i = 0; i < n; i++) x[i] = test_rng_gauss(&r);
}

static void fill_int(int *x, size_t n, uint64_t seed)
{
    test_rng_t r = {seed * 0x9e3779b97f4a7c15ull + 99};
    for (size_t i = 0; i < n; i++) x[i] = (int)(test_rng_next(&r) % 2000001) - 1000000;
}

static FILE *out;
static int n_cases;

static void record(const char *name, const void *buf, size_t bytes, int rc)
{
    CHECK(rc == MPI_SUCCESS, "%s: MPI error %d", name, rc);
    fprintf(out, "%s %016llx\n", name, (unsigned long long)fnv1a(buf, bytes));
    n_cases++;
}

/* The generic cases' call site: none of them passes the policy but the bytes-excluded float SUM. */
static __attribute__((noinline)) int allreduce(const void *s, void *r, int n, MPI_Datatype t, MPI_Op op, MPI_Comm c)
{
    return MPI_Allreduce(s, r, n, t, op, c);
}

static void user_sum(void *in, void *inout, int *len, MPI_Datatype *t)
{
    const float *a = in;
    float *b = inout;
    int n = *len;
    if (*t != MPI_FLOAT) {
        int size;
        MPI_Type_size(*t, &size);
        n *= size / (int)sizeof(float);
    }
    for (int i = 0; i < n; i++) b[i] = a[i] + b[i];
}

/* Not commutative: the result depends on the order MPI applies it in, which must not change. */
static void user_blend(void *in, void *inout, int *len, MPI_Datatype *t)
{
    const float *a = in;
    float *b = inout;
    for (int i = 0; i < *len; i++) b[i] = 0.75f * a[i] + b[i];
}

static void float_cases(void)
{
    float *x = malloc(BIG * sizeof(float)), *y = malloc(BIG * sizeof(float));
    int rc;
    fill_float(x, BIG, rank + 1, -1.0, 1.0);

    /* The first float SUM call that passes every other test: call site 1, excluded by number. */
    rc = MPI_Allreduce(x, y, BIG, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    record("float_sum_site1_excluded", y, BIG * sizeof(float), rc);

    rc = allreduce(x, y, BIG, MPI_FLOAT, MPI_MAX, MPI_COMM_WORLD);
    record("float_max", y, BIG * sizeof(float), rc);
    rc = allreduce(x, y, BIG, MPI_FLOAT, MPI_MIN, MPI_COMM_WORLD);
    record("float_min", y, BIG * sizeof(float), rc);

    float *z = malloc(BIG * sizeof(float));
    fill_float(z, BIG, rank + 50, 0.9, 1.1);
    rc = allreduce(z, y, BIG, MPI_FLOAT, MPI_PROD, MPI_COMM_WORLD);
    record("float_prod", y, BIG * sizeof(float), rc);
    free(z);

    MPI_Op op;
    MPI_Op_create(user_sum, 1, &op);
    rc = allreduce(x, y, BIG, MPI_FLOAT, op, MPI_COMM_WORLD);
    record("float_user_sum", y, BIG * sizeof(float), rc);

    /* A derived type of floats with a user op (MPI_SUM itself is only for predefined types). */
    MPI_Datatype quad;
    MPI_Type_contiguous(4, MPI_FLOAT, &quad);
    MPI_Type_commit(&quad);
    rc = allreduce(x, y, BIG / 4, quad, op, MPI_COMM_WORLD);
    record("float4_contiguous_user_sum", y, BIG * sizeof(float), rc);
    MPI_Type_free(&quad);
    MPI_Op_free(&op);

    MPI_Op_create(user_blend, 0, &op);
    rc = allreduce(x, y, BIG, MPI_FLOAT, op, MPI_COMM_WORLD);
    record("float_user_noncommutative", y, BIG * sizeof(float), rc);
    MPI_Op_free(&op);

    rc = allreduce(x, y, 100, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    record("float_sum_tiny", y, 100 * sizeof(float), rc);
    rc = allreduce(x, y, 65536 / 4 - 1, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    record("float_sum_one_below_min_bytes", y, (65536 / 4 - 1) * sizeof(float), rc);
    rc = allreduce(x, y, 0, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    record("float_sum_empty", y, 0, rc);

    rc = allreduce(x, y, BIG, MPI_FLOAT, MPI_SUM, MPI_COMM_SELF);
    record("float_sum_self", y, BIG * sizeof(float), rc);

    memcpy(y, x, BIG * sizeof(float));
    rc = allreduce(MPI_IN_PLACE, y, BIG, MPI_FLOAT, MPI_MAX, MPI_COMM_WORLD);
    record("float_max_in_place", y, BIG * sizeof(float), rc);

    /* An intercommunicator between rank 0 and the others (with 2 ranks, one rank each side). */
    MPI_Comm half, inter;
    int side = rank >= nranks / 2;
    MPI_Comm_split(MPI_COMM_WORLD, side, rank, &half);
    MPI_Intercomm_create(half, 0, MPI_COMM_WORLD, side ? 0 : nranks / 2, 7, &inter);
    rc = allreduce(x, y, BIG, MPI_FLOAT, MPI_SUM, inter);
    record("float_sum_intercomm", y, BIG * sizeof(float), rc);
    MPI_Comm_free(&inter);
    MPI_Comm_free(&half);

    free(x);
    free(y);
}

static void bytes_excluded_case(void)
{
    /* 200000 bytes: inside GCOMP_EXCLUDE's bytes:195000-205000, through the generic call site. */
    const int n = 50000;
    float *x = malloc(n * sizeof(float)), *y = malloc(n * sizeof(float));
    fill_float(x, n, rank + 7, -1.0, 1.0);
    int rc = allreduce(x, y, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    record("float_sum_bytes_excluded", y, n * sizeof(float), rc);
    free(x);
    free(y);
}

static void other_type_cases(void)
{
    int *a = malloc(BIG * sizeof(int)), *b = malloc(BIG * sizeof(int));
    double *d = malloc(BIG * sizeof(double)), *e = malloc(BIG * sizeof(double));
    int rc;
    fill_int(a, BIG, rank + 1);
    fill_double(d, BIG, rank + 1);

    rc = allreduce(a, b, BIG, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    record("int_sum", b, BIG * sizeof(int), rc);
    rc = allreduce(a, b, 10, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    record("int_sum_tiny", b, 10 * sizeof(int), rc);
    rc = allreduce(d, e, BIG, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    record("double_sum", e, BIG * sizeof(double), rc);
    memcpy(e, d, BIG * sizeof(double));
    rc = allreduce(MPI_IN_PLACE, e, BIG, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    record("double_sum_in_place", e, BIG * sizeof(double), rc);
    memcpy(b, a, BIG * sizeof(int));
    rc = allreduce(MPI_IN_PLACE, b, BIG, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    record("int_sum_in_place", b, BIG * sizeof(int), rc);

    /* MPI_2INT with MAXLOC: value and index pairs. */
    int *pairs = malloc(2 * BIG * sizeof(int)), *res = malloc(2 * BIG * sizeof(int));
    for (int i = 0; i < BIG; i++) {
        pairs[2 * i] = a[i] % 1000;
        pairs[2 * i + 1] = rank;
    }
    rc = allreduce(pairs, res, BIG, MPI_2INT, MPI_MAXLOC, MPI_COMM_WORLD);
    record("2int_maxloc", res, 2 * BIG * sizeof(int), rc);
    free(pairs);
    free(res);

#if MPI_VERSION >= 4
    rc = MPI_Allreduce_c(a, b, (MPI_Count)BIG, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    record("int_sum_large_count_api", b, BIG * sizeof(int), rc);
    rc = MPI_Allreduce_c(d, e, (MPI_Count)BIG, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    record("double_max_large_count_api", e, BIG * sizeof(double), rc);
#endif
    free(a);
    free(b);
    free(d);
    free(e);
}

static int run_record(const char *prefix)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s.%d", prefix, rank);
    out = fopen(path, "w");
    REQUIRE(out != NULL, "cannot write %s", path);
    float_cases();
    bytes_excluded_case();
    other_type_cases();
    fprintf(out, "END %d cases, %d ranks\n", n_cases, nranks);
    fclose(out);
    return 0;
}

/* One compressed call into y: the error against the exact sum, and agreement across ranks. */
static void check_compressed(const char *name, const float *y, size_t n, uint64_t seed_base)
{
    double max_err = 0;
    float *xr = malloc(n * sizeof(float));
    double *exact = calloc(n, sizeof(double));
    for (int r = 0; r < nranks; r++) {
        fill_float(xr, n, seed_base + r, -1.0, 1.0);
        for (size_t i = 0; i < n; i++) exact[i] += xr[i];
    }
    for (size_t i = 0; i < n; i++) {
        double err = y[i] - exact[i];
        if (err < 0) err = -err;
        if (!(err <= max_err)) max_err = err; /* a NaN sticks */
    }
    /* q8 with |x| <= 1: each rank's encoding errs by less than one step 1/127, the owner's
     * re-encoding of the sum (|sum| <= P) by less than P/127. */
    double bound = 2.0 * nranks / 127.0 * 1.02;
    CHECK(max_err <= bound, "%s: max error %g above the q8 bound %g", name, max_err, bound);
    CHECK(max_err > 0, "%s: result is the exact sum: the call was not compressed", name);

    uint64_t h = fnv1a(y, n * sizeof(float)), hmax, hmin;
    MPI_Allreduce(&h, &hmax, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
    MPI_Allreduce(&h, &hmin, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD);
    CHECK(hmax == hmin, "%s: ranks disagree on the result", name);
    if (rank == 0) printf("%s: max error %.3g (bound %.3g), ranks agree\n", name, max_err, bound);
    free(xr);
    free(exact);
}

static int run_compressed(void)
{
    const size_t n = 65536; /* 256 KiB */
    float *x = malloc(n * sizeof(float)), *y = malloc(n * sizeof(float));
    fill_float(x, n, 1000 + rank, -1.0, 1.0);
    int rc = MPI_Allreduce(x, y, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    CHECK(rc == MPI_SUCCESS, "MPI_Allreduce: %d", rc);
    check_compressed("world", y, n, 1000);

    MPI_Comm dup;
    MPI_Comm_dup(MPI_COMM_WORLD, &dup);
    float *z = malloc(n * sizeof(float));
    fill_float(z, n, 2000 + rank, -1.0, 1.0);
    rc = MPI_Allreduce(MPI_IN_PLACE, z, (int)n, MPI_FLOAT, MPI_SUM, dup);
    CHECK(rc == MPI_SUCCESS, "MPI_Allreduce in place: %d", rc);
    check_compressed("dup_in_place", z, n, 2000);
    MPI_Comm_free(&dup);

#if MPI_VERSION >= 4
    float *w = malloc(n * sizeof(float));
    fill_float(x, n, 3000 + rank, -1.0, 1.0);
    rc = MPI_Allreduce_c(x, w, (MPI_Count)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    CHECK(rc == MPI_SUCCESS, "MPI_Allreduce_c: %d", rc);
    check_compressed("large_count_api", w, n, 3000);
    free(w);
#endif
    free(x);
    free(y);
    free(z);
    return 0;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nranks);
    if (argc == 3 && strcmp(argv[1], "record") == 0) {
        run_record(argv[2]);
    } else if (argc == 2 && strcmp(argv[1], "compressed") == 0) {
        run_compressed();
    } else {
        if (rank == 0) fprintf(stderr, "usage: %s record PREFIX | compressed\n", argv[0]);
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    int failed = check_failures, any;
    MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    MPI_Finalize();
    int rc = check_finish(argv[0]);
    return any ? 1 : rc;
}
