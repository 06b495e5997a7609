/*
 * The compressed collectives: what a context holds, what one call carries through its phases, and
 * the pieces the algorithms share (message slots, progress with a deadline, residual transactions).
 *
 * One call (allreduce.c): plan and reserve memory locally, agree with every rank on what the call
 * is (agree.c), run the algorithm (allreduce_sra.c, allreduce_sparse_rs.c, allreduce_sparse_ag.c,
 * picked by cost_model.c), agree on the outcome, then commit or roll back the residual.
 *
 * Errors come in two kinds. A soft error (a frame that fails to encode or decode, a frame larger
 * than its receive buffer) is recorded in the call and the protocol goes on, with an empty message
 * standing in for the frame that could not be made, so every rank finishes the same exchange and
 * returns the same status. A hard error (timeout, MPI failure) stops the call where it is and marks
 * the context failed.
 */
#ifndef GCOMP_COLL_COLL_H
#define GCOMP_COLL_COLL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "gcomp.h"
#include "gcomp_config.h"
#include "codec/codec.h"
#include "core/compiler.h"
#include "core/config.h"
#include "core/mem.h"
#include "coll/coll_vars.h"
#include "coll/space.h"
#include "transports/transport.h"

/* Fingerprint fields every rank must agree on before data moves (agree.c). */
enum {
    GCOMP_FP_STATUS = 0, /* local status so far: an error on any rank stops the call on all */
    GCOMP_FP_COUNT,
    GCOMP_FP_DTYPE,
    GCOMP_FP_CODEC,
    GCOMP_FP_EF,
    GCOMP_FP_BUCKET,
    GCOMP_FP_ROUNDING,
    GCOMP_FP_RATIO,
    GCOMP_FP_SELECT,
    GCOMP_FP_VALUES,
    GCOMP_FP_ZSTD,
    GCOMP_FP_CHECKSUM,
    GCOMP_FP_SEED,
    GCOMP_FP_ALGO,
    GCOMP_FP_STAGE,
    GCOMP_FP_COUNT_OF
};

/* Message phases; with the call sequence they make every tag (gcomp_coll_tag). */
enum { GCOMP_PHASE_SCATTER = 0, GCOMP_PHASE_GATHER = 1, GCOMP_PHASE_ALLGATHER = 2 };

/*
 * Tags hold 10 bits of the call sequence, the phase and the stage modulo 8: at most 32767, the
 * smallest MPI_TAG_UB MPI allows. Stages s and s + 8 share a tag but are never in flight together
 * on one rank (GCOMP_PIPELINE_DEPTH_MAX is 8), and frames of one tag and peer are matched in the
 * order sent (MPI does not let them overtake). Each frame's header repeats the full sequence
 * number and its chunk, which the decoder checks: a stale frame is an error, never data.
 */
static inline int gcomp_coll_tag(uint64_t seq, int phase, size_t stage)
{
    return (int)(((seq & 0x3ffu) << 5) | ((unsigned)phase << 3) | (stage & 7u));
}

/* Where a residual's layout comes from: a change of any field resets it. */
typedef struct gcomp_residual_key {
    uint64_t count;
    int32_t size;
    int32_t rank;
    int32_t algo;
    int32_t space_id;   /* where the arrays live: gcomp_space_t.id (0 host memory, d + 1 CUDA device d) */
    uint64_t stage_elems;
} gcomp_residual_key_t;

struct gcomp_residual {
    gcomp_residual_key_t key;
    gcomp_space_t space;       /* where l1 and l2 are while they exist (its id is key.space_id) */
    int valid;      /* key describes the contents; 0 after create and reset */
    float *l1;      /* count values: what this rank's encoding dropped */
    size_t l1_len;
    float *l2;      /* this rank's owned chunks: what the owner's re-encoding dropped */
    size_t l2_len;
};

enum {
    GCOMP_TXN_INCREMENTAL = 0, /* same layout: ranges are saved right before they are encoded */
    GCOMP_TXN_WHOLE,           /* layout change in place: the snapshot holds all old contents */
    GCOMP_TXN_DISCARD,         /* layout change in place over contents that were not valid */
    GCOMP_TXN_REPLACED,        /* new arrays: old.l1 / old.l2 are kept until commit */
};

