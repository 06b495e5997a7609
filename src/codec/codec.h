/*
 * The codec layer: each codec is an ops table that turns a chunk of fp32 values into a payload
 * (with error feedback fused into encode) and validates and decodes a payload. frame.c wraps
 * payloads in the header, exception list, zstd stage and checksum of wire.h.
 *
 * Payload layouts (little-endian; n = chunk_count, k = kept, B = q8_bucket, nb = ceil(n / B)):
 *   none    : n x f32
 *   q8      : nb x f32 scales, then n x i8
 *   topk    : index section, then k x f32 values (k x f16 if FLAG_VALUES_FP16)
 *   topk-q8 : index section, then ceil(k / B) x f32 scales, then k x i8
 * Index section: u8 bit width w (0..32), 3 zero bytes, then k deltas of w bits packed LSB-first,
 * padded with zero bits to a multiple of 4 bytes. delta_0 = idx_0, delta_i = idx_i - idx_(i-1) - 1,
 * so indices are strictly increasing and each must be < n.
 * Elements that are non-finite after adding the residual are not part of the payload's selection
 * (topk) and are 0 in its values (q8, none excepted: none carries them as they are); they travel in
 * the exception list, and their residual becomes 0.
 */
#ifndef GCOMP_CODEC_CODEC_H
#define GCOMP_CODEC_CODEC_H

#include <stddef.h>
#include <stdint.h>

#include "gcomp.h"
#include "core/compiler.h"
#include "core/mem.h"
#include "core/rng.h"
#include "codec/isa.h"
#include "codec/wire.h"

typedef struct gcomp_codec_ops gcomp_codec_ops_t;

/* Where an encoder puts the chunk's non-finite elements (wire form, see wire.h). Entries must be
 * pushed in increasing offset order. */
typedef struct gcomp_exc_sink {
    uint8_t *out;    /* cap entries of GCOMP_WIRE_EXC_LEN bytes */
    uint64_t cap;
    uint64_t count;  /* entries written (<= cap) */
    uint64_t seen;   /* non-finite elements seen; > cap means overflow */
} gcomp_exc_sink_t;

static inline void gcomp_exc_push(gcomp_exc_sink_t *s, uint64_t offset, float value)
{
    if (s->count < s->cap) {
        uint8_t *e = s->out + s->count * GCOMP_WIRE_EXC_LEN;
        gcomp_store_le32(e, (uint32_t)offset);
        gcomp_store_le32(e + 4, gcomp_f32_bits(value));
        s->count++;
    }
    s->seen++;
}

typedef struct gcomp_encode_job {
    const gcomp_codec_params_t *params;
    gcomp_isa_t isa;          /* kernel variant to use (never AUTO) */
    gcomp_rng_key_t key;      /* gcomp_rng_key(seed, seq, rank) */
    uint64_t base;            /* global index of element 0 (the chunk offset), for the generator */
    const float *src;         /* n values */
    float *residual;          /* n values updated in place, or NULL for no error feedback */
    size_t n;
    uint8_t *payload;         /* payload_bound(params, n) bytes */
    gcomp_exc_sink_t *exc;
    gcomp_scratch_t *scratch; /* reusable work space */
    /* outputs */
    size_t payload_len;
    uint64_t kept;
} gcomp_encode_job_t;

/* Where the parts of a payload lie, as the codec's validate op found them (offsets in bytes from
 * the start of the codec payload). Decoders, host and device, address the payload through this only. */
typedef struct gcomp_payload_layout {
    uint64_t nb;          /* q8: scale buckets; topk-q8: scale buckets of the kept values */
    uint64_t q_off;       /* q8, topk-q8: the i8 values */
    unsigned width;       /* topk: bits per index delta */
    int kind;             /* topk: gcomp_topk_values_t (topk_payload.h) */
    uint64_t packed_len;  /* topk: bytes of packed deltas, behind the index header */
    uint64_t values_off;  /* topk: the f32 / f16 values, or the topk-q8 scales */
} gcomp_payload_layout_t;

/* A frame as gcomp_frame_parse validated it. Pointers are into the frame, or into the buffer its
 * zstd stage was decompressed into: the view lives as long as both. */
