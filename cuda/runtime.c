/*
 * The CUDA runtime side of gcomp: probing for a device at first use, contexts (a non-blocking stream
 * of our own, grow-only device buffers, a control block), pointer classification, pinned memory, and
 * the GPU backend of kernels.h.
 *
 * The runtime is libcudart_static, linked into libgcomp and hidden from its exports: it loads the
 * driver (libcuda.so.1) itself on the first CUDA call, so loading gcomp never needs a driver, and a
 * program that brings its own CUDA runtime (PyTorch) shares the device's primary context with us.
 * Nothing here runs at load time; gcomp_cuda_available() is the first call that reaches the driver.
 */
#define GCOMP_LOG_SUBSYS GCOMP_SUBSYS_CUDA
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime_api.h>

#include "core/log.h"
#include "core/mem.h"
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

/* ---- availability ----------------------------------------------------------------------------- */

static pthread_once_t probe_once = PTHREAD_ONCE_INIT;
static int probe_ok;
static char probe_why[160];

static void probe(void)
{
    int n = 0;
    cudaError_t e = cudaGetDeviceCount(&n);
    if (e != cudaSuccess) {
        snprintf(probe_why, sizeof(probe_why), "no usable CUDA driver or device: %s", cudaGetErrorString(e));
        (void)cudaGetLastError();
    } else if (n <= 0) {
        snprintf(probe_why, sizeof(probe_why), "the CUDA driver reports no device");
    } else {
        probe_ok = 1;
        gcomp_info("cuda: %d device%s", n, n > 1 ? "s" : "");
        return;
    }
    gcomp_info("cuda: %s; device buffers are not supported in this process", probe_why);
}

/* ---- emulated devices (tests) -------------------------------------------------------------------- */

/* With gcomp_cuda_emulate_devices(), device 0 is host memory run by an emulated backend, and memory
 * from gcomp_cuda_malloc on an emulated context is classified as that device's: the collectives then
 * take their device path on a machine without a GPU. Allocations are kept in a small list. */
static struct {
    const gcomp_cu_backend_t *be;
    pthread_mutex_t lock;
    struct range {
        uintptr_t lo, hi;
    } *r;
    size_t n, cap;
} emu_dev = {.lock = PTHREAD_MUTEX_INITIALIZER};

void gcomp_cuda_emulate_devices(const gcomp_cu_backend_t *be)
{
    emu_dev.be = be;
}

static void emu_track(void *p, size_t bytes)
{
    pthread_mutex_lock(&emu_dev.lock);
    if (emu_dev.n == emu_dev.cap) {
        size_t cap = emu_dev.cap ? 2 * emu_dev.cap : 64;
        struct range *r = realloc(emu_dev.r, cap * sizeof(*r));
        if (r == NULL) {
            pthread_mutex_unlock(&emu_dev.lock);
            return; /* untracked: it is then host memory, which it is */
        }
        emu_dev.r = r;
        emu_dev.cap = cap;
    }
    emu_dev.r[emu_dev.n++] = (struct range){(uintptr_t)p, (uintptr_t)p + (bytes ? bytes : 1)};
    pthread_mutex_unlock(&emu_dev.lock);
}

static void emu_untrack(void *p)
{
    pthread_mutex_lock(&emu_dev.lock);
    for (size_t i = 0; i < emu_dev.n; i++)
        if (emu_dev.r[i].lo == (uintptr_t)p) {
            emu_dev.r[i] = emu_dev.r[--emu_dev.n];
            break;
        }
    pthread_mutex_unlock(&emu_dev.lock);
}

static int emu_owns(const void *p)
{
    int found = 0;
    pthread_mutex_lock(&emu_dev.lock);
    for (size_t i = 0; i < emu_dev.n && !found; i++)
        found = (uintptr_t)p >= emu_dev.r[i].lo && (uintptr_t)p < emu_dev.r[i].hi;
    pthread_mutex_unlock(&emu_dev.lock);
    return found;
}

int gcomp_cuda_available(const char **why_p)
{
    if (emu_dev.be != NULL) return 1;
    pthread_once(&probe_once, probe);
    if (!probe_ok && why_p != NULL) *why_p = probe_why;
    return probe_ok;
}

