/*
 * gcomp's CUDA side, as the collectives see it: the codecs of src/codec on device buffers, producing
 * and consuming the same frames (docs/wire-format.md), so a GPU rank and a CPU rank talk to each other.
 *
 *   - Encode reads a device chunk (fp32, fp16 or bf16) and a device fp32 residual, runs the kernels on
 *     the context's own stream, and writes the frame into host memory (pinned memory from
 *     gcomp_cuda_host_alloc makes the copy a DMA): frames are small, and the MPI transport sends
 *     from host memory.
 *   - Decode validates a frame on the host (header, checksum, exception list, payload layout), copies
 *     its payload to the device, and decodes or decode-accumulates it into a device fp32 buffer.
 *   - The CUDA runtime is linked statically and probed at first use, never at load: a program that
 *     preloads a CUDA build of gcomp on a machine without a GPU or driver starts and runs; every
 *     pointer it passes is then host memory, and a device call here answers GCOMP_ERR_UNSUPPORTED.
 *
 * Frames are byte-identical to the CPU codecs' for the same inputs and parameters, in every mode
 * (q8 with either rounding, topk exact and sampled, fp32/fp16/q8 values), except for the payload bits
 * of NaNs produced by decode (the GPU's adder returns its canonical NaN).
 *
 * Every call synchronises only the context's stream, and only when it needs results on the host.
 * Inputs must be ready when a call is made (the caller synchronises its own stream first, as with
 * CUDA-aware MPI); outputs are ready when it returns.
 */
#ifndef GCOMP_CUDA_GCOMP_CUDA_H
#define GCOMP_CUDA_GCOMP_CUDA_H

#include <stddef.h>
#include <stdint.h>

#include "gcomp.h"
#include "core/compiler.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Where a pointer points, as cudaPointerGetAttributes tells. */
typedef enum {
    GCOMP_MEM_HOST = 0,    /**< ordinary host memory (or CUDA is not available) */
    GCOMP_MEM_PINNED = 1,  /**< page-locked host memory registered with CUDA */
    GCOMP_MEM_DEVICE = 2,  /**< device memory */
    GCOMP_MEM_MANAGED = 3, /**< managed (unified) memory */
} gcomp_mem_kind_t;

/**
 * 1 if a CUDA device can be used. The first call probes the driver (cudaGetDeviceCount); later calls
 * return the cached answer. @p why_p, when not NULL, gets the reason when the answer is 0.
 */
GCOMP_INTERNAL int gcomp_cuda_available(const char **why_p);

/** What @p ptr points to; *device_p (may be NULL) gets the device of device or managed memory. */
GCOMP_INTERNAL gcomp_mem_kind_t gcomp_cuda_classify(const void *ptr, int *device_p);

/** The CUDA state of one device: its stream, device work buffers and a control block. */
typedef struct gcomp_cuda_ctx gcomp_cuda_ctx_t;

/** A context on @p device. GCOMP_ERR_UNSUPPORTED when CUDA is not available. */
GCOMP_INTERNAL gcomp_status_t gcomp_cuda_ctx_create(int device, gcomp_cuda_ctx_t **ctx_p);

/**
 * A context whose "device" is host memory and whose kernels are the host emulation (emulate.c): the
 * same frame path, for tests on machines without a GPU. Pointers given to it are host pointers.
 */
GCOMP_INTERNAL gcomp_status_t gcomp_cuda_ctx_create_emulated(gcomp_cuda_ctx_t **ctx_p);

/** Free a context (synchronises its stream first). Accepts NULL. */
GCOMP_INTERNAL void gcomp_cuda_ctx_destroy(gcomp_cuda_ctx_t *ctx);

/** 1 if @p ctx runs on a GPU, 0 if it is emulated. */
GCOMP_INTERNAL int gcomp_cuda_ctx_is_gpu(const gcomp_cuda_ctx_t *ctx);

/**
 * gcomp_frame_encode() for a device chunk.
 *
 * @param src       where->chunk_count elements of type where->dtype (fp32, fp16 or bf16) in device memory
 * @param residual  where->chunk_count fp32 in device memory, updated in place; NULL (or
 *                  params->error_feedback 0) encodes without error feedback
 * @param frame     host memory, @p capacity >= gcomp_frame_bound(params, chunk_count)
 * @return as gcomp_frame_encode(); GCOMP_ERR_UNSUPPORTED for fp64, GCOMP_ERR_TRANSPORT with a log
 *         line when a CUDA call fails.
 */
GCOMP_INTERNAL gcomp_status_t gcomp_cuda_frame_encode(gcomp_cuda_ctx_t *ctx, const gcomp_codec_params_t *params,
                                                      const gcomp_frame_info_t *where, const void *src,
                                                      float *residual, void *frame, size_t capacity,
                                                      gcomp_frame_info_t *info_p);

/**
 * gcomp_cuda_frame_encode() of fp32 elements whatever where->dtype says (it goes into the header), as
 * the CPU's gcomp_frame_encode() takes them: what the collectives encode, having widened fp16/bf16
 * buffers to fp32.
 */
GCOMP_INTERNAL gcomp_status_t gcomp_cuda_frame_encode_f32(gcomp_cuda_ctx_t *ctx, const gcomp_codec_params_t *params,
                                                          const gcomp_frame_info_t *where, const float *src,
                                                          float *residual, void *frame, size_t capacity,
                                                          gcomp_frame_info_t *info_p);

