/*
 * Scatter-reduce-allgather on the pipeline engine (rsag.h describes the plan; pipeline.h the
 * engine). A slot's messages are four rows of P: this rank's contributions (out), contributions
 * to its chunk (in), sends of its reduced frame (red) and the other owners' reduced frames (gat).
 *
 * Output is bit-identical on every rank: each chunk is summed by one rank, in a fixed order, and
 * every rank decodes the bytes that rank sent.
 */
#define GCOMP_LOG_SUBSYS GCOMP_SUBSYS_COLL
#include <string.h>

#include "coll/pipeline.h"
#include "coll/rsag.h"
#include "core/log.h"

typedef struct rsag_slot {
    int next_in;    /* next rank whose contribution to this rank's chunk is summed */
    int own_bad;    /* a contribution was missing: the reduced chunk goes out as a stand-in */
    int reduced;    /* the reduced chunk is encoded, posted and decoded here */
    gcomp_msg_t *out; /* P: this rank's contribution frames, one per owner */
    gcomp_msg_t *in;  /* P: contributions to this rank's chunk (own entry unused) */
    gcomp_msg_t *red; /* P: sends of the reduced frame (own entry holds it) */
    gcomp_msg_t *gat; /* P: reduced frames of the other owners */
    float *acc;
} rsag_slot_t;

typedef struct rsag {
    gcomp_pipe_t pp;
    gcomp_call_t *call;
    const gcomp_rsag_policy_t *pol;
    int P, rank;
    size_t lmax;        /* longest chunk */
    size_t own_full;    /* this rank's chunk in a full stage: the level-2 residual's stride */
    size_t cap_in, cap_red, cap_gat;
    float *l1, *l2;
    rsag_slot_t slot[GCOMP_PIPELINE_DEPTH_MAX];
} rsag_t;

static const gcomp_pipe_ops_t rsag_ops;

/* Chunk j of a stage of len elements, relative to the stage. */
static void chunk_range(size_t len, int P, int j, size_t *lo_p, size_t *len_p)
{
    size_t step = GCOMP_ALIGN_UP(GCOMP_DIV_CEIL(len, (size_t)P), (size_t)64);
    size_t lo = GCOMP_MIN((size_t)j * step, len);
    *lo_p = lo;
    *len_p = GCOMP_MIN(step, len - lo);
}

static void plan(gcomp_call_t *call, const gcomp_rsag_policy_t *pol, rsag_t *e)
{
    memset(e, 0, sizeof(*e));
    gcomp_pipe_init(&e->pp, call);
    e->call = call;
    e->pol = pol;
    e->P = call->ctx->size;
    e->rank = call->ctx->rank;
    size_t first = GCOMP_MIN(call->stage_elems, call->n), lo;
    chunk_range(first, e->P, 0, &lo, &e->lmax);
    chunk_range(call->stage_elems, e->P, e->rank, &lo, &e->own_full);
    e->cap_in = gcomp_coll_bound(&call->params, e->lmax);
    e->cap_red = GCOMP_ALIGN_UP(pol->reduce_bound(call, e->lmax), (size_t)GCOMP_ALIGNMENT);
    e->cap_gat = GCOMP_ALIGN_UP(pol->gather_bound(call, e->lmax), (size_t)GCOMP_ALIGNMENT);
    e->pp.ops = &rsag_ops;
    e->pp.algo = e;
    e->pp.slot_msgs = 4 * (size_t)e->P;
    e->pp.slot_frame_bytes = (size_t)e->P * (2 * e->cap_in + e->cap_gat) + e->cap_red;
    e->pp.slot_work = GCOMP_ALIGN_UP(e->lmax, (size_t)16);
}

static size_t l2_length(const rsag_t *e)
{
    size_t nstages = e->pp.nstages;
    if (nstages == 0 || !e->pol->uses_l2(e->call)) return 0;
    size_t off, len, lo, own;
    gcomp_pipe_stage(&e->pp, nstages - 1, &off, &len);
    chunk_range(len, e->P, e->rank, &lo, &own);
    return (nstages - 1) * e->own_full + own;
}

size_t gcomp_rsag_l2_len(gcomp_call_t *call, const gcomp_rsag_policy_t *pol)
{
    rsag_t e;
    plan(call, pol, &e);
    return l2_length(&e);
}

gcomp_status_t gcomp_rsag_prepare(gcomp_call_t *call, const gcomp_rsag_policy_t *pol, size_t *l2_len_p)
{
    rsag_t e;
    plan(call, pol, &e);
    GCOMP_CHECK(gcomp_pipe_reserve(&e.pp));
    *l2_len_p = l2_length(&e);
    return GCOMP_OK;
}

