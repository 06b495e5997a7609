/*
 * The CUDA runtime side of gcomp: contexts (a non-blocking stream of our own, grow-only device
 * buffers, a control block), device memory, one context per device for the collectives, and the GPU
 * backend of kernels.h. Whose memory a pointer is, the device probe and pinned host memory are in
 * classify.c.
 *
 * The runtime is libcudart_static, linked into libgcomp and hidden from its exports: it loads the
 * driver (libcuda.so.1) itself on the first CUDA call, so loading gcomp never needs a driver, and a
 * program that brings its own CUDA runtime (PyTorch) shares the device's primary context with us.
 * Nothing here runs at load time; gcomp_cuda_available() is the first call that reaches the driver.
 */
#define GCOMP_LOG_SUBSYS GCOMP_SUBSYS_CUDA
#include <pthread.h>
#include <stdlib.h>

#include <cuda_runtime_api.h>

#include "core/log.h"
#include "ctx.h"

#define GCOMP_CUDA_CHECK(call)                                                                    \
    do {                                                                                          \
        cudaError_t e_ = (call);                                                                  \
        if (GCOMP_UNLIKELY(e_ != cudaSuccess)) return gcomp_cuda_status(e_, #call);               \
    } while (0)

#define GCOMP_CUDA_CHECK_GOTO(call, st, label)                                                    \
    do {                                                                                          \
        cudaError_t e_ = (call);                                                                  \
        if (GCOMP_UNLIKELY(e_ != cudaSuccess)) {                                                  \
            (st) = gcomp_cuda_status(e_, #call);                                                  \
            goto label;                                                                           \
        }                                                                                         \
    } while (0)

static gcomp_status_t gcomp_cuda_status(cudaError_t e, const char *what)
{
    gcomp_warn("%s failed: %s (%s)", what, cudaGetErrorString(e), cudaGetErrorName(e));
    (void)cudaGetLastError(); /* clear a sticky-free error so that the next call does not see it */
    switch (e) {
    case cudaErrorMemoryAllocation: return GCOMP_ERR_NOMEM;
    case cudaErrorNoDevice:
    case cudaErrorInsufficientDriver:
    case cudaErrorInvalidDevice: return GCOMP_ERR_UNSUPPORTED;
    default: return GCOMP_ERR_TRANSPORT;
    }
}

/* ---- the GPU backend -------------------------------------------------------------------------- */

static int gpu_alloc(void *impl, void **p, size_t bytes)
{
    (void)impl;
    return (int)cudaMalloc(p, bytes ? bytes : 1);
}

static void gpu_free(void *impl, void *p)
{
    (void)impl;
    (void)cudaFree(p);
}

static int gpu_memset(void *impl, void *p, int value, size_t bytes)
{
    return bytes ? (int)cudaMemsetAsync(p, value, bytes, (cudaStream_t)impl) : 0;
}

static int gpu_copy(void *impl, void *dst, const void *src, size_t bytes)
{
    return bytes ? (int)cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, (cudaStream_t)impl) : 0;
}

static int gpu_sync(void *impl)
{
    return (int)cudaStreamSynchronize((cudaStream_t)impl);
}

static const gcomp_cu_backend_t gcomp_cu_backend_gpu = {
    .name = "cuda",
    .alloc = gpu_alloc, .free = gpu_free, .memset = gpu_memset, .copy = gpu_copy, .sync = gpu_sync,
    GCOMP_CU_STEPS(GCOMP_CU_STEP_INIT_LAUNCH)
};

/* ---- contexts --------------------------------------------------------------------------------- */

static int lock_init(gcomp_cuda_ctx_t *ctx)
{
    pthread_mutexattr_t a;
    if (pthread_mutexattr_init(&a) != 0) return -1;
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
    int rc = pthread_mutex_init(&ctx->lock, &a);
    pthread_mutexattr_destroy(&a);
    return rc;
}

gcomp_status_t gcomp_cuda_ctx_error(const gcomp_cuda_ctx_t *ctx, int err, const char *what)
{
    if (ctx->device < 0) {
        gcomp_error("emulated %s failed with %d", what, err);
        return GCOMP_ERR_INTERNAL;
    }
    return gcomp_cuda_status((cudaError_t)err, what);
}

gcomp_status_t gcomp_cuda_ctx_finish(gcomp_cuda_ctx_t *ctx, int prev, int err, const char *what)
{
    if (err == 0) err = ctx->be->sync(ctx->stream);
    gcomp_cuda_ctx_leave(ctx, prev);
    return err ? gcomp_cuda_ctx_error(ctx, err, what) : GCOMP_OK;
}

gcomp_status_t gcomp_cuda_ctx_create(int device, gcomp_cuda_ctx_t **ctx_p)
{
    const char *why = NULL;
    if (!gcomp_cuda_available(&why)) {
        gcomp_warn("a device buffer was given but %s", why);
        return GCOMP_ERR_UNSUPPORTED;
    }
    gcomp_status_t st = GCOMP_OK;
    int prev = 0;
    GCOMP_CUDA_CHECK(cudaGetDevice(&prev));
    gcomp_cuda_ctx_t *ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL) return GCOMP_ERR_NOMEM;
    if (lock_init(ctx) != 0) {
        free(ctx);
        return GCOMP_ERR_NOMEM;
    }
    ctx->be = &gcomp_cu_backend_gpu;
    ctx->device = device;
    cudaStream_t stream;
    cudaEvent_t ev0, ev1;
    GCOMP_CUDA_CHECK_GOTO(cudaSetDevice(device), st, err_free);
    GCOMP_CUDA_CHECK_GOTO(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), st, err_restore);
    ctx->stream = stream;
    GCOMP_CUDA_CHECK_GOTO(cudaMalloc((void **)&ctx->ctl, sizeof(gcomp_cu_ctl_t)), st, err_stream);
    GCOMP_CUDA_CHECK_GOTO(cudaMallocHost((void **)&ctx->ctl_host, sizeof(gcomp_cu_ctl_t)), st, err_ctl);
    GCOMP_CUDA_CHECK_GOTO(cudaEventCreate(&ev0), st, err_ctl_host);
    GCOMP_CUDA_CHECK_GOTO(cudaEventCreate(&ev1), st, err_ev0);
    ctx->ev_start = ev0;
    ctx->ev_stop = ev1;
    (void)cudaSetDevice(prev);
    *ctx_p = ctx;
    return GCOMP_OK;

