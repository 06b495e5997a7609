/*
 * The context behind gcomp_cuda_ctx_t, shared by runtime.c (which makes it and owns everything CUDA),
 * classify.c (memory kinds, emulated devices) and the files that drive its backend (frame_cuda.c,
 * frame_encode_cuda.c, elementwise.c). Nothing outside cuda/ includes this.
 */
#ifndef GCOMP_CUDA_CTX_H
#define GCOMP_CUDA_CTX_H

#include <pthread.h>

#include "gcomp_cuda.h"
#include "kernels.h"

/* Grow-only work buffers in the context's memory. */
enum {
    GCOMP_CU_BUF_PAYLOAD = 0, /* encode: codec payload; decode: staged payloads */
    GCOMP_CU_BUF_EXC,         /* exception list */
    GCOMP_CU_BUF_CAND_IDX,
    GCOMP_CU_BUF_CAND_VAL,
    GCOMP_CU_BUF_KEPT_IDX,
    GCOMP_CU_BUF_KEPT_VAL,
    GCOMP_CU_BUF_KEYS,        /* the sample's keys */
    GCOMP_CU_BUF_HIST,        /* two selections' histograms */
    GCOMP_CU_BUF_STATUS,      /* tile status of the single-pass scans */
    GCOMP_CU_BUF_PARTS,       /* per-part counts of gcomp_cuda_count_sparse */
    GCOMP_CU_BUF_COUNT
};

struct gcomp_cuda_ctx {
    pthread_mutex_t lock;       /* held between enter and leave (recursive): one caller at a time */
    const gcomp_cu_backend_t *be;
    void *stream;               /* cudaStream_t, NULL when emulated */
    int device;                 /* -1 when emulated */
    gcomp_cu_ctl_t *ctl;        /* control block in the context's memory */
    gcomp_cu_ctl_t *ctl_host;   /* its copy on the host (pinned for the GPU) */
    void *buf[GCOMP_CU_BUF_COUNT];
    size_t buf_size[GCOMP_CU_BUF_COUNT];
    void *ev_start, *ev_stop;   /* cudaEvent_t */
    double last_ms;
};

/* Make buffer `which` hold at least `bytes`; GCOMP_ERR_NOMEM (logged) on failure. */
GCOMP_INTERNAL gcomp_status_t gcomp_cuda_ctx_reserve(gcomp_cuda_ctx_t *ctx, int which, size_t bytes, void **p);

/* Take the context for this thread and make its device current (*prev: the one to restore); leave
 * gives both back. Every use of a context happens between the two. */
GCOMP_INTERNAL gcomp_status_t gcomp_cuda_ctx_enter(gcomp_cuda_ctx_t *ctx, int *prev);
GCOMP_INTERNAL void gcomp_cuda_ctx_leave(gcomp_cuda_ctx_t *ctx, int prev);

/* Record the start or the end of the device steps of a call (events; no-ops when emulated). */
GCOMP_INTERNAL void gcomp_cuda_ctx_mark(gcomp_cuda_ctx_t *ctx, int end);
/* After a sync: the time between the marks into ctx->last_ms. */
GCOMP_INTERNAL void gcomp_cuda_ctx_measure(gcomp_cuda_ctx_t *ctx);

/* Turn a backend error into a status, logging what failed. */
GCOMP_INTERNAL gcomp_status_t gcomp_cuda_ctx_error(const gcomp_cuda_ctx_t *ctx, int err, const char *what);

/* End a synchronous call begun with gcomp_cuda_ctx_enter(ctx, &prev) whose step returned err: wait
 * for the stream unless err, leave the context, and turn err into a status (what: what failed). */
GCOMP_INTERNAL gcomp_status_t gcomp_cuda_ctx_finish(gcomp_cuda_ctx_t *ctx, int prev, int err, const char *what);

/* The backend of gcomp_cuda_emulate_devices, NULL on a real machine (classify.c). */
GCOMP_INTERNAL const gcomp_cu_backend_t *gcomp_cuda_emulated_backend(void);
/* Memory of an emulated context, as device memory of device 0 for gcomp_cuda_classify. */
GCOMP_INTERNAL void gcomp_cuda_emu_track(void *p, size_t bytes);
GCOMP_INTERNAL void gcomp_cuda_emu_untrack(void *p);

#define GCOMP_CU_CALL(ctx, call, what)                                                            \
    do {                                                                                          \
        int err_ = (call);                                                                        \
        if (GCOMP_UNLIKELY(err_ != 0)) return gcomp_cuda_ctx_error((ctx), err_, (what));          \
    } while (0)

#endif