/* A residual's changes during one call, undone unless the call succeeds on every rank. */
typedef struct gcomp_residual_txn {
    gcomp_residual_t *r;    /* NULL: no error feedback in this call */
    gcomp_residual_t old;   /* the residual as it was */
    int mode;               /* GCOMP_TXN_*: what undoing takes */
    float *snap1, *snap2;   /* snapshot space (the context's scratch) */
    size_t saved1, saved2;  /* prefixes of l1 / l2 saved so far */
    double t_save;          /* seconds spent copying into the snapshot (counted as encoding) */
} gcomp_residual_txn_t;

/* Agreement buffers: MPI may still own them after a timeout, so they live apart from the context. */
typedef struct gcomp_agree_mem {
    int64_t in[3 * GCOMP_FP_COUNT_OF];
    int64_t out[3 * GCOMP_FP_COUNT_OF];
    int64_t status_in;
    int64_t status_out;
    MPI_Request req;
} gcomp_agree_mem_t;

struct gcomp_comm {
    MPI_Comm comm;              /* gcomp's duplicate of the user's communicator */
    int rank;
    int size;
    uint32_t comm_id;           /* agreed by all ranks; in every frame header */
    uint64_t seq;               /* sequence number of the next call */
    gcomp_coll_config_t cfg;    /* the variables its calls use, as they were at creation */
    gcomp_transport_t *tp;
    gcomp_stats_t stats;
    gcomp_status_t failed;      /* not OK: every later call returns this at once */
    char failed_why[200];
    int leak;                   /* MPI may still use the buffers below: destroy must not free them */
    gcomp_agree_mem_t *agree;
    /* Grown and reused across calls, never freed by a call. */
    gcomp_scratch_t frames;     /* frame slots of the running algorithm */
    gcomp_scratch_t msgs;       /* message bookkeeping */
    gcomp_scratch_t work;       /* fp32 accumulators */
    gcomp_scratch_t conv;       /* fp32 copy of a buffer of another type */
    gcomp_scratch_t snap;       /* residual snapshots */
    gcomp_scratch_t codec;      /* codec work space */
    gcomp_spacebuf_t dwork;     /* fp32 accumulators of calls on device buffers */
    gcomp_spacebuf_t dsnap;     /* residual snapshots of those calls */
    gcomp_spacebuf_t dconv;     /* fp32 copy of an fp16/bf16 device buffer */
    /* What the last calls did, for tests and tuning. */
    int last_algo;
    uint64_t reduced_sparse;    /* owner chunks re-encoded sparse (sparse reduce-scatter) */
    uint64_t reduced_dense;     /* owner chunks re-encoded dense */
    /* Fault injection (fault.c, test builds): from call fault_seq (-1: never) on, misbehave as
     * fault_kind says. */
    int64_t fault_seq;
    int fault_kind;             /* GCOMP_FAULT_* */
};

enum { GCOMP_FAULT_FLIP = 0, GCOMP_FAULT_TRUNCATE, GCOMP_FAULT_STALE, GCOMP_FAULT_SILENT, GCOMP_FAULT_VANISH };

/* One message: a frame (or, with len 0, the stand-in for a frame a rank could not make). */
typedef struct gcomp_msg {
    gcomp_treq_t req;
    uint8_t *buf;
    size_t cap;     /* receive capacity */
    size_t len;     /* bytes to send, or received */
    int peer;
    int state;      /* GCOMP_MSG_* */
} gcomp_msg_t;

enum { GCOMP_MSG_IDLE = 0, GCOMP_MSG_POSTED, GCOMP_MSG_DONE };

typedef struct gcomp_call {
    gcomp_comm_t *ctx;
    gcomp_codec_params_t params;    /* contributions' encoding (error_feedback: residual in use) */
    gcomp_isa_t isa;
    gcomp_dtype_t dtype;
    gcomp_algo_t algo;
    gcomp_space_t space;            /* where src, dst, accumulators and residual are (space.c) */
    const float *src;               /* n fp32 inputs */
    float *dst;                     /* n fp32 outputs; may equal src (a region is read before written) */
    size_t n;
    size_t stage_elems;             /* pipeline stage, a multiple of 64 */
    int depth;                      /* stages in flight at most (GCOMP_PIPELINE_DEPTH) */
    uint64_t seq;
    gcomp_residual_txn_t txn;
    gcomp_msg_t *all_msgs;          /* every message of the call, to abandon on a hard error */
    size_t n_msgs;
    /* soft errors */
    gcomp_status_t local;           /* first error seen by this rank */
    int local_peer;                 /* the rank whose frame caused it, or -1 */
    int peer_failed;                /* a peer sent a stand-in for a frame it could not make */
    /* progress: absolute time after which a wait without progress gives up (moved on progress) */
    double deadline;
    /* statistics of this call */
    double t_encode, t_wire, t_decode;
    uint64_t sent, received, nonfinite;
} gcomp_call_t;

