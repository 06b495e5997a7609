/*
 * The cost model that picks an all-reduce algorithm per call (docs/algorithms.md has the formula
 * and the reasoning). It estimates, for one rank, the frame bytes it sends, the messages it sends,
 * the elements it streams through dense decoding (and zeroing) and the sparse entries it scatters,
 * and weighs them:
 *
 *     seconds = ALPHA * messages + BETA * bytes + GAMMA_DENSE * dense + GAMMA_SPARSE * sparse
 *
 * Only algorithms that apply to the codec compete (algo.h's table): scatter-reduce-allgather for q8
 * and none, the sparse all-gather and the sparse reduce-scatter for topk and topk-q8. Each counts
 * its own volume (its ops' estimate, beside the algorithm) with the codecs' frame sizes
 * (gcomp_frame_bytes); this file weighs the counts and picks.
 */
#define GCOMP_LOG_SUBSYS GCOMP_SUBSYS_COLL
#include <math.h>

#include "coll/algo.h"
#include "core/log.h"

/* Rough constants of a commodity cluster (and of shared memory, for ALPHA's order of magnitude):
 * what matters is their ratios, which decide where the algorithms cross over. */
#define COST_ALPHA 5e-6   /* seconds per message */
#define COST_BETA 1e-10   /* seconds per byte (10 GB/s) */
#define COST_GAMMA_DENSE 3e-10  /* seconds per element decoded or zeroed in a stream */
#define COST_GAMMA_SPARSE 2e-9  /* seconds per sparse entry: index unpacking and a scattered add */

const gcomp_algo_ops_t *const gcomp_algos[] = {&gcomp_algo_sra_ops, &gcomp_algo_allgather_ops,
                                               &gcomp_algo_sparse_rs_ops};
const size_t gcomp_algos_count = GCOMP_ARRAY_SIZE(gcomp_algos);

const gcomp_algo_ops_t *gcomp_algo_ops_get(gcomp_algo_t algo)
{
    for (size_t i = 0; i < gcomp_algos_count; i++)
        if (gcomp_algos[i]->id == algo) return gcomp_algos[i];
    return NULL;
}

const char *gcomp_algo_name(gcomp_algo_t algo)
{
    /* The names GCOMP_ALGO parses (coll_vars.c); each algorithm's ops carry the same (test_cost_model). */
    return (unsigned)algo <= GCOMP_ALGO_SPARSE_RS ? gcomp_algo_names[algo] : "?";
}

int gcomp_codec_is_sparse(gcomp_codec_t codec)
{
    return codec == GCOMP_CODEC_TOPK || codec == GCOMP_CODEC_TOPK_Q8;
}

int gcomp_algo_applies(gcomp_algo_t algo, gcomp_codec_t codec)
{
    const gcomp_algo_ops_t *ops = gcomp_algo_ops_get(algo);
    return ops != NULL && ops->applies(codec);
}

double gcomp_cost_stages(size_t n, size_t stage_elems)
{
    return n == 0 ? 0 : ceil((double)n / (double)stage_elems);
}

/* The codec's own frame size; for a sparse frame the index width is modelled, about log2(2 m / k)
 * bits each (set by the largest gap, modelled as twice the mean). */
double gcomp_cost_frame(const gcomp_codec_params_t *p, double m, double k)
{
    if (m <= 0) return GCOMP_WIRE_HEADER_LEN;
    double w = gcomp_codec_is_sparse(p->codec) ? fmin(32, ceil(log2(2 * m / fmax(k, 1) + 1))) : 0;
    return gcomp_frame_bytes(p, m, k, w, 0);
}

void gcomp_cost_estimate(gcomp_algo_t algo, const gcomp_codec_params_t *p, size_t n, int size,
                         size_t stage_elems, gcomp_cost_t *cost_p)
{
    gcomp_cost_t c = {0, 0, 0, 0, 0};
    const gcomp_algo_ops_t *ops = gcomp_algo_ops_get(algo);
    if (ops != NULL) ops->estimate(p, n, size, stage_elems, &c);
    c.seconds = COST_ALPHA * c.msgs + COST_BETA * c.bytes + COST_GAMMA_DENSE * c.dense +
                COST_GAMMA_SPARSE * c.sparse;
    *cost_p = c;
}

gcomp_algo_t gcomp_algo_choose(const gcomp_codec_params_t *params, size_t n, int size, size_t stage_elems,
                               gcomp_algo_t forced)
{
    if (forced != GCOMP_ALGO_AUTO) {
        if (gcomp_algo_applies(forced, params->codec)) return forced;
        gcomp_info_once("GCOMP_ALGO=%s does not apply to codec %s: the cost model picks instead",
                        gcomp_algo_name(forced), gcomp_codec_name(params->codec));
    }
    gcomp_algo_t best = GCOMP_ALGO_AUTO;
    double best_s = 0;
    for (size_t i = 0; i < gcomp_algos_count; i++) {
        const gcomp_algo_ops_t *ops = gcomp_algos[i];
        if (!ops->applies(params->codec)) continue;
        gcomp_cost_t c;
        gcomp_cost_estimate(ops->id, params, n, size, stage_elems, &c);
        if (best == GCOMP_ALGO_AUTO || c.seconds < best_s) {
            best = ops->id;
            best_s = c.seconds;
        }
    }
    return best;
}
