/*
 * Sparse all-gather, for topk and topk-q8, on the pipeline engine (pipeline.h): each rank encodes
 * its vector (error feedback over the whole vector) one pipeline stage at a time, sends each
 * stage's frame to every other rank, and every rank decodes the P frames of a stage in rank order
 * 0..P-1 onto zeros. Every rank sums the same bytes in the same order, so the output is
 * bit-identical everywhere. It sends P-1 frames of the whole vector, which pays when k is small or
 * P is: cost_model.c weighs it against the sparse reduce-scatter.
 *
 * A slot's messages are two rows of P: the sends of this rank's frame (out, own entry holding it)
 * and the other ranks' frames (in).
 */
#define GCOMP_LOG_SUBSYS GCOMP_SUBSYS_COLL
#include <math.h>
#include <string.h>

#include "coll/algo.h"
#include "coll/pipeline.h"
#include "core/log.h"

typedef struct ag_slot {
    int next_in;     /* next rank whose frame is added */
    gcomp_msg_t *out; /* P: sends of this rank's frame (own entry holds it) */
    gcomp_msg_t *in;  /* P: the other ranks' frames */
} ag_slot_t;

typedef struct ag {
    gcomp_pipe_t pp;
    gcomp_call_t *call;
    int P, rank;
    size_t cap;
    float *l1;
    ag_slot_t slot[GCOMP_PIPELINE_DEPTH_MAX];
} ag_t;

static const gcomp_pipe_ops_t ag_ops;

static void plan(gcomp_call_t *call, ag_t *e)
{
    memset(e, 0, sizeof(*e));
    gcomp_pipe_init(&e->pp, call);
    e->call = call;
    e->P = call->ctx->size;
    e->rank = call->ctx->rank;
    e->cap = gcomp_coll_bound(&call->params, GCOMP_MIN(call->stage_elems, call->n));
    e->pp.ops = &ag_ops;
    e->pp.algo = e;
    e->pp.slot_msgs = 2 * (size_t)e->P;
    e->pp.slot_frame_bytes = (size_t)(e->P + 1) * e->cap;
}

/* No level-2 residual: nothing is re-encoded. */
static gcomp_status_t ag_prepare(gcomp_call_t *call, size_t *l2_len_p)
{
    ag_t e;
    plan(call, &e);
    GCOMP_CHECK(gcomp_pipe_reserve(&e.pp));
    *l2_len_p = 0;
    return GCOMP_OK;
}

static size_t ag_l2_len(gcomp_call_t *call)
{
    (void)call;
    return 0;
}

static void ag_carve(gcomp_pipe_t *pp, int k)
{
    ag_t *e = pp->algo;
    gcomp_pipe_slot_t *ps = &pp->slot[k];
    ag_slot_t *sl = &e->slot[k];
    int P = e->P;
    uint8_t *fp = ps->frames;
    memset(sl, 0, sizeof(*sl));
    sl->out = ps->msgs;
    sl->in = ps->msgs + P;
    for (int j = 0; j < P; j++) {
        sl->in[j].buf = fp, sl->in[j].cap = e->cap, fp += e->cap;
        sl->out[j].cap = e->cap;
    }
    for (int j = 0; j < P; j++) sl->out[j].buf = fp;
}

static gcomp_status_t ag_progress(gcomp_pipe_t *pp, int k, const gcomp_stage_t *st, int *prog, int *done_p)
{
    ag_t *e = pp->algo;
    ag_slot_t *sl = &e->slot[k];
    gcomp_call_t *call = e->call;
    size_t off = st->off, len = st->len;
    while (sl->next_in < e->P) {
        int r = sl->next_in;
        gcomp_msg_t *m;
        GCOMP_CHECK(gcomp_pipe_in_order(call, &sl->out[r], sl->in, r, &m));
        if (m == NULL) break;
        /* Zeroed only now: with MPI_IN_PLACE this stage's input was being read until it was encoded. */
        if (r == 0) gcomp_coll_zero(call, call->dst + off, len);
        gcomp_coll_decode(call, m, r, NULL, off, len, call->dst + off, 1);
        sl->next_in++;
        *prog = 1;
    }
    for (int j = 0; j < e->P; j++) GCOMP_CHECK(gcomp_pipe_poll(call, &sl->out[j], prog));
    *done_p = sl->next_in == e->P;
    return GCOMP_OK;
}

static gcomp_status_t ag_start(gcomp_pipe_t *pp, int k, const gcomp_stage_t *st)
{
    ag_t *e = pp->algo;
    ag_slot_t *sl = &e->slot[k];
    sl->next_in = 0;
    /* The stage's bound. */
    return gcomp_pipe_post_from_all(e->call, sl->in, gcomp_coll_bound(&e->call->params, st->len),
                                    gcomp_coll_tag(e->call->seq, GCOMP_PHASE_ALLGATHER, st->index));
}

static gcomp_status_t ag_encode(gcomp_pipe_t *pp, int k, const gcomp_stage_t *st)
{
    ag_t *e = pp->algo;
    ag_slot_t *sl = &e->slot[k];
    gcomp_call_t *call = e->call;
    size_t off = st->off, len = st->len;
    gcomp_msg_t *own = &sl->out[e->rank];
    gcomp_coll_encode(call, &call->params, off, len, call->src + off, e->l1 ? e->l1 + off : NULL, own);
    int tag = gcomp_coll_tag(call->seq, GCOMP_PHASE_ALLGATHER, st->index);
    /* Start with the next rank so that the P-1 sends of all ranks do not all hit rank 0 first. */
    for (int t = 1; t < e->P; t++) {
        int j = (e->rank + t) % e->P;
        sl->out[j].len = own->len;
        GCOMP_CHECK(gcomp_msg_post_send(call, &sl->out[j], j, tag));
        int prog = 0;
        GCOMP_CHECK(gcomp_pipe_others_progress(pp, k, &prog));
    }
    return GCOMP_OK;
}

static const gcomp_msg_t *ag_awaited(const gcomp_pipe_t *pp, int k, int *phase_p)
{
    const ag_t *e = pp->algo;
    *phase_p = GCOMP_PHASE_ALLGATHER;
    return gcomp_pipe_first_posted(e->slot[k].in, (size_t)e->P);
}

static const gcomp_pipe_ops_t ag_ops = {
    .carve = ag_carve,
    .start = ag_start,
    .encode = ag_encode,
    .progress = ag_progress,
    .awaited = ag_awaited,
};

static gcomp_status_t ag_run(gcomp_call_t *call)
{
    ag_t e;
    plan(call, &e);
    e.l1 = gcomp_pipe_l1(call);
    return gcomp_pipe_run(&e.pp);
}

/* The whole vector's top-k frame to P-1 ranks; the output zeroed, P frames added. */
static void ag_estimate(const gcomp_codec_params_t *p, size_t n, int size, size_t stage_elems, gcomp_cost_t *cost_p)
{
    double P = size, N = (double)n, k = ceil(p->topk_ratio * N);
    cost_p->bytes = (P - 1) * gcomp_cost_frame(p, N, k);
    cost_p->msgs = (P - 1) * gcomp_cost_stages(n, stage_elems);
    cost_p->dense = N;
    cost_p->sparse = P * k;
}

const gcomp_algo_ops_t gcomp_algo_allgather_ops = {
    .id = GCOMP_ALGO_ALLGATHER, .name = "allgather",
    .applies = gcomp_codec_is_sparse, .estimate = ag_estimate,
    .prepare = ag_prepare, .l2_len = ag_l2_len, .run = ag_run,
};
