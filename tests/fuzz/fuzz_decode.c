/*
 * Fuzz target: the frame decoder of one codec family on arbitrary bytes from the network.
 * Built three times (FUZZ_FAMILY 0: none, 1: q8, 2: topk and topk-q8), as a libFuzzer target with
 * -Dfuzz=true and as a corpus replayer in the unit suite (replay.c).
 *
 * Input: one option byte, then the frame.
 *   bit 0  accumulate into dst instead of overwriting it
 *   bit 1  recompute the checksum of the (mutated) frame, so that mutations get past the checksum and
 *          reach the header, zstd and payload validators
 *   bit 2  expect the sender's rank too (a receiver always expects one)
 *   bit 3  family 2: topk-q8 rather than topk
 * The codec byte of the frame is forced to the target's codec, so each target spends its time in one
 * decoder. The receiver's expectation is taken from the frame's own header (what a receiver that
 * expects exactly this chunk would pass), which is what bounds the writes.
 *
 * Properties, each a crash (abort) when broken:
 *   - no read or write outside the frame and dst (AddressSanitizer, and a canary past dst);
 *   - the status and every output bit are the same for every CPU variant that runs here;
 *   - a frame that decodes reports metadata consistent with its header;
 *   - the shared validator (gcomp_frame_parse and the codec's validate op) alone decides: the decoder
 *     fails exactly when it rejects, with its status; what it accepts with every check, it accepts
 *     with the layout checks only (the CUDA decoder's mode), and the layout it reports addresses
 *     only the payload's own bytes, which is what the device kernels trust;
 *   - with FUZZ_CUDA (a build that has cuda/, in the unit suite's corpus replay): the CUDA decoder on
 *     its host emulation gives the same status and the same values (NaN payloads aside).
 * The -Dfuzz=true build has no cuda/ (-Dcuda=disabled: the emulation needs the CUDA runtime's
 * context code), so there the fuzzer reaches the CUDA decoder's validation through the validator it
 * shares with the CPU decoder, in both modes, as above.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/codec.h"
#include "codec/isa.h"
#include "codec/wire.h"
#include "core/mem.h"
#include "fuzz_common.h"
#if FUZZ_CUDA
#include <math.h>

#include "gcomp_cuda.h"

static gcomp_cuda_ctx_t *cuda_ctx;
#endif

#ifndef FUZZ_FAMILY
#error "FUZZ_FAMILY must be 0 (none), 1 (q8) or 2 (topk)"
#endif

enum { MAX_CHUNK = 1 << 16 };

static const uint32_t canary = 0x7fc0beefu; /* a NaN no decoder writes */

/* Decode with one ISA into dst (count + 1 values, the last a canary); returns the status. */
static gcomp_status_t decode_with(const uint8_t *frame, size_t len, const gcomp_frame_info_t *expect, float *dst,
                                  size_t count, int accumulate, gcomp_isa_t isa, gcomp_frame_info_t *info)
{
    for (size_t i = 0; i < count; i++) dst[i] = (float)((int)(i % 13) - 6) * 0.25f; /* what accumulate adds to */
    memcpy(&dst[count], &canary, sizeof(canary));
    gcomp_status_t st = gcomp_frame_decode_ex(frame, len, expect, dst, accumulate, isa, fuzz_scratch(), 0, info);
    FUZZ_ASSERT(memcmp(&dst[count], &canary, sizeof(canary)) == 0, "decoder wrote past the chunk");
    return st;
}

