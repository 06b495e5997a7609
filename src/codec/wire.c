#define GCOMP_LOG_SUBSYS GCOMP_SUBSYS_CODEC
#include "codec/wire.h"

#include <math.h>

#include "core/log.h"

void gcomp_wire_header_store(uint8_t *out, const gcomp_wire_header_t *h)
{
    gcomp_store_le32(out + GCOMP_WIRE_OFF_MAGIC, GCOMP_WIRE_MAGIC);
    out[GCOMP_WIRE_OFF_VERSION] = h->version;
    out[GCOMP_WIRE_OFF_CODEC] = h->codec;
    out[GCOMP_WIRE_OFF_DTYPE] = h->dtype;
    out[GCOMP_WIRE_OFF_FLAGS] = h->flags;
    gcomp_store_le32(out + GCOMP_WIRE_OFF_Q8_BUCKET, h->q8_bucket);
    gcomp_store_le32(out + GCOMP_WIRE_OFF_TOPK_RATIO, gcomp_f32_bits(h->topk_ratio));
    gcomp_store_le64(out + GCOMP_WIRE_OFF_TOTAL, h->total_count);
    gcomp_store_le64(out + GCOMP_WIRE_OFF_OFFSET, h->chunk_offset);
    gcomp_store_le64(out + GCOMP_WIRE_OFF_COUNT, h->chunk_count);
    gcomp_store_le64(out + GCOMP_WIRE_OFF_KEPT, h->kept);
    gcomp_store_le64(out + GCOMP_WIRE_OFF_SEQ, h->seq);
    gcomp_store_le32(out + GCOMP_WIRE_OFF_RANK, (uint32_t)h->rank);
    gcomp_store_le32(out + GCOMP_WIRE_OFF_COMM, h->comm_id);
    gcomp_store_le32(out + GCOMP_WIRE_OFF_NEXC, h->n_exceptions);
    gcomp_store_le32(out + GCOMP_WIRE_OFF_RESERVED, 0);
    gcomp_store_le64(out + GCOMP_WIRE_OFF_PAYLOAD_LEN, h->payload_len);
    gcomp_store_le64(out + GCOMP_WIRE_OFF_RAW_LEN, h->raw_len);
    gcomp_store_le64(out + GCOMP_WIRE_OFF_CHECKSUM, h->checksum);
}

#define REJECT(...)                                                                               \
    do {                                                                                          \
        gcomp_warn("rejecting frame: " __VA_ARGS__);                                              \
        return GCOMP_ERR_FRAME;                                                                   \
    } while (0)

