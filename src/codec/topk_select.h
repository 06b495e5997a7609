/*
 * Top-k selection for the topk codecs: which elements of g' = src + residual a frame keeps.
 *
 * All selection works on gcomp_abs_key(x), the bits of |x| as an integer, which orders finite values
 * like |x| and puts NaN/Inf at or above GCOMP_ABS_KEY_NONFINITE, so non-finite elements are excluded
 * by one integer compare. Ties are always broken by lower index, so every selection is a pure
 * function of the values: the same input gives the same kept set on every rank and every ISA.
 *
 * Two strategies (codec_topk.c drives them), both built on one streaming pass over the data that
 * computes g' = src + residual, stores the residual and compacts the elements at or above a
 * threshold key into a candidate list:
 *   sampled : the threshold is estimated from a sample (Deep Gradient Compression's scheme); the
 *             candidates are kept as they are when their count is within [0.8k, 1.25k].
 *   exact   : the k largest, exactly. A sampled lower bound (aimed at 1.5 k) makes the same single
 *             pass collect a superset of the top k, selected among the candidates in cache. Without
 *             a usable bound, radix select: a histogram of the top 16 key bits finds the bin holding
 *             the k-th largest; a second pass collects that bin and everything above it (or, when
 *             that bin is huge, histograms its low 15 bits), and the threshold T is resolved
 *             exactly. Kept: every key > T, plus the lowest-index elements with key == T until k.
 */
#ifndef GCOMP_CODEC_TOPK_SELECT_H
#define GCOMP_CODEC_TOPK_SELECT_H

#include <stddef.h>
#include <stdint.h>

#include "codec/codec.h"

/* Histogram of the top 16 bits of a 31-bit key (the sign bit is never set). */
#define GCOMP_TOPK_HIST_SHIFT 15
#define GCOMP_TOPK_HIST_BINS (1u << 16)
/* Up to this many elements, exact selection runs a radix select on a copy of the keys instead of a
 * 65536-bin histogram: clearing and scanning 256 KiB would cost more than the data. */
#define GCOMP_TOPK_SMALL_N 65536

/* k = ceil(ratio * n) computed exactly, clamped to [min(1, n), n]. */
GCOMP_INTERNAL uint64_t gcomp_topk_k(float ratio, uint64_t n);

/* The most elements an encoder keeps for n elements at this ratio: the sampled path keeps at most
 * floor(1.25 k); one more for slack. Payload bounds are computed from it. */
GCOMP_INTERNAL uint64_t gcomp_topk_kmax(float ratio, uint64_t n);

/*
 * The r-th largest of keys[0, m) (1 <= r <= m; keys below 2^31), by three radix levels of 11, 10
 * and 10 bits with in-place compaction (keys is reordered). *ties_p: how many of the r largest equal
 * the returned key (so r - *ties_p keys are strictly above it).
 */
GCOMP_INTERNAL uint32_t gcomp_topk_kth_key(uint32_t *keys, size_t m, size_t r, size_t *ties_p);

/* 1 if any of the 16 keys at g is >= lo: an or-reduction the compiler vectorises, so that the
 * passes spend element-wise work only on the rare blocks of 16 that hold a candidate. */
static inline int gcomp_topk_block_any_ge(const float *g, uint32_t lo)
{
    uint32_t hit = 0;
    for (int j = 0; j < 16; j++) hit |= (uint32_t)(gcomp_abs_key(g[j]) >= lo);
    return hit != 0;
}

/* Work memory of one selection, carved out of the encoder's scratch. */
typedef struct gcomp_topk_work {
    uint32_t *hist;     /* GCOMP_TOPK_HIST_BINS counts (only when n > GCOMP_TOPK_SMALL_N) */
    uint32_t *idx;      /* cap candidate / kept indices */
    float *val;         /* cap candidate / kept values (g') */
    size_t cap;         /* >= min(n, 2k) */
    uint32_t *keys;     /* keys_cap keys for gcomp_topk_kth_key */
    size_t keys_cap;    /* >= cap, >= the sample, and >= n when n <= GCOMP_TOPK_SMALL_N */
} gcomp_topk_work_t;

