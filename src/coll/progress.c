/*
 * What every algorithm does with messages: post, test, encode into and decode from frames, give up
 * on them after a hard error, and notice when nothing has moved for GCOMP_TIMEOUT_S.
 */
#define GCOMP_LOG_SUBSYS GCOMP_SUBSYS_COLL
#include <string.h>

#include "coll/coll.h"
#include "core/log.h"

const char *gcomp_coll_phase_name(int phase)
{
    switch (phase) {
    case GCOMP_PHASE_SCATTER: return "the scatter of contributions";
    case GCOMP_PHASE_GATHER: return "the all-gather of reduced chunks";
    case GCOMP_PHASE_ALLGATHER: return "the all-gather of sparse frames";
    }
    return "?";
}

gcomp_status_t gcomp_msg_post_recv(gcomp_call_t *call, gcomp_msg_t *m, int peer, int tag)
{
    gcomp_transport_t *tp = call->ctx->tp;
    m->peer = peer;
    m->len = 0;
    GCOMP_CHECK(tp->ops->irecv(tp, m->buf, m->cap, peer, tag, &m->req));
    m->state = GCOMP_MSG_POSTED;
    return GCOMP_OK;
}

gcomp_status_t gcomp_msg_post_send(gcomp_call_t *call, gcomp_msg_t *m, int peer, int tag)
{
    gcomp_transport_t *tp = call->ctx->tp;
    m->peer = peer;
    if (GCOMP_UNLIKELY(gcomp_fault_on_send(call, m))) {
        m->state = GCOMP_MSG_DONE; /* dropped: this rank believes it sent */
        return GCOMP_OK;
    }
    GCOMP_CHECK(tp->ops->isend(tp, m->buf, m->len, peer, tag, &m->req));
    m->state = GCOMP_MSG_POSTED;
    call->sent += m->len;
    return GCOMP_OK;
}

/* peer: the rank whose frame was at fault, or -1 (this rank's own failure). */
static void soft_error(gcomp_call_t *call, gcomp_status_t st, int peer)
{
    if (call->local != GCOMP_OK) return;
    call->local = st;
    call->local_peer = peer;
}

gcomp_status_t gcomp_msg_poll(gcomp_call_t *call, gcomp_msg_t *m, int *done_p)
{
    if (m->state != GCOMP_MSG_POSTED) {
        *done_p = m->state == GCOMP_MSG_DONE;
        return GCOMP_OK;
    }
    gcomp_transport_t *tp = call->ctx->tp;
    int done = 0;
    size_t len = 0;
    int is_recv = m->req.is_recv;
    gcomp_status_t st = tp->ops->test(tp, &m->req, &done, &len);
    if (st == GCOMP_ERR_NOSPACE && is_recv) {
        gcomp_warn("call %llu: rank %d sent a frame larger than the %zu bytes its chunk can take: "
                   "ranks disagree on the codec or are not the same gcomp version",
                   (unsigned long long)call->seq, m->peer, m->cap);
        soft_error(call, GCOMP_ERR_FRAME, m->peer);
        m->len = 0;
        m->state = GCOMP_MSG_DONE;
        *done_p = 1;
        return GCOMP_OK;
    }
    GCOMP_CHECK(st);
    if (done) {
        m->state = GCOMP_MSG_DONE;
        if (is_recv) {
            m->len = len;
            call->received += len;
        }
    }
    *done_p = done;
    return GCOMP_OK;
}

void gcomp_msgs_abandon(gcomp_call_t *call)
{
    gcomp_transport_t *tp = call->ctx->tp;
    for (size_t i = 0; i < call->n_msgs; i++) {
        gcomp_msg_t *m = &call->all_msgs[i];
        if (m->state != GCOMP_MSG_POSTED) continue;
        if (!tp->ops->cancel(tp, &m->req)) call->ctx->leak = 1;
        m->state = GCOMP_MSG_DONE;
    }
    if (call->ctx->leak)
        gcomp_warn("call %llu: MPI may still use some of this context's buffers after the failure: they "
                   "are kept (not freed) for the life of the process", (unsigned long long)call->seq);
}

