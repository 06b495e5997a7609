/*
 * The cost model that picks an all-reduce algorithm per call (docs/algorithms.md has the formula
 * and the reasoning). It estimates, for one rank, the frame bytes it sends, the messages it sends,
 * the elements it streams through dense decoding (and zeroing) and the sparse entries it scatters,
 * and weighs them:
 *
 *     seconds = ALPHA * messages + BETA * bytes + GAMMA_DENSE * dense + GAMMA_SPARSE * sparse
 *
 * Only algorithms that apply to the codec compete: scatter-reduce-allgather for q8 and none, the
 * sparse all-gather and the sparse reduce-scatter for topk and topk-q8.
 */
#define GCOMP_LOG_SUBSYS GCOMP_SUBSYS_COLL
#include <math.h>

#include "coll/coll.h"
#include "core/log.h"

/* Rough constants of a commodity cluster (and of shared memory, for ALPHA's order of magnitude):
 * what matters is their ratios, which decide where the algorithms cross over. */
#define COST_ALPHA 5e-6   /* seconds per message */
#define COST_BETA 1e-10   /* seconds per byte (10 GB/s) */
#define COST_GAMMA_DENSE 3e-10  /* seconds per element decoded or zeroed in a stream */
#define COST_GAMMA_SPARSE 2e-9  /* seconds per sparse entry: index unpacking and a scattered add */

#define HEADER ((double)GCOMP_WIRE_HEADER_LEN)

const char *gcomp_algo_name(gcomp_algo_t algo)
{
    return (unsigned)algo <= GCOMP_ALGO_SPARSE_RS ? gcomp_algo_names[algo] : "?";
}

static int is_sparse(gcomp_codec_t codec)
{
    return codec == GCOMP_CODEC_TOPK || codec == GCOMP_CODEC_TOPK_Q8;
}

int gcomp_algo_applies(gcomp_algo_t algo, gcomp_codec_t codec)
{
    switch (algo) {
    case GCOMP_ALGO_SRA: return !is_sparse(codec);
    case GCOMP_ALGO_ALLGATHER:
    case GCOMP_ALGO_SPARSE_RS: return is_sparse(codec);
    case GCOMP_ALGO_AUTO: return 0;
    }
    return 0;
}

/* Frame of m elements with a dense codec. */
static double dense_frame(gcomp_codec_t codec, double m, double bucket)
{
    if (codec == GCOMP_CODEC_Q8) return HEADER + m + 4 * ceil(m / bucket);
    return HEADER + 4 * m;
}

/* Frame of m elements keeping k: indices take about log2(2 m / k) bits each (the width is set by
 * the largest gap, modelled as twice the mean). */
static double sparse_frame(const gcomp_codec_params_t *p, gcomp_codec_t codec, double m, double k)
{
    if (m <= 0) return HEADER;
    double w = fmin(32, ceil(log2(2 * m / fmax(k, 1) + 1)));
    double idx = 4 + 4 * ceil(k * w / 32);
    if (codec == GCOMP_CODEC_TOPK_Q8) return HEADER + idx + 4 * ceil(k / p->q8_bucket) + k;
    return HEADER + idx + k * (p->topk_values == GCOMP_VALUES_FP16 ? 2 : 4);
}

void gcomp_cost_estimate(gcomp_algo_t algo, const gcomp_codec_params_t *p, size_t n, int size,
                         size_t stage_elems, gcomp_cost_t *cost_p)
{
    double P = size, N = (double)n, stages = n == 0 ? 0 : ceil(N / (double)stage_elems);
    double chunk = N / P, ratio = p->topk_ratio;
    gcomp_cost_t c = {0, 0, 0, 0, 0};
    switch (algo) {
    case GCOMP_ALGO_SRA:
        /* P-1 contribution frames of n/P out, then the reduced frame to P-1 ranks. */
        c.bytes = 2 * (P - 1) * dense_frame(p->codec, chunk, p->q8_bucket);
        c.msgs = 2 * (P - 1) * stages;
        c.dense = P * chunk + N;
        break;
    case GCOMP_ALGO_ALLGATHER:
        /* The whole vector's top-k frame to P-1 ranks; the output zeroed, P frames added. */
        c.bytes = (P - 1) * sparse_frame(p, p->codec, N, ceil(ratio * N));
        c.msgs = (P - 1) * stages;
        c.dense = N;
        c.sparse = P * ceil(ratio * N);
        break;
    case GCOMP_ALGO_SPARSE_RS: {
        /* P-1 sparse chunks out; the reduced chunk holds the union of P supports, about
         * 1 - (1 - ratio)^P of it when they are independent, sent sparse or dense. */
        double union_density = 1 - pow(1 - ratio, P);
        double kr = ceil(union_density * chunk);
        gcomp_codec_t dense = p->codec == GCOMP_CODEC_TOPK_Q8 ? GCOMP_CODEC_Q8 : GCOMP_CODEC_NONE;
        gcomp_codec_params_t lossless = *p;
        lossless.topk_values = GCOMP_VALUES_FP32;
        double reduced = fmin(sparse_frame(&lossless, GCOMP_CODEC_TOPK, chunk, kr),
                              dense_frame(dense, chunk, p->q8_bucket));
        c.bytes = (P - 1) * (sparse_frame(p, p->codec, chunk, ceil(ratio * chunk)) + reduced);
        c.msgs = 2 * (P - 1) * stages;
        c.sparse = P * ceil(ratio * chunk);
        c.dense = chunk + N; /* the owner's sum zeroed, the output decoded (dense or onto zeros) */
        break;
    }
    case GCOMP_ALGO_AUTO:
        break;
    }
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
    static const gcomp_algo_t candidates[] = {GCOMP_ALGO_SRA, GCOMP_ALGO_ALLGATHER, GCOMP_ALGO_SPARSE_RS};
    gcomp_algo_t best = GCOMP_ALGO_AUTO;
    double best_s = 0;
    for (size_t i = 0; i < GCOMP_ARRAY_SIZE(candidates); i++) {
        if (!gcomp_algo_applies(candidates[i], params->codec)) continue;
        gcomp_cost_t c;
        gcomp_cost_estimate(candidates[i], params, n, size, stage_elems, &c);
        if (best == GCOMP_ALGO_AUTO || c.seconds < best_s) {
            best = candidates[i];
            best_s = c.seconds;
        }
    }
    return best;
}
