/*
 * Residuals (error feedback) and their transactions (residual.c): a call's changes to a residual
 * are saved as the encoders make them and undone unless the call succeeds on every rank.
 */
#ifndef GCOMP_COLL_RESIDUAL_H
#define GCOMP_COLL_RESIDUAL_H

#include <stddef.h>
#include <stdint.h>

#include "gcomp.h"
#include "codec/space.h"
#include "core/compiler.h"

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

/* For tests: the residual's arrays (NULL and 0 while it holds nothing). */
GCOMP_INTERNAL const float *gcomp_residual_view(const gcomp_residual_t *r, int level, size_t *len_p);

#endif