size_t gcomp_coll_bound(const gcomp_codec_params_t *params, size_t len)
{
    size_t b = gcomp_frame_bound(params, len);
    return GCOMP_ALIGN_UP(b, (size_t)GCOMP_ALIGNMENT);
}

void gcomp_coll_encode(gcomp_call_t *call, const gcomp_codec_params_t *params, size_t off, size_t len,
                       const float *src, float *residual, gcomp_msg_t *m)
{
    gcomp_comm_t *ctx = call->ctx;
    gcomp_frame_info_t where = {
        .dtype = call->dtype,
        .total_count = call->n,
        .chunk_offset = off,
        .chunk_count = len,
        .rank = ctx->rank,
        .comm_id = ctx->comm_id,
        .seq = call->seq,
    };
    gcomp_frame_info_t info;
    double t0 = gcomp_now_s();
    gcomp_status_t st = gcomp_coll_frame_encode(call, params, &where, src, residual, m, &info);
    call->t_encode += gcomp_now_s() - t0;
    if (st != GCOMP_OK) {
        gcomp_warn("call %llu: %s encoding of elements [%zu, %zu) failed: %s", (unsigned long long)call->seq,
                   gcomp_codec_name(params->codec), off, off + len, gcomp_status_string(st));
        soft_error(call, st, -1);
        m->len = 0;
        return;
    }
    m->len = info.frame_bytes;
    call->nonfinite += info.nonfinite;
}

int gcomp_coll_decode(gcomp_call_t *call, const gcomp_msg_t *m, int sender,
                      int (*accept)(const gcomp_call_t *call, gcomp_codec_t codec), size_t off, size_t len,
                      float *dst, int accumulate)
{
    gcomp_comm_t *ctx = call->ctx;
    if (m->len == 0) {
        /* The sender could not make this frame (it logged why); its status reaches every rank in
         * the status agreement. */
        if (sender != ctx->rank) call->peer_failed = 1;
        return 1;
    }
    gcomp_codec_t codec = call->params.codec;
    if (accept != NULL && m->len >= GCOMP_WIRE_HEADER_LEN) {
        /* Only picks what to expect: the decoder validates the whole header against it. */
        gcomp_codec_t c = (gcomp_codec_t)m->buf[GCOMP_WIRE_OFF_CODEC];
        if (accept(call, c)) codec = c;
    }
    gcomp_frame_info_t expect = {
        .codec = codec,
        .dtype = call->dtype,
        .total_count = call->n,
        .chunk_offset = off,
        .chunk_count = len,
        .rank = sender,
        .comm_id = ctx->comm_id,
        .seq = call->seq,
    };
    gcomp_frame_info_t info;
    double t0 = gcomp_now_s();
    gcomp_status_t st = gcomp_coll_frame_decode(call, m, &expect, dst, accumulate, &info);
    call->t_decode += gcomp_now_s() - t0;
    if (st != GCOMP_OK) {
        gcomp_warn("call %llu: frame of %zu bytes from rank %d for elements [%zu, %zu) rejected: %s",
                   (unsigned long long)call->seq, m->len, sender, off, off + len, gcomp_status_string(st));
        soft_error(call, st, sender);
        return 1;
    }
    return 0;
}

gcomp_status_t gcomp_coll_stall(gcomp_call_t *call, int progressed, const gcomp_msg_t *waiting,
                                const char *phase, unsigned *idle)
{
    double now = gcomp_now_s(), timeout = call->ctx->cfg.timeout_s;
    if (progressed) {
        call->deadline = now + timeout;
        *idle = 0;
        return GCOMP_OK;
    }
    if (now > call->deadline) {
        gcomp_warn("call %llu: no progress for %.1f s (GCOMP_TIMEOUT_S=%g) in %s, waiting for %s rank %d: "
                   "giving up; the context fails from now on", (unsigned long long)call->seq,
                   now - (call->deadline - timeout), timeout, phase,
                   waiting != NULL && waiting->req.is_recv ? "a frame from" : "a send to",
                   waiting != NULL ? waiting->peer : -1);
        return GCOMP_ERR_TIMEOUT;
    }
    /* Nothing arrived: copy some of the residual the encoders will change (residual.c). */
    gcomp_residual_save_ahead(&call->txn, 16384);
    gcomp_transport_idle(idle);
    return GCOMP_OK;
}
