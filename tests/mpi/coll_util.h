/* Helpers shared by the communicator API tests: parameters, hashes compared across ranks, exact
 * references. Test-only code; everything is static. */
#ifndef GCOMP_TEST_COLL_UTIL_H
#define GCOMP_TEST_COLL_UTIL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gcomp.h"
#include "coll/coll.h"
#include "core/config.h"

static int world_rank, world_size;

static inline gcomp_codec_params_t params_for(gcomp_codec_t codec)
{
    gcomp_codec_params_t p;
    gcomp_codec_params_default(&p);
    p.codec = codec;
    p.error_feedback = 1;
    p.checksum = 1;
    p.zstd_level = 0;
    return p;
}

static inline uint64_t hash_bytes(const void *buf, size_t len)
{
    const uint8_t *b = buf;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

/* 1 if every rank of comm holds the same bytes. */
static inline int identical_across(MPI_Comm comm, const void *buf, size_t len)
{
    int size;
    MPI_Comm_size(comm, &size);
    uint64_t h = hash_bytes(buf, len);
    uint64_t *all = malloc((size_t)size * sizeof(*all));
    PMPI_Allgather(&h, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, comm);
    int same = 1;
    for (int i = 1; i < size; i++) same &= all[i] == all[0];
    free(all);
    return same;
}

/* Small integers, different per rank: fp32 sums of P of them are exact in any order. */
static inline float int_value(size_t i, int rank)
{
    return (float)((long)((i * 7 + (size_t)rank * 13) % 201) - 100);
}

static inline void fill_heavy(float *x, size_t n, uint64_t seed)
{
    test_rng_t r = {seed * 0x9e3779b97f4a7c15ull + 1};
    for (size_t i = 0; i < n; i++) x[i] = (float)test_rng_heavy(&r);
}

static inline int residual_finite(const gcomp_residual_t *res)
{
    for (int level = 1; level <= 2; level++) {
        size_t len;
        const float *v = gcomp_residual_view(res, level, &len);
        for (size_t i = 0; i < len; i++)
            if (!isfinite(v[i])) return 0;
    }
    return 1;
}

static inline void set_env(const char *name, const char *value)
{
    if (value != NULL) setenv(name, value, 1);
    else unsetenv(name);
    gcomp_config_reload();
}

#endif
