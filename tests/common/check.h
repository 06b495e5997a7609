/* Minimal assertions for gcomp's test programs: each failed check prints where and why, and the
 * program exits 1 at the end if any failed (exit 77 means skipped, never passed). */
#ifndef GCOMP_TEST_CHECK_H
#define GCOMP_TEST_CHECK_H

#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static int check_failures;
static long check_count;

#define CHECK(cond, ...)                                                                          \
    do {                                                                                          \
        check_count++;                                                                            \
        if (!(cond)) {                                                                            \
            check_failures++;                                                                     \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                      \
            fprintf(stderr, __VA_ARGS__);                                                         \
            fputc('\n', stderr);                                                                  \
        }                                                                                         \
    } while (0)

/* Stop the test now (for failures that make the rest meaningless). */
#define REQUIRE(cond, ...)                                                                        \
    do {                                                                                          \
        int require_ok_ = !!(cond); /* evaluated once: cond may have side effects */              \
        CHECK(require_ok_ && #cond, __VA_ARGS__);                                                 \
        if (!require_ok_) exit(1);                                                                \
    } while (0)

static inline int check_finish(const char *name)
{
    printf("%s: %ld checks, %d failed\n", name, check_count, check_failures);
    return check_failures ? 1 : 0;
}

static inline void check_skip(const char *why)
{
    printf("SKIP: %s\n", why);
    exit(77);
}

/* Deterministic test data: xorshift64* and a few distributions. */
typedef struct { uint64_t s; } test_rng_t;

static inline uint64_t test_rng_next(test_rng_t *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return r->s * 0x2545f4914f6cdd1dull;
}

static inline double test_rng_uniform(test_rng_t *r) /* [0, 1) */
{
    return (double)(test_rng_next(r) >> 11) * 0x1p-53;
}

static inline double test_rng_gauss(test_rng_t *r)
{
    double u1 = test_rng_uniform(r), u2 = test_rng_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* Heavy-tailed like real gradients: Student-t with 2 degrees of freedom, scaled. */
static inline double test_rng_heavy(test_rng_t *r)
{
    double z = test_rng_gauss(r);
    double c = test_rng_gauss(r), d = test_rng_gauss(r);
    return z / sqrt((c * c + d * d) / 2.0 + 1e-12);
}

#endif
