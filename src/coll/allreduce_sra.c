/*
 * Scatter-reduce-allgather (rsag.h describes the plan), and its policy for the dense codecs q8 and
 * none: the owner re-encodes its sum with the call's codec and a level-2 residual, the two-level
 * error feedback of DeepSpeed's compressed all-reduce, so that over repeated calls the error of the
 * running sum stays bounded instead of settling at the re-encoding's rounding error.
 *
 * Output is bit-identical on every rank: each chunk is summed by one rank, in a fixed order, and
 * every rank decodes the bytes that rank sent.
 */
#define GCOMP_LOG_SUBSYS GCOMP_SUBSYS_COLL
#include <string.h>

#include "coll/rsag.h"
#include "core/log.h"

typedef struct rsag_slot {
    size_t stage;
    int busy;       /* holds a stage that is not complete */
    int encoded;    /* this rank's contributions to the stage are encoded and posted */
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
    gcomp_call_t *call;
    const gcomp_rsag_policy_t *pol;
    int P, rank;
    size_t nstages;
    size_t lmax;        /* longest chunk */
    size_t own_full;    /* this rank's chunk in a full stage: the level-2 residual's stride */
    size_t cap_in, cap_red, cap_gat;
    float *l1, *l2;
    int nslots;         /* stages in flight at most */
    rsag_slot_t slot[GCOMP_PIPELINE_DEPTH_MAX];
} rsag_t;

static void stage_range(const rsag_t *e, size_t s, size_t *off_p, size_t *len_p)
{
    size_t off = s * e->call->stage_elems;
    *off_p = off;
    *len_p = GCOMP_MIN(e->call->stage_elems, e->call->n - off);
}

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
    e->call = call;
    e->pol = pol;
    e->P = call->ctx->size;
    e->rank = call->ctx->rank;
    e->nstages = call->n == 0 ? 0 : GCOMP_DIV_CEIL(call->n, call->stage_elems);
    e->nslots = gcomp_coll_slots(call, e->nstages);
    size_t first = GCOMP_MIN(call->stage_elems, call->n), lo;
    chunk_range(first, e->P, 0, &lo, &e->lmax);
    chunk_range(call->stage_elems, e->P, e->rank, &lo, &e->own_full);
    e->cap_in = gcomp_coll_bound(&call->params, e->lmax);
    e->cap_red = GCOMP_ALIGN_UP(pol->reduce_bound(call, e->lmax), (size_t)GCOMP_ALIGNMENT);
    e->cap_gat = GCOMP_ALIGN_UP(pol->gather_bound(call, e->lmax), (size_t)GCOMP_ALIGNMENT);
}

static size_t l2_length(const rsag_t *e)
{
    if (e->nstages == 0 || !e->pol->uses_l2(e->call)) return 0;
    size_t off, len, lo, own;
    stage_range(e, e->nstages - 1, &off, &len);
    chunk_range(len, e->P, e->rank, &lo, &own);
    return (e->nstages - 1) * e->own_full + own;
}

size_t gcomp_rsag_l2_len(gcomp_call_t *call, const gcomp_rsag_policy_t *pol)
{
    rsag_t e;
    plan(call, pol, &e);
    return l2_length(&e);
}

static size_t slot_frame_bytes(const rsag_t *e)
{
    return (size_t)e->P * (2 * e->cap_in + e->cap_gat) + e->cap_red;
}

gcomp_status_t gcomp_rsag_prepare(gcomp_call_t *call, const gcomp_rsag_policy_t *pol, size_t *l2_len_p)
{
    rsag_t e;
    plan(call, pol, &e);
    gcomp_comm_t *ctx = call->ctx;
    size_t D = (size_t)e.nslots;
    GCOMP_CHECK(gcomp_scratch_reserve(&ctx->frames, D * slot_frame_bytes(&e)));
    GCOMP_CHECK(gcomp_scratch_reserve(&ctx->msgs, D * 4 * (size_t)e.P * sizeof(gcomp_msg_t)));
    GCOMP_CHECK(gcomp_coll_work_reserve(call, D * GCOMP_ALIGN_UP(e.lmax, (size_t)16)));
    *l2_len_p = l2_length(&e);
    return GCOMP_OK;
}