gcomp_status_t gcomp_wire_header_load(const uint8_t *frame, size_t frame_len, gcomp_wire_header_t *h_p)
{
    if (frame == NULL || frame_len < GCOMP_WIRE_HEADER_LEN)
        REJECT("%zu bytes is shorter than the %d-byte header", frame_len, GCOMP_WIRE_HEADER_LEN);
    uint32_t magic = gcomp_load_le32(frame + GCOMP_WIRE_OFF_MAGIC);
    if (magic != GCOMP_WIRE_MAGIC) REJECT("bad magic 0x%08x", magic);

    gcomp_wire_header_t h;
    h.version = frame[GCOMP_WIRE_OFF_VERSION];
    h.codec = frame[GCOMP_WIRE_OFF_CODEC];
    h.dtype = frame[GCOMP_WIRE_OFF_DTYPE];
    h.flags = frame[GCOMP_WIRE_OFF_FLAGS];
    h.q8_bucket = gcomp_load_le32(frame + GCOMP_WIRE_OFF_Q8_BUCKET);
    h.topk_ratio = gcomp_bits_f32(gcomp_load_le32(frame + GCOMP_WIRE_OFF_TOPK_RATIO));
    h.total_count = gcomp_load_le64(frame + GCOMP_WIRE_OFF_TOTAL);
    h.chunk_offset = gcomp_load_le64(frame + GCOMP_WIRE_OFF_OFFSET);
    h.chunk_count = gcomp_load_le64(frame + GCOMP_WIRE_OFF_COUNT);
    h.kept = gcomp_load_le64(frame + GCOMP_WIRE_OFF_KEPT);
    h.seq = gcomp_load_le64(frame + GCOMP_WIRE_OFF_SEQ);
    h.rank = (int32_t)gcomp_load_le32(frame + GCOMP_WIRE_OFF_RANK);
    h.comm_id = gcomp_load_le32(frame + GCOMP_WIRE_OFF_COMM);
    h.n_exceptions = gcomp_load_le32(frame + GCOMP_WIRE_OFF_NEXC);
    uint32_t reserved = gcomp_load_le32(frame + GCOMP_WIRE_OFF_RESERVED);
    h.payload_len = gcomp_load_le64(frame + GCOMP_WIRE_OFF_PAYLOAD_LEN);
    h.raw_len = gcomp_load_le64(frame + GCOMP_WIRE_OFF_RAW_LEN);
    h.checksum = gcomp_load_le64(frame + GCOMP_WIRE_OFF_CHECKSUM);

    if (h.version != GCOMP_WIRE_VERSION)
        REJECT("format version %u, this library reads version %d", h.version, GCOMP_WIRE_VERSION);
    if (h.codec > GCOMP_CODEC_TOPK_Q8) REJECT("unknown codec %u", h.codec);
    if (h.dtype > GCOMP_DTYPE_FP64) REJECT("unknown dtype %u", h.dtype);
    if (h.flags & ~GCOMP_WIRE_FLAGS_KNOWN) REJECT("unknown flags 0x%02x", h.flags);
    if (reserved != 0) REJECT("reserved field is 0x%08x, not 0", reserved);
    if (h.rank < 0) REJECT("negative sender rank %d", h.rank);
    if (h.chunk_count > GCOMP_WIRE_MAX_COUNT)
        REJECT("chunk of %llu elements exceeds the frame limit", (unsigned long long)h.chunk_count);
    if (h.chunk_offset > h.total_count || h.chunk_count > h.total_count - h.chunk_offset)
        REJECT("chunk [%llu, +%llu) lies outside a vector of %llu", (unsigned long long)h.chunk_offset,
               (unsigned long long)h.chunk_count, (unsigned long long)h.total_count);
    if (h.kept > h.chunk_count)
        REJECT("kept %llu > chunk count %llu", (unsigned long long)h.kept, (unsigned long long)h.chunk_count);
    int sparse = h.codec == GCOMP_CODEC_TOPK || h.codec == GCOMP_CODEC_TOPK_Q8;
    if (!sparse && h.kept != h.chunk_count)
        REJECT("dense codec with kept %llu != chunk count %llu", (unsigned long long)h.kept,
               (unsigned long long)h.chunk_count);
    if ((h.codec == GCOMP_CODEC_Q8 || h.codec == GCOMP_CODEC_TOPK_Q8) && h.q8_bucket == 0)
        REJECT("q8 bucket of 0");
    if ((h.flags & GCOMP_WIRE_FLAG_VALUES_FP16) && h.codec != GCOMP_CODEC_TOPK)
        REJECT("fp16 value flag on codec %u", h.codec);
    if (h.n_exceptions > gcomp_wire_exc_cap(h.chunk_count))
        REJECT("%u exceptions for a chunk of %llu", h.n_exceptions, (unsigned long long)h.chunk_count);
    if (h.payload_len != frame_len - GCOMP_WIRE_HEADER_LEN)
        REJECT("payload length %llu but %zu bytes follow the header", (unsigned long long)h.payload_len,
               frame_len - GCOMP_WIRE_HEADER_LEN);
    /* Every codec's payload is below 12 bytes an element (topk-q8 with bucket 1 keeping all: 4 index +
     * 4 scale + 1 value) plus a small fixed part: this bounds what a
     * zstd frame may ask us to allocate. */
    uint64_t raw_max = 12 * h.chunk_count + 64 + (uint64_t)h.n_exceptions * GCOMP_WIRE_EXC_LEN;
    if (h.raw_len > raw_max)
        REJECT("raw length %llu exceeds %llu for this chunk", (unsigned long long)h.raw_len,
               (unsigned long long)raw_max);
    if (!(h.flags & GCOMP_WIRE_FLAG_ZSTD) && h.raw_len != h.payload_len)
        REJECT("raw length %llu != payload length %llu without zstd", (unsigned long long)h.raw_len,
               (unsigned long long)h.payload_len);
    if ((uint64_t)h.n_exceptions * GCOMP_WIRE_EXC_LEN > h.raw_len)
        REJECT("%u exceptions do not fit in %llu payload bytes", h.n_exceptions,
               (unsigned long long)h.raw_len);
    if (!(h.flags & GCOMP_WIRE_FLAG_CHECKSUM) && h.checksum != 0) REJECT("checksum set without its flag");
    *h_p = h;
    return GCOMP_OK;
}
