/*
 * gcomp: compressed gradient all-reduce for data-parallel training.
 *
 * This header is the whole public C API. It has two parts:
 *   1. the standalone codec API (no MPI needed): compress a float vector into a self-describing
 *      frame with error feedback, validate and decode frames;
 *   2. the communicator API (needs MPI; hidden when GCOMP_NO_MPI is defined before inclusion):
 *      a compressed replacement for MPI_Allreduce on gradient buffers.
 */
#ifndef GCOMP_H
#define GCOMP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(GCOMP_BUILDING_LIBRARY) && defined(__GNUC__)
#define GCOMP_API __attribute__((visibility("default")))
#else
#define GCOMP_API
#endif

#define GCOMP_VERSION_MAJOR 0
#define GCOMP_VERSION_MINOR 1
#define GCOMP_VERSION_PATCH 0
#define GCOMP_VERSION_NUMBER (GCOMP_VERSION_MAJOR * 10000 + GCOMP_VERSION_MINOR * 100 + GCOMP_VERSION_PATCH)

/** @return GCOMP_VERSION_NUMBER of the library actually loaded. */
GCOMP_API unsigned gcomp_version(void);
/** @return the version as "MAJOR.MINOR.PATCH". */
GCOMP_API const char *gcomp_version_string(void);

/* ---------------------------------------------------------------------------------------------- */
/* Status                                                                                          */
/* ---------------------------------------------------------------------------------------------- */

typedef enum {
    GCOMP_OK = 0,
    GCOMP_ERR_NOMEM = -1,       /**< memory allocation failed */
    GCOMP_ERR_INVALID = -2,     /**< invalid argument */
    GCOMP_ERR_CONFIG = -3,      /**< invalid configuration value */
    GCOMP_ERR_UNSUPPORTED = -4, /**< not supported by this build or for these arguments */
    GCOMP_ERR_NOSPACE = -5,     /**< output buffer too small */
    GCOMP_ERR_FRAME = -6,       /**< malformed frame: truncated, bad magic, field out of range */
    GCOMP_ERR_CHECKSUM = -7,    /**< frame checksum does not match its contents */
    GCOMP_ERR_MISMATCH = -8,    /**< a well-formed frame or call that disagrees with what was expected */
    GCOMP_ERR_TIMEOUT = -9,     /**< a peer did not answer within GCOMP_TIMEOUT_S */
    GCOMP_ERR_TRANSPORT = -10,  /**< the transport failed to move bytes */
    GCOMP_ERR_MPI = -11,        /**< an MPI call made by gcomp failed */
    GCOMP_ERR_INTERNAL = -12,   /**< a gcomp bug: please report it */
} gcomp_status_t;

/** @return a short constant description of @p status; never NULL. */
GCOMP_API const char *gcomp_status_string(gcomp_status_t status);

/* ---------------------------------------------------------------------------------------------- */
/* Codec parameters                                                                                */
/* ---------------------------------------------------------------------------------------------- */

typedef enum {
    GCOMP_CODEC_NONE = 0,   /**< dense fp32 */
    GCOMP_CODEC_Q8 = 1,     /**< 8-bit quantization, one fp32 scale per bucket */
    GCOMP_CODEC_TOPK = 2,   /**< top-k sparsification, fp32 or fp16 values */
    GCOMP_CODEC_TOPK_Q8 = 3 /**< top-k with 8-bit quantized values */
} gcomp_codec_t;

typedef enum { GCOMP_ROUND_STOCHASTIC = 0, GCOMP_ROUND_NEAREST = 1 } gcomp_rounding_t;
typedef enum { GCOMP_TOPK_SAMPLED = 0, GCOMP_TOPK_EXACT = 1 } gcomp_topk_select_t;
typedef enum { GCOMP_VALUES_FP32 = 0, GCOMP_VALUES_FP16 = 1 } gcomp_value_type_t;

/** Element type of the user's buffer (frames always carry values derived from fp32). */
typedef enum {
    GCOMP_DTYPE_FP32 = 0,
    GCOMP_DTYPE_FP16 = 1,
    GCOMP_DTYPE_BF16 = 2,
    GCOMP_DTYPE_FP64 = 3
} gcomp_dtype_t;

/** Everything that decides the bytes a codec produces. */
typedef struct gcomp_codec_params {
    gcomp_codec_t codec;
    int error_feedback;              /**< 1: add the residual before encoding and keep what was dropped */
    uint32_t q8_bucket;              /**< elements per q8 scale, >= 1 */
    gcomp_rounding_t rounding;       /**< q8 rounding */
    float topk_ratio;                /**< in (0, 1]: k = ceil(ratio * n) */
    gcomp_topk_select_t topk_select; /**< exact or sampled threshold */
    gcomp_value_type_t topk_values;  /**< value type of the topk codec */
    int zstd_level;                  /**< 0: off; 1..19: zstd over the payload when it shrinks it */
    int checksum;                    /**< 1: XXH3-64 over header and payload */
    uint64_t seed;                   /**< key of the stochastic-rounding generator */
} gcomp_codec_params_t;

