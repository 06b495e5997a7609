/*
 * The program kill_rank.sh kills a rank of: compressed all-reduces in a loop, through the
 * interposer as a user gets it (links only MPI, run with LD_PRELOAD=libgcomp_preload.so). The
 * preload rather than the C API because what is tested is what a user sees when a peer dies
 * mid-job: gcomp's failure has to reach the program as an MPI error through the communicator's
 * error handler, and the job has to end instead of hanging.
 *
 * After its first completed call each rank writes its pid to DIR/rank<R>.pid, so the script knows
 * the ranks are inside the loop. Errors return (MPI_ERRORS_RETURN) so that a surviving rank can
 * say which call failed, after how long and with what, in DIR/rank<R>.err (the launcher may drop
 * the last output of a job it tears down); it then aborts the job, as a trainer would.
 * The loop ends by itself after LOOP_LIMIT_S with status 0, so an orphaned rank cannot spin for
 * ever, and the script, which expects a non-zero status well before that, fails.
 *
 * usage: kill_loop DIR   (GCOMP_MIN_BYTES must be at most 1M so the calls are compressed)
 */
#define _POSIX_C_SOURCE 200809L
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define N (256 * 1024) /* floats: 1 MiB, several chunks per rank, a few ms per call */
#define LOOP_LIMIT_S 120.0

/* Write DIR/rank<R>.<what>, renamed into place whole so the script never reads half of it. */
static void write_file(const char *dir, int rank, const char *what, const char *text)
{
    char tmp[4096], path[4096];
    snprintf(tmp, sizeof(tmp), "%s/rank%d.%s.tmp", dir, rank, what);
    snprintf(path, sizeof(path), "%s/rank%d.%s", dir, rank, what);
    FILE *f = fopen(tmp, "w");
    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0 || rename(tmp, path) != 0) {
        fprintf(stderr, "kill_loop rank %d: cannot write %s: is DIR a writable directory?\n", rank, path);
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
}

int main(int argc, char **argv)
{
    int rank, size;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (argc != 2) {
        if (rank == 0) fprintf(stderr, "usage: kill_loop DIR\n");
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    float *in = malloc(N * sizeof(float)), *out = malloc(N * sizeof(float));
    if (in == NULL || out == NULL) MPI_Abort(MPI_COMM_WORLD, 3);
    for (int i = 0; i < N; i++) in[i] = (float)((i * 7 + rank * 13) % 201 - 100) * 0.01f;

    double start = MPI_Wtime();
    for (long call = 0; MPI_Wtime() - start < LOOP_LIMIT_S; call++) {
        double t0 = MPI_Wtime();
        int rc = MPI_Allreduce(in, out, N, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        if (rc != MPI_SUCCESS) {
            char msg[MPI_MAX_ERROR_STRING], line[MPI_MAX_ERROR_STRING + 200];
            int len = 0;
            MPI_Error_string(rc, msg, &len);
            snprintf(line, sizeof(line), "kill_loop rank %d: call %ld failed after %.1f s: %s; aborting the job\n",
                     rank, call, MPI_Wtime() - t0, msg);
            fputs(line, stderr);
            write_file(argv[1], rank, "err", line);
            MPI_Abort(MPI_COMM_WORLD, 4);
        }
        if (call == 0) {
            char pid[32];
            snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
            write_file(argv[1], rank, "pid", pid);
        }
    }
    fprintf(stderr, "kill_loop rank %d: no rank was killed within %.0f s; ending\n", rank, LOOP_LIMIT_S);
    free(in);
    free(out);
    MPI_Finalize();
    return 0;
}