/* The validator's verdict on a frame the decoder gave `st` for (see the properties above). */
static void check_validator(const uint8_t *frame, size_t len, const gcomp_frame_info_t *expect, gcomp_status_t st)
{
    gcomp_frame_view_t v;
    gcomp_status_t all = gcomp_frame_parse(frame, len, expect, 0, fuzz_scratch(), GCOMP_VALIDATE_ALL, &v);
    FUZZ_ASSERT(all == st, "validator says %s, decoder %s", gcomp_status_string(all), gcomp_status_string(st));
    gcomp_status_t layout = gcomp_frame_parse(frame, len, expect, 0, fuzz_scratch(), GCOMP_VALIDATE_LAYOUT, &v);
    FUZZ_ASSERT(all != GCOMP_OK || layout == GCOMP_OK, "layout checks reject (%s) what all checks accept",
                gcomp_status_string(layout));
    if (layout != GCOMP_OK) return;
    const gcomp_wire_header_t *h = &v.h;
    const gcomp_payload_layout_t *l = &v.layout;
    FUZZ_ASSERT(v.exc == v.payload + v.payload_len &&
                    v.payload_len + (size_t)h->n_exceptions * GCOMP_WIRE_EXC_LEN == h->raw_len,
                "exception list at %zu of %llu bytes", v.payload_len, (unsigned long long)h->raw_len);
    switch (h->codec) {
    case GCOMP_CODEC_NONE: FUZZ_ASSERT(v.payload_len == 4 * h->chunk_count, "none payload"); break;
    case GCOMP_CODEC_Q8:
        FUZZ_ASSERT(l->q_off == 4 * l->nb && l->nb * h->q8_bucket >= h->chunk_count &&
                        l->q_off + h->chunk_count == v.payload_len,
                    "q8 layout: %llu scales, values at %llu of %zu", (unsigned long long)l->nb,
                    (unsigned long long)l->q_off, v.payload_len);
        break;
    default: {
        uint64_t value_bytes = l->kind == 1 ? 2 * h->kept : l->kind == 2 ? 4 * l->nb + h->kept : 4 * h->kept;
        FUZZ_ASSERT(l->width <= 32 && 4 + l->packed_len == l->values_off && l->packed_len * 8 >= h->kept * l->width &&
                        l->values_off + value_bytes == v.payload_len &&
                        (l->kind != 2 || (l->nb * h->q8_bucket >= h->kept && l->q_off == l->values_off + 4 * l->nb)),
                    "top-k layout: width %u, %llu packed bytes, values at %llu, q at %llu of %zu", l->width,
                    (unsigned long long)l->packed_len, (unsigned long long)l->values_off,
                    (unsigned long long)l->q_off, v.payload_len);
    }
    }
}

#if FUZZ_CUDA
/* The CUDA decoder (emulated kernels) against the CPU decoder's status st and values ref. */
static void check_cuda(const uint8_t *frame, size_t len, const gcomp_frame_info_t *expect, const float *ref,
                       size_t count, int accumulate, gcomp_status_t st)
{
    float *out = malloc((count + 1) * sizeof(float));
    FUZZ_ASSERT(out != NULL, "out of memory");
    for (size_t i = 0; i < count; i++) out[i] = (float)((int)(i % 13) - 6) * 0.25f; /* as decode_with */
    memcpy(&out[count], &canary, sizeof(canary));
    gcomp_status_t sg = gcomp_cuda_frame_decode(cuda_ctx, frame, len, expect, out, accumulate, 0, NULL);
    FUZZ_ASSERT(sg == st, "cuda decode gives %s, cpu %s", gcomp_status_string(sg), gcomp_status_string(st));
    FUZZ_ASSERT(memcmp(&out[count], &canary, sizeof(canary)) == 0, "cuda decoder wrote past the chunk");
    for (size_t i = 0; st == GCOMP_OK && i < count; i++)
        FUZZ_ASSERT(memcmp(&out[i], &ref[i], sizeof(float)) == 0 || (isnan(out[i]) && isnan(ref[i])),
                    "cuda decode differs from cpu at %zu: %g, %g", i, (double)out[i], (double)ref[i]);
    free(out);
}
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    uint8_t opt = data[0];
    size_t len = size - 1;
    /* An exact-size copy: any read past the frame is an ASan report. */
    uint8_t *frame = malloc(len ? len : 1);
    FUZZ_ASSERT(frame != NULL, "out of memory");
    memcpy(frame, data + 1, len);

#if FUZZ_FAMILY == 0
    uint8_t codec = GCOMP_CODEC_NONE;
#elif FUZZ_FAMILY == 1
    uint8_t codec = GCOMP_CODEC_Q8;
#else
    uint8_t codec = (opt & 8) ? GCOMP_CODEC_TOPK_Q8 : GCOMP_CODEC_TOPK;