err_ev0:
    cudaEventDestroy(ev0);
err_ctl_host:
    cudaFreeHost(ctx->ctl_host);
err_ctl:
    cudaFree(ctx->ctl);
err_stream:
    cudaStreamDestroy(stream);
err_restore:
    (void)cudaSetDevice(prev);
err_free:
    pthread_mutex_destroy(&ctx->lock);
    free(ctx);
    return st;
}

gcomp_status_t gcomp_cuda_ctx_create_emulated(gcomp_cuda_ctx_t **ctx_p)
{
    gcomp_cuda_ctx_t *ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL) return GCOMP_ERR_NOMEM;
    ctx->be = &gcomp_cu_backend_emu;
    ctx->device = -1;
    ctx->ctl = calloc(1, sizeof(gcomp_cu_ctl_t));
    ctx->ctl_host = calloc(1, sizeof(gcomp_cu_ctl_t));
    if (ctx->ctl == NULL || ctx->ctl_host == NULL || lock_init(ctx) != 0) {
        free(ctx->ctl);
        free(ctx->ctl_host);
        free(ctx);
        return GCOMP_ERR_NOMEM;
    }
    *ctx_p = ctx;
    return GCOMP_OK;
}

void gcomp_cuda_ctx_destroy(gcomp_cuda_ctx_t *ctx)
{
    if (ctx == NULL) return;
    int prev = 0;
    int entered = gcomp_cuda_ctx_enter(ctx, &prev) == GCOMP_OK;
    (void)ctx->be->sync(ctx->stream);
    for (int b = 0; b < GCOMP_CU_BUF_COUNT; b++)
        if (ctx->buf[b] != NULL) ctx->be->free(ctx->stream, ctx->buf[b]);
    if (ctx->device >= 0) {
        cudaEventDestroy((cudaEvent_t)ctx->ev_stop);
        cudaEventDestroy((cudaEvent_t)ctx->ev_start);
        cudaFreeHost(ctx->ctl_host);
        cudaFree(ctx->ctl);
        cudaStreamDestroy((cudaStream_t)ctx->stream);
    } else {
        free(ctx->ctl_host);
        free(ctx->ctl);
    }
    if (entered) gcomp_cuda_ctx_leave(ctx, prev);
    pthread_mutex_destroy(&ctx->lock);
    free(ctx);
}

