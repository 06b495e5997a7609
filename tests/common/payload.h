/* A bare codec payload (no frame around it) through the codec ops the way gcomp_frame_parse and the
 * decoders use them: validate everything, and decode only what validation accepted. */
#ifndef GCOMP_TEST_PAYLOAD_H
#define GCOMP_TEST_PAYLOAD_H

#include "codec/codec.h"

static inline gcomp_status_t test_payload_decode(const gcomp_wire_header_t *h, const uint8_t *payload, size_t len,
                                                 gcomp_isa_t isa, float *dst, int accumulate)
{
    const gcomp_codec_ops_t *ops = gcomp_codec_ops_get((gcomp_codec_t)h->codec);
    gcomp_frame_view_t v = {.h = *h, .ops = ops, .payload = payload, .payload_len = len};
    gcomp_status_t st = ops->validate(&v, GCOMP_VALIDATE_ALL);
    if (st != GCOMP_OK) return st;
    gcomp_decode_job_t job = {.view = &v, .isa = isa, .dst = dst, .accumulate = accumulate};
    return ops->decode(&job);
}

#endif
