/*
 * Whole-array steps the collectives take on device sums between frames (src/coll's device path):
 * widening fp16/bf16 to fp32, folding a residual into a sum, counting a sum's non-zeros to choose its
 * frame, and converting fp32 sums back to the user's type. Each is one step of kernels.h and a sync.
 */
#define GCOMP_LOG_SUBSYS GCOMP_SUBSYS_CUDA
#include "core/log.h"
#include "ctx.h"
#include "elem.h"

gcomp_status_t gcomp_cuda_widen(gcomp_cuda_ctx_t *ctx, const void *src, gcomp_dtype_t dtype, float *dst, uint64_t n)
{
    if (ctx == NULL || (unsigned)dtype > GCOMP_DTYPE_BF16) return GCOMP_ERR_INVALID;
    if (n == 0) return GCOMP_OK;
    int prev = 0;
    GCOMP_CHECK(gcomp_cuda_ctx_enter(ctx, &prev));
    /* The none codec's encoder without a residual writes each element's fp32 bits: the conversion. */
    gcomp_cu_none_t a = {.src = src, .dtype = (int)dtype, .n = n, .out = (uint8_t *)dst};
    int err = ctx->be->none_encode(ctx->stream, &a);
    return gcomp_cuda_ctx_finish(ctx, prev, err, "conversion to fp32");
}

gcomp_status_t gcomp_cuda_fold(gcomp_cuda_ctx_t *ctx, float *acc, float *res, uint64_t n)
{
    if (ctx == NULL) return GCOMP_ERR_INVALID;
    if (n == 0) return GCOMP_OK;
    int prev = 0;
    GCOMP_CHECK(gcomp_cuda_ctx_enter(ctx, &prev));
    /* The none codec's encoder again: out = src + residual (element by element, so in place), residual = 0. */
    gcomp_cu_none_t a = {.src = acc, .dtype = GCOMP_CU_F32, .res = res, .n = n, .out = (uint8_t *)acc};
    int err = ctx->be->none_encode(ctx->stream, &a);
    return gcomp_cuda_ctx_finish(ctx, prev, err, "adding a residual");
}

gcomp_status_t gcomp_cuda_count_sparse(gcomp_cuda_ctx_t *ctx, const float *src, uint64_t n,
                                       gcomp_cuda_sparse_count_t *count_p)
{
    if (ctx == NULL) return GCOMP_ERR_INVALID;
    gcomp_cu_count_part_t all = {0, 0, GCOMP_CU_NONE_INDEX, GCOMP_CU_NONE_INDEX, 0};
    if (n > 0) {
        /* Parts of at least 64 Ki elements, at most 1024 of them: a few KiB come back. */
        uint64_t per = GCOMP_MAX((n + 1023) / 1024, (uint64_t)65536);
        uint32_t nparts = (uint32_t)((n + per - 1) / per);
        gcomp_cu_count_part_t parts_host[1024];
        int prev = 0;
        GCOMP_CHECK(gcomp_cuda_ctx_enter(ctx, &prev));
        void *parts = NULL;
        gcomp_status_t st = gcomp_cuda_ctx_reserve(ctx, GCOMP_CU_BUF_PARTS, nparts * sizeof(parts_host[0]), &parts);
        int err = 0;
        if (st == GCOMP_OK) {
            gcomp_cu_count_t a = {.src = src, .n = n, .per_part = per, .nparts = nparts, .parts = parts};
            err = ctx->be->count(ctx->stream, &a);
            if (err == 0) err = ctx->be->copy(ctx->stream, parts_host, parts, nparts * sizeof(parts_host[0]));
            if (err == 0) err = ctx->be->sync(ctx->stream);
        }
        gcomp_cuda_ctx_leave(ctx, prev);
        if (st != GCOMP_OK) return st;
        if (err) return gcomp_cuda_ctx_error(ctx, err, "counting non-zeros");
        for (uint32_t b = 0; b < nparts; b++) gcomp_cu_count_join(&all, &parts_host[b]);
    }
    count_p->nnz = all.nnz;
    count_p->nonfinite = all.nonfinite;
    /* The first non-zero's delta is its index (deltas count from -1). */
    uint64_t first = all.first == GCOMP_CU_NONE_INDEX ? 0 : all.first;
    count_p->max_delta = GCOMP_MAX(all.max_gap, first);
    return GCOMP_OK;
}

gcomp_status_t gcomp_cuda_convert(gcomp_cuda_ctx_t *ctx, const float *src, void *dst, gcomp_dtype_t dtype,
                                  uint64_t n)
{
    if (ctx == NULL || (unsigned)dtype > GCOMP_DTYPE_BF16) return GCOMP_ERR_INVALID;
    if (n == 0) return GCOMP_OK;
    int prev = 0;
    GCOMP_CHECK(gcomp_cuda_ctx_enter(ctx, &prev));
    gcomp_cu_convert_t a = {.src = src, .dst = dst, .dtype = (int)dtype, .n = n};
    int err = ctx->be->convert(ctx->stream, &a);
    return gcomp_cuda_ctx_finish(ctx, prev, err, "conversion");
}