int gcomp_cuda_ctx_is_gpu(const gcomp_cuda_ctx_t *ctx)
{
    return ctx != NULL && ctx->device >= 0;
}

gcomp_status_t gcomp_cuda_ctx_enter(gcomp_cuda_ctx_t *ctx, int *prev)
{
    pthread_mutex_lock(&ctx->lock);
    *prev = -1;
    if (ctx->device < 0) return GCOMP_OK;
    cudaError_t e = cudaGetDevice(prev);
    if (e == cudaSuccess && *prev != ctx->device) e = cudaSetDevice(ctx->device);
    if (e != cudaSuccess) {
        pthread_mutex_unlock(&ctx->lock);
        return gcomp_cuda_status(e, "selecting the context's device");
    }
    return GCOMP_OK;
}

void gcomp_cuda_ctx_leave(gcomp_cuda_ctx_t *ctx, int prev)
{
    if (ctx->device >= 0 && prev >= 0 && prev != ctx->device) (void)cudaSetDevice(prev);
    pthread_mutex_unlock(&ctx->lock);
}

gcomp_status_t gcomp_cuda_ctx_reserve(gcomp_cuda_ctx_t *ctx, int which, size_t bytes, void **p)
{
    if (ctx->buf_size[which] < bytes) {
        if (ctx->buf[which] != NULL) {
            /* Earlier steps of this call may still read it. */
            GCOMP_CU_CALL(ctx, ctx->be->sync(ctx->stream), "stream synchronize");
            ctx->be->free(ctx->stream, ctx->buf[which]);
            ctx->buf[which] = NULL;
            ctx->buf_size[which] = 0;
        }
        size_t want = bytes + bytes / 8; /* a little slack: chunk sizes vary from call to call */
        if (ctx->be->alloc(ctx->stream, &ctx->buf[which], want) != 0) {
            if (ctx->device >= 0) (void)cudaGetLastError();
            ctx->buf[which] = NULL;
            gcomp_warn("cannot allocate %zu bytes of %s memory for the CUDA codecs", want,
                       ctx->device >= 0 ? "device" : "host");
            return GCOMP_ERR_NOMEM;
        }
        ctx->buf_size[which] = want;
    }
    *p = ctx->buf[which];
    return GCOMP_OK;
}

void gcomp_cuda_ctx_mark(gcomp_cuda_ctx_t *ctx, int end)
{
    if (ctx->device < 0) return;
    (void)cudaEventRecord((cudaEvent_t)(end ? ctx->ev_stop : ctx->ev_start), (cudaStream_t)ctx->stream);
}

void gcomp_cuda_ctx_measure(gcomp_cuda_ctx_t *ctx)
{
    float ms = 0.0f;
    if (ctx->device >= 0 &&
        cudaEventElapsedTime(&ms, (cudaEvent_t)ctx->ev_start, (cudaEvent_t)ctx->ev_stop) != cudaSuccess) {
        (void)cudaGetLastError();
        ms = 0.0f;
    }
    ctx->last_ms = ms;
}

double gcomp_cuda_last_device_ms(const gcomp_cuda_ctx_t *ctx)
{
    return ctx->last_ms;
}

/* ---- memory ----------------------------------------------------------------------------------- */