gcomp_mem_kind_t gcomp_cuda_classify(const void *ptr, int *device_p)
{
    if (emu_dev.be != NULL) {
        if (ptr == NULL || !emu_owns(ptr)) return GCOMP_MEM_HOST;
        if (device_p != NULL) *device_p = 0;
        return GCOMP_MEM_DEVICE;
    }
    if (ptr == NULL || !gcomp_cuda_available(NULL)) return GCOMP_MEM_HOST;
    struct cudaPointerAttributes attr;
    if (cudaPointerGetAttributes(&attr, ptr) != cudaSuccess) {
        (void)cudaGetLastError(); /* memory CUDA does not know: plain host memory */
        return GCOMP_MEM_HOST;
    }
    if (device_p != NULL) *device_p = attr.device;
    switch (attr.type) {
    case cudaMemoryTypeDevice: return GCOMP_MEM_DEVICE;
    case cudaMemoryTypeManaged: return GCOMP_MEM_MANAGED;
    case cudaMemoryTypeHost: return GCOMP_MEM_PINNED;
    default: return GCOMP_MEM_HOST;
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
    .alloc = gpu_alloc,
    .free = gpu_free,
    .memset = gpu_memset,
    .copy = gpu_copy,
    .sync = gpu_sync,
    .none_encode = gcomp_cu_launch_none_encode,
    .none_decode = gcomp_cu_launch_none_decode,
    .q8_encode = gcomp_cu_launch_q8_encode,
    .q8_decode = gcomp_cu_launch_q8_decode,
    .exc_collect = gcomp_cu_launch_exc_collect,
    .exc_apply = gcomp_cu_launch_exc_apply,
    .topk_sample = gcomp_cu_launch_topk_sample,
    .topk_prep = gcomp_cu_launch_topk_prep,
    .topk_hist = gcomp_cu_launch_topk_hist,
    .topk_pick = gcomp_cu_launch_topk_pick,
    .topk_compact = gcomp_cu_launch_topk_compact,
    .topk_decide = gcomp_cu_launch_topk_decide,
    .topk_payload = gcomp_cu_launch_topk_payload,
    .topk_decode = gcomp_cu_launch_topk_decode,
    .convert = gcomp_cu_launch_convert,
    .count = gcomp_cu_launch_count,
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
    if (ctx->device < 0 && emu_dev.be != NULL) emu_track(p, bytes);
    *ptr_p = p;
    return GCOMP_OK;
}

void gcomp_cuda_free(gcomp_cuda_ctx_t *ctx, void *ptr)
{
    if (ptr == NULL) return;
    int prev = 0;
    if (gcomp_cuda_ctx_enter(ctx, &prev) != GCOMP_OK) return;
    if (ctx->device < 0 && emu_dev.be != NULL) emu_untrack(ptr);
    ctx->be->free(ctx->stream, ptr);
    gcomp_cuda_ctx_leave(ctx, prev);
}

gcomp_status_t gcomp_cuda_memcpy(gcomp_cuda_ctx_t *ctx, void *dst, const void *src, size_t bytes)
{
    int prev = 0;
    GCOMP_CHECK(gcomp_cuda_ctx_enter(ctx, &prev));
    int err = ctx->be->copy(ctx->stream, dst, src, bytes);
    if (err == 0) err = ctx->be->sync(ctx->stream);
    gcomp_cuda_ctx_leave(ctx, prev);
    return err ? gcomp_cuda_ctx_error(ctx, err, "memory copy") : GCOMP_OK;
}

gcomp_status_t gcomp_cuda_memset(gcomp_cuda_ctx_t *ctx, void *p, int value, size_t bytes)
{
    if (bytes == 0) return GCOMP_OK;
    int prev = 0;
    GCOMP_CHECK(gcomp_cuda_ctx_enter(ctx, &prev));
    int err = ctx->be->memset(ctx->stream, p, value, bytes);
    if (err == 0) err = ctx->be->sync(ctx->stream);
    gcomp_cuda_ctx_leave(ctx, prev);
    return err ? gcomp_cuda_ctx_error(ctx, err, "memory set") : GCOMP_OK;
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
        if (emu_dev.be != NULL) {
            st = gcomp_cuda_ctx_create_emulated(&devices[device]);
            if (st == GCOMP_OK) devices[device]->be = emu_dev.be;
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

/* Pinned blocks carry a tag in front, so that free knows how they were made. */
#define HOST_TAG_PINNED 0x50494e4eu
#define HOST_TAG_PLAIN 0x504c4149u
#define HOST_HEAD 64

void *gcomp_cuda_host_alloc(size_t bytes)
{
    uint8_t *p = NULL;
    uint32_t tag = HOST_TAG_PLAIN;
    if (emu_dev.be == NULL && gcomp_cuda_available(NULL)) {
        if (cudaMallocHost((void **)&p, bytes + HOST_HEAD) == cudaSuccess) tag = HOST_TAG_PINNED;
        else (void)cudaGetLastError(), p = NULL;
    }
    if (p == NULL) p = gcomp_aligned_alloc(bytes + HOST_HEAD);
    if (p == NULL) return NULL;
    memcpy(p, &tag, sizeof(tag));
    return p + HOST_HEAD;
}

void gcomp_cuda_host_free(void *ptr)
{
    if (ptr == NULL) return;
    uint8_t *p = (uint8_t *)ptr - HOST_HEAD;
    uint32_t tag;
    memcpy(&tag, p, sizeof(tag));
    if (tag == HOST_TAG_PINNED) cudaFreeHost(p);
    else gcomp_aligned_free(p);
}
