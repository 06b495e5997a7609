/*
 * Counter-based generator for stochastic rounding.
 *
 * The random bits for element i of a call depend only on (seed, call sequence, rank, i), so a
 * result is reproducible whatever the chunking, the thread or the ISA variant, and the CUDA twin
 * produces the same bits. Only 32-bit integer multiplies are used so that AVX2 (vpmulld) and GPUs
 * compute it at full rate. The hash and the bits are shared with the kernels (cuda/elem.h).
 */
#ifndef GCOMP_CORE_RNG_H
#define GCOMP_CORE_RNG_H

#include <stdint.h>

#include "core/compiler.h"

typedef struct gcomp_rng_key {
    uint32_t k0;
    uint32_t k1;
} gcomp_rng_key_t;

/* A 32-bit bijective mixer (Wellons' "lowbias32"). */
GCOMP_HOST_DEVICE_INLINE uint32_t gcomp_hash32(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    return x;
}

static inline uint64_t gcomp_splitmix64(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static inline gcomp_rng_key_t gcomp_rng_key(uint64_t seed, uint64_t seq, int32_t rank)
{
    uint64_t h = gcomp_splitmix64(seed);
    h = gcomp_splitmix64(h ^ seq);
    h = gcomp_splitmix64(h ^ (uint64_t)(uint32_t)rank);
    gcomp_rng_key_t key = {(uint32_t)h, (uint32_t)(h >> 32)};
    return key;
}

/* Per-element high part of the key; constant over any run of indices that shares idx >> 32. */
GCOMP_HOST_DEVICE_INLINE uint32_t gcomp_rng_hi(gcomp_rng_key_t key, uint64_t idx)
{
    return key.k1 ^ ((uint32_t)(idx >> 32) * 0x9e3779b9u);
}

/* 32 random bits for global element index idx. */
GCOMP_HOST_DEVICE_INLINE uint32_t gcomp_rng_bits(gcomp_rng_key_t key, uint64_t idx)
{
    return gcomp_hash32(gcomp_hash32((uint32_t)idx ^ key.k0) + gcomp_rng_hi(key, idx));
}

/* Uniform in [0, 1) with 24 bits, exactly representable in fp32. */
static inline float gcomp_rng_uniform(uint32_t bits)
{
    return (float)(bits >> 8) * 0x1p-24f;
}

#endif