static void rsag_carve(gcomp_pipe_t *pp, int k)
{
    rsag_t *e = pp->algo;
    gcomp_pipe_slot_t *ps = &pp->slot[k];
    rsag_slot_t *sl = &e->slot[k];
    int P = e->P;
    uint8_t *fp = ps->frames;
    memset(sl, 0, sizeof(*sl));
    sl->out = ps->msgs;
    sl->in = ps->msgs + P;
    sl->red = ps->msgs + 2 * P;
    sl->gat = ps->msgs + 3 * P;
    for (int j = 0; j < P; j++) {
        sl->out[j].buf = fp, sl->out[j].cap = e->cap_in, fp += e->cap_in;
        sl->in[j].buf = fp, sl->in[j].cap = e->cap_in, fp += e->cap_in;
        sl->gat[j].buf = fp, sl->gat[j].cap = e->cap_gat, fp += e->cap_gat;
    }
    for (int j = 0; j < P; j++) sl->red[j].buf = fp, sl->red[j].cap = e->cap_red;
    sl->acc = ps->work;
}

/* Sum the owner's contributions in rank order, as far as they have arrived. */
static gcomp_status_t sum_contributions(rsag_t *e, rsag_slot_t *sl, size_t off, size_t len, int *prog)
{
    gcomp_call_t *call = e->call;
    while (sl->next_in < e->P) {
        int r = sl->next_in;
        gcomp_msg_t *m;
        GCOMP_CHECK(gcomp_pipe_in_order(call, &sl->out[r], sl->in, r, &m));
        if (m == NULL) break;
        if (!sl->own_bad && gcomp_coll_decode(call, m, r, NULL, off, len, sl->acc, 1) != 0) sl->own_bad = 1;
        sl->next_in++;
        *prog = 1;
    }
    return GCOMP_OK;
}

/* A reduced frame into the output, onto zeros when the policy's frames may be sparse. A stand-in
 * (len 0) writes nothing and only records that its owner failed. */
static void decode_reduced(rsag_t *e, const gcomp_msg_t *m, int owner, size_t off, size_t len)
{
    float *dst = e->call->dst + off;
    if (m->len == 0) {
        gcomp_coll_decode(e->call, m, owner, e->pol->accept, off, len, dst, 0);
        return;
    }
    if (e->pol->sparse_out) gcomp_coll_zero(e->call, dst, len);
    gcomp_coll_decode(e->call, m, owner, e->pol->accept, off, len, dst, e->pol->sparse_out);
}

/* Re-encode the owner's sum, send it to every other rank, and decode it here too. */
static gcomp_status_t reduce_and_send(rsag_t *e, rsag_slot_t *sl, size_t stage, size_t off, size_t len)
{
    gcomp_call_t *call = e->call;
    gcomp_msg_t *own = &sl->red[e->rank];
    float *l2 = NULL;
    if (e->l2 != NULL) {
        size_t l2_off = stage * e->own_full;
        gcomp_residual_save(&call->txn, 0, l2_off + len);
        l2 = e->l2 + l2_off;
    }
    own->len = 0;
    if (!sl->own_bad) e->pol->reduce_encode(call, off, len, sl->acc, l2, own);
    int tag = gcomp_coll_tag(call->seq, GCOMP_PHASE_GATHER, stage);
    for (int j = 0; j < e->P; j++) {
        if (j == e->rank) continue;
        sl->red[j].len = own->len;
        GCOMP_CHECK(gcomp_msg_post_send(call, &sl->red[j], j, tag));
    }
    decode_reduced(e, own, e->rank, off, len);
    sl->reduced = 1;
    return GCOMP_OK;
}

static gcomp_status_t rsag_progress(gcomp_pipe_t *pp, int k, const gcomp_stage_t *st, int *prog, int *done_p)
{
    rsag_t *e = pp->algo;
    rsag_slot_t *sl = &e->slot[k];
    gcomp_call_t *call = e->call;
    size_t soff = st->off, slen = st->len, lo, len;
    chunk_range(slen, e->P, e->rank, &lo, &len);
    if (len > 0) {
        GCOMP_CHECK(sum_contributions(e, sl, soff + lo, len, prog));
        if (sl->next_in == e->P && !sl->reduced) {
            GCOMP_CHECK(reduce_and_send(e, sl, st->index, soff + lo, len));
            *prog = 1;
        }
    }
    for (int j = 0; j < e->P; j++) {
        int done = 0;
        gcomp_msg_t *g = &sl->gat[j];
        if (g->state == GCOMP_MSG_POSTED) {
            GCOMP_CHECK(gcomp_msg_poll(call, g, &done));
            if (done) {
                size_t jlo, jlen;
                chunk_range(slen, e->P, j, &jlo, &jlen);
                decode_reduced(e, g, j, soff + jlo, jlen);
                *prog = 1;
            }
        }
        GCOMP_CHECK(gcomp_pipe_poll(call, &sl->out[j], prog));
        GCOMP_CHECK(gcomp_pipe_poll(call, &sl->red[j], prog));
    }
    *done_p = len == 0 || sl->reduced;
    return GCOMP_OK;
}

