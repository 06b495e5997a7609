/*
 * The pipeline every algorithm runs on: the vector is cut into stages of call->stage_elems, and a
 * ring of up to call->depth slots (GCOMP_PIPELINE_DEPTH, at most GCOMP_PIPELINE_DEPTH_MAX) holds
 * the stages in flight, so that encoding stage s overlaps the wire and the decoding of the stages
 * before it. Per stage the run loop waits for the slot's previous stage to complete, starts the
 * stage (the algorithm posts its receives), encodes it (the algorithm encodes and sends, moving the
 * other slots along in between), and moves it along once; at the end it drains every slot.
 *
 * An algorithm is a policy on this engine: how many messages, frame bytes and fp32 work values a
 * slot needs, how they are laid out, and the callbacks below. Each slot's messages, frames and work
 * come from the context's scratch (ctx->msgs, ctx->frames, the call's work memory).
 */
#ifndef GCOMP_COLL_PIPELINE_H
#define GCOMP_COLL_PIPELINE_H

#include "coll/coll.h"

typedef struct gcomp_pipe gcomp_pipe_t;

/* The stage a callback works on: its number and its elements [off, off + len). */
typedef struct gcomp_stage {
    size_t index;
    size_t off;
    size_t len;
} gcomp_stage_t;

typedef struct gcomp_pipe_ops {
    /* Lay out slot k's messages, frames and work (pp->slot_msgs, slot_frame_bytes, slot_work
     * of each); the messages are zeroed. Called once per run, before the first stage. */
    void (*carve)(gcomp_pipe_t *pp, int k);
    /* Slot k was given stage st, its messages idle: post the stage's receives. */
    gcomp_status_t (*start)(gcomp_pipe_t *pp, int k, const gcomp_stage_t *st);
    /* Encode slot k's stage and send it, calling gcomp_pipe_others_progress between sends (the
     * stage's level-1 residual is saved for undoing before). */
    gcomp_status_t (*encode)(gcomp_pipe_t *pp, int k, const gcomp_stage_t *st);
    /* Move slot k's encoded stage along: *prog = 1 on progress, *done_p = 1 once this rank has
     * nothing more to receive, reduce or decode for it (the engine then waits for its sends). */
    gcomp_status_t (*progress)(gcomp_pipe_t *pp, int k, const gcomp_stage_t *st, int *prog, int *done_p);
    /* The message slot k waits for, for a timeout's warning, and the phase it belongs to; NULL:
     * the first message of the slot still posted. */
    const gcomp_msg_t *(*awaited)(const gcomp_pipe_t *pp, int k, int *phase_p);
} gcomp_pipe_ops_t;

typedef struct gcomp_pipe_slot {
    size_t stage;
    int busy;           /* holds a stage that is not complete */
    int encoded;        /* this rank's frames of the stage are encoded and posted */
    gcomp_msg_t *msgs;  /* slot_msgs messages */
    uint8_t *frames;    /* slot_frame_bytes bytes */
    float *work;        /* slot_work values (NULL with none) */
} gcomp_pipe_slot_t;

struct gcomp_pipe {
    gcomp_call_t *call;
    const gcomp_pipe_ops_t *ops;
    void *algo;                 /* the algorithm's state, for its callbacks */
    size_t nstages;
    int nslots;                 /* stages in flight at most */
    size_t slot_msgs;           /* per slot, set by the algorithm before reserve and run */
    size_t slot_frame_bytes;
    size_t slot_work;           /* fp32 values, a multiple of 16 */
    gcomp_pipe_slot_t slot[GCOMP_PIPELINE_DEPTH_MAX];
};

/* Stages and slots of a call; the algorithm then sets ops, algo and the per-slot sizes. */
GCOMP_INTERNAL void gcomp_pipe_init(gcomp_pipe_t *pp, gcomp_call_t *call);
/* Reserve the scratch the run will carve (local, before the agreement). */
GCOMP_INTERNAL gcomp_status_t gcomp_pipe_reserve(const gcomp_pipe_t *pp);
GCOMP_INTERNAL gcomp_status_t gcomp_pipe_run(gcomp_pipe_t *pp);
/* Move along every slot but k, the oldest stage first. */
GCOMP_INTERNAL gcomp_status_t gcomp_pipe_others_progress(gcomp_pipe_t *pp, int k, int *prog);
GCOMP_INTERNAL const gcomp_msg_t *gcomp_pipe_first_posted(const gcomp_msg_t *m, size_t n);
/* Frames summed in rank order: frame r is own (this rank's, r == rank: never awaited) or in[r] once
 * it has arrived; *m_p = NULL while it has not. */
GCOMP_INTERNAL gcomp_status_t gcomp_pipe_in_order(gcomp_call_t *call, gcomp_msg_t *own, gcomp_msg_t *in, int r,
                                                 gcomp_msg_t **m_p);
/* Post in[r], for every rank r but this one, as the receive of r's frame of at most cap bytes
 * (anything longer is refused by the transport) with tag. */
GCOMP_INTERNAL gcomp_status_t gcomp_pipe_post_from_all(gcomp_call_t *call, gcomp_msg_t *in, size_t cap, int tag);

/* Test m if it is posted; *prog = 1 once it completed. */
static inline gcomp_status_t gcomp_pipe_poll(gcomp_call_t *call, gcomp_msg_t *m, int *prog)
{
    if (m->state != GCOMP_MSG_POSTED) return GCOMP_OK;
    int done = 0;
    gcomp_status_t st = gcomp_msg_poll(call, m, &done);
    *prog |= done;
    return st;
}

/* Elements [*off_p, *off_p + *len_p) of stage s. */
static inline void gcomp_pipe_stage(const gcomp_pipe_t *pp, size_t s, size_t *off_p, size_t *len_p)
{
    size_t off = s * pp->call->stage_elems;
    *off_p = off;
    *len_p = GCOMP_MIN(pp->call->stage_elems, pp->call->n - off);
}

/* The level-1 residual the encoders update in this call, or NULL. */
static inline float *gcomp_pipe_l1(const gcomp_call_t *call)
{
    gcomp_residual_t *r = call->txn.r;
    return r != NULL && call->params.error_feedback ? r->l1 : NULL;
}

#endif