typedef struct gcomp_frame_view {
    gcomp_wire_header_t h;          /* validated header */
    size_t frame_len;
    const gcomp_codec_ops_t *ops;   /* h.codec's */
    const uint8_t *sent;            /* the payload as sent (h.payload_len bytes, compressed if FLAG_ZSTD) */
    size_t unzstd_len;              /* bytes the zstd stage decompresses to (h.raw_len), 0 without one */
    const uint8_t *payload;         /* codec payload (NULL until gcomp_frame_unpack) */
    size_t payload_len;
    const uint8_t *exc;             /* h.n_exceptions entries of the exception list, right behind it */
    gcomp_payload_layout_t layout;  /* set by ops->validate */
} gcomp_frame_view_t;

/* What a codec's validate op checks. LAYOUT: everything the addressing of the payload depends on
 * (exact length, index width, padding) and every scale. ELEMENTS: each index and value (indices in
 * the chunk and increasing, values finite, no q8 value -128). The device decoders check the
 * elements themselves while they decode, so the CUDA path asks for LAYOUT only. */
enum {
    GCOMP_VALIDATE_LAYOUT = 1u << 0,
    GCOMP_VALIDATE_ELEMENTS = 1u << 1,
    GCOMP_VALIDATE_ALL = GCOMP_VALIDATE_LAYOUT | GCOMP_VALIDATE_ELEMENTS,
};

typedef struct gcomp_decode_job {
    const gcomp_frame_view_t *view; /* validated with GCOMP_VALIDATE_ALL: decode trusts it */
    gcomp_isa_t isa;
    float *dst;                     /* view->h.chunk_count values */
    int accumulate;                 /* 0: dst = decoded, 1: dst += decoded */
} gcomp_decode_job_t;

struct gcomp_codec_ops {
    const char *name;
    gcomp_codec_t id;
    /* Upper bound of the codec payload for n elements (no header, no exceptions). */
    size_t (*payload_bound)(const gcomp_codec_params_t *params, uint64_t n);
    /* Bytes of the payload for n elements keeping kept of them (sparse codecs) whose index deltas
     * need width bits, as the encoder writes it before the zstd stage. Doubles, so that the cost
     * model may ask about averages; exact for whole numbers. */
    double (*payload_bytes)(const gcomp_codec_params_t *params, double n, double kept, double width);
    /* 1 if non-finite values travel in the payload itself, never in the exception list. */
    int exceptions_inline;
    /* Encode with fused error feedback; must not fail for valid params except GCOMP_ERR_NOMEM. */
    gcomp_status_t (*encode)(gcomp_encode_job_t *job);
    /* Check view->payload (view->payload_len bytes, for the header view->h) as `checks` asks and set
     * view->layout. GCOMP_ERR_FRAME with a logged reason on anything malformed; nothing else. */
    gcomp_status_t (*validate)(gcomp_frame_view_t *view, unsigned checks);
    /* Decode a payload that validate accepted completely; nothing left to reject. */
    gcomp_status_t (*decode)(const gcomp_decode_job_t *job);
};

GCOMP_INTERNAL extern const gcomp_codec_ops_t gcomp_codec_none_ops;
GCOMP_INTERNAL extern const gcomp_codec_ops_t gcomp_codec_q8_ops;
GCOMP_INTERNAL extern const gcomp_codec_ops_t gcomp_codec_topk_ops;
GCOMP_INTERNAL extern const gcomp_codec_ops_t gcomp_codec_topk_q8_ops;

/* NULL for an unknown id. */
GCOMP_INTERNAL const gcomp_codec_ops_t *gcomp_codec_ops_get(gcomp_codec_t id);

/* Bytes of a frame of n elements before the zstd stage: header, payload (payload_bytes) and the
 * exceptions non-finite values listed. gcomp_frame_bound is what no frame exceeds; this is what
 * one with these counts takes, for predictions and the cost model. 0 for an unknown codec. */
GCOMP_INTERNAL double gcomp_frame_bytes(const gcomp_codec_params_t *params, double n, double kept, double width,
                                        double exceptions);

/* Frame encode/decode with an explicit kernel variant and scratch (tests, benchmarks and the
 * collectives use these; the public functions call them with gcomp_isa_active() and the thread's
 * scratch). require_checksum: reject frames sent without a checksum. */
GCOMP_INTERNAL gcomp_status_t gcomp_frame_encode_ex(const gcomp_codec_params_t *params,
                                                    const gcomp_frame_info_t *where, const float *src,
                                                    float *residual, void *frame, size_t capacity,
                                                    gcomp_isa_t isa, gcomp_scratch_t *scratch,
                                                    gcomp_frame_info_t *info_p);