static void carve(rsag_t *e)
{
    gcomp_comm_t *ctx = e->call->ctx;
    int P = e->P;
    uint8_t *fp = ctx->frames.ptr;
    gcomp_msg_t *mp = ctx->msgs.ptr;
    float *wp = gcomp_coll_work(e->call);
    size_t D = (size_t)e->nslots;
    memset(mp, 0, D * 4 * (size_t)P * sizeof(*mp));
    e->call->all_msgs = mp;
    e->call->n_msgs = D * 4 * (size_t)P;
    for (int k = 0; k < e->nslots; k++) {
        rsag_slot_t *sl = &e->slot[k];
        memset(sl, 0, sizeof(*sl));
        sl->out = mp;
        sl->in = mp + P;
        sl->red = mp + 2 * P;
        sl->gat = mp + 3 * P;
        mp += 4 * P;
        for (int j = 0; j < P; j++) {
            sl->out[j].buf = fp, sl->out[j].cap = e->cap_in, fp += e->cap_in;
            sl->in[j].buf = fp, sl->in[j].cap = e->cap_in, fp += e->cap_in;
            sl->gat[j].buf = fp, sl->gat[j].cap = e->cap_gat, fp += e->cap_gat;
        }
        for (int j = 0; j < P; j++) sl->red[j].buf = fp, sl->red[j].cap = e->cap_red;
        fp += e->cap_red;
        sl->acc = wp;
        wp += GCOMP_ALIGN_UP(e->lmax, (size_t)16);
    }
    gcomp_residual_t *r = e->call->txn.r;
    e->l1 = r != NULL && e->call->params.error_feedback ? r->l1 : NULL;
    e->l2 = r != NULL && r->l2_len > 0 ? r->l2 : NULL;
}

