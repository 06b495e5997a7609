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
 *   - a frame that decodes reports metadata consistent with its header.
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
    return 0;
}