gcomp_status_t gcomp_cuda_malloc(gcomp_cuda_ctx_t *ctx, void **ptr_p, size_t bytes)
{
    int prev = 0;
    GCOMP_CHECK(gcomp_cuda_ctx_enter(ctx, &prev));
    void *p = NULL;
    int err = ctx->be->alloc(ctx->stream, &p, bytes);
    gcomp_cuda_ctx_leave(ctx, prev);
    if (err != 0) return gcomp_cuda_ctx_error(ctx, err, "memory allocation");
    if (ctx->device < 0 && gcomp_cuda_emulated_backend() != NULL) gcomp_cuda_emu_track(p, bytes);
    *ptr_p = p;
    return GCOMP_OK;
}

void gcomp_cuda_free(gcomp_cuda_ctx_t *ctx, void *ptr)
{
    if (ptr == NULL) return;
    int prev = 0;
    if (gcomp_cuda_ctx_enter(ctx, &prev) != GCOMP_OK) return;
    if (ctx->device < 0 && gcomp_cuda_emulated_backend() != NULL) gcomp_cuda_emu_untrack(ptr);
    ctx->be->free(ctx->stream, ptr);
    gcomp_cuda_ctx_leave(ctx, prev);
}

gcomp_status_t gcomp_cuda_memcpy(gcomp_cuda_ctx_t *ctx, void *dst, const void *src, size_t bytes)
{
    int prev = 0;
    GCOMP_CHECK(gcomp_cuda_ctx_enter(ctx, &prev));
    int err = ctx->be->copy(ctx->stream, dst, src, bytes);
    return gcomp_cuda_ctx_finish(ctx, prev, err, "memory copy");
}

gcomp_status_t gcomp_cuda_memset(gcomp_cuda_ctx_t *ctx, void *p, int value, size_t bytes)
{
    if (bytes == 0) return GCOMP_OK;
    int prev = 0;
    GCOMP_CHECK(gcomp_cuda_ctx_enter(ctx, &prev));
    int err = ctx->be->memset(ctx->stream, p, value, bytes);
    return gcomp_cuda_ctx_finish(ctx, prev, err, "memory set");
}

/* ---- one context per device, for the collectives ----------------------------------------------- */

#define GCOMP_CUDA_MAX_DEVICES 64
static pthread_mutex_t devices_lock = PTHREAD_MUTEX_INITIALIZER;
static gcomp_cuda_ctx_t *devices[GCOMP_CUDA_MAX_DEVICES];

gcomp_status_t gcomp_cuda_ctx_of_device(int device, gcomp_cuda_ctx_t **ctx_p)
{
    if (device < 0 || device >= GCOMP_CUDA_MAX_DEVICES) {
        gcomp_warn("device %d is beyond the %d gcomp handles", device, GCOMP_CUDA_MAX_DEVICES);
        return GCOMP_ERR_UNSUPPORTED;
    }
    gcomp_status_t st = GCOMP_OK;
    pthread_mutex_lock(&devices_lock);
    if (devices[device] == NULL) {
        const gcomp_cu_backend_t *emulated = gcomp_cuda_emulated_backend();
        if (emulated != NULL) {
            st = gcomp_cuda_ctx_create_emulated(&devices[device]);
            if (st == GCOMP_OK) devices[device]->be = emulated;
        } else {
            st = gcomp_cuda_ctx_create(device, &devices[device]);
        }
    }
    if (st == GCOMP_OK) *ctx_p = devices[device];
    pthread_mutex_unlock(&devices_lock);
    return st;
}

gcomp_status_t gcomp_cuda_time_copy(gcomp_cuda_ctx_t *ctx, void *dst, const void *src, size_t bytes, double *ms_p)
{
    int prev = 0;
    GCOMP_CHECK(gcomp_cuda_ctx_enter(ctx, &prev));
    gcomp_cuda_ctx_mark(ctx, 0);
    int err = ctx->be->copy(ctx->stream, dst, src, bytes);
    gcomp_cuda_ctx_mark(ctx, 1);
    if (err == 0) err = ctx->be->sync(ctx->stream);
    gcomp_cuda_ctx_measure(ctx);
    gcomp_cuda_ctx_leave(ctx, prev);
    if (err) return gcomp_cuda_ctx_error(ctx, err, "device copy");
    *ms_p = ctx->last_ms;
    return GCOMP_OK;
}