/* allreduce entry with the algorithm given (GCOMP_ALGO_AUTO: the cost model); tests use it. */
GCOMP_INTERNAL gcomp_status_t gcomp_allreduce_algo(gcomp_comm_t *ctx, const void *sendbuf, void *recvbuf,
                                                   size_t count, MPI_Datatype datatype, MPI_Op op,
                                                   gcomp_residual_t *residual,
                                                   const gcomp_codec_params_t *params, gcomp_algo_t algo);

/* fault.c: arm from GCOMP_FAULT at context creation. In builds with fault injection,
 * gcomp_fault_on_send may damage the frame of m before it is sent, or return 1 to drop the send;
 * gcomp_fault_vanish says whether this rank leaves the call after the agreement. */
GCOMP_INTERNAL void gcomp_fault_arm(gcomp_comm_t *ctx);
#if GCOMP_HAVE_FAULT_INJECTION
GCOMP_INTERNAL int gcomp_fault_on_send(gcomp_call_t *call, gcomp_msg_t *m);
GCOMP_INTERNAL int gcomp_fault_vanish(gcomp_call_t *call);
#else
static inline int gcomp_fault_on_send(gcomp_call_t *call, gcomp_msg_t *m)
{
    (void)call, (void)m;
    return 0;
}
static inline int gcomp_fault_vanish(gcomp_call_t *call)
{
    (void)call;
    return 0;
}
#endif

/* comm.c */
GCOMP_INTERNAL void gcomp_comm_fail(gcomp_comm_t *ctx, gcomp_status_t st, const char *why);

/* agree.c: fingerprint agreement before data moves and status agreement after. Both return a hard
 * status (timeout, MPI) and the agreed outcome in *agreed_p. */
GCOMP_INTERNAL gcomp_status_t gcomp_coll_agree_call(gcomp_call_t *call, gcomp_status_t local,
                                                    gcomp_status_t *agreed_p);
GCOMP_INTERNAL gcomp_status_t gcomp_coll_agree_status(gcomp_call_t *call, gcomp_status_t *agreed_p);

/* progress.c: messages, frames and waiting. */
GCOMP_INTERNAL gcomp_status_t gcomp_msg_post_recv(gcomp_call_t *call, gcomp_msg_t *m, int peer, int tag);
GCOMP_INTERNAL gcomp_status_t gcomp_msg_post_send(gcomp_call_t *call, gcomp_msg_t *m, int peer, int tag);
/* Test a posted message; *done_p = 1 once it completed (a receive too large for its buffer completes
 * as a stand-in, with a soft error). */
GCOMP_INTERNAL gcomp_status_t gcomp_msg_poll(gcomp_call_t *call, gcomp_msg_t *m, int *done_p);
/* Cancel what is still posted; buffers MPI may still use mark the context as leaking them. */
GCOMP_INTERNAL void gcomp_msgs_abandon(gcomp_call_t *call);
/* Encode a chunk into m->buf (len 0 and a soft error on failure). */
GCOMP_INTERNAL void gcomp_coll_encode(gcomp_call_t *call, const gcomp_codec_params_t *params, size_t off,
                                      size_t len, const float *src, float *residual, gcomp_msg_t *m);
/* Decode a received (or own) frame of the chunk (off, len) from sender into dst. A stand-in or a
 * bad frame leaves dst alone and returns nonzero. The frame must use the call's codec, or with
 * accept not NULL, any codec accept() allows. */
GCOMP_INTERNAL int gcomp_coll_decode(gcomp_call_t *call, const gcomp_msg_t *m, int sender,
                                     int (*accept)(const gcomp_call_t *call, gcomp_codec_t codec), size_t off,
                                     size_t len, float *dst, int accumulate);
