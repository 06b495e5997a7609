/*
 * Residual handles (error-feedback state of one gradient buffer) and the transaction that makes a
 * failed call leave them exactly as they were.
 *
 * Undo by snapshot rather than by encoding into a spare copy and swapping: both cost one copy of
 * what the encoder touches, but the snapshot space belongs to the context and is shared by every
 * residual, where a spare copy would double each residual's memory (the interposer keeps one per
 * gradient buffer). Measured on 2^24 values (q8, 4 MiB stages, one core): encoding 31 ms, the
 * copy 19 ms. So the copy is taken ahead of the encoder in time the call would otherwise spend
 * waiting for the wire (gcomp_residual_save_ahead from the progress loops), and what is left right
 * before each stage is encoded.
 *
 * A residual lives where the buffers of its calls live (its space, space.c): in device memory for
 * device buffers, with its snapshots in device memory too, so undo never crosses to the host.
 */
#define GCOMP_LOG_SUBSYS GCOMP_SUBSYS_COLL
#include <stdlib.h>
#include <string.h>

#include "coll/coll.h"
#include "core/log.h"

gcomp_status_t gcomp_residual_create(gcomp_residual_t **residual_p)
{
    if (residual_p == NULL) return GCOMP_ERR_INVALID;
    gcomp_residual_t *r = calloc(1, sizeof(*r));
    if (r == NULL) return GCOMP_ERR_NOMEM;
    *residual_p = r;
    return GCOMP_OK;
}

void gcomp_residual_destroy(gcomp_residual_t *residual)
{
    if (residual == NULL) return;
    gcomp_space_free(&residual->space, residual->l1);
    gcomp_space_free(&residual->space, residual->l2);
    free(residual);
}

void gcomp_residual_reset(gcomp_residual_t *residual)
{
    if (residual != NULL) residual->valid = 0;
}

size_t gcomp_residual_bytes(const gcomp_residual_t *residual)
{
    if (residual == NULL) return 0;
    return sizeof(*residual) + (residual->l1_len + residual->l2_len) * sizeof(float);
}

const float *gcomp_residual_view(const gcomp_residual_t *r, int level, size_t *len_p)
{
    if (r == NULL || !r->valid) {
        *len_p = 0;
        return NULL;
    }
    *len_p = level == 1 ? r->l1_len : r->l2_len;
    return level == 1 ? r->l1 : r->l2;
}

static int key_equal(const gcomp_residual_key_t *a, const gcomp_residual_key_t *b)
{
    return a->count == b->count && a->size == b->size && a->rank == b->rank && a->algo == b->algo &&
           a->space_id == b->space_id && a->stage_elems == b->stage_elems;
}

static float *alloc_zeroed(const gcomp_space_t *space, size_t n)
{
    void *p = NULL;
    if (gcomp_space_alloc(space, n * sizeof(float), &p) != GCOMP_OK) return NULL;
    if (gcomp_space_zero(space, p, n * sizeof(float)) != GCOMP_OK) {
        gcomp_space_free(space, p);
        return NULL;
    }
    return p;
}

/* Copies within the residual's space; a device copy that fails is logged where it fails. */
static void copy(const gcomp_space_t *space, float *dst, const float *src, size_t n)
{
    (void)gcomp_space_copy(space, dst, src, n * sizeof(float));
}

/* A new layout that does not fit the old arrays: new zeroed arrays, the old ones kept for undo. */
static gcomp_status_t begin_replace(gcomp_residual_t *r, const gcomp_residual_key_t *key,
                                    const gcomp_space_t *space, size_t l2_len, gcomp_residual_txn_t *txn)
{
    float *l1 = alloc_zeroed(space, key->count);
    float *l2 = alloc_zeroed(space, l2_len);
    if (l1 == NULL || l2 == NULL) {
        gcomp_space_free(space, l1);
        gcomp_space_free(space, l2);
        gcomp_warn("out of %s memory for a residual of %llu + %zu values", space->ops->name,
                   (unsigned long long)key->count, l2_len);
        return GCOMP_ERR_NOMEM;
    }
    txn->mode = GCOMP_TXN_REPLACED;
    r->l1 = l1;
    r->l1_len = key->count;
    r->l2 = l2;
    r->l2_len = l2_len;
    return GCOMP_OK;
}

