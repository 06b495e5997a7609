/*
 * The memory space of a CUDA device (codec/space.h): its memory, and the CUDA codecs of gcomp_cuda.h
 * on it; the space's context is the device's process-wide gcomp_cuda_ctx_t. Also gcomp_space_find()
 * of CUDA builds, which tells host from device pointers.
 */
#define GCOMP_LOG_SUBSYS GCOMP_SUBSYS_CUDA
#include "codec/space.h"
#include "core/log.h"
#include "gcomp_cuda.h"

static gcomp_status_t dev_alloc(const gcomp_space_t *sp, size_t bytes, void **p_p)
{
    return gcomp_cuda_malloc(sp->ctx, p_p, bytes ? bytes : 4);
}

static void dev_free(const gcomp_space_t *sp, void *p)
{
    gcomp_cuda_free(sp->ctx, p);
}

static gcomp_status_t dev_copy(const gcomp_space_t *sp, void *dst, const void *src, size_t bytes)
{
    return gcomp_cuda_memcpy(sp->ctx, dst, src, bytes);
}

static gcomp_status_t dev_zero(const gcomp_space_t *sp, void *p, size_t bytes)
{
    return gcomp_cuda_memset(sp->ctx, p, 0, bytes);
}

static gcomp_status_t dev_encode(const gcomp_space_t *sp, const gcomp_codec_params_t *params,
                                 const gcomp_frame_info_t *where, const float *src, float *residual, void *frame,
                                 size_t capacity, gcomp_isa_t isa, gcomp_scratch_t *scratch,
                                 gcomp_frame_info_t *info_p)
{
    (void)isa, (void)scratch;
    return gcomp_cuda_frame_encode_f32(sp->ctx, params, where, src, residual, frame, capacity, info_p);
}

static gcomp_status_t dev_decode(const gcomp_space_t *sp, const void *frame, size_t frame_len,
                                 const gcomp_frame_info_t *expect, float *dst, int accumulate, int require_checksum,
                                 gcomp_isa_t isa, gcomp_scratch_t *scratch, gcomp_frame_info_t *info_p)
{
    (void)isa, (void)scratch;
    return gcomp_cuda_frame_decode(sp->ctx, frame, frame_len, expect, dst, accumulate, require_checksum, info_p);
}

static gcomp_status_t dev_fold(const gcomp_space_t *sp, float *acc, float *res, size_t n)
{
    return gcomp_cuda_fold(sp->ctx, acc, res, n);
}

static gcomp_status_t dev_count(const gcomp_space_t *sp, const float *acc, size_t n, uint64_t *nnz_p,
                                uint64_t *nonfinite_p, uint64_t *max_delta_p)
{
    gcomp_cuda_sparse_count_t c;
    GCOMP_CHECK(gcomp_cuda_count_sparse(sp->ctx, acc, n, &c));
    *nnz_p = c.nnz, *nonfinite_p = c.nonfinite, *max_delta_p = c.max_delta;
    return GCOMP_OK;
}

static gcomp_status_t dev_widen(const gcomp_space_t *sp, const void *in, gcomp_dtype_t dtype, float *dst, size_t n)
{
    return gcomp_cuda_widen(sp->ctx, in, dtype, dst, n);
}

static gcomp_status_t dev_narrow(const gcomp_space_t *sp, const float *src, void *out, gcomp_dtype_t dtype, size_t n)
{
    return gcomp_cuda_convert(sp->ctx, src, out, dtype, n);
}

static const gcomp_space_ops_t space_cuda_ops = {
    .name = "device",
    .alloc = dev_alloc, .free = dev_free, .copy = dev_copy, .zero = dev_zero,
    .encode = dev_encode, .decode = dev_decode, .fold = dev_fold, .count = dev_count,
    .widen = dev_widen, .narrow = dev_narrow,
    .frame_alloc = gcomp_cuda_host_alloc, .frame_free = gcomp_cuda_host_free,
};

gcomp_status_t gcomp_space_find(const void *in, const void *out, int type_ok, int quiet, gcomp_space_t *space_p)
{
    int din = -1, dout = -1;
    int kin = gcomp_cuda_classify(in, &din) == GCOMP_MEM_DEVICE;
    int kout = gcomp_cuda_classify(out, &dout) == GCOMP_MEM_DEVICE;
    if (!kin && !kout) {
        if (space_p != NULL) *space_p = gcomp_space_host();
        return GCOMP_OK;
    }
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
    if (space_p == NULL) return GCOMP_OK;
    gcomp_cuda_ctx_t *c;
    GCOMP_CHECK(gcomp_cuda_ctx_of_device(din, &c));
    space_p->ops = &space_cuda_ops;
    space_p->ctx = c;
    space_p->id = din + 1;
    return GCOMP_OK;
}