/* Sum the owner's contributions in rank order, as far as they have arrived. */
static gcomp_status_t sum_contributions(rsag_t *e, rsag_slot_t *sl, size_t off, size_t len, int *prog)
{
    gcomp_call_t *call = e->call;
    while (sl->next_in < e->P) {
        int r = sl->next_in;
        gcomp_msg_t *m = r == e->rank ? &sl->out[r] : &sl->in[r];
        if (r != e->rank) {
            int done = 0;
            GCOMP_CHECK(gcomp_msg_poll(call, m, &done));
            if (!done) break;
        }
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
static gcomp_status_t reduce_and_send(rsag_t *e, rsag_slot_t *sl, size_t off, size_t len)
{
    gcomp_call_t *call = e->call;
    gcomp_msg_t *own = &sl->red[e->rank];
    float *l2 = NULL;
    if (e->l2 != NULL) {
        size_t l2_off = sl->stage * e->own_full;
        gcomp_residual_save(&call->txn, 0, l2_off + len);
        l2 = e->l2 + l2_off;
    }
    own->len = 0;
    if (!sl->own_bad) e->pol->reduce_encode(call, off, len, sl->acc, l2, own);
    int tag = gcomp_coll_tag(call->seq, GCOMP_PHASE_GATHER, sl->stage);
    for (int j = 0; j < e->P; j++) {
        if (j == e->rank) continue;
        sl->red[j].len = own->len;
        GCOMP_CHECK(gcomp_msg_post_send(call, &sl->red[j], j, tag));
    }
    decode_reduced(e, own, e->rank, off, len);
    sl->reduced = 1;
    return GCOMP_OK;
}

static const gcomp_msg_t *first_posted(const gcomp_msg_t *m, int n)
{
    for (int i = 0; i < n; i++)
        if (m[i].state == GCOMP_MSG_POSTED) return &m[i];
    return NULL;
}

static gcomp_status_t slot_progress(rsag_t *e, rsag_slot_t *sl, int *prog)
{
    if (!sl->busy || !sl->encoded) return GCOMP_OK;
    gcomp_call_t *call = e->call;
    size_t soff, slen, lo, len;
    stage_range(e, sl->stage, &soff, &slen);
    chunk_range(slen, e->P, e->rank, &lo, &len);
    if (len > 0) {
        GCOMP_CHECK(sum_contributions(e, sl, soff + lo, len, prog));
        if (sl->next_in == e->P && !sl->reduced) {
            GCOMP_CHECK(reduce_and_send(e, sl, soff + lo, len));
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
        if (sl->out[j].state == GCOMP_MSG_POSTED) {
            GCOMP_CHECK(gcomp_msg_poll(call, &sl->out[j], &done));
            *prog |= done;
        }
        if (sl->red[j].state == GCOMP_MSG_POSTED) {
            GCOMP_CHECK(gcomp_msg_poll(call, &sl->red[j], &done));
            *prog |= done;
        }
    }
    int owner_done = len == 0 || sl->reduced;
    if (owner_done && first_posted(sl->out, 4 * e->P) == NULL) sl->busy = 0;
    return GCOMP_OK;
}

/* Post the stage's receives before encoding it, so early frames land in place. */
static gcomp_status_t slot_start(rsag_t *e, rsag_slot_t *sl, size_t s)
{
    gcomp_call_t *call = e->call;
    for (int j = 0; j < 4 * e->P; j++) sl->out[j].state = GCOMP_MSG_IDLE;
    sl->stage = s;
    sl->busy = 1;
    sl->encoded = sl->next_in = sl->own_bad = sl->reduced = 0;
    size_t soff, slen, lo, len;
    stage_range(e, s, &soff, &slen);
    chunk_range(slen, e->P, e->rank, &lo, &len);
    if (len > 0) {
        gcomp_coll_zero(call, sl->acc, len);
        /* Receive capacities are the bounds of the chunk expected: anything longer is refused by MPI. */
        size_t cap = gcomp_coll_bound(&call->params, len);
        int tag = gcomp_coll_tag(call->seq, GCOMP_PHASE_SCATTER, s);
        for (int r = 0; r < e->P; r++) {
            if (r == e->rank) continue;
            sl->in[r].cap = cap;
            GCOMP_CHECK(gcomp_msg_post_recv(call, &sl->in[r], r, tag));
        }
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

/* Move along every slot but sl, the oldest stage first. */
static gcomp_status_t others_progress(rsag_t *e, const rsag_slot_t *sl, int *prog)
{
    int k0 = (int)(sl - e->slot);
    for (int k = 1; k < e->nslots; k++) GCOMP_CHECK(slot_progress(e, &e->slot[(k0 + k) % e->nslots], prog));
    return GCOMP_OK;
}

/* Encode the stage's P chunks, the other owners' first, sending each as soon as it is ready and
 * moving the earlier stages along in between. */
static gcomp_status_t slot_encode(rsag_t *e, rsag_slot_t *sl)
{
    gcomp_call_t *call = e->call;
    size_t soff, slen;
    stage_range(e, sl->stage, &soff, &slen);
    if (e->l1 != NULL) gcomp_residual_save(&call->txn, soff + slen, 0);
    int tag = gcomp_coll_tag(call->seq, GCOMP_PHASE_SCATTER, sl->stage);
    for (int t = 1; t <= e->P; t++) {
        int j = (e->rank + t) % e->P;
        size_t lo, len;
        chunk_range(slen, e->P, j, &lo, &len);
        if (len == 0) continue;
        size_t off = soff + lo;
        gcomp_coll_encode(call, &call->params, off, len, call->src + off, e->l1 ? e->l1 + off : NULL, &sl->out[j]);
        if (j != e->rank) GCOMP_CHECK(gcomp_msg_post_send(call, &sl->out[j], j, tag));
        int prog = 0;
        GCOMP_CHECK(others_progress(e, sl, &prog));
    }
    sl->encoded = 1;
    return GCOMP_OK;
}

static gcomp_status_t wait_slot(rsag_t *e, rsag_slot_t *sl)
{
    unsigned idle = 0;
    while (sl->busy) {
        int prog = 0;
        GCOMP_CHECK(slot_progress(e, sl, &prog));
        GCOMP_CHECK(others_progress(e, sl, &prog));
        if (!sl->busy) break;
        const gcomp_msg_t *w = first_posted(sl->in, e->P);
        int phase = GCOMP_PHASE_SCATTER;
        if (w == NULL) w = first_posted(sl->gat, e->P), phase = GCOMP_PHASE_GATHER;
        if (w == NULL) w = first_posted(sl->out, 4 * e->P);
        GCOMP_CHECK(gcomp_coll_stall(e->call, prog, w, gcomp_coll_phase_name(phase), &idle));
    }
    return GCOMP_OK;
}

gcomp_status_t gcomp_rsag_run(gcomp_call_t *call, const gcomp_rsag_policy_t *pol)
{
    rsag_t e;
    plan(call, pol, &e);
    carve(&e);
    size_t D = (size_t)e.nslots;
    for (size_t s = 0; s < e.nstages; s++) {
        rsag_slot_t *sl = &e.slot[s % D];
        GCOMP_CHECK(wait_slot(&e, sl));
        GCOMP_CHECK(slot_start(&e, sl, s));
        GCOMP_CHECK(slot_encode(&e, sl));
        int prog = 0;
        GCOMP_CHECK(slot_progress(&e, sl, &prog));
    }
    for (size_t s = e.nstages; s < e.nstages + D; s++) GCOMP_CHECK(wait_slot(&e, &e.slot[s % D]));
    return GCOMP_OK;
}

/* ---- the dense policy: q8 and none ---- */

static size_t sra_bound(const gcomp_call_t *call, size_t len)
{
    return gcomp_coll_bound(&call->params, len);
}

static int sra_uses_l2(const gcomp_call_t *call)
{
    /* none drops nothing, so a level-2 residual would stay zero. */
    return call->params.error_feedback && call->params.codec == GCOMP_CODEC_Q8;
}

static void sra_reduce_encode(gcomp_call_t *call, size_t off, size_t len, float *acc, float *l2, gcomp_msg_t *m)
{
    gcomp_codec_params_t p = gcomp_rsag_reduce_params(call);
    p.error_feedback = l2 != NULL;
    gcomp_coll_encode(call, &p, off, len, acc, l2, m);
}

static const gcomp_rsag_policy_t sra_policy = {
    .name = "sra",
    .gather_bound = sra_bound,
    .reduce_bound = sra_bound,
    .uses_l2 = sra_uses_l2,
    .reduce_encode = sra_reduce_encode,
    .accept = NULL,
    .sparse_out = 0,
};

gcomp_status_t gcomp_sra_prepare(gcomp_call_t *call, size_t *l2_len_p)
{
    return gcomp_rsag_prepare(call, &sra_policy, l2_len_p);
}

size_t gcomp_sra_l2_len(gcomp_call_t *call)
{
    return gcomp_rsag_l2_len(call, &sra_policy);
}

gcomp_status_t gcomp_sra_run(gcomp_call_t *call)
{
    return gcomp_rsag_run(call, &sra_policy);
}