/* Bytes of scratch gcomp_topk_work_carve() needs for n elements, k kept. */
GCOMP_INTERNAL size_t gcomp_topk_work_bytes(size_t n, size_t k);
/* Point w's arrays into mem (64-byte aligned, gcomp_topk_work_bytes(n, k) bytes). */
GCOMP_INTERNAL void gcomp_topk_work_carve(gcomp_topk_work_t *w, void *mem, size_t n, size_t k);

/*
 * Exact top-k of the finite elements of g[0, n): kept indices in increasing order in w->idx, their
 * values in w->val. If hist_ready, w->hist already counts g's finite keys (a pass with hist).
 * @return the number kept: min(k, finite elements).
 */
GCOMP_INTERNAL size_t gcomp_topk_select_exact(const float *g, size_t n, size_t k, int hist_ready,
                                              gcomp_topk_work_t *w);

/*
 * Threshold key estimated from a jittered strided sample of |src + residual| (residual may be NULL)
 * such that about k of n elements have a key at or above it.
 * @param min_hits  fewest sampled elements expected above the threshold for the estimate to be
 *                  worth having (its relative spread is 1/sqrt(hits))
 * @return 1 and *thr_p, or 0 when a sample with min_hits would cost about as much as the data
 *         (small n or small k).
 */
GCOMP_INTERNAL int gcomp_topk_sample_threshold(const float *src, const float *residual, size_t n,
                                               size_t k, size_t min_hits, gcomp_topk_work_t *w,
                                               uint32_t *thr_p);

/*
 * The one pass over the data that every encode makes (topk_pass.c, topk_avx2.c):
 *   - g' = src + residual, stored into residual (when residual is not NULL; else g' = src);
 *   - each non-finite g' pushed to exc in increasing offset order and left in the residual as it is:
 *     selection skips non-finite keys, and the encoder clears their residual at the end;
 *   - finite g' with key >= thr appended to (idx, val) in index order until cap (thr <=
 *     GCOMP_ABS_KEY_NONFINITE; thr = GCOMP_ABS_KEY_NONFINITE collects nothing);
 *   - when hist is not NULL, every finite key counted into hist[key >> GCOMP_TOPK_HIST_SHIFT]
 *     (GCOMP_TOPK_HIST_BINS counts, zeroed by the pass).
 */
typedef struct gcomp_topk_pass {
    const float *src;
    float *residual;
    size_t n;
    uint32_t thr;
    uint32_t *hist;
    uint32_t *idx;
    float *val;
    size_t cap;
    gcomp_exc_sink_t *exc;
    /* outputs */
    size_t count;  /* candidates stored (<= cap) */
    int overflow;  /* 1: more than cap candidates; the list is incomplete */
} gcomp_topk_pass_t;

/* What both pass variants do with an element outside their fast path: one code path, so that the
 * plain C and SIMD passes produce the same list, histogram and exceptions. */
static inline void gcomp_topk_pass_one(gcomp_topk_pass_t *p, size_t i, float v, int has_hist)
{
    uint32_t key = gcomp_abs_key(v);
    if (key < p->thr) {
        if (has_hist) p->hist[key >> GCOMP_TOPK_HIST_SHIFT]++; /* thr <= NONFINITE: key is finite */
    } else if (GCOMP_UNLIKELY(key >= GCOMP_ABS_KEY_NONFINITE)) {
        gcomp_exc_push(p->exc, i, v);
    } else {
        if (has_hist) p->hist[key >> GCOMP_TOPK_HIST_SHIFT]++;
        if (p->count < p->cap) {
            p->idx[p->count] = (uint32_t)i;
            p->val[p->count] = v;
            p->count++;
        } else {
            p->overflow = 1;
        }
    }
}

typedef void (*gcomp_topk_pass_fn_t)(gcomp_topk_pass_t *p);

GCOMP_INTERNAL void gcomp_topk_pass_scalar(gcomp_topk_pass_t *p);
/* The same pass with AVX2 (topk_avx2.c); identical results. Only call it when the CPU has AVX2. */
GCOMP_INTERNAL void gcomp_topk_pass_avx2(gcomp_topk_pass_t *p);

/*
 * Keep the k largest of the m candidates in (idx, val) (index order, ties by lower index),
 * compacting them in place; w->keys is used as work space. @return k (or m if m <= k).
 */
GCOMP_INTERNAL size_t gcomp_topk_trim(uint32_t *idx, float *val, size_t m, size_t k, gcomp_topk_work_t *w);

#endif
