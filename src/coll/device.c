/*
 * Device buffers in the collectives. A call whose buffers are in GPU memory keeps its algorithm and
 * protocol; only where the bytes live changes: its frames are encoded and decoded by the CUDA codecs
 * (cuda/gcomp_cuda.h) straight from and into device memory, its accumulators and its residual live
 * in device memory, and only the compressed frames cross to the host for the transport.
 *
 * Memory "spaces" name where an array lives: 0 is host memory, d + 1 is the memory of CUDA device d.
 * The residual code and the algorithms allocate, copy and clear through them, so the same code
 * serves both. In a build without CUDA every buffer is host memory (space 0).
 */
#define GCOMP_LOG_SUBSYS GCOMP_SUBSYS_COLL
#include <string.h>

#include "coll/coll.h"
#include "core/log.h"
#if GCOMP_HAVE_CUDA
#include "gcomp_cuda.h"
#endif

#if GCOMP_HAVE_CUDA
static gcomp_status_t space_ctx(int space, gcomp_cuda_ctx_t **ctx_p)
{
    return gcomp_cuda_ctx_of_device(space - 1, ctx_p);
}

/* Where the call's buffers are: 0 (host, pinned or managed memory), or device + 1. type_ok: the
 * element type is one the device path takes (fp32, fp16, bf16). */
static gcomp_status_t classify(const void *sendbuf, const void *recvbuf, int type_ok, int quiet, int *space_p)
{
    *space_p = 0;
    const void *in = sendbuf == MPI_IN_PLACE ? recvbuf : sendbuf;
    int din = -1, dout = -1;
    int kin = gcomp_cuda_classify(in, &din) == GCOMP_MEM_DEVICE;
    int kout = gcomp_cuda_classify(recvbuf, &dout) == GCOMP_MEM_DEVICE;
    if (!kin && !kout) return GCOMP_OK;
    if (kin != kout || din != dout) {
        if (!quiet)
                gcomp_warn("the input is in %s memory and the output in %s memory: give both buffers on one device, "
                       "or both in host memory", kin ? "device" : "host", kout ? "device" : "host");
        return GCOMP_ERR_UNSUPPORTED;
    }
    if (!type_ok) {
        if (!quiet)
            gcomp_warn("device buffers of doubles are not compressed: all-reduce fp32, fp16 or bf16 "
                       "gradients, or pass this call to MPI");
        return GCOMP_ERR_UNSUPPORTED;
    }
    *space_p = din + 1;
    return GCOMP_OK;
}
#endif

gcomp_status_t gcomp_coll_device_attach(gcomp_call_t *call, const void *sendbuf, void *recvbuf)
{
    call->space = 0;
    call->dev = NULL;
#if GCOMP_HAVE_CUDA
    if (call->n == 0 || recvbuf == NULL || sendbuf == NULL) return GCOMP_OK;
    int space;
    GCOMP_CHECK(classify(sendbuf, recvbuf, call->dtype != GCOMP_DTYPE_FP64, 0, &space));
    if (space == 0) return GCOMP_OK;
    gcomp_cuda_ctx_t *c;
    GCOMP_CHECK(space_ctx(space, &c));
    call->dev = c;
    call->space = space;
    /* Frames cross between the device and the transport's buffers: make those pinned, so that each
     * copy is one DMA. */
    gcomp_scratch_t *frames = &call->ctx->frames;
    if (frames->alloc != gcomp_cuda_host_alloc) {
        gcomp_scratch_free(frames);
        frames->alloc = gcomp_cuda_host_alloc;
        frames->release = gcomp_cuda_host_free;
    }
#else
    (void)sendbuf, (void)recvbuf;
#endif
    return GCOMP_OK;
}

int gcomp_coll_device_ok(const void *sendbuf, const void *recvbuf, int type_ok)
{
#if GCOMP_HAVE_CUDA
    int space;
    if (recvbuf == NULL || sendbuf == NULL) return 1;
    return classify(sendbuf, recvbuf, type_ok, 1, &space) == GCOMP_OK; /* a pass-through is not a warning */
#else
    (void)sendbuf, (void)recvbuf, (void)type_ok;
    return 1;
#endif
}

gcomp_status_t gcomp_coll_device_widen(gcomp_call_t *call, const void *in)
{
#if GCOMP_HAVE_CUDA
    gcomp_spacebuf_t *conv = &call->ctx->dconv;
    GCOMP_CHECK(gcomp_spacebuf_reserve(conv, call->space, call->n * sizeof(float)));
    GCOMP_CHECK(gcomp_cuda_widen(call->dev, in, call->dtype, conv->ptr, call->n));
    call->src = call->dst = conv->ptr;
    return GCOMP_OK;
#else
    (void)call, (void)in;
    return GCOMP_ERR_UNSUPPORTED;
#endif
}

gcomp_status_t gcomp_coll_device_narrow(gcomp_call_t *call, void *out)
{
#if GCOMP_HAVE_CUDA
    return gcomp_cuda_convert(call->dev, call->dst, out, call->dtype, call->n);
#else
    (void)call, (void)out;
    return GCOMP_ERR_UNSUPPORTED;
#endif
}

