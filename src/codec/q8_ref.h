/*
 * The q8 arithmetic, one element at a time: the reference every CPU ISA variant and the CUDA twin
 * must reproduce bit for bit. Compiled with -ffp-contract=off so t = v * inv is rounded before any add.
 *
 * A bucket's scale is absmax / 127 and its values are q = round(v * (127 / absmax)) clamped to
 * [-127, 127]; decode is q * scale. Buckets whose absmax is below GCOMP_Q8_MIN_ABSMAX (or zero)
 * get scale 0 and q = 0: 127 / absmax would overflow there.
 * One exception: when absmax is FLT_MAX, 127 * scale rounds to Inf, so |q| is clamped to 126 there
 * (gcomp_q8_qmax) and the rest of the bucket's error goes to the residual as usual.
 * Error bound (nearest): |v - decode| <= scale / 2 + 2^-20 * absmax; (stochastic) <= scale + 2^-20 * absmax.
 * Stochastic rounding is q = floor(t + u) with u uniform in [0, 1) from the counter-based generator,
 * so E[q] = t: unbiased.
 */
#ifndef GCOMP_CODEC_Q8_REF_H
#define GCOMP_CODEC_Q8_REF_H

#include <math.h>
#include <stdint.h>

#include "gcomp.h"
#include "core/rng.h"

#define GCOMP_Q8_MIN_ABSMAX 0x1p-96f

static inline float gcomp_q8_scale(float absmax)
{
    return absmax >= GCOMP_Q8_MIN_ABSMAX ? absmax / 127.0f : 0.0f;
}

static inline float gcomp_q8_inv(float absmax)
{
    return absmax >= GCOMP_Q8_MIN_ABSMAX ? 127.0f / absmax : 0.0f;
}

/* |q| limit of a bucket: 127, or 126 when absmax is FLT_MAX (see above); apply it after
 * gcomp_q8_quantize. */
static inline int8_t gcomp_q8_qmax(float absmax)
{
    return absmax >= 0x1.fffffep127f ? 126 : 127;
}

/* v finite; bits = gcomp_rng_bits(key, global index) (ignored for nearest). */
static inline int8_t gcomp_q8_quantize(float v, float inv, gcomp_rounding_t rounding, uint32_t bits)
{
    float t = v * inv;
    float q = rounding == GCOMP_ROUND_NEAREST ? nearbyintf(t) : floorf(t + gcomp_rng_uniform(bits));
    if (q > 127.0f) q = 127.0f;
    if (q < -127.0f) q = -127.0f;
    return (int8_t)q;
}

static inline float gcomp_q8_dequantize(int8_t q, float scale)
{
    return (float)q * scale;
}

#endif