/**
 * gcomp_frame_decode() into device memory: @p frame is in host memory, @p dst holds chunk_count fp32
 * in device memory. @p require_checksum: refuse frames sent without a checksum.
 */
GCOMP_INTERNAL gcomp_status_t gcomp_cuda_frame_decode(gcomp_cuda_ctx_t *ctx, const void *frame, size_t frame_len,
                                                      const gcomp_frame_info_t *expect, float *dst, int accumulate,
                                                      int require_checksum, gcomp_frame_info_t *info_p);

/**
 * Decode-accumulate several frames of the same chunk, in the order given: dst = f0 + f1 + ... (or
 * dst += ... with @p accumulate), one rounding per add, as that many gcomp_frame_decode() calls would
 * give. q8 frames without exceptions are summed by one fused kernel that reads and writes dst once.
 * Every frame is validated before any is decoded.
 * @param expect  NULL, or the placement all frames must have (its rank is ignored)
 */
GCOMP_INTERNAL gcomp_status_t gcomp_cuda_frames_decode(gcomp_cuda_ctx_t *ctx, int nframes, const void *const *frames,
                                                       const size_t *frame_lens, const gcomp_frame_info_t *expect,
                                                       float *dst, int accumulate, int require_checksum);

/** dst[i] = src[i] (of @p dtype: fp32, fp16 or bf16) as fp32, exactly; device memory. */
GCOMP_INTERNAL gcomp_status_t gcomp_cuda_widen(gcomp_cuda_ctx_t *ctx, const void *src, gcomp_dtype_t dtype,
                                               float *dst, uint64_t n);

/** What gcomp_cuda_count_sparse() finds in an fp32 array. */
typedef struct gcomp_cuda_sparse_count {
    uint64_t nnz;       /**< finite non-zero values */
    uint64_t nonfinite; /**< NaN and infinities */
    uint64_t max_delta; /**< largest delta of the top-k index encoding over the non-zeros: the first
                             one's index, then i - j - 1 between consecutive ones (0 when none) */
} gcomp_cuda_sparse_count_t;

/** Count @p n fp32 values in device memory: what the sparse reduce-scatter needs to size a frame. */
GCOMP_INTERNAL gcomp_status_t gcomp_cuda_count_sparse(gcomp_cuda_ctx_t *ctx, const float *src, uint64_t n,
                                                      gcomp_cuda_sparse_count_t *count_p);

/** acc[i] += res[i], res[i] = 0 (one rounding per element, the CPU's), device memory. */
GCOMP_INTERNAL gcomp_status_t gcomp_cuda_fold(gcomp_cuda_ctx_t *ctx, float *acc, float *res, uint64_t n);

/** dst[i] = src[i] converted to @p dtype (fp32, fp16 or bf16; round to nearest even), device memory. */
GCOMP_INTERNAL gcomp_status_t gcomp_cuda_convert(gcomp_cuda_ctx_t *ctx, const float *src, void *dst,
                                                 gcomp_dtype_t dtype, uint64_t n);

/** Memory of the context's kind (device memory, or host memory when emulated), and copies to and from it. */
GCOMP_INTERNAL gcomp_status_t gcomp_cuda_malloc(gcomp_cuda_ctx_t *ctx, void **ptr_p, size_t bytes);
GCOMP_INTERNAL void gcomp_cuda_free(gcomp_cuda_ctx_t *ctx, void *ptr);
GCOMP_INTERNAL gcomp_status_t gcomp_cuda_memcpy(gcomp_cuda_ctx_t *ctx, void *dst, const void *src, size_t bytes);

/** Set @p bytes of context memory to @p value (synchronous). */
GCOMP_INTERNAL gcomp_status_t gcomp_cuda_memset(gcomp_cuda_ctx_t *ctx, void *p, int value, size_t bytes);

/**
 * The context the collectives use for buffers on @p device: made at first use, kept for the life of
 * the process (residuals in device memory may outlive any communicator). Its calls are serialised by
 * its lock, so threads may share it.
 */
GCOMP_INTERNAL gcomp_status_t gcomp_cuda_ctx_of_device(int device, gcomp_cuda_ctx_t **ctx_p);

/**
 * For tests on machines without a GPU: from now on "device 0" is host memory run by @p be (the host
 * emulation, or the SIMT emulator of the real kernels), gcomp_cuda_available() answers 1, and memory
 * from gcomp_cuda_malloc() on an emulated context is classified as GCOMP_MEM_DEVICE of device 0. Call
 * it before any CUDA use in the process.
 */
struct gcomp_cu_backend;
GCOMP_INTERNAL void gcomp_cuda_emulate_devices(const struct gcomp_cu_backend *be);

/** Page-locked host memory (plain memory when CUDA is not available); free accepts NULL. */
GCOMP_INTERNAL void *gcomp_cuda_host_alloc(size_t bytes);
GCOMP_INTERNAL void gcomp_cuda_host_free(void *ptr);

/** Milliseconds the device steps of the context's last encode or decode took (CUDA events; 0 when
 * emulated). */
GCOMP_INTERNAL double gcomp_cuda_last_device_ms(const gcomp_cuda_ctx_t *ctx);

/** Time a device-to-device copy of @p bytes on the context's stream, in milliseconds (the baseline of
 * the benchmarks, measured in the same run). */
GCOMP_INTERNAL gcomp_status_t gcomp_cuda_time_copy(gcomp_cuda_ctx_t *ctx, void *dst, const void *src, size_t bytes,
                                                   double *ms_p);

#ifdef __cplusplus
}
#endif

#endif
