/* Compiler helpers and little-endian loads/stores used by the wire format. */
#ifndef GCOMP_CORE_COMPILER_H
#define GCOMP_CORE_COMPILER_H

#include <stdint.h>
#include <string.h>

#define GCOMP_LIKELY(x) __builtin_expect(!!(x), 1)
#define GCOMP_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define GCOMP_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define GCOMP_MIN(a, b) ((a) < (b) ? (a) : (b))
#define GCOMP_MAX(a, b) ((a) > (b) ? (a) : (b))
#define GCOMP_DIV_CEIL(a, b) (((a) + (b) - 1) / (b))
#define GCOMP_ALIGN_UP(x, a) (((x) + ((a) - 1)) & ~((__typeof__(x))(a) - 1))
#define GCOMP_INTERNAL __attribute__((visibility("hidden")))

/* A function the CUDA kernels share with the host code (core/rng.h, codec/half.h): nvcc compiles it
 * for both sides, so the host and the device compute it from one definition. */
#ifdef __CUDACC__
#define GCOMP_HOST_DEVICE_INLINE static __host__ __device__ __forceinline__
#else
#define GCOMP_HOST_DEVICE_INLINE static inline
#endif

static inline void gcomp_store_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void gcomp_store_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static inline void gcomp_store_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint16_t gcomp_load_le16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t gcomp_load_le32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static inline uint64_t gcomp_load_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static inline uint32_t gcomp_f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof(u));
    return u;
}

static inline float gcomp_bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof(f));
    return f;
}

/* |x| as an ordered integer key: for finite x, a < b  <=>  key(a) < key(b); non-finite gives
 * keys >= 0x7f800000. */
static inline uint32_t gcomp_abs_key(float x)
{
    return gcomp_f32_bits(x) & 0x7fffffffu;
}

#define GCOMP_ABS_KEY_NONFINITE 0x7f800000u

#endif