/* Called once per pass of a progress loop: on progress moves the deadline to now + GCOMP_TIMEOUT_S;
 * past it returns GCOMP_ERR_TIMEOUT with a warning naming the peer awaited, the phase and the
 * seconds waited. */
GCOMP_INTERNAL gcomp_status_t gcomp_coll_stall(gcomp_call_t *call, int progressed, const gcomp_msg_t *waiting,
                                               const char *phase, unsigned *idle);
GCOMP_INTERNAL const char *gcomp_coll_phase_name(int phase);
/* Bound of a frame for len elements (never 0 for valid params). */
GCOMP_INTERNAL size_t gcomp_coll_bound(const gcomp_codec_params_t *params, size_t len);

/* residual.c */
/* key->space_id is space->id: the arrays are made in that space. */
GCOMP_INTERNAL gcomp_status_t gcomp_residual_begin(gcomp_comm_t *ctx, gcomp_residual_t *r,
                                                   const gcomp_residual_key_t *key, const gcomp_space_t *space,
                                                   size_t l2_len, gcomp_residual_txn_t *txn);
/* Save l1[0, hi) and l2[0, hi2) (what is not yet saved) before the encoder changes them. */
GCOMP_INTERNAL void gcomp_residual_save(gcomp_residual_txn_t *txn, size_t hi1, size_t hi2);
/* Save up to budget more values of each level, ahead of the encoders (idle time of a wait). */
GCOMP_INTERNAL void gcomp_residual_save_ahead(gcomp_residual_txn_t *txn, size_t budget);
GCOMP_INTERNAL void gcomp_residual_commit(gcomp_residual_txn_t *txn);
GCOMP_INTERNAL void gcomp_residual_rollback(gcomp_residual_txn_t *txn);

/* Memory a residual will hold after a call of count elements with params (NULL: the configured
 * ones) on ctx: what gcomp_residual_bytes() reports after that call. The interposer reserves it
 * under GCOMP_EF_MAX_BYTES before the call. */
GCOMP_INTERNAL size_t gcomp_allreduce_residual_bytes(gcomp_comm_t *ctx, size_t count,
                                                     const gcomp_codec_params_t *params);

/* cost_model.c */
typedef struct gcomp_cost {
    double bytes;   /* frame bytes one rank sends */
    double msgs;    /* messages one rank sends */
    double dense;   /* elements one rank decodes or zeroes in a stream */
    double sparse;  /* sparse entries one rank adds at scattered indices */
    double seconds; /* the model's estimate */
} gcomp_cost_t;

/* The algorithms themselves are ops tables (algo.h); these walk them. 1 if algo applies to the codec. */
GCOMP_INTERNAL int gcomp_algo_applies(gcomp_algo_t algo, gcomp_codec_t codec);
GCOMP_INTERNAL const char *gcomp_algo_name(gcomp_algo_t algo);
GCOMP_INTERNAL void gcomp_cost_estimate(gcomp_algo_t algo, const gcomp_codec_params_t *params, size_t n,
                                        int size, size_t stage_elems, gcomp_cost_t *cost_p);
/* The algorithm for a call: @p forced when it applies to the codec, else the cheapest estimate. */
GCOMP_INTERNAL gcomp_algo_t gcomp_algo_choose(const gcomp_codec_params_t *params, size_t n, int size,
                                              size_t stage_elems, gcomp_algo_t forced);

/* Stage of the pipeline for a call of n elements (GCOMP_PIPELINE_BYTES = pipeline_bytes) (a multiple of 64, frames far below 2 GiB). */
GCOMP_INTERNAL size_t gcomp_coll_stage_elems(size_t pipeline_bytes, size_t n);

/* Pipeline slots an algorithm uses for a call of nstages stages: the configured depth, no more
 * than there are stages (and at least one). */
static inline int gcomp_coll_slots(const gcomp_call_t *call, size_t nstages)
{
    size_t d = (size_t)GCOMP_MAX(call->depth, 1);
    d = GCOMP_MIN(d, (size_t)GCOMP_PIPELINE_DEPTH_MAX);
    return (int)GCOMP_MAX(GCOMP_MIN(d, nstages), (size_t)1);
}

/* For tests: the residual's arrays (NULL and 0 while it holds nothing). */
GCOMP_INTERNAL const float *gcomp_residual_view(const gcomp_residual_t *r, int level, size_t *len_p);

#endif
