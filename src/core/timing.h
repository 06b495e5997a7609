/* Monotonic time (deadlines, the statistics' time split, benchmarks) and medians. */
#ifndef GCOMP_CORE_TIMING_H
#define GCOMP_CORE_TIMING_H

#include <stdlib.h>
#include <time.h>

static inline double gcomp_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static inline int gcomp_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median of v[0..n), n >= 1; sorts v. */
static inline double gcomp_median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), gcomp_cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

#endif
