/*
 * Messages (progress.c): a frame posted to or from a peer on the transport, its tag, the encoding
 * and decoding of a chunk into and out of it, and waiting with a deadline.
 */
#ifndef GCOMP_COLL_MSG_H
#define GCOMP_COLL_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "gcomp.h"
#include "codec/codec.h"
#include "core/compiler.h"
#include "transports/transport.h"

typedef struct gcomp_call gcomp_call_t;
typedef struct gcomp_msg gcomp_msg_t;

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

/* One message: a frame (or, with len 0, the stand-in for a frame a rank could not make). */
struct gcomp_msg {
    gcomp_treq_t req;
    uint8_t *buf;
    size_t cap;     /* receive capacity */
    size_t len;     /* bytes to send, or received */
    int peer;
    int state;      /* GCOMP_MSG_* */
};

enum { GCOMP_MSG_IDLE = 0, GCOMP_MSG_POSTED, GCOMP_MSG_DONE };

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

#endif
