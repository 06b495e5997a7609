/*
 * The frame format (docs/wire-format.md is the prose version; keep them in step).
 *
 *   [ header: GCOMP_WIRE_HEADER_LEN bytes, little-endian ]
 *   [ payload: payload_len bytes = codec payload + exception list, zstd-compressed if FLAG_ZSTD ]
 *
 * Header fields and offsets:
 *    0 u32 magic "GCMP"       4 u8 version      5 u8 codec       6 u8 dtype      7 u8 flags
 *    8 u32 q8_bucket         12 f32 topk_ratio 16 u64 total_count 24 u64 chunk_offset
 *   32 u64 chunk_count       40 u64 kept       48 u64 seq        56 i32 rank      60 u32 comm_id
 *   64 u32 n_exceptions      68 u32 reserved (0)                  72 u64 payload_len
 *   80 u64 raw_len (codec payload + exceptions before zstd)       88 u64 checksum
 *
 * checksum = XXH3-64 (seeded) of the payload as sent, with seed = XXH3-64 of the header whose
 * checksum field is zeroed; 0 and FLAG_CHECKSUM clear when checksums are off.
 *
 * Exception list: n_exceptions entries of { u32 offset in chunk, u32 fp32 bits }, offsets strictly
 * increasing, every value non-finite. They carry NaN/Inf elements exactly; the codec payload holds 0
 * there. FLAG_NONFINITE_OVERFLOW: the chunk had more non-finite elements than the list can hold; the
 * decoder then writes NaN to the whole chunk (documented, logged by the encoder).
 */
#ifndef GCOMP_CODEC_WIRE_H
#define GCOMP_CODEC_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "gcomp.h"
#include "core/compiler.h"

#define GCOMP_WIRE_MAGIC 0x504d4347u /* bytes 'G' 'C' 'M' 'P' */
#define GCOMP_WIRE_VERSION 1
#define GCOMP_WIRE_HEADER_LEN 96
#define GCOMP_WIRE_EXC_LEN 8
/* Largest chunk one frame may hold: exception offsets are u32 and bounds stay far from overflow. */
#define GCOMP_WIRE_MAX_COUNT (1ull << 31)

enum {
    GCOMP_WIRE_FLAG_CHECKSUM = 1u << 0,
    GCOMP_WIRE_FLAG_ZSTD = 1u << 1,
    GCOMP_WIRE_FLAG_VALUES_FP16 = 1u << 2,
    GCOMP_WIRE_FLAG_NONFINITE_OVERFLOW = 1u << 3,
    GCOMP_WIRE_FLAG_EF = 1u << 4,             /* informational: sender used error feedback */
    GCOMP_WIRE_FLAG_ROUND_NEAREST = 1u << 5,  /* informational: q8 rounding */
    GCOMP_WIRE_FLAGS_KNOWN = 0x3fu
};

/* Header offsets. */
enum {
    GCOMP_WIRE_OFF_MAGIC = 0,
    GCOMP_WIRE_OFF_VERSION = 4,
    GCOMP_WIRE_OFF_CODEC = 5,
    GCOMP_WIRE_OFF_DTYPE = 6,
    GCOMP_WIRE_OFF_FLAGS = 7,
    GCOMP_WIRE_OFF_Q8_BUCKET = 8,
    GCOMP_WIRE_OFF_TOPK_RATIO = 12,
    GCOMP_WIRE_OFF_TOTAL = 16,
    GCOMP_WIRE_OFF_OFFSET = 24,
    GCOMP_WIRE_OFF_COUNT = 32,
    GCOMP_WIRE_OFF_KEPT = 40,
    GCOMP_WIRE_OFF_SEQ = 48,
    GCOMP_WIRE_OFF_RANK = 56,
    GCOMP_WIRE_OFF_COMM = 60,
    GCOMP_WIRE_OFF_NEXC = 64,
    GCOMP_WIRE_OFF_RESERVED = 68,
    GCOMP_WIRE_OFF_PAYLOAD_LEN = 72,
    GCOMP_WIRE_OFF_RAW_LEN = 80,
    GCOMP_WIRE_OFF_CHECKSUM = 88,
};

/* The header in host form. */
typedef struct gcomp_wire_header {
    uint8_t version;
    uint8_t codec;
    uint8_t dtype;
    uint8_t flags;
    uint32_t q8_bucket;
    float topk_ratio;
    uint64_t total_count;
    uint64_t chunk_offset;
    uint64_t chunk_count;
    uint64_t kept;
    uint64_t seq;
    int32_t rank;
    uint32_t comm_id;
    uint32_t n_exceptions;
    uint64_t payload_len;
    uint64_t raw_len;
    uint64_t checksum;
} gcomp_wire_header_t;

GCOMP_INTERNAL void gcomp_wire_header_store(uint8_t *out, const gcomp_wire_header_t *h);

/* Parse and validate the header fields that need no payload (magic, version, enums, flags, counts
 * against each other and against frame_len). GCOMP_OK or GCOMP_ERR_FRAME, with a logged reason. */
GCOMP_INTERNAL gcomp_status_t gcomp_wire_header_load(const uint8_t *frame, size_t frame_len,
                                                     gcomp_wire_header_t *h_p);

/* Capacity of a frame's exception list for a chunk of n elements. */
static inline uint64_t gcomp_wire_exc_cap(uint64_t n)
{
    uint64_t cap = 64 + n / 1024;
    return cap < n ? cap : n;
}

#endif
