/*
 * The pipeline engine (pipeline.h): the slot ring, the wait for a slot with the stall deadline,
 * and the run loop. What a slot's messages mean is the algorithm's business.
 */
#define GCOMP_LOG_SUBSYS GCOMP_SUBSYS_COLL
#include <string.h>

#include "coll/pipeline.h"
#include "core/log.h"

void gcomp_pipe_init(gcomp_pipe_t *pp, gcomp_call_t *call)
{
    memset(pp, 0, sizeof(*pp));
    pp->call = call;
    pp->nstages = call->n == 0 ? 0 : GCOMP_DIV_CEIL(call->n, call->stage_elems);
    pp->nslots = gcomp_coll_slots(call, pp->nstages);
}

gcomp_status_t gcomp_pipe_reserve(const gcomp_pipe_t *pp)
{
    gcomp_comm_t *ctx = pp->call->ctx;
    size_t D = (size_t)pp->nslots;
    GCOMP_CHECK(gcomp_scratch_reserve(&ctx->frames, D * pp->slot_frame_bytes));
    GCOMP_CHECK(gcomp_scratch_reserve(&ctx->msgs, D * pp->slot_msgs * sizeof(gcomp_msg_t)));
    if (pp->slot_work > 0) GCOMP_CHECK(gcomp_coll_work_reserve(pp->call, D * pp->slot_work));
    return GCOMP_OK;
}

static gcomp_stage_t stage_of(const gcomp_pipe_t *pp, size_t s)
{
    gcomp_stage_t st = {.index = s};
    gcomp_pipe_stage(pp, s, &st.off, &st.len);
    return st;
}

static void carve(gcomp_pipe_t *pp)
{
    gcomp_call_t *call = pp->call;
    uint8_t *fp = call->ctx->frames.ptr;
    gcomp_msg_t *mp = call->ctx->msgs.ptr;
    float *wp = pp->slot_work > 0 ? gcomp_coll_work(call) : NULL;
    size_t D = (size_t)pp->nslots;
    memset(mp, 0, D * pp->slot_msgs * sizeof(*mp));
    call->all_msgs = mp;
    call->n_msgs = D * pp->slot_msgs;
    for (int k = 0; k < pp->nslots; k++) {
        gcomp_pipe_slot_t *sl = &pp->slot[k];
        memset(sl, 0, sizeof(*sl));
        sl->msgs = mp;
        sl->frames = fp;
        sl->work = wp;
        mp += pp->slot_msgs;
        fp += pp->slot_frame_bytes;
        if (wp != NULL) wp += pp->slot_work;
        pp->ops->carve(pp, k);
    }
}

const gcomp_msg_t *gcomp_pipe_first_posted(const gcomp_msg_t *m, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (m[i].state == GCOMP_MSG_POSTED) return &m[i];
    return NULL;
}

gcomp_status_t gcomp_pipe_in_order(gcomp_call_t *call, gcomp_msg_t *own, gcomp_msg_t *in, int r, gcomp_msg_t **m_p)
{
    *m_p = NULL;
    if (r == call->ctx->rank) {
        *m_p = own;
        return GCOMP_OK;
    }
    int done = 0;
    GCOMP_CHECK(gcomp_msg_poll(call, &in[r], &done));
    if (done) *m_p = &in[r];
    return GCOMP_OK;
}

gcomp_status_t gcomp_pipe_post_from_all(gcomp_call_t *call, gcomp_msg_t *in, size_t cap, int tag)
{
    for (int r = 0; r < call->ctx->size; r++) {
        if (r == call->ctx->rank) continue;
        in[r].cap = cap;
        GCOMP_CHECK(gcomp_msg_post_recv(call, &in[r], r, tag));
    }
    return GCOMP_OK;
}

/* A slot is complete once the algorithm is done with it and its sends have left. */
static gcomp_status_t slot_progress(gcomp_pipe_t *pp, int k, int *prog)
{
    gcomp_pipe_slot_t *sl = &pp->slot[k];
    if (!sl->busy || !sl->encoded) return GCOMP_OK;
    int done = 0;
    gcomp_stage_t st = stage_of(pp, sl->stage);
    GCOMP_CHECK(pp->ops->progress(pp, k, &st, prog, &done));
    if (done && gcomp_pipe_first_posted(sl->msgs, pp->slot_msgs) == NULL) sl->busy = 0;
    return GCOMP_OK;
}

gcomp_status_t gcomp_pipe_others_progress(gcomp_pipe_t *pp, int k, int *prog)
{
    for (int i = 1; i < pp->nslots; i++) GCOMP_CHECK(slot_progress(pp, (k + i) % pp->nslots, prog));
    return GCOMP_OK;
}

static gcomp_status_t wait_slot(gcomp_pipe_t *pp, int k)
{
    gcomp_pipe_slot_t *sl = &pp->slot[k];
    unsigned idle = 0;
    while (sl->busy) {
        int prog = 0;
        GCOMP_CHECK(slot_progress(pp, k, &prog));
        GCOMP_CHECK(gcomp_pipe_others_progress(pp, k, &prog));
        if (!sl->busy) break;
        int phase = 0;
        const gcomp_msg_t *w = pp->ops->awaited(pp, k, &phase);
        if (w == NULL) w = gcomp_pipe_first_posted(sl->msgs, pp->slot_msgs);
        GCOMP_CHECK(gcomp_coll_stall(pp->call, prog, w, gcomp_coll_phase_name(phase), &idle));
    }
    return GCOMP_OK;
}

static gcomp_status_t slot_start(gcomp_pipe_t *pp, int k, size_t s)
{
    gcomp_pipe_slot_t *sl = &pp->slot[k];
    for (size_t j = 0; j < pp->slot_msgs; j++) sl->msgs[j].state = GCOMP_MSG_IDLE;
    sl->stage = s;
    sl->busy = 1;
    sl->encoded = 0;
    gcomp_stage_t st = stage_of(pp, s);
    return pp->ops->start(pp, k, &st);
}

/* The encoders of a stage change its level-1 residual: what undoing needs is saved first. */
static gcomp_status_t slot_encode(gcomp_pipe_t *pp, int k, size_t s)
{
    gcomp_stage_t st = stage_of(pp, s);
    if (gcomp_pipe_l1(pp->call) != NULL) gcomp_residual_save(&pp->call->txn, st.off + st.len, 0);
    GCOMP_CHECK(pp->ops->encode(pp, k, &st));
    pp->slot[k].encoded = 1;
    return GCOMP_OK;
}

gcomp_status_t gcomp_pipe_run(gcomp_pipe_t *pp)
{
    carve(pp);
    size_t D = (size_t)pp->nslots;
    for (size_t s = 0; s < pp->nstages; s++) {
        int k = (int)(s % D);
        GCOMP_CHECK(wait_slot(pp, k));
        GCOMP_CHECK(slot_start(pp, k, s));
        GCOMP_CHECK(slot_encode(pp, k, s));
        int prog = 0;
        GCOMP_CHECK(slot_progress(pp, k, &prog));
    }
    for (size_t s = pp->nstages; s < pp->nstages + D; s++) GCOMP_CHECK(wait_slot(pp, (int)(s % D)));
    return GCOMP_OK;
}
