/*
 * A plain MPI program shaped like data-parallel training: every step all-reduces a float gradient
 * buffer and averages it. It knows nothing of gcomp; run it under the interposer to compress those
 * all-reduces (the small integer all-reduce of the step counter passes through untouched):
 *
 *   mpicc -O2 -o preload_allreduce examples/preload_allreduce.c -lm
 *   GCOMP_STATS=1 mpiexec -n 4 env LD_PRELOAD=$BUILD/src/preload/libgcomp_preload.so ./preload_allreduce
 *
 * It prints the largest difference between the averaged gradient and the exact average over all
 * steps, and whether all ranks hold the same bytes: without the library the difference is fp32
 * rounding; with it, q8 quantization error (error feedback carries what one step drops into the
 * next, so over many steps nothing is lost), and the ranks still agree bit for bit.
 */
#include <math.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define COUNT (1 << 20) /* 4 MiB of fp32: above the default GCOMP_MIN_BYTES of 1 MiB */
#define STEPS 20

/* A rank's gradient at a step: reproducible on every rank, so each can compute the exact mean. */
static float grad(int rank, int step, int i)
{
    uint32_t h = (uint32_t)i * 2654435761u ^ (uint32_t)(rank * 97 + step) * 40503u;
    h ^= h >> 15;
    h *= 2246822519u;
    h ^= h >> 13;
    return ((float)(h & 0xffff) / 32768.0f - 1.0f) * 0.01f;
}

int main(int argc, char **argv)
{
    int rank, size;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    float *g = malloc(COUNT * sizeof(float));
    double max_err = 0;

    for (int step = 0; step < STEPS; step++) {
        for (int i = 0; i < COUNT; i++) g[i] = grad(rank, step, i);
        MPI_Allreduce(MPI_IN_PLACE, g, COUNT, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
        for (int i = 0; i < COUNT; i++) {
            double exact = 0;
            for (int r = 0; r < size; r++) exact += grad(r, step, i);
            double err = fabs(g[i] / size - exact / size);
            if (err > max_err) max_err = err;
        }
        int steps_done = step + 1, agreed;
        MPI_Allreduce(&steps_done, &agreed, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    }

    /* Do all ranks hold the same bytes? Compare a checksum of the last averaged gradient. */
    uint64_t sum = 0, lo, hi;
    const uint32_t *bits = (const uint32_t *)g;
    for (int i = 0; i < COUNT; i++) sum = sum * 1099511628211ull + bits[i];
    MPI_Allreduce(&sum, &lo, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(&sum, &hi, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
    double worst;
    MPI_Reduce(&max_err, &worst, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
    if (rank == 0)
        printf("%d ranks, %d steps of %d floats: max |mean - exact mean| = %.3g; ranks %s\n", size, STEPS,
               COUNT, worst, lo == hi ? "bit-identical" : "DIFFER");
    free(g);
    MPI_Finalize();
    return 0;
}
