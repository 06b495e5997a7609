/*
 * How gcomp failures reach a user of libgcomp_preload.so (links only MPI; run with LD_PRELOAD and
 * GCOMP_MIN_BYTES=64K through preload_run.sh, which also checks the exit status and the log).
 *
 *   test_preload_errors mismatch
 *       Ranks pass different counts (all above GCOMP_MIN_BYTES) under MPI_ERRORS_RETURN: every rank
 *       gets an error code whose MPI_Error_string mentions gcomp, through the communicator's error
 *       handler (a user handler on a duplicate sees the same code), and the job goes on.
 *   test_preload_errors off
 *       With GCOMP_CODEC=bogus: the job runs with compression off, so a float SUM whose exact
 *       answer q8 cannot represent comes back exact.
 *   test_preload_errors strict
 *       With GCOMP_STRICT=1 GCOMP_CODEC=bogus: MPI_Init must fail (the script expects a non-zero
 *       exit); exits 0 if it returns success.
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"

#define COUNT 32768 /* 128 KiB of floats */

static int rank, nranks;
static int handler_calls, handler_code;

static void record_error(MPI_Comm *comm, int *code, ...)
{
    handler_calls++;
    handler_code = *code;
}

static void fill(float *x, size_t n, int r, int integers)
{
    test_rng_t g = {(uint64_t)(r + 1) * 0x9e3779b97f4a7c15ull};
    for (size_t i = 0; i < n; i++)
        x[i] = integers ? (float)((int)(test_rng_next(&g) % 2001) - 1000)
                        : (float)(2.0 * test_rng_uniform(&g) - 1.0);
}

static void check_gcomp_error(const char *what, int rc)
{
    char text[MPI_MAX_ERROR_STRING] = "";
    int len = 0;
    CHECK(rc != MPI_SUCCESS, "%s: mismatched counts returned MPI_SUCCESS", what);
    if (rc == MPI_SUCCESS) return;
    MPI_Error_string(rc, text, &len);
    CHECK(strstr(text, "gcomp") != NULL, "%s: error string \"%s\" does not mention gcomp", what, text);
    if (rank == 0) printf("%s: error %d: %s\n", what, rc, text);
}

static void run_mismatch(void)
{
    float *x = malloc((COUNT + 4000) * sizeof(float)), *y = malloc((COUNT + 4000) * sizeof(float));
    fill(x, COUNT + 4000, rank, 0);
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);

    double t0 = MPI_Wtime();
    int rc = MPI_Allreduce(x, y, COUNT + 1000 * rank, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    double dt = MPI_Wtime() - t0;
    check_gcomp_error("world", rc);
    if (rank == 0) printf("mismatch detected in %.2f s\n", dt);

    /* Through a user error handler on another communicator. */
    MPI_Comm dup;
    MPI_Errhandler eh;
    MPI_Comm_dup(MPI_COMM_WORLD, &dup);
    MPI_Comm_create_errhandler(record_error, &eh);
    MPI_Comm_set_errhandler(dup, eh);
    rc = MPI_Allreduce(x, y, COUNT + 1000 * (rank % 2), MPI_FLOAT, MPI_SUM, dup);
    check_gcomp_error("dup", rc);
    CHECK(handler_calls == 1 && handler_code == rc, "the error handler saw %d calls, code %d (returned %d)",
          handler_calls, handler_code, rc);

    /* The job goes on: plain MPI, then a compressed call that all ranks agree on. */
    int one = 1, sum = 0;
    CHECK(MPI_Allreduce(&one, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD) == MPI_SUCCESS && sum == nranks,
          "an int all-reduce after the error: %d", sum);
    rc = MPI_Allreduce(x, y, COUNT, MPI_FLOAT, MPI_SUM, dup);
    CHECK(rc == MPI_SUCCESS, "a matching compressed call after the error failed: %d", rc);
    MPI_Comm_free(&dup);
    MPI_Errhandler_free(&eh);
    free(x);
    free(y);
}

static void run_off(void)
{
    float *x = malloc(COUNT * sizeof(float)), *y = malloc(COUNT * sizeof(float)), *xr = malloc(COUNT * sizeof(float));
    float *exact = calloc(COUNT, sizeof(float));
    for (int r = 0; r < nranks; r++) {
        fill(xr, COUNT, r, 1);
        for (int i = 0; i < COUNT; i++) exact[i] += xr[i]; /* integers: exact in any order */
    }
    fill(x, COUNT, rank, 1);
    CHECK(MPI_Allreduce(x, y, COUNT, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD) == MPI_SUCCESS, "all-reduce failed");
    CHECK(memcmp(y, exact, COUNT * sizeof(float)) == 0,
          "with an invalid GCOMP_CODEC the call was not exact: compression should be off");
    free(x);
    free(y);
    free(xr);
    free(exact);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    int rc = MPI_Init(&argc, &argv);
    if (strcmp(mode, "strict") == 0) {
        fprintf(stderr, "MPI_Init returned %d under GCOMP_STRICT=1\n", rc);
        if (rc == MPI_SUCCESS) MPI_Finalize();
        return rc == MPI_SUCCESS ? 0 : 3;
    }
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &nranks);
    if (strcmp(mode, "mismatch") == 0) {
        run_mismatch();
    } else if (strcmp(mode, "off") == 0) {
        run_off();
    } else {
        if (rank == 0) fprintf(stderr, "usage: %s mismatch | off | strict\n", argv[0]);
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    int failed = check_failures, any;
    MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    MPI_Finalize();
    rc = check_finish("test_preload_errors");
    return any ? 1 : rc;
}
