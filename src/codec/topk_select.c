/*
 * Top-k selection (topk_select.h explains the two strategies). Everything here is deterministic:
 * keys are compared as integers, ties go to the lower index, and the sample positions are a fixed
 * function of (n, k).
 */
#include "codec/topk_select.h"

#include <math.h>
#include <string.h>

#define NONFINITE GCOMP_ABS_KEY_NONFINITE

uint64_t gcomp_topk_k(float ratio, uint64_t n)
{
    if (n == 0) return 0;
    if (!(ratio > 0.0f)) return 1;
    if (ratio >= 1.0f) return n;
    /* ratio = mant * 2^-shift exactly, so ratio * n = mant * n / 2^shift, and with n < 2^40 the
     * product fits in 64 bits: the ceiling is exact (a double product can round across an integer).
     * Larger n never reach a frame (GCOMP_WIRE_MAX_COUNT) and get the double approximation. */
    uint32_t bits = gcomp_f32_bits(ratio);
    uint32_t exp = bits >> 23;
    uint64_t mant = exp ? (bits & 0x7fffffu) | 0x800000u : bits & 0x7fffffu;
    unsigned shift = exp ? 150 - exp : 149; /* >= 24 since ratio < 1 */
    uint64_t k;
    if (n >= (1ull << 40)) {
        double x = ceil((double)ratio * (double)n);
        k = x >= (double)n ? n : (uint64_t)x;
    } else {
        uint64_t prod = mant * n;
        if (shift >= 64)
            k = prod != 0; /* prod < 2^64: below one, and the ceiling of a positive fraction is 1 */
        else
            k = (prod >> shift) + ((prod & ((1ull << shift) - 1)) != 0);
    }
    if (k < 1) k = 1;
    if (k > n) k = n;
    return k;
}

uint64_t gcomp_topk_kmax(float ratio, uint64_t n)
{
    uint64_t k = gcomp_topk_k(ratio, n);
    uint64_t kmax = k + k / 4 + 1;
    return kmax < n ? kmax : n;
}

uint32_t gcomp_topk_kth_key(uint32_t *keys, size_t m, size_t r, size_t *ties_p)
{
    static const unsigned shifts[3] = {20, 10, 0};
    static const unsigned widths[3] = {11, 10, 10};
    uint32_t hist[1u << 11];
    uint32_t prefix = 0;
    for (int level = 0; level < 3; level++) {
        unsigned sh = shifts[level];
        uint32_t nb = 1u << widths[level], dmask = nb - 1;
        memset(hist, 0, nb * sizeof(hist[0]));
        for (size_t j = 0; j < m; j++) hist[(keys[j] >> sh) & dmask]++;
        /* Walk down from the largest digit to the one that holds the r-th largest. */
        uint32_t d = dmask;
        size_t above = 0;
        while (above + hist[d] < r) above += hist[d--];
        r -= above;
        prefix |= d << sh;
        if (level == 2) break;
        size_t kept = 0;
        for (size_t j = 0; j < m; j++)
            if (((keys[j] >> sh) & dmask) == d) keys[kept++] = keys[j];
        m = kept;
    }
    *ties_p = r;
    return prefix;
}

static size_t align64(size_t x)
{
    return GCOMP_ALIGN_UP(x, (size_t)64);
}

/* Sizes of the regions of gcomp_topk_work_t; see gcomp_topk_work_bytes. */
static void work_sizes(size_t n, size_t k, size_t *hist, size_t *cap, size_t *keys_cap)
{
    /* Candidates: k plus room for the bin that straddles the threshold (exact) or for a sampled
     * threshold that lets through up to twice k (sampled); never more than n exist. */
    size_t c = 2 * k + 4096;
    *cap = c < n ? c : n;
    size_t kc = *cap;
    if (n / 128 + 1 > kc) kc = n / 128 + 1; /* the sample, see gcomp_topk_sample_threshold */
    if (n <= GCOMP_TOPK_SMALL_N && n > kc) kc = n;
    *keys_cap = kc;
    *hist = n > GCOMP_TOPK_SMALL_N ? GCOMP_TOPK_HIST_BINS * sizeof(uint32_t) : 0;
}