/**
 * Fill @p params from the process configuration (GCOMP_* environment variables, parsed once).
 */
GCOMP_API void gcomp_codec_params_default(gcomp_codec_params_t *params);

/**
 * Check that every field of @p params is in range.
 * @return GCOMP_OK or GCOMP_ERR_CONFIG (the reason is logged at warn level).
 */
GCOMP_API gcomp_status_t gcomp_codec_params_check(const gcomp_codec_params_t *params);

/** @return the codec's name ("none", "q8", "topk", "topk-q8"), or "?" */
GCOMP_API const char *gcomp_codec_name(gcomp_codec_t codec);

/* ---------------------------------------------------------------------------------------------- */
/* Frames: the standalone codec API                                                                */
/* ---------------------------------------------------------------------------------------------- */

/** Where a frame's chunk sits, who sent it, and (after decoding) what it held. */
typedef struct gcomp_frame_info {
    gcomp_codec_t codec;
    gcomp_dtype_t dtype;     /**< element type of the sender's buffer */
    uint64_t total_count;    /**< elements in the whole vector */
    uint64_t chunk_offset;   /**< first element of this chunk in the vector */
    uint64_t chunk_count;    /**< elements in this chunk */
    int32_t rank;            /**< sender rank */
    uint32_t comm_id;        /**< communicator identifier agreed by all ranks */
    uint64_t seq;            /**< call sequence number on that communicator */
    /* Filled by encode and decode; ignored on input. */
    uint64_t kept;           /**< elements carried (k for topk, chunk_count for dense codecs) */
    uint64_t nonfinite;      /**< non-finite elements carried in the frame's exception list */
    uint64_t payload_bytes;  /**< payload bytes before the optional zstd stage */
    size_t frame_bytes;      /**< whole frame, header included */
} gcomp_frame_info_t;

/**
 * @return an upper bound on the size of a frame that encodes @p chunk_count elements with
 * @p params, or 0 if the parameters are invalid or the chunk is too large for one frame.
 */
GCOMP_API size_t gcomp_frame_bound(const gcomp_codec_params_t *params, uint64_t chunk_count);

/**
 * Encode one chunk with fused error feedback.
 *
 * With error feedback on, compresses g' = src + residual and stores residual <- g' - decode(frame),
 * reading src and residual once. The residual stays finite whatever src holds: non-finite elements
 * travel exactly in the frame's exception list and leave a zero residual.
 *
 * @param params     codec parameters
 * @param where      chunk placement and identity (codec, kept, nonfinite and sizes are ignored)
 * @param src        where->chunk_count fp32 values of this chunk
 * @param residual   where->chunk_count fp32 values, updated in place; NULL encodes src without
 *                   error feedback (also when params->error_feedback is 0)
 * @param frame      output buffer
 * @param capacity   its size; gcomp_frame_bound() is always enough
 * @param info_p     on success, the frame's metadata (may be NULL)
 * @return GCOMP_OK, GCOMP_ERR_INVALID, GCOMP_ERR_NOSPACE or GCOMP_ERR_NOMEM. On error neither the
 *         residual nor the frame hold a usable result.
 */
GCOMP_API gcomp_status_t gcomp_frame_encode(const gcomp_codec_params_t *params,
                                            const gcomp_frame_info_t *where, const float *src,
                                            float *residual, void *frame, size_t capacity,
                                            gcomp_frame_info_t *info_p);

/**
 * Validate a frame's header (and checksum) without decoding its payload.
 * @return GCOMP_OK and the header's fields in @p info_p, or GCOMP_ERR_FRAME / GCOMP_ERR_CHECKSUM.
 */
GCOMP_API gcomp_status_t gcomp_frame_peek(const void *frame, size_t frame_len,
                                          gcomp_frame_info_t *info_p);

/**
 * Validate and decode a frame.
 *
 * Every field is checked before use; no byte outside @p frame[0, frame_len) is read and no element
 * outside @p dst[0, chunk_count) is written, whatever the frame holds.
 *
 * @param frame       the frame bytes (untrusted)
 * @param frame_len   their number
 * @param expect      if not NULL, the frame must match its codec, dtype, total_count, chunk_offset,
 *                    chunk_count, comm_id and seq (rank is checked when >= 0), else
 *                    GCOMP_ERR_MISMATCH. Pass it for bytes from the network: it is what bounds
 *                    the writes to dst. With NULL, dst must hold the chunk_count that
 *                    gcomp_frame_peek() reports for this frame.
 * @param dst         chunk_count fp32 elements
 * @param accumulate  0: dst = decoded; 1: dst += decoded (elementwise, one rounding per add)
 * @param info_p      on success, the frame's metadata (may be NULL)
 * @return GCOMP_OK, GCOMP_ERR_FRAME, GCOMP_ERR_CHECKSUM, GCOMP_ERR_MISMATCH or GCOMP_ERR_NOMEM;
 *         on error @p dst may have been partly written.
 */
GCOMP_API gcomp_status_t gcomp_frame_decode(const void *frame, size_t frame_len,
                                            const gcomp_frame_info_t *expect, float *dst,
                                            int accumulate, gcomp_frame_info_t *info_p);


