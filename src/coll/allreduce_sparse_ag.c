/*
 * Sparse all-gather, for topk and topk-q8: each rank encodes its vector (error feedback over the
 * whole vector) one pipeline stage at a time, sends each stage's frame to every other rank, and
 * every rank decodes the P frames of a stage in rank order 0..P-1 onto zeros. Every rank sums the
 * same bytes in the same order, so the output is bit-identical everywhere. It sends P-1 frames of
 * the whole vector, which pays when k is small or P is: cost_model.c weighs it against the sparse
 * reduce-scatter.
 */
#define GCOMP_LOG_SUBSYS GCOMP_SUBSYS_COLL
#include <string.h>

#include "coll/coll.h"
#include "core/log.h"

typedef struct ag_slot {
    size_t stage;
    int busy;
    int encoded;
    int next_in;     /* next rank whose frame is added */
    gcomp_msg_t *out; /* P: sends of this rank's frame (own entry holds it) */
    gcomp_msg_t *in;  /* P: the other ranks' frames */
} ag_slot_t;

typedef struct ag {
    gcomp_call_t *call;
    int P, rank;
    size_t nstages;
    size_t cap;
    float *l1;
    int nslots;     /* stages in flight at most */
    ag_slot_t slot[GCOMP_PIPELINE_DEPTH_MAX];
} ag_t;

static void plan(gcomp_call_t *call, ag_t *e)
{
    memset(e, 0, sizeof(*e));
    e->call = call;
    e->P = call->ctx->size;
    e->rank = call->ctx->rank;
    e->nstages = call->n == 0 ? 0 : GCOMP_DIV_CEIL(call->n, call->stage_elems);
    e->nslots = gcomp_coll_slots(call, e->nstages);
    e->cap = gcomp_coll_bound(&call->params, GCOMP_MIN(call->stage_elems, call->n));
}

static void stage_range(const ag_t *e, size_t s, size_t *off_p, size_t *len_p)
{
    size_t off = s * e->call->stage_elems;
    *off_p = off;
    *len_p = GCOMP_MIN(e->call->stage_elems, e->call->n - off);
}

gcomp_status_t gcomp_sparse_ag_prepare(gcomp_call_t *call)
{
    ag_t e;
    plan(call, &e);
    size_t D = (size_t)e.nslots;
    GCOMP_CHECK(gcomp_scratch_reserve(&call->ctx->frames, D * (size_t)(e.P + 1) * e.cap));
    GCOMP_CHECK(gcomp_scratch_reserve(&call->ctx->msgs, D * 2 * (size_t)e.P * sizeof(gcomp_msg_t)));
    return GCOMP_OK;
}

static void carve(ag_t *e)
{
    gcomp_comm_t *ctx = e->call->ctx;
    int P = e->P;
    uint8_t *fp = ctx->frames.ptr;
    gcomp_msg_t *mp = ctx->msgs.ptr;
    size_t D = (size_t)e->nslots;
    memset(mp, 0, D * 2 * (size_t)P * sizeof(*mp));
    e->call->all_msgs = mp;
    e->call->n_msgs = D * 2 * (size_t)P;
    for (int k = 0; k < e->nslots; k++) {
        ag_slot_t *sl = &e->slot[k];
        memset(sl, 0, sizeof(*sl));
        sl->out = mp;
        sl->in = mp + P;
        mp += 2 * P;
        for (int j = 0; j < P; j++) {
            sl->in[j].buf = fp, sl->in[j].cap = e->cap, fp += e->cap;
            sl->out[j].cap = e->cap;
        }
        for (int j = 0; j < P; j++) sl->out[j].buf = fp;
        fp += e->cap;
    }
    gcomp_residual_t *r = e->call->txn.r;
    e->l1 = r != NULL && e->call->params.error_feedback ? r->l1 : NULL;
}

static const gcomp_msg_t *first_posted(const gcomp_msg_t *m, int n)
{
    for (int i = 0; i < n; i++)
        if (m[i].state == GCOMP_MSG_POSTED) return &m[i];
    return NULL;
}

