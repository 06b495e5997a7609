/*
 * A ctypes entry for torch_topk.py: gcomp's top-k encode on a device buffer that PyTorch owns, timed
 * in the same process as torch.topk on the same data. Not installed; built with the gpu tests.
 */
#include <stdlib.h>
#include <time.h>

#include "core/timing.h"
#include "gcomp_cuda.h"

int gcomp_py_topk(unsigned long long src, unsigned long long res, unsigned long long dst, unsigned long long n,
                  double ratio, int exact, int iters, double *out);

/*
 * Encode n fp32 at src (device) with topk at ratio, exact or sampled selection, error feedback into
 * res when it is not 0; iters timed runs after one warm-up. dst, when not 0, receives the last
 * frame decoded (device, n fp32). out: [0] median device ms (kernels), [1] median call ms (frame in
 * pinned host memory, header and checksum included), [2] kept, [3] frame bytes.
 * @return 0, or a gcomp_status_t (negative), or -100 when src is not device memory.
 */
__attribute__((visibility("default"))) int gcomp_py_topk(unsigned long long src, unsigned long long res,
                                                         unsigned long long dst, unsigned long long n, double ratio,
                                                         int exact, int iters, double *out)
{
    int dev = 0;
    if (gcomp_cuda_classify((const void *)(uintptr_t)src, &dev) != GCOMP_MEM_DEVICE) return -100;
    gcomp_cuda_ctx_t *ctx;
    gcomp_status_t st = gcomp_cuda_ctx_create(dev, &ctx);
    if (st != GCOMP_OK) return st;
    gcomp_codec_params_t p;
    gcomp_codec_params_default(&p);
    p.codec = GCOMP_CODEC_TOPK;
    p.topk_ratio = (float)ratio;
    p.topk_select = exact ? GCOMP_TOPK_EXACT : GCOMP_TOPK_SAMPLED;
    p.topk_values = GCOMP_VALUES_FP32;
    p.error_feedback = res != 0;
    size_t cap = gcomp_frame_bound(&p, n);
    void *frame = gcomp_cuda_host_alloc(cap);
    double *dev_ms = calloc((size_t)iters + 1, sizeof(double)), *call_ms = calloc((size_t)iters + 1, sizeof(double));
    gcomp_frame_info_t where = {.codec = p.codec, .total_count = n, .chunk_count = n}, info = {0};
    for (int i = 0; i <= iters && st == GCOMP_OK; i++) {
        where.seq = (uint64_t)i;
        double t0 = gcomp_now_s();
        st = gcomp_cuda_frame_encode(ctx, &p, &where, (const void *)(uintptr_t)src, (float *)(uintptr_t)res, frame,
                                     cap, &info);
        call_ms[i] = 1e3 * (gcomp_now_s() - t0);
        dev_ms[i] = gcomp_cuda_last_device_ms(ctx);
    }
    if (st == GCOMP_OK && dst != 0)
        st = gcomp_cuda_frame_decode(ctx, frame, info.frame_bytes, NULL, (float *)(uintptr_t)dst, 0, 0, NULL);
    if (st == GCOMP_OK) {
        qsort(dev_ms + 1, (size_t)iters, sizeof(double), gcomp_cmp_double);
        qsort(call_ms + 1, (size_t)iters, sizeof(double), gcomp_cmp_double);
        out[0] = dev_ms[1 + iters / 2];
        out[1] = call_ms[1 + iters / 2];
        out[2] = (double)info.kept;
        out[3] = (double)info.frame_bytes;
    }
    free(dev_ms);
    free(call_ms);
    gcomp_cuda_host_free(frame);
    gcomp_cuda_ctx_destroy(ctx);
    return st;
}
