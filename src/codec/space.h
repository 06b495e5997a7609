/*
 * Memory spaces: where a call's arrays live (host memory, or the memory of one CUDA device) and the
 * operations the collectives need on them, as one ops table per kind of memory. The algorithms and
 * the residual code allocate, copy, clear, encode and decode through a gcomp_space_t, so the same
 * code serves host and device buffers; frames are always in host memory.
 *
 * Instances: the host (space_host.c: plain memory and the host codecs) and CUDA devices
 * (cuda/space_cuda.c: the CUDA codecs of cuda/gcomp_cuda.h). gcomp_space_find() is the one entry
 * that tells them apart; the build links cuda/space_cuda.c or space_nocuda.c (every buffer is host
 * memory), so no code above this layer tests for CUDA.
 *
 * This header is below src/coll and cuda/, which both include it.
 */
#ifndef GCOMP_CODEC_SPACE_H
#define GCOMP_CODEC_SPACE_H

#include <stddef.h>
#include <stdint.h>

#include "gcomp.h"
#include "core/compiler.h"
#include "codec/isa.h"
#include "core/mem.h"

typedef struct gcomp_space_ops gcomp_space_ops_t;

/* One memory space: its operations, its instance's state (the CUDA context of the device; NULL for
 * the host) and a stable id (0 host memory, d + 1 CUDA device d) that residual layouts record. */
typedef struct gcomp_space {
    const gcomp_space_ops_t *ops;
    void *ctx;
    int32_t id;
} gcomp_space_t;

struct gcomp_space_ops {
    const char *name; /* for logs: "host", "device" */
    /* bytes may be 0 (a valid pointer still comes back); free is never given NULL */
    gcomp_status_t (*alloc)(const gcomp_space_t *sp, size_t bytes, void **p_p);
    void (*free)(const gcomp_space_t *sp, void *p);
    /* within the space; never given 0 bytes */
    gcomp_status_t (*copy)(const gcomp_space_t *sp, void *dst, const void *src, size_t bytes);
    gcomp_status_t (*zero)(const gcomp_space_t *sp, void *p, size_t bytes);
    /* gcomp_frame_encode_ex() of fp32 src (residual updated in place, may be NULL) into a host frame;
     * isa and scratch are the host codecs' kernel variant and work space (a device ignores them). */
    gcomp_status_t (*encode)(const gcomp_space_t *sp, const gcomp_codec_params_t *params,
                             const gcomp_frame_info_t *where, const float *src, float *residual, void *frame,
                             size_t capacity, gcomp_isa_t isa, gcomp_scratch_t *scratch, gcomp_frame_info_t *info_p);
    /* gcomp_frame_decode_ex() of a host frame into fp32 dst in the space */
    gcomp_status_t (*decode)(const gcomp_space_t *sp, const void *frame, size_t frame_len,
                             const gcomp_frame_info_t *expect, float *dst, int accumulate, int require_checksum,
                             gcomp_isa_t isa, gcomp_scratch_t *scratch, gcomp_frame_info_t *info_p);
    /* acc[i] += res[i], res[i] = 0 */
    gcomp_status_t (*fold)(const gcomp_space_t *sp, float *acc, float *res, size_t n);
    /* What sizes a sparse frame of acc: finite non-zeros, non-finite values, and the largest delta of
     * the top-k index encoding (the first non-zero's index, then i - j - 1 between consecutive ones). */
    gcomp_status_t (*count)(const gcomp_space_t *sp, const float *acc, size_t n, uint64_t *nnz_p,
                            uint64_t *nonfinite_p, uint64_t *max_delta_p);
    /* dst = in (of dtype) as fp32, and back (round to nearest even; beyond range: Inf) */
    gcomp_status_t (*widen)(const gcomp_space_t *sp, const void *in, gcomp_dtype_t dtype, float *dst, size_t n);
    gcomp_status_t (*narrow)(const gcomp_space_t *sp, const float *src, void *out, gcomp_dtype_t dtype, size_t n);
    /* Host memory for the frames that cross to and from the space (pinned for a device, so that a
     * copy is one DMA); NULL: the transport's ordinary memory will do. */
    void *(*frame_alloc)(size_t bytes);
    void (*frame_free)(void *p);
};

GCOMP_INTERNAL extern const gcomp_space_ops_t gcomp_space_host_ops;

static inline gcomp_space_t gcomp_space_host(void)
{
    gcomp_space_t sp = {&gcomp_space_host_ops, NULL, 0};
    return sp;
}

static inline int gcomp_space_is_host(const gcomp_space_t *sp)
{
    return sp->ops == &gcomp_space_host_ops;
}

/*
 * The space of a call's buffers: in (the input, or the output for an in-place call) and out must
 * both be host memory (pinned and managed memory count as host), or both on one device with type_ok
 * (an element type the device path takes: fp32, fp16, bf16). Otherwise GCOMP_ERR_UNSUPPORTED, with
 * a warning unless quiet. space_p NULL: only the check, no device context is made.
 */
GCOMP_INTERNAL gcomp_status_t gcomp_space_find(const void *in, const void *out, int type_ok, int quiet,
                                               gcomp_space_t *space_p);

/* The operations, with the cases every instance shares handled once. */
static inline gcomp_status_t gcomp_space_alloc(const gcomp_space_t *sp, size_t bytes, void **p_p)
{
    return sp->ops->alloc(sp, bytes, p_p);
}

static inline void gcomp_space_free(const gcomp_space_t *sp, void *p)
{
    if (p != NULL) sp->ops->free(sp, p);
}

static inline gcomp_status_t gcomp_space_copy(const gcomp_space_t *sp, void *dst, const void *src, size_t bytes)
{
    return bytes == 0 ? GCOMP_OK : sp->ops->copy(sp, dst, src, bytes);
}

static inline gcomp_status_t gcomp_space_zero(const gcomp_space_t *sp, void *p, size_t bytes)
{
    return bytes == 0 ? GCOMP_OK : sp->ops->zero(sp, p, bytes);
}

static inline gcomp_status_t gcomp_space_fold(const gcomp_space_t *sp, float *acc, float *res, size_t n)
{
    return sp->ops->fold(sp, acc, res, n);
}

static inline gcomp_status_t gcomp_space_count(const gcomp_space_t *sp, const float *acc, size_t n,
                                               uint64_t *nnz_p, uint64_t *nonfinite_p, uint64_t *max_delta_p)
{
    return sp->ops->count(sp, acc, n, nnz_p, nonfinite_p, max_delta_p);
}

#endif
