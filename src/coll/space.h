/*
 * The collectives' side of memory spaces (codec/space.h): a call holds the space of its buffers
 * (call->space), and everything that depends on where memory lives goes through it. space.c picks
 * the space when a call's buffers are attached and keeps the context's work memory per space.
 * Included by coll.h; the functions take the call and context by their struct tags.
 */
#ifndef GCOMP_COLL_SPACE_H
#define GCOMP_COLL_SPACE_H

#include <stddef.h>
#include <stdint.h>

#include "gcomp.h"
#include "codec/space.h"
#include "core/compiler.h"

struct gcomp_call;
struct gcomp_comm;
struct gcomp_msg;

/* A grow-only buffer in one memory space. */
typedef struct gcomp_spacebuf {
    void *ptr;
    size_t size;
    gcomp_space_t space; /* where ptr is, while it is not NULL */
} gcomp_spacebuf_t;

GCOMP_INTERNAL gcomp_status_t gcomp_spacebuf_reserve(gcomp_spacebuf_t *b, const gcomp_space_t *sp, size_t bytes);
GCOMP_INTERNAL void gcomp_spacebuf_free(gcomp_spacebuf_t *b);

/* The space of the call's buffers into call->space (the host's when there is nothing to look at).
 * GCOMP_ERR_UNSUPPORTED (logged) for what the device path does not take: doubles, buffers on two
 * devices or one on the host and one on a device. */
GCOMP_INTERNAL gcomp_status_t gcomp_coll_space_attach(struct gcomp_call *call, const void *sendbuf, void *recvbuf);
/* 1 if gcomp can all-reduce these buffers (host memory, or both on one device with type_ok: fp32,
 * fp16 or bf16); the interposer passes the others to MPI. */
GCOMP_INTERNAL int gcomp_coll_device_ok(const void *sendbuf, const void *recvbuf, int type_ok);
/* Buffers of another type than fp32: widen the input into an fp32 buffer of the call's space that
 * becomes src and dst, and at the end narrow dst into the output. */
GCOMP_INTERNAL gcomp_status_t gcomp_coll_widen(struct gcomp_call *call, const void *in);
GCOMP_INTERNAL gcomp_status_t gcomp_coll_narrow(struct gcomp_call *call, void *out);
/* Snapshot memory for a residual of the space: bytes from the context, shared by every residual. */
GCOMP_INTERNAL gcomp_status_t gcomp_coll_snap_reserve(struct gcomp_comm *ctx, const gcomp_space_t *sp, size_t bytes,
                                                      float **p_p);
/* fp32 work memory of n floats in the call's space (reserve in prepare, get in run). */
GCOMP_INTERNAL gcomp_status_t gcomp_coll_work_reserve(struct gcomp_call *call, size_t n);
GCOMP_INTERNAL float *gcomp_coll_work(struct gcomp_call *call);
/* Zero n outputs or accumulators, counted as decoding time. */
GCOMP_INTERNAL void gcomp_coll_zero(struct gcomp_call *call, float *p, size_t n);
/* The codecs on the call's memory: src, residual and dst are in the call's space; frames are always
 * in host memory. */
GCOMP_INTERNAL gcomp_status_t gcomp_coll_frame_encode(struct gcomp_call *call, const gcomp_codec_params_t *params,
                                                      const gcomp_frame_info_t *where, const float *src,
                                                      float *residual, struct gcomp_msg *m, gcomp_frame_info_t *info);
GCOMP_INTERNAL gcomp_status_t gcomp_coll_frame_decode(struct gcomp_call *call, const struct gcomp_msg *m,
                                                      const gcomp_frame_info_t *expect, float *dst, int accumulate,
                                                      gcomp_frame_info_t *info);

#endif