/* ---------------------------------------------------------------------------------------------- */
/* Communicator API: compressed all-reduce (needs MPI)                                            */
/* ---------------------------------------------------------------------------------------------- */
#ifndef GCOMP_NO_MPI
#include <mpi.h>

/** A compressed-collective context over an MPI communicator. */
typedef struct gcomp_comm gcomp_comm_t;

/** Error-feedback state of one gradient buffer: what compression dropped, added back next call. */
typedef struct gcomp_residual gcomp_residual_t;

/** Counters of a context since creation or the last reset (this rank only). */
typedef struct gcomp_stats {
    uint64_t calls;             /**< compressed all-reduce calls */
    uint64_t calls_dense;       /**< calls given to PMPI_Allreduce (op, type or size not compressed) */
    uint64_t errors;            /**< calls that returned an error */
    uint64_t bytes_in;          /**< user bytes all-reduced (count x type size) */
    uint64_t bytes_sent;        /**< frame bytes this rank sent */
    uint64_t bytes_received;    /**< frame bytes this rank received */
    uint64_t nonfinite;         /**< non-finite elements seen in inputs and partial sums */
    double time_encode_s;       /**< encoding and error feedback, with the residual's snapshot for undo */
    double time_wire_s;         /**< the rest: waiting for the transport and for peers, the call and status agreements */
    double time_decode_s;       /**< decoding and summing, with the zeroing of sparse outputs */
    double time_total_s;        /**< whole calls */
} gcomp_stats_t;

/**
 * Create a context over @p comm (collective over @p comm). The context duplicates the
 * communicator, so its traffic never matches the application's messages.
 * @return GCOMP_OK, GCOMP_ERR_INVALID (intercommunicator, MPI_COMM_NULL), GCOMP_ERR_MPI or NOMEM.
 */
GCOMP_API gcomp_status_t gcomp_comm_create(MPI_Comm comm, gcomp_comm_t **ctx_p);

/** Free a context (local; call it before MPI_Finalize). Accepts NULL. */
GCOMP_API void gcomp_comm_destroy(gcomp_comm_t *ctx);

/** Create an empty residual; it is sized on first use and reset when the count or layout changes. */
GCOMP_API gcomp_status_t gcomp_residual_create(gcomp_residual_t **residual_p);

/** Free a residual. Accepts NULL. */
GCOMP_API void gcomp_residual_destroy(gcomp_residual_t *residual);

/** Forget what a residual holds (e.g. when the model's parameters are reloaded). */
GCOMP_API void gcomp_residual_reset(gcomp_residual_t *residual);

/** @return bytes of memory the residual holds. */
GCOMP_API size_t gcomp_residual_bytes(const gcomp_residual_t *residual);

/**
 * Compressed all-reduce with MPI_SUM semantics over the decoded contributions.
 *
 * Collective over the context's communicator; every rank must pass the same count, datatype, op
 * and parameters (a disagreement is detected and returns GCOMP_ERR_MISMATCH on every rank).
 * Every rank ends with bit-identical output.
 *
 * @param ctx       context from gcomp_comm_create()
 * @param sendbuf   input, or MPI_IN_PLACE to take the input from recvbuf
 * @param recvbuf   output, count elements. Host memory (plain, pinned or managed), or, in a build
 *                  with CUDA, both buffers in the memory of one GPU: fp32 and half-type device
 *                  buffers are encoded and decoded on that GPU and their residual lives there; only
 *                  compressed frames cross to the host. MPI_DOUBLE device buffers, or one buffer on
 *                  the host and the other on a device, return GCOMP_ERR_UNSUPPORTED. The caller's stream work on
 *                  the inputs must be complete (synchronise first, as with CUDA-aware MPI); the
 *                  output is complete on return.
 * @param count     elements per rank
 * @param datatype  MPI_FLOAT (first-class), MPI_DOUBLE, or the MPI library's fp16/bf16 types when it
 *                  has them; these are summed in fp32 and written back in their own type
 * @param op        MPI_SUM is compressed; any other op is passed to PMPI_Allreduce unchanged
 * @param residual  error-feedback state for this buffer, or NULL for none
 * @param params    codec parameters for this call, or NULL for those the GCOMP_* variables gave
 *                  when the context was created
 * @return GCOMP_OK or an error status (logged with its reason); after an error the residual is
 *         as it was before the call.
 */
GCOMP_API gcomp_status_t gcomp_allreduce(gcomp_comm_t *ctx, const void *sendbuf, void *recvbuf, size_t count,
                                         MPI_Datatype datatype, MPI_Op op, gcomp_residual_t *residual,
                                         const gcomp_codec_params_t *params);

/** Copy the context's counters. */
GCOMP_API void gcomp_comm_stats(const gcomp_comm_t *ctx, gcomp_stats_t *stats_p);

/** Zero the context's counters. */
GCOMP_API void gcomp_comm_stats_reset(gcomp_comm_t *ctx);

#endif /* GCOMP_NO_MPI */

#ifdef __cplusplus
}
#endif

#endif /* GCOMP_H */
