/*
 * IEEE binary16 <-> binary32 on bit patterns, header-only so that half.c and the CUDA kernels
 * (cuda/elem.h, compiled by nvcc) convert with one definition. Round to nearest, ties to even, like
 * vcvtps2ph with _MM_FROUND_TO_NEAREST_INT; NaN payloads are kept (a NaN stays quiet and non-zero).
 */
#ifndef GCOMP_CODEC_HALF_H
#define GCOMP_CODEC_HALF_H

#include <stdint.h>

#include "core/compiler.h"

/* The fp16 nearest to the fp32 whose bits are x. */
GCOMP_HOST_DEVICE_INLINE uint16_t gcomp_half_from_f32_bits(uint32_t x)
{
    uint32_t sign = (x >> 16) & 0x8000u;
    uint32_t absx = x & 0x7fffffffu;
    if (absx >= 0x7f800000u) /* Inf or NaN (keep NaN quiet and non-zero) */
        return (uint16_t)(sign | 0x7c00u | (absx > 0x7f800000u ? 0x200u | ((absx >> 13) & 0x3ffu) : 0));
    if (absx >= 0x477ff000u) /* rounds to beyond 65504: Inf */
        return (uint16_t)(sign | 0x7c00u);
    if (absx < 0x38800000u) { /* below 2^-14: subnormal half or zero */
        if (absx < 0x33000000u) return (uint16_t)sign; /* below half the smallest subnormal */
        uint32_t mant = (absx & 0x7fffffu) | 0x800000u;
        int shift = 126 - (int)(absx >> 23); /* value = mant * 2^-(shift + 24): shift is 14..24 */
        uint32_t half_mant = mant >> shift;
        uint32_t rem = mant & ((1u << shift) - 1);
        uint32_t halfway = 1u << (shift - 1);
        if (rem > halfway || (rem == halfway && (half_mant & 1))) half_mant++;
        return (uint16_t)(sign | half_mant);
    }
    uint32_t h = ((absx - 0x38000000u) >> 13); /* rebias exponent 127 -> 15 */
    uint32_t rem = absx & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) h++;
    return (uint16_t)(sign | h);
}

/* The bits of the fp32 equal to the fp16 h (exact). */
GCOMP_HOST_DEVICE_INLINE uint32_t gcomp_half_to_f32_bits(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    if (exp == 0) {
        if (mant == 0) return sign;
        int e = -1; /* subnormal: normalise */
        do {
            mant <<= 1;
            e++;
        } while (!(mant & 0x400u));
        return sign | ((uint32_t)(127 - 15 - e) << 23) | ((mant & 0x3ffu) << 13);
    }
    if (exp == 31) return sign | 0x7f800000u | (mant << 13);
    return sign | ((exp + 127 - 15) << 23) | (mant << 13);
}

#endif