size_t gcomp_topk_work_bytes(size_t n, size_t k)
{
    size_t hist, cap, keys_cap;
    work_sizes(n, k, &hist, &cap, &keys_cap);
    return align64(hist) + 2 * align64(cap * 4) + align64(keys_cap * 4);
}

void gcomp_topk_work_carve(gcomp_topk_work_t *w, void *mem, size_t n, size_t k)
{
    size_t hist, cap, keys_cap;
    work_sizes(n, k, &hist, &cap, &keys_cap);
    uint8_t *p = mem;
    w->hist = hist ? (uint32_t *)(void *)p : NULL;
    p += align64(hist);
    w->idx = (uint32_t *)(void *)p;
    p += align64(cap * 4);
    w->val = (float *)(void *)p;
    p += align64(cap * 4);
    w->keys = (uint32_t *)(void *)p;
    w->cap = cap;
    w->keys_cap = keys_cap;
}

/* Append g[i] to the kept list if it is finite with key > thr, or key == thr while ties remain. */
static inline void emit_one(const float *g, size_t i, uint32_t thr, size_t *ties, gcomp_topk_work_t *w,
                            size_t *c)
{
    uint32_t key = gcomp_abs_key(g[i]);
    if (key < thr || key >= NONFINITE) return;
    if (key == thr) {
        if (*ties == 0) return;
        (*ties)--;
    }
    w->idx[*c] = (uint32_t)i;
    w->val[*c] = g[i];
    (*c)++;
}

/* Keep, in index order, the finite elements with key > thr and the first `ties` with key == thr. */
static size_t emit_threshold(const float *g, size_t n, uint32_t thr, size_t ties, gcomp_topk_work_t *w)
{
    size_t c = 0, i = 0;
    for (; i + 16 <= n; i += 16)
        if (gcomp_topk_block_any_ge(g + i, thr))
            for (size_t j = i; j < i + 16; j++) emit_one(g, j, thr, &ties, w, &c);
    for (; i < n; i++) emit_one(g, i, thr, &ties, w, &c);
    return c;
}

/* The same rule applied to a candidate list in place. */
static size_t filter_threshold(uint32_t *idx, float *val, size_t m, uint32_t thr, size_t ties)
{
    size_t c = 0;
    for (size_t j = 0; j < m; j++) {
        uint32_t key = gcomp_abs_key(val[j]);
        if (key < thr) continue;
        if (key == thr) {
            if (ties == 0) continue;
            ties--;
        }
        idx[c] = idx[j];
        val[c] = val[j];
        c++;
    }
    return c;
}

static size_t select_small(const float *g, size_t n, size_t k, gcomp_topk_work_t *w)
{
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t key = gcomp_abs_key(g[i]);
        if (key < NONFINITE) w->keys[m++] = key;
    }
    if (m <= k) return emit_threshold(g, n, 0, SIZE_MAX, w);
    size_t ties;
    uint32_t thr = gcomp_topk_kth_key(w->keys, m, k, &ties);
    return emit_threshold(g, n, thr, ties, w);
}

