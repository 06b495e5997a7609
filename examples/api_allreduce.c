/*
 * A data-parallel "training loop" that averages its gradient with gcomp's C API.
 *
 *   mpiexec.mpich -n 4 build/examples/api_allreduce [COUNT] [STEPS]
 *
 * Each rank owns one residual handle per gradient buffer (here: one), so error feedback carries what
 * compression dropped at one step into the next. The program prints, per step, how far the compressed
 * average is from the exact one, and the bytes gcomp sent against the bytes it was given.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include <gcomp.h>

static void make_gradient(float *g, size_t n, int rank, int step)
{
    for (size_t i = 0; i < n; i++) {
        double phase = 0.001 * (double)i + 0.1 * step + rank;
        g[i] = (float)(sin(phase) * exp(-1e-6 * (double)i));
    }
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    size_t n = argc > 1 ? (size_t)atol(argv[1]) : 1u << 20;
    int steps = argc > 2 ? atoi(argv[2]) : 5;

    gcomp_comm_t *ctx = NULL;
    gcomp_residual_t *residual = NULL;
    gcomp_status_t st = gcomp_comm_create(MPI_COMM_WORLD, &ctx);
    if (st == GCOMP_OK) st = gcomp_residual_create(&residual);
    if (st != GCOMP_OK) {
        fprintf(stderr, "gcomp setup failed: %s\n", gcomp_status_string(st));
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    gcomp_codec_params_t params;
    gcomp_codec_params_default(&params); /* GCOMP_CODEC etc.; override fields here if you like */

    float *grad = malloc(n * sizeof(float)), *exact = malloc(n * sizeof(float));
    for (int step = 0; step < steps; step++) {
        make_gradient(grad, n, rank, step);
        MPI_Allreduce(grad, exact, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD); /* reference only */
        st = gcomp_allreduce(ctx, MPI_IN_PLACE, grad, n, MPI_FLOAT, MPI_SUM, residual, &params);
        if (st != GCOMP_OK) {
            fprintf(stderr, "rank %d: gcomp_allreduce failed: %s\n", rank, gcomp_status_string(st));
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
        double err = 0, ref = 0;
        for (size_t i = 0; i < n; i++) {
            err = fmax(err, fabs((double)grad[i] - exact[i]));
            ref = fmax(ref, fabs((double)exact[i]));
        }
        gcomp_stats_t s;
        gcomp_comm_stats(ctx, &s);
        if (rank == 0)
            printf("step %d: %s, max error %.3g of max |sum| %.3g; sent %.1f%% of the bytes given\n", step,
                   gcomp_codec_name(params.codec), err, ref, 100.0 * (double)s.bytes_sent / (double)s.bytes_in);
    }
    free(grad);
    free(exact);
    gcomp_residual_destroy(residual);
    gcomp_comm_destroy(ctx);
    MPI_Finalize();
    return 0;
}
