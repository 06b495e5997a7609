/*
 * Bit packing for the top-k index section (bitpack.h has the layout). The packed stream is a
 * little-endian bit string, so 64-bit little-endian word stores and loads move 64 bits at a time
 * and the code is the same on every host.
 */
#include "codec/bitpack.h"

#include <string.h>

/* Little-endian 64-bit access through memcpy: one unaligned move on x86 and arm64. */
static inline uint64_t load_le64(const uint8_t *p)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t v;
    memcpy(&v, p, sizeof(v));
    return v;
#else
    return gcomp_load_le64(p);
#endif
}

static inline void store_le64(uint8_t *p, uint64_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    memcpy(p, &v, sizeof(v));
#else
    gcomp_store_le64(p, v);
#endif
}

/* Up to 8 bytes from p as a little-endian word, never reading at or past end. */
static inline uint64_t load_le64_partial(const uint8_t *p, const uint8_t *end)
{
    uint64_t v = 0;
    size_t avail = (size_t)(end - p);
    size_t take = avail < 8 ? avail : 8;
    for (size_t b = 0; b < take; b++) v |= (uint64_t)p[b] << (8 * b);
    return v;
}

void gcomp_bitpack(uint8_t *out, const uint32_t *vals, size_t count, unsigned width)
{
    if (width == 0 || count == 0) return;
    const uint64_t mask = width == 32 ? 0xffffffffull : (1ull << width) - 1;
    uint64_t total = gcomp_bitpack_bytes(count, width);
    uint64_t acc = 0;
    unsigned bits = 0; /* valid bits in acc, always < 64 between iterations */
    size_t o = 0;
    for (size_t j = 0; j < count; j++) {
        uint64_t v = vals[j] & mask;
        acc |= v << bits;
        bits += width;
        if (bits >= 64) {
            store_le64(out + o, acc);
            o += 8;
            bits -= 64;
            /* The bits of v that did not fit; a shift by width (< 64) gives 0 when all did. */
            acc = v >> (width - bits);
        }
    }
    /* At most 63 bits remain: they and the zero padding fill the last 4 or 8 bytes. */
    for (size_t b = 0; o + b < total; b++) out[o + b] = (uint8_t)(acc >> (8 * b));
}

int gcomp_bitunpack(uint32_t *vals, const uint8_t *in, size_t len, uint64_t first, size_t count,
                    unsigned width)
{
    if (width > GCOMP_BITPACK_MAX_WIDTH) return -1;
    if (width == 0) {
        memset(vals, 0, count * sizeof(*vals));
        return 0;
    }
    uint64_t limit = (uint64_t)len * 8 / width; /* values that fit in len bytes */
    if (first > limit || count > limit - first) return -1;

    const uint64_t mask = width == 32 ? 0xffffffffull : (1ull << width) - 1;
    const uint8_t *end = in + len;
    uint64_t pos = first * width;
    size_t j = 0;
    /* A value starts at bit (pos & 7) of byte pos >> 3 and ends at most 39 bits later: one 64-bit
     * window holds it as long as 8 bytes remain from that byte. */
    uint64_t fast_end = len >= 8 ? (uint64_t)(len - 8) : 0;
    if (len >= 8) {
        for (; j < count && (pos >> 3) <= fast_end; j++, pos += width)
            vals[j] = (uint32_t)((load_le64(in + (pos >> 3)) >> (pos & 7)) & mask);
    }
    for (; j < count; j++, pos += width)
        vals[j] = (uint32_t)((load_le64_partial(in + (pos >> 3), end) >> (pos & 7)) & mask);
    return 0;
}

int gcomp_bitpack_padding_is_zero(const uint8_t *in, size_t len, uint64_t count, unsigned width)
{
    if (width > GCOMP_BITPACK_MAX_WIDTH) return 0;
    uint64_t used = count * width; /* count <= 2^58 is the caller's; see gcomp_bitpack_bytes */
    if (used > (uint64_t)len * 8) return 0;
    size_t byte = (size_t)(used >> 3);
    if (used & 7) {
        if (in[byte] >> (used & 7)) return 0;
        byte++;
    }
    for (; byte < len; byte++)
        if (in[byte] != 0) return 0;
    return 1;
}