#endif
    if (len > GCOMP_WIRE_OFF_CODEC) frame[GCOMP_WIRE_OFF_CODEC] = codec;

    gcomp_wire_header_t h;
    if (gcomp_wire_header_load(frame, len, &h) != GCOMP_OK) {
        /* The header validator must reject it through the decoder too, before touching dst. */
        float dst[4];
        memcpy(&dst[0], &canary, sizeof(canary));
        gcomp_status_t st = gcomp_frame_decode_ex(frame, len, NULL, dst, 0, gcomp_isa_active(), fuzz_scratch(), 0,
                                                  NULL);
        FUZZ_ASSERT(st != GCOMP_OK, "a frame the header validator rejects decodes");
        FUZZ_ASSERT(memcmp(&dst[0], &canary, sizeof(canary)) == 0, "a rejected header wrote to dst");
        check_validator(frame, len, NULL, st);
#if FUZZ_CUDA
        gcomp_status_t sg = gcomp_cuda_frame_decode(cuda_ctx, frame, len, NULL, dst, 0, 0, NULL);
        FUZZ_ASSERT(sg == st, "cuda decode gives %s, cpu %s", gcomp_status_string(sg), gcomp_status_string(st));
#endif
        free(frame);
        return 0;
    }
    if (h.chunk_count > MAX_CHUNK) { /* valid, but too large to allocate per input here */
        free(frame);
        return 0;
    }
    if ((opt & 2) && (h.flags & GCOMP_WIRE_FLAG_CHECKSUM))
        gcomp_store_le64(frame + GCOMP_WIRE_OFF_CHECKSUM, gcomp_frame_checksum(frame, len));

    gcomp_frame_info_t expect = {
        .codec = (gcomp_codec_t)h.codec,
        .dtype = (gcomp_dtype_t)h.dtype,
        .total_count = h.total_count,
        .chunk_offset = h.chunk_offset,
        .chunk_count = h.chunk_count,
        .rank = (opt & 4) ? h.rank : -1,
        .comm_id = h.comm_id,
        .seq = h.seq,
    };
    size_t count = (size_t)h.chunk_count;
    float *ref = malloc((count + 1) * sizeof(float));
    float *out = malloc((count + 1) * sizeof(float));
    FUZZ_ASSERT(ref != NULL && out != NULL, "out of memory");
    int accumulate = opt & 1;

    gcomp_frame_info_t info, info2;
    gcomp_status_t st = decode_with(frame, len, &expect, ref, count, accumulate, GCOMP_ISA_SCALAR, &info);
    if (st == GCOMP_OK) {
        FUZZ_ASSERT(info.chunk_count == count && info.kept <= count && info.frame_bytes == len &&
                        info.nonfinite <= count,
                    "decoded frame reports chunk %llu kept %llu nonfinite %llu bytes %zu (frame %zu)",
                    (unsigned long long)info.chunk_count, (unsigned long long)info.kept,
                    (unsigned long long)info.nonfinite, info.frame_bytes, len);
    }
    check_validator(frame, len, &expect, st);
#if FUZZ_CUDA
    check_cuda(frame, len, &expect, ref, count, accumulate, st);
#endif
    for (int isa = GCOMP_ISA_SCALAR + 1; isa < GCOMP_ISA_COUNT; isa++) {
        if (!gcomp_isa_available((gcomp_isa_t)isa)) continue;
        gcomp_status_t st2 = decode_with(frame, len, &expect, out, count, accumulate, (gcomp_isa_t)isa, &info2);
        FUZZ_ASSERT(st2 == st, "%s decode gives %s, scalar %s", gcomp_isa_name((gcomp_isa_t)isa),
                    gcomp_status_string(st2), gcomp_status_string(st));
        if (st == GCOMP_OK)
            FUZZ_ASSERT(memcmp(ref, out, count * sizeof(float)) == 0, "%s decode differs from scalar",
                        gcomp_isa_name((gcomp_isa_t)isa));
    }
    free(ref);
    free(out);
    free(frame);
    return 0;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    setenv("GCOMP_DEBUG", "error", 1); /* every rejected frame logs a warning */
#if FUZZ_CUDA
    FUZZ_ASSERT(gcomp_cuda_ctx_create_emulated(&cuda_ctx) == GCOMP_OK, "emulated CUDA context");
#endif
    return 0;
}
