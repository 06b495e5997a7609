/*
 * Device buffers in the collectives. A call whose buffers are in GPU memory keeps its algorithm and
 * protocol; only where the bytes live changes: its frames are encoded and decoded by the CUDA codecs
 * straight from and into device memory, its accumulators and its residual live in device memory,
 * and only the compressed frames cross to the host for the transport.
 *
 * Where the bytes live is the call's memory space (codec/space.h), picked here when the buffers are
 * attached; every operation on them goes through its ops table. The context keeps its work memory
 * twice, host scratch and device buffers, so that calls on host and on device buffers can alternate
 * without reallocating.
 */
#define GCOMP_LOG_SUBSYS GCOMP_SUBSYS_COLL
#include <string.h>

#include "coll/coll.h"
#include "core/log.h"

gcomp_status_t gcomp_coll_space_attach(gcomp_call_t *call, const void *sendbuf, void *recvbuf)
{
    call->space = gcomp_space_host();
    if (call->n == 0 || recvbuf == NULL || sendbuf == NULL) return GCOMP_OK;
    const void *in = sendbuf == MPI_IN_PLACE ? recvbuf : sendbuf;
    gcomp_space_t sp;
    GCOMP_CHECK(gcomp_space_find(in, recvbuf, call->dtype != GCOMP_DTYPE_FP64, 0, &sp));
    call->space = sp;
    /* Frames cross between the space and the transport's buffers: make those what the space
     * copies fastest from and to. */
    gcomp_scratch_t *frames = &call->ctx->frames;
    if (sp.ops->frame_alloc != NULL && frames->alloc != sp.ops->frame_alloc) {
        gcomp_scratch_free(frames);
        frames->alloc = sp.ops->frame_alloc;
        frames->release = sp.ops->frame_free;
    }
    return GCOMP_OK;
}

int gcomp_coll_device_ok(const void *sendbuf, const void *recvbuf, int type_ok)
{
    if (recvbuf == NULL || sendbuf == NULL) return 1;
    const void *in = sendbuf == MPI_IN_PLACE ? recvbuf : sendbuf;
    return gcomp_space_find(in, recvbuf, type_ok, 1, NULL) == GCOMP_OK; /* a pass-through is not a warning */
}

/* Memory of the space from the context: host scratch, or a buffer of the device. */
static gcomp_status_t reserve(gcomp_scratch_t *host, gcomp_spacebuf_t *dev, const gcomp_space_t *sp, size_t bytes,
                              void **p_p)
{
    if (gcomp_space_is_host(sp)) {
        GCOMP_CHECK(gcomp_scratch_reserve(host, bytes));
        *p_p = host->ptr;
        return GCOMP_OK;
    }
    GCOMP_CHECK(gcomp_spacebuf_reserve(dev, sp, bytes));
    *p_p = dev->ptr;
    return GCOMP_OK;
}

gcomp_status_t gcomp_coll_widen(gcomp_call_t *call, const void *in)
{
    void *conv;
    GCOMP_CHECK(reserve(&call->ctx->conv, &call->ctx->dconv, &call->space, call->n * sizeof(float), &conv));
    GCOMP_CHECK(call->space.ops->widen(&call->space, in, call->dtype, conv, call->n));
    call->src = call->dst = conv;
    return GCOMP_OK;
}

gcomp_status_t gcomp_coll_narrow(gcomp_call_t *call, void *out)
{
    return call->space.ops->narrow(&call->space, call->dst, out, call->dtype, call->n);
}

gcomp_status_t gcomp_coll_snap_reserve(gcomp_comm_t *ctx, const gcomp_space_t *sp, size_t bytes, float **p_p)
{
    void *p;
    GCOMP_CHECK(reserve(&ctx->snap, &ctx->dsnap, sp, bytes, &p));
    *p_p = p;
    return GCOMP_OK;
}

gcomp_status_t gcomp_coll_work_reserve(gcomp_call_t *call, size_t n)
{
    void *p;
    return reserve(&call->ctx->work, &call->ctx->dwork, &call->space, n * sizeof(float), &p);
}

float *gcomp_coll_work(gcomp_call_t *call)
{
    return gcomp_space_is_host(&call->space) ? (float *)call->ctx->work.ptr : (float *)call->ctx->dwork.ptr;
}

void gcomp_coll_zero(gcomp_call_t *call, float *p, size_t n)
{
    double t0 = gcomp_now_s();
    if (gcomp_space_zero(&call->space, p, n * sizeof(float)) != GCOMP_OK && call->local == GCOMP_OK)
        call->local = GCOMP_ERR_TRANSPORT;
    call->t_decode += gcomp_now_s() - t0;
}

gcomp_status_t gcomp_spacebuf_reserve(gcomp_spacebuf_t *b, const gcomp_space_t *sp, size_t bytes)
{
    if (b->ptr != NULL && b->space.id == sp->id && b->size >= bytes) return GCOMP_OK;
    gcomp_spacebuf_free(b);
    size_t want = bytes + bytes / 8;
    GCOMP_CHECK(gcomp_space_alloc(sp, want, &b->ptr));
    b->size = want;
    b->space = *sp;
    return GCOMP_OK;
}

void gcomp_spacebuf_free(gcomp_spacebuf_t *b)
{
    if (b->ptr != NULL) gcomp_space_free(&b->space, b->ptr);
    b->ptr = NULL;
    b->size = 0;
}

gcomp_status_t gcomp_coll_frame_encode(gcomp_call_t *call, const gcomp_codec_params_t *params,
                                       const gcomp_frame_info_t *where, const float *src, float *residual,
                                       gcomp_msg_t *m, gcomp_frame_info_t *info)
{
    return call->space.ops->encode(&call->space, params, where, src, residual, m->buf, m->cap, call->isa,
                                   &call->ctx->codec, info);
}

gcomp_status_t gcomp_coll_frame_decode(gcomp_call_t *call, const gcomp_msg_t *m, const gcomp_frame_info_t *expect,
                                       float *dst, int accumulate, gcomp_frame_info_t *info)
{
    return call->space.ops->decode(&call->space, m->buf, m->len, expect, dst, accumulate, call->params.checksum,
                                   call->isa, &call->ctx->codec, info);
}