gcomp_status_t gcomp_coll_device_fold(gcomp_call_t *call, float *acc, float *res, size_t n)
{
#if GCOMP_HAVE_CUDA
    return gcomp_cuda_fold(call->dev, acc, res, n);
#else
    (void)call, (void)acc, (void)res, (void)n;
    return GCOMP_ERR_UNSUPPORTED;
#endif
}

gcomp_status_t gcomp_coll_device_count(gcomp_call_t *call, const float *acc, size_t n, uint64_t *nnz_p,
                                       uint64_t *nonfinite_p, uint64_t *max_delta_p)
{
#if GCOMP_HAVE_CUDA
    gcomp_cuda_sparse_count_t c;
    GCOMP_CHECK(gcomp_cuda_count_sparse(call->dev, acc, n, &c));
    *nnz_p = c.nnz, *nonfinite_p = c.nonfinite, *max_delta_p = c.max_delta;
    return GCOMP_OK;
#else
    (void)call, (void)acc, (void)n, (void)nnz_p, (void)nonfinite_p, (void)max_delta_p;
    return GCOMP_ERR_UNSUPPORTED;
#endif
}

gcomp_status_t gcomp_space_alloc(int space, size_t bytes, void **p_p)
{
    void *p = NULL;
    if (space == 0) {
        p = gcomp_aligned_alloc(bytes ? bytes : 1);
        if (p == NULL) return GCOMP_ERR_NOMEM;
    } else {
#if GCOMP_HAVE_CUDA
        gcomp_cuda_ctx_t *c;
        GCOMP_CHECK(space_ctx(space, &c));
        GCOMP_CHECK(gcomp_cuda_malloc(c, &p, bytes ? bytes : 4));
#else
        return GCOMP_ERR_UNSUPPORTED;
#endif
    }
    *p_p = p;
    return GCOMP_OK;
}

void gcomp_space_free(int space, void *p)
{
    if (p == NULL) return;
    if (space == 0) {
        gcomp_aligned_free(p);
        return;
    }
#if GCOMP_HAVE_CUDA
    gcomp_cuda_ctx_t *c;
    if (space_ctx(space, &c) == GCOMP_OK) gcomp_cuda_free(c, p);
#endif
}

gcomp_status_t gcomp_space_copy(int space, void *dst, const void *src, size_t bytes)
{
    if (bytes == 0) return GCOMP_OK;
    if (space == 0) {
        memcpy(dst, src, bytes);
        return GCOMP_OK;
    }
#if GCOMP_HAVE_CUDA
    gcomp_cuda_ctx_t *c;
    GCOMP_CHECK(space_ctx(space, &c));
    return gcomp_cuda_memcpy(c, dst, src, bytes);
#else
    return GCOMP_ERR_UNSUPPORTED;
#endif
}

gcomp_status_t gcomp_space_zero(int space, void *p, size_t bytes)
{
    if (bytes == 0) return GCOMP_OK;
    if (space == 0) {
        memset(p, 0, bytes);
        return GCOMP_OK;
    }
#if GCOMP_HAVE_CUDA
    gcomp_cuda_ctx_t *c;
    GCOMP_CHECK(space_ctx(space, &c));
    return gcomp_cuda_memset(c, p, 0, bytes);
#else
    return GCOMP_ERR_UNSUPPORTED;
#endif
}

gcomp_status_t gcomp_spacebuf_reserve(gcomp_spacebuf_t *b, int space, size_t bytes)
{
    if (b->ptr != NULL && b->space == space && b->size >= bytes) return GCOMP_OK;
    gcomp_spacebuf_free(b);
    size_t want = bytes + bytes / 8;
    GCOMP_CHECK(gcomp_space_alloc(space, want, &b->ptr));
    b->size = want;
    b->space = space;
    return GCOMP_OK;
}

void gcomp_spacebuf_free(gcomp_spacebuf_t *b)
{
    gcomp_space_free(b->space, b->ptr);
    b->ptr = NULL;
    b->size = 0;
    b->space = 0;
}

gcomp_status_t gcomp_coll_frame_encode(gcomp_call_t *call, const gcomp_codec_params_t *params,
                                       const gcomp_frame_info_t *where, const float *src, float *residual,
                                       gcomp_msg_t *m, gcomp_frame_info_t *info)
{
#if GCOMP_HAVE_CUDA
    if (call->dev != NULL)
        return gcomp_cuda_frame_encode_f32(call->dev, params, where, src, residual, m->buf, m->cap, info);
#endif
    return gcomp_frame_encode_ex(params, where, src, residual, m->buf, m->cap, call->isa, &call->ctx->codec, info);
}

gcomp_status_t gcomp_coll_frame_decode(gcomp_call_t *call, const gcomp_msg_t *m, const gcomp_frame_info_t *expect,
                                       float *dst, int accumulate, gcomp_frame_info_t *info)
{
#if GCOMP_HAVE_CUDA
    if (call->dev != NULL)
        return gcomp_cuda_frame_decode(call->dev, m->buf, m->len, expect, dst, accumulate, call->params.checksum,
                                       info);
#endif
    return gcomp_frame_decode_ex(m->buf, m->len, expect, dst, accumulate, call->isa, &call->ctx->codec,
                                 call->params.checksum, info);
}