/* Post the stage's receives before encoding it, so early frames land in place. */
static gcomp_status_t rsag_start(gcomp_pipe_t *pp, int k, const gcomp_stage_t *st)
{
    rsag_t *e = pp->algo;
    rsag_slot_t *sl = &e->slot[k];
    gcomp_call_t *call = e->call;
    size_t s = st->index, slen = st->len, lo, len;
    sl->next_in = sl->own_bad = sl->reduced = 0;
    chunk_range(slen, e->P, e->rank, &lo, &len);
    if (len > 0) {
        gcomp_coll_zero(call, sl->acc, len);
        /* Receive capacities are the bounds of the chunk expected. */
        GCOMP_CHECK(gcomp_pipe_post_from_all(call, sl->in, gcomp_coll_bound(&call->params, len),
                                             gcomp_coll_tag(call->seq, GCOMP_PHASE_SCATTER, s)));
    }
    int tag = gcomp_coll_tag(call->seq, GCOMP_PHASE_GATHER, s);
    for (int j = 0; j < e->P; j++) {
        chunk_range(slen, e->P, j, &lo, &len);
        if (j == e->rank || len == 0) continue;
        sl->gat[j].cap = e->pol->gather_bound(call, len);
        GCOMP_CHECK(gcomp_msg_post_recv(call, &sl->gat[j], j, tag));
    }
    return GCOMP_OK;
}

/* Encode the stage's P chunks, the other owners' first, sending each as soon as it is ready and
 * moving the earlier stages along in between. */
static gcomp_status_t rsag_encode(gcomp_pipe_t *pp, int k, const gcomp_stage_t *st)
{
    rsag_t *e = pp->algo;
    rsag_slot_t *sl = &e->slot[k];
    gcomp_call_t *call = e->call;
    size_t soff = st->off, slen = st->len;
    int tag = gcomp_coll_tag(call->seq, GCOMP_PHASE_SCATTER, st->index);
    for (int t = 1; t <= e->P; t++) {
        int j = (e->rank + t) % e->P;
        size_t lo, len;
        chunk_range(slen, e->P, j, &lo, &len);
        if (len == 0) continue;
        size_t off = soff + lo;
        gcomp_coll_encode(call, &call->params, off, len, call->src + off, e->l1 ? e->l1 + off : NULL, &sl->out[j]);
        if (j != e->rank) GCOMP_CHECK(gcomp_msg_post_send(call, &sl->out[j], j, tag));
        int prog = 0;
        GCOMP_CHECK(gcomp_pipe_others_progress(pp, k, &prog));
    }
    return GCOMP_OK;
}

static const gcomp_msg_t *rsag_awaited(const gcomp_pipe_t *pp, int k, int *phase_p)
{
    const rsag_t *e = pp->algo;
    const rsag_slot_t *sl = &e->slot[k];
    const gcomp_msg_t *w = gcomp_pipe_first_posted(sl->in, (size_t)e->P);
    *phase_p = GCOMP_PHASE_SCATTER;
    if (w == NULL) w = gcomp_pipe_first_posted(sl->gat, (size_t)e->P), *phase_p = GCOMP_PHASE_GATHER;
    return w;
}

static const gcomp_pipe_ops_t rsag_ops = {
    .carve = rsag_carve,
    .start = rsag_start,
    .encode = rsag_encode,
    .progress = rsag_progress,
    .awaited = rsag_awaited,
};

gcomp_status_t gcomp_rsag_run(gcomp_call_t *call, const gcomp_rsag_policy_t *pol)
{
    rsag_t e;
    plan(call, pol, &e);
    gcomp_residual_t *r = call->txn.r;
    e.l1 = gcomp_pipe_l1(call);
    e.l2 = r != NULL && r->l2_len > 0 ? r->l2 : NULL;
    return gcomp_pipe_run(&e.pp);
}
