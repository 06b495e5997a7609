/*
 * Fixed-width bit packing of u32 values, LSB-first, as the top-k index section stores its deltas
 * (codec.h): value j occupies bits [j*w, (j+1)*w) of a little-endian bit stream that is padded with
 * zero bits to a multiple of 4 bytes.
 *
 * Packing accumulates into a 64-bit word and stores whole words; unpacking reads a 64-bit window per
 * value where 8 bytes remain and falls back to byte loads only at the very end, so that no byte past
 * the packed area is ever read, whatever the caller's counts say.
 */
#ifndef GCOMP_CODEC_BITPACK_H
#define GCOMP_CODEC_BITPACK_H

#include <stddef.h>
#include <stdint.h>

#include "core/compiler.h"

#define GCOMP_BITPACK_MAX_WIDTH 32

/* Bytes that count values of width bits take once packed and padded to a multiple of 4 bytes.
 * Exact in u64 for any count below 2^58. */
static inline uint64_t gcomp_bitpack_bytes(uint64_t count, unsigned width)
{
    return (count * width + 31) / 32 * 4;
}

/* Bits needed to hold v: 0 for 0, else 1 + floor(log2 v). */
static inline unsigned gcomp_bit_width(uint32_t v)
{
    return v == 0 ? 0 : 32u - (unsigned)__builtin_clz(v);
}

/*
 * Pack vals[0, count) (each below 2^width; higher bits are ignored) into out, which must hold
 * gcomp_bitpack_bytes(count, width) bytes; exactly that many are written, padding bits zero.
 * width is 0..32 (0 writes nothing).
 */
GCOMP_INTERNAL void gcomp_bitpack(uint8_t *out, const uint32_t *vals, size_t count, unsigned width);

/*
 * Unpack count values starting at value number first from in (len bytes) into vals.
 * @return 0, or -1 without reading anything when width > 32 or values [first, first + count) do
 *         not lie inside the len bytes.
 */
GCOMP_INTERNAL int gcomp_bitunpack(uint32_t *vals, const uint8_t *in, size_t len, uint64_t first,
                                   size_t count, unsigned width);

/*
 * @return 1 if the bits of in (len bytes) after the first count values of width bits are all zero
 *         (the canonical padding), else 0; also 0 when the values do not fit in len bytes.
 */
GCOMP_INTERNAL int gcomp_bitpack_padding_is_zero(const uint8_t *in, size_t len, uint64_t count,
                                                 unsigned width);

#endif
