/*
 * The plain C variant of the top-k data pass (topk_select.h describes what it computes). This pass
 * is where an encode spends its time: it streams src and the residual once, so it is written for
 * the compiler's vectoriser. Blocks of 16 run as simple loops (the add-and-store, an or-reduction of
 * the key test) and only the rare block that holds a candidate or a non-finite value takes the
 * element-wise path shared with the AVX2 variant.
 */
#include <string.h>

#include "codec/topk_select.h"

/* One body, specialised for each combination of the constant flags. */
static inline __attribute__((always_inline)) void pass_impl(gcomp_topk_pass_t *p, const float *restrict src,
                                                           float *restrict res, uint32_t *restrict hist,
                                                           int has_res, int has_hist)
{
    const uint32_t thr = p->thr;
    size_t n = p->n, i = 0;
    for (; i + 16 <= n; i += 16) {
        if (has_res)
            for (int j = 0; j < 16; j++) res[i + j] = src[i + j] + res[i + j];
        const float *g = has_res ? res + i : src + i;
        if (GCOMP_UNLIKELY(gcomp_topk_block_any_ge(g, thr))) {
            for (int j = 0; j < 16; j++) gcomp_topk_pass_one(p, i + j, g[j], has_hist);
        } else if (has_hist) {
            /* No key reached thr <= NONFINITE: all 16 are finite. */
            for (int j = 0; j < 16; j++) hist[gcomp_abs_key(g[j]) >> GCOMP_TOPK_HIST_SHIFT]++;
        }
    }
    for (; i < n; i++) {
        float v = has_res ? src[i] + res[i] : src[i];
        if (has_res) res[i] = v;
        gcomp_topk_pass_one(p, i, v, has_hist);
    }
}

static void pass_res_hist(gcomp_topk_pass_t *p)
{
    pass_impl(p, p->src, p->residual, p->hist, 1, 1);
}

static void pass_res(gcomp_topk_pass_t *p)
{
    pass_impl(p, p->src, p->residual, NULL, 1, 0);
}

static void pass_hist(gcomp_topk_pass_t *p)
{
    pass_impl(p, p->src, NULL, p->hist, 0, 1);
}

static void pass_plain(gcomp_topk_pass_t *p)
{
    pass_impl(p, p->src, NULL, NULL, 0, 0);
}

void gcomp_topk_pass_scalar(gcomp_topk_pass_t *p)
{
    p->count = 0;
    p->overflow = 0;
    if (p->hist != NULL) memset(p->hist, 0, GCOMP_TOPK_HIST_BINS * sizeof(*p->hist));
    if (p->residual != NULL) {
        if (p->hist != NULL) pass_res_hist(p);
        else pass_res(p);
    } else {
        if (p->hist != NULL) pass_hist(p);
        else pass_plain(p);
    }
}