gcomp_status_t gcomp_residual_begin(gcomp_comm_t *ctx, gcomp_residual_t *r, const gcomp_residual_key_t *key,
                                    const gcomp_space_t *space, size_t l2_len, gcomp_residual_txn_t *txn)
{
    memset(txn, 0, sizeof(*txn));
    if (r == NULL) return GCOMP_OK;
    txn->old = *r;
    int same = r->valid && key_equal(&r->key, key) && r->l2_len == l2_len;
    if (!same && r->valid) {
        gcomp_info("residual reset: layout changed (count %llu -> %llu, ranks %d -> %d, rank %d -> %d, "
                   "algorithm %d -> %d, stage %llu -> %llu)", (unsigned long long)r->key.count,
                   (unsigned long long)key->count, r->key.size, key->size, r->key.rank, key->rank,
                   r->key.algo, key->algo, (unsigned long long)r->key.stage_elems,
                   (unsigned long long)key->stage_elems);
    }
    /* Snapshot room for what this call's encoders touch, or for all of the old contents when a
     * layout change clears them in place (nothing to keep when they were not valid anyway). */
    int in_place = !same && r->l1_len == key->count && r->l2_len == l2_len && r->key.space_id == key->space_id;
    int keep_old = in_place && r->valid;
    if (same || keep_old) {
        size_t bytes = (GCOMP_ALIGN_UP(key->count, (size_t)16) + l2_len) * sizeof(float);
        GCOMP_CHECK(gcomp_coll_snap_reserve(ctx, space, bytes, &txn->snap1));
        txn->snap2 = txn->snap1 + GCOMP_ALIGN_UP(key->count, (size_t)16);
    }
    txn->r = r;
    if (same) return GCOMP_OK;
    if (in_place) {
        txn->mode = keep_old ? GCOMP_TXN_WHOLE : GCOMP_TXN_DISCARD;
        if (keep_old) {
            copy(space, txn->snap1, r->l1, r->l1_len);
            copy(space, txn->snap2, r->l2, r->l2_len);
        }
        GCOMP_CHECK(gcomp_space_zero(space, r->l1, r->l1_len * sizeof(float)));
        GCOMP_CHECK(gcomp_space_zero(space, r->l2, r->l2_len * sizeof(float)));
    } else {
        gcomp_status_t st = begin_replace(r, key, space, l2_len, txn);
        if (st != GCOMP_OK) {
            txn->r = NULL;
            return st;
        }
    }
    r->key = *key;
    r->space = *space;
    r->valid = 1;
    return GCOMP_OK;
}

void gcomp_residual_save(gcomp_residual_txn_t *txn, size_t hi1, size_t hi2)
{
    gcomp_residual_t *r = txn->r;
    if (r == NULL || txn->mode != GCOMP_TXN_INCREMENTAL) return;
    if (hi1 > r->l1_len) hi1 = r->l1_len;
    if (hi2 > r->l2_len) hi2 = r->l2_len;
    if (hi1 <= txn->saved1 && hi2 <= txn->saved2) return;
    double t0 = gcomp_now_s();
    if (hi1 > txn->saved1) {
        copy(&r->space, txn->snap1 + txn->saved1, r->l1 + txn->saved1, hi1 - txn->saved1);
        txn->saved1 = hi1;
    }
    if (hi2 > txn->saved2) {
        copy(&r->space, txn->snap2 + txn->saved2, r->l2 + txn->saved2, hi2 - txn->saved2);
        txn->saved2 = hi2;
    }
    txn->t_save += gcomp_now_s() - t0;
}

void gcomp_residual_save_ahead(gcomp_residual_txn_t *txn, size_t budget)
{
    gcomp_residual_t *r = txn->r;
    if (r == NULL || txn->mode != GCOMP_TXN_INCREMENTAL) return;
    gcomp_residual_save(txn, txn->saved1 + budget, txn->saved2 + budget);
}

void gcomp_residual_commit(gcomp_residual_txn_t *txn)
{
    if (txn->r == NULL) return;
    if (txn->mode == GCOMP_TXN_REPLACED) {
        gcomp_space_free(&txn->old.space, txn->old.l1);
        gcomp_space_free(&txn->old.space, txn->old.l2);
    }
    txn->r = NULL;
}

void gcomp_residual_rollback(gcomp_residual_txn_t *txn)
{
    gcomp_residual_t *r = txn->r;
    if (r == NULL) return;
    switch (txn->mode) {
    case GCOMP_TXN_REPLACED:
        gcomp_space_free(&r->space, r->l1);
        gcomp_space_free(&r->space, r->l2);
        break;
    case GCOMP_TXN_WHOLE:
        copy(&r->space, r->l1, txn->snap1, r->l1_len);
        copy(&r->space, r->l2, txn->snap2, r->l2_len);
        break;
    case GCOMP_TXN_INCREMENTAL:
        copy(&r->space, r->l1, txn->snap1, txn->saved1);
        copy(&r->space, r->l2, txn->snap2, txn->saved2);
        break;
    case GCOMP_TXN_DISCARD:
        break; /* the old contents meant nothing: restoring valid = 0 below is all */
    }
    *r = txn->old;
    txn->r = NULL;
}