static gcomp_status_t slot_progress(ag_t *e, ag_slot_t *sl, int *prog)
{
    if (!sl->busy || !sl->encoded) return GCOMP_OK;
    gcomp_call_t *call = e->call;
    size_t off, len;
    stage_range(e, sl->stage, &off, &len);
    while (sl->next_in < e->P) {
        int r = sl->next_in;
        gcomp_msg_t *m = r == e->rank ? &sl->out[r] : &sl->in[r];
        if (r != e->rank) {
            int done = 0;
            GCOMP_CHECK(gcomp_msg_poll(call, m, &done));
            if (!done) break;
        }
        /* Zeroed only now: with MPI_IN_PLACE this stage's input was being read until it was encoded. */
        if (r == 0) gcomp_coll_zero(call, call->dst + off, len);
        gcomp_coll_decode(call, m, r, NULL, off, len, call->dst + off, 1);
        sl->next_in++;
        *prog = 1;
    }
    for (int j = 0; j < e->P; j++) {
        if (sl->out[j].state != GCOMP_MSG_POSTED) continue;
        int done = 0;
        GCOMP_CHECK(gcomp_msg_poll(call, &sl->out[j], &done));
        *prog |= done;
    }
    if (sl->next_in == e->P && first_posted(sl->out, e->P) == NULL) sl->busy = 0;
    return GCOMP_OK;
}

static gcomp_status_t slot_start(ag_t *e, ag_slot_t *sl, size_t s)
{
    for (int j = 0; j < 2 * e->P; j++) sl->out[j].state = GCOMP_MSG_IDLE;
    sl->stage = s;
    sl->busy = 1;
    sl->encoded = sl->next_in = 0;
    size_t off, len;
    stage_range(e, s, &off, &len);
    size_t cap = gcomp_coll_bound(&e->call->params, len); /* the stage's bound: longer is refused */
    int tag = gcomp_coll_tag(e->call->seq, GCOMP_PHASE_ALLGATHER, s);
    for (int r = 0; r < e->P; r++) {
        if (r == e->rank) continue;
        sl->in[r].cap = cap;
        GCOMP_CHECK(gcomp_msg_post_recv(e->call, &sl->in[r], r, tag));
    }
    return GCOMP_OK;
}

/* Move along every slot but sl, the oldest stage first. */
static gcomp_status_t others_progress(ag_t *e, const ag_slot_t *sl, int *prog)
{
    int k0 = (int)(sl - e->slot);
    for (int k = 1; k < e->nslots; k++) GCOMP_CHECK(slot_progress(e, &e->slot[(k0 + k) % e->nslots], prog));
    return GCOMP_OK;
}

static gcomp_status_t slot_encode(ag_t *e, ag_slot_t *sl)
{
    gcomp_call_t *call = e->call;
    size_t off, len;
    stage_range(e, sl->stage, &off, &len);
    if (e->l1 != NULL) gcomp_residual_save(&call->txn, off + len, 0);
    gcomp_msg_t *own = &sl->out[e->rank];
    gcomp_coll_encode(call, &call->params, off, len, call->src + off, e->l1 ? e->l1 + off : NULL, own);
    int tag = gcomp_coll_tag(call->seq, GCOMP_PHASE_ALLGATHER, sl->stage);
    /* Start with the next rank so that the P-1 sends of all ranks do not all hit rank 0 first. */
    for (int t = 1; t < e->P; t++) {
        int j = (e->rank + t) % e->P;
        sl->out[j].len = own->len;
        GCOMP_CHECK(gcomp_msg_post_send(call, &sl->out[j], j, tag));
        int prog = 0;
        GCOMP_CHECK(others_progress(e, sl, &prog));
    }
    sl->encoded = 1;
    return GCOMP_OK;
}

static gcomp_status_t wait_slot(ag_t *e, ag_slot_t *sl)
{
    unsigned idle = 0;
    while (sl->busy) {
        int prog = 0;
        GCOMP_CHECK(slot_progress(e, sl, &prog));
        GCOMP_CHECK(others_progress(e, sl, &prog));
        if (!sl->busy) break;
        const gcomp_msg_t *w = first_posted(sl->in, e->P);
        if (w == NULL) w = first_posted(sl->out, e->P);
        GCOMP_CHECK(gcomp_coll_stall(e->call, prog, w, gcomp_coll_phase_name(GCOMP_PHASE_ALLGATHER), &idle));
    }
    return GCOMP_OK;
}

gcomp_status_t gcomp_sparse_ag_run(gcomp_call_t *call)
{
    ag_t e;
    plan(call, &e);
    carve(&e);
    size_t D = (size_t)e.nslots;
    for (size_t s = 0; s < e.nstages; s++) {
        ag_slot_t *sl = &e.slot[s % D];
        GCOMP_CHECK(wait_slot(&e, sl));
        GCOMP_CHECK(slot_start(&e, sl, s));
        GCOMP_CHECK(slot_encode(&e, sl));
        int prog = 0;
        GCOMP_CHECK(slot_progress(&e, sl, &prog));
    }
    for (size_t s = e.nstages; s < e.nstages + D; s++) GCOMP_CHECK(wait_slot(&e, &e.slot[s % D]));
    return GCOMP_OK;
}
