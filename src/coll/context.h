/*
 * A context (gcomp_comm_t, comm.c): gcomp's duplicate of the user's communicator, its transport,
 * the variables its calls use, the memory its calls reuse, and whether it has failed.
 */
#ifndef GCOMP_COLL_CONTEXT_H
#define GCOMP_COLL_CONTEXT_H

#include <stdint.h>

#include "gcomp.h"
#include "core/compiler.h"
#include "core/mem.h"
#include "coll/agree.h"
#include "coll/coll_vars.h"
#include "coll/space.h"
#include "transports/transport.h"

struct gcomp_comm {
    MPI_Comm comm;              /* gcomp's duplicate of the user's communicator */
    int rank;
    int size;
    uint32_t comm_id;           /* agreed by all ranks; in every frame header */
    uint64_t seq;               /* sequence number of the next call */
    gcomp_coll_config_t cfg;    /* the variables its calls use, as they were at creation */
    gcomp_codec_params_t defaults; /* the codec variables' parameters then: calls given none use them */
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

/* comm.c */
GCOMP_INTERNAL void gcomp_comm_fail(gcomp_comm_t *ctx, gcomp_status_t st, const char *why);

#endif