size_t gcomp_topk_select_exact(const float *g, size_t n, size_t k, int hist_ready, gcomp_topk_work_t *w)
{
    if (k == 0 || n == 0) return 0;
    if (n <= GCOMP_TOPK_SMALL_N) return select_small(g, n, k, w);
    uint32_t *hist = w->hist;
    if (!hist_ready) {
        memset(hist, 0, GCOMP_TOPK_HIST_BINS * sizeof(*hist));
        for (size_t i = 0; i < n; i++) {
            uint32_t key = gcomp_abs_key(g[i]);
            if (key < NONFINITE) hist[key >> GCOMP_TOPK_HIST_SHIFT]++;
        }
    }
    /* The bin holding the k-th largest; fewer than k finite elements means keeping them all. */
    size_t above = 0;
    int64_t bin = GCOMP_TOPK_HIST_BINS - 1;
    while (bin >= 0 && above + hist[bin] < k) above += hist[bin--];
    if (bin < 0) return emit_threshold(g, n, 0, SIZE_MAX, w);
    uint32_t lo = (uint32_t)bin << GCOMP_TOPK_HIST_SHIFT;

    if (above + hist[bin] <= w->cap) {
        /* Usual case: the bin and everything above it fit in the candidate list; resolve the
         * threshold there, in cache, rather than with another pass over the data. */
        size_t c = emit_threshold(g, n, lo, SIZE_MAX, w); /* every key >= lo */
        for (size_t j = 0; j < c; j++) w->keys[j] = gcomp_abs_key(w->val[j]);
        size_t ties;
        uint32_t thr = gcomp_topk_kth_key(w->keys, c, k, &ties);
        return filter_threshold(w->idx, w->val, c, thr, ties);
    }

    /* The bin is huge (many equal or nearly equal values): histogram its low 15 bits, which fixes
     * the threshold exactly, then emit in one more pass. */
    const uint32_t low_bins = 1u << GCOMP_TOPK_HIST_SHIFT, low_mask = low_bins - 1;
    memset(hist, 0, low_bins * sizeof(*hist));
    for (size_t i = 0; i < n; i++) {
        uint32_t key = gcomp_abs_key(g[i]);
        if ((key >> GCOMP_TOPK_HIST_SHIFT) == (uint32_t)bin) hist[key & low_mask]++;
    }
    size_t need = k - above, above_low = 0;
    uint32_t d = low_mask;
    while (above_low + hist[d] < need) above_low += hist[d--];
    return emit_threshold(g, n, lo | d, need - above_low, w);
}

/* Sample j lies at a random offset within stride j: no aliasing with periodic structure in the data
 * (a row length, interleaved tensors), yet still a forward scan. */
static inline size_t sample_pos(uint64_t j, uint64_t stride)
{
    uint64_t jitter = ((uint64_t)gcomp_hash32((uint32_t)j ^ 0x5bd1e995u) * stride) >> 32;
    return (size_t)(j * stride + jitter);
}

#define SAMPLE_PREFETCH 16

int gcomp_topk_sample_threshold(const float *src, const float *residual, size_t n, size_t k, size_t min_hits,
                                gcomp_topk_work_t *w, uint32_t *thr_p)
{
    /* About 256 sampled elements above the threshold put the kept count within 1/sqrt(256) = 6.25%
     * of k (one standard deviation of an order statistic). Each sample costs a cache miss (and often
     * a TLB miss) in src and in residual, which makes it about 30 times dearer per element than the
     * streaming pass: the sample is capped at n / 128 so that it stays below ~10% of the pass. */
    if (k == 0 || n < 128 * min_hits) return 0;
    uint64_t want = ((uint64_t)256 * n + k - 1) / k;
    uint64_t s = want < n / 128 ? want : n / 128;
    if (s * k / n < min_hits) return 0;
    uint64_t stride = n / s;
    size_t m = 0;
    for (uint64_t j = 0; j < s; j++) {
        /* The samples are far apart, each a cache miss in src and in residual: prefetching a few
         * ahead overlaps the misses, which would otherwise cost a quarter of the data pass. */
        if (j + SAMPLE_PREFETCH < s) {
            size_t ahead = sample_pos(j + SAMPLE_PREFETCH, stride);
            __builtin_prefetch(src + ahead);
            if (residual) __builtin_prefetch(residual + ahead);
        }
        size_t pos = sample_pos(j, stride);
        float v = residual ? src[pos] + residual[pos] : src[pos];
        uint32_t key = gcomp_abs_key(v);
        if (key < NONFINITE) w->keys[m++] = key;
    }
    if (m == 0) return 0;
    /* The rank is taken over the whole sample, non-finite positions included: k counts the kept
     * elements among all n, and the sample's non-finite share estimates the chunk's. */
    uint64_t r = (s * k + n / 2) / n;
    if (r < 1) r = 1;
    if (r > m) r = m;
    size_t ties;
    *thr_p = gcomp_topk_kth_key(w->keys, m, (size_t)r, &ties);
    return 1;
}

size_t gcomp_topk_trim(uint32_t *idx, float *val, size_t m, size_t k, gcomp_topk_work_t *w)
{
    if (m <= k) return m;
    for (size_t j = 0; j < m; j++) w->keys[j] = gcomp_abs_key(val[j]);
    size_t ties;
    uint32_t thr = gcomp_topk_kth_key(w->keys, m, k, &ties);
    return filter_threshold(idx, val, m, thr, ties);
}