GCOMP_INTERNAL gcomp_status_t gcomp_frame_decode_ex(const void *frame, size_t frame_len,
                                                    const gcomp_frame_info_t *expect, float *dst,
                                                    int accumulate, gcomp_isa_t isa,
                                                    gcomp_scratch_t *scratch, int require_checksum,
                                                    gcomp_frame_info_t *info_p);

/* Pieces of frame assembly and validation shared by frame.c and its CUDA twin (cuda/frame_cuda.c),
 * so that both produce and accept exactly the same bytes. */
/* XXH3-64 of the payload seeded with XXH3-64 of the header whose checksum field is zeroed. */
GCOMP_INTERNAL uint64_t gcomp_frame_checksum(const uint8_t *frame, size_t frame_len);
/* Replace the raw payload (in place) by its zstd compression when that makes it shorter. */
GCOMP_INTERNAL gcomp_status_t gcomp_frame_compress(const gcomp_codec_params_t *params, uint8_t *payload,
                                                   size_t *len, gcomp_scratch_t *scratch, uint8_t *flags);
/* What an encoder produced after the header: the codec payload, then the exception list right
 * behind it (exc_listed entries of the nonfinite_seen found, at most exc_cap). */
typedef struct gcomp_frame_tail {
    size_t payload_len;
    uint64_t kept;
    uint64_t exc_listed;
    uint64_t nonfinite_seen;
    uint64_t exc_cap;
    int error_feedback;
} gcomp_frame_tail_t;
/* Complete a frame whose payload and exception list are in place: zstd stage, flags, header,
 * checksum, and info_p (may be NULL). */
GCOMP_INTERNAL gcomp_status_t gcomp_frame_finish(const gcomp_codec_params_t *params,
                                                 const gcomp_frame_info_t *where, uint8_t *frame,
                                                 const gcomp_frame_tail_t *tail, gcomp_scratch_t *scratch,
                                                 gcomp_frame_info_t *info_p);
/* The metadata of a validated header, as gcomp_frame_decode reports it. */
GCOMP_INTERNAL void gcomp_frame_header_info(const gcomp_wire_header_t *h, size_t frame_len,
                                            gcomp_frame_info_t *info);
/* A chunk description passed to encode: inside its vector, valid rank and dtype, data present. */
GCOMP_INTERNAL gcomp_status_t gcomp_frame_check_where(const gcomp_frame_info_t *where, const void *src);
/* The one validator of untrusted frames, shared by the CPU decoder (frame.c) and the CUDA one
 * (cuda/frame_cuda.c): the CPU decoder asks for GCOMP_VALIDATE_ALL and then checks nothing again, the
 * CUDA one for GCOMP_VALIDATE_LAYOUT, its kernels checking the elements as they decode.
 * open: the header (gcomp_wire_header_load), what the receiver expects (expect may be NULL; rank -1
 * takes any sender), the checksum (require_checksum: reject frames sent without one).
 * unpack: the zstd stage into unzstd (view->unzstd_len bytes; NULL when that is 0), the exception
 * list (offsets in the chunk and increasing, values non-finite), then the codec's validate op.
 * parse: both, decompressing into scratch. Every rejection is logged where it is found: GCOMP_ERR_FRAME,
 * _CHECKSUM, _MISMATCH, _UNSUPPORTED (zstd frame, no zstd here), _NOMEM, _INVALID (zstd without scratch).
 * The view is written only on success. */
GCOMP_INTERNAL gcomp_status_t gcomp_frame_open(const void *frame, size_t frame_len, const gcomp_frame_info_t *expect,
                                               int require_checksum, gcomp_frame_view_t *view_p);
GCOMP_INTERNAL gcomp_status_t gcomp_frame_unpack(gcomp_frame_view_t *view, void *unzstd, unsigned checks);
GCOMP_INTERNAL gcomp_status_t gcomp_frame_parse(const void *frame, size_t frame_len,
                                                const gcomp_frame_info_t *expect, int require_checksum,
                                                gcomp_scratch_t *scratch, unsigned checks,
                                                gcomp_frame_view_t *view_p);

/* fp16 <-> fp32 (IEEE binary16, round to nearest even; values beyond the fp16 range are the
 * caller's to clamp first). Shared by the topk codec and the dtype conversions. */
GCOMP_INTERNAL uint16_t gcomp_f32_to_f16(float f);
GCOMP_INTERNAL float gcomp_f16_to_f32(uint16_t h);
#define GCOMP_F16_MAX 65504.0f

#endif
