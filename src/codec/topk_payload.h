/*
 * The top-k payload (codec.h has the byte layout): sizes shared by the encoder (codec_topk.c) and
 * the validating decoder (topk_decode.c), so that what one writes is exactly what the other accepts.
 */
#ifndef GCOMP_CODEC_TOPK_PAYLOAD_H
#define GCOMP_CODEC_TOPK_PAYLOAD_H

#include <stdint.h>

#include "codec/bitpack.h"
#include "codec/codec.h"

/* Index section header: u8 width, then 3 zero bytes. */
#define GCOMP_TOPK_INDEX_HEADER_LEN 4

/* How the kept values travel. */
typedef enum {
    GCOMP_TOPK_VALUES_F32 = 0, /* topk: k x f32 */
    GCOMP_TOPK_VALUES_F16 = 1, /* topk with GCOMP_WIRE_FLAG_VALUES_FP16: k x f16 */
    GCOMP_TOPK_VALUES_Q8 = 2   /* topk-q8: ceil(k / B) x f32 scales, then k x i8 */
} gcomp_topk_values_t;

/* Bytes of the value section for k kept values (bucket B >= 1, used by q8 only). */
static inline uint64_t gcomp_topk_values_bytes(gcomp_topk_values_t kind, uint64_t k, uint32_t bucket)
{
    switch (kind) {
    case GCOMP_TOPK_VALUES_F16: return 2 * k;
    case GCOMP_TOPK_VALUES_Q8: return 4 * ((k + bucket - 1) / bucket) + k;
    case GCOMP_TOPK_VALUES_F32: break;
    }
    return 4 * k;
}

/* Bytes of a whole payload: k kept indices whose deltas need width bits, and their values. */
static inline uint64_t gcomp_topk_payload_bytes(gcomp_topk_values_t kind, uint64_t k, unsigned width,
                                                uint32_t bucket)
{
    return GCOMP_TOPK_INDEX_HEADER_LEN + gcomp_bitpack_bytes(k, width) +
           gcomp_topk_values_bytes(kind, k, bucket);
}

/* Check a topk or topk-q8 payload as `checks` asks (codec.h: GCOMP_VALIDATE_*) and set view->layout
 * (topk_decode.c). GCOMP_OK or GCOMP_ERR_FRAME with a logged reason. */
GCOMP_INTERNAL gcomp_status_t gcomp_topk_validate(gcomp_frame_view_t *view, gcomp_topk_values_t kind, unsigned checks);
/* Decode a payload gcomp_topk_validate accepted completely into job->dst (the topk and topk-q8 ops'
 * decode). */
GCOMP_INTERNAL gcomp_status_t gcomp_topk_decode(const gcomp_decode_job_t *job);

#endif
