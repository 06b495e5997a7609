/*
 * The element functions the CUDA kernels share with their emulation (cuda/elem.h) are copies of
 * host-only code in src/: the generator (core/rng.h), the q8 quantizer (codec/q8_ref.h), the fp16
 * conversions (codec/half.c) and the x86 result of src + residual. Check each copy against its
 * original, exhaustively where the domain allows.
 */
#include <string.h>

#include "check.h"
#include "codec/codec.h"
#include "codec/q8_ref.h"
#include "core/rng.h"
#include "elem.h"

static float bits_f(uint32_t u)
{
    return gcomp_bits_f32(u);
}

int main(void)
{
    test_rng_t r = {12345};

    /* Generator: random keys and indices, including across 2^32 boundaries. */
    for (int t = 0; t < 200000; t++) {
        gcomp_rng_key_t key = gcomp_rng_key(test_rng_next(&r), test_rng_next(&r), (int32_t)(t % 64));
        uint64_t idx = t % 3 ? test_rng_next(&r) : (((uint64_t)(t % 5) << 32) + (uint64_t)(t % 7) - 3);
        uint32_t a = gcomp_rng_bits(key, idx), b = gcomp_cu_rng_bits(key.k0, key.k1, idx);
        CHECK(a == b, "rng bits at %llu: %08x vs %08x", (unsigned long long)idx, a, b);
        CHECK(gcomp_rng_uniform(a) == gcomp_cu_rng_uniform(a), "uniform of %08x", a);
    }

    /* fp16 -> fp32: every half. */
    for (uint32_t h = 0; h < 65536; h++) {
        uint32_t a = gcomp_f32_bits(gcomp_f16_to_f32((uint16_t)h)), b = gcomp_f32_bits(gcomp_cu_f16_to_f32((uint16_t)h));
        CHECK(a == b, "f16 %04x: %08x vs %08x", h, a, b);
    }
    /* fp32 -> fp16: every float with a stride, and the neighbourhoods of the boundaries. */
    for (uint64_t u = 0; u < (1ull << 32); u += 9973) {
        uint16_t a = gcomp_f32_to_f16(bits_f((uint32_t)u)), b = gcomp_cu_f32_to_f16(bits_f((uint32_t)u));
        CHECK(a == b, "f32 %08x: %04x vs %04x", (uint32_t)u, a, b);
    }
    static const uint32_t edges[] = {0x33000000u, 0x38800000u, 0x477ff000u, 0x7f800000u, 0x387fe000u, 0x38000000u};
    for (size_t e = 0; e < GCOMP_ARRAY_SIZE(edges); e++)
        for (int d = -4096; d <= 4096; d++) {
            uint32_t u = edges[e] + (uint32_t)d;
            CHECK(gcomp_f32_to_f16(bits_f(u)) == gcomp_cu_f32_to_f16(bits_f(u)), "f32 %08x", u);
            CHECK(gcomp_f32_to_f16(bits_f(u | 0x80000000u)) == gcomp_cu_f32_to_f16(bits_f(u | 0x80000000u)),
                  "f32 %08x", u | 0x80000000u);
        }

    /* q8: bucket parameters and quantization, both roundings, against q8_ref.h. */
    for (int t = 0; t < 400000; t++) {
        float absmax = (float)(fabs(test_rng_heavy(&r)) * pow(2.0, (double)(t % 200) - 100.0));
        if (t % 97 == 0) absmax = 3.4028235e38f;
        if (t % 89 == 0) absmax = 0x1p-97f;
        gcomp_cu_q8_bucket_t b = gcomp_cu_q8_bucket(gcomp_f32_bits(absmax) & 0x7fffffffu, 0);
        CHECK(gcomp_f32_bits(b.scale) == gcomp_f32_bits(gcomp_q8_scale(absmax)), "scale of %g", (double)absmax);
        CHECK(gcomp_f32_bits(b.inv) == gcomp_f32_bits(gcomp_q8_inv(absmax)), "inverse of %g", (double)absmax);
        float v = (float)(absmax * (2.0 * test_rng_uniform(&r) - 1.0));
        uint32_t bits = (uint32_t)test_rng_next(&r);
        for (int nearest = 0; nearest < 2; nearest++) {
            int8_t a = gcomp_q8_quantize(v, b.inv, nearest ? GCOMP_ROUND_NEAREST : GCOMP_ROUND_STOCHASTIC, bits);
            int c = gcomp_cu_q8_quantize(v, b, nearest, bits);
            CHECK(a == c, "quantize %g (absmax %g, nearest %d): %d vs %d", (double)v, (double)absmax, nearest, a, c);
            CHECK(gcomp_f32_bits(gcomp_q8_dequantize(a, b.scale)) == gcomp_f32_bits(gcomp_cu_q8_dequantize(c, b.scale)),
                  "dequantize");
        }
    }

    /* g' = src + residual, NaN payloads included, as the host adder gives it. */
    static const uint32_t specials[] = {0x7fc00000u, 0xffc00000u, 0x7f800001u, 0xff912345u, 0x7f800000u,
                                        0xff800000u, 0x7f7fffffu, 0x00000001u, 0x80000000u, 0x3f800000u};
    for (size_t i = 0; i < GCOMP_ARRAY_SIZE(specials); i++)
        for (size_t j = 0; j < GCOMP_ARRAY_SIZE(specials); j++) {
            volatile float s = bits_f(specials[i]), e = bits_f(specials[j]);
            float host = s + e;
            float cu = gcomp_cu_gprime(s, e);
            int both_nan = isnan(s) && isnan(e); /* the operand order decides; never happens (residuals are finite) */
            CHECK(both_nan || gcomp_f32_bits(host) == gcomp_f32_bits(cu), "%08x + %08x: %08x vs %08x", specials[i],
                  specials[j], gcomp_f32_bits(host), gcomp_f32_bits(cu));
        }
    return check_finish("test_cuda_elem");
}
