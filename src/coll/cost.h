/*
 * The cost model (cost_model.c): what each algorithm sends and computes for a call, weighed into
 * seconds, and the choice of the cheapest. The algorithms themselves are ops tables (algo.h).
 */
#ifndef GCOMP_COLL_COST_H
#define GCOMP_COLL_COST_H

#include <stddef.h>

#include "gcomp.h"
#include "core/compiler.h"
#include "coll/coll_vars.h"

typedef struct gcomp_cost {
    double bytes;   /* frame bytes one rank sends */
    double msgs;    /* messages one rank sends */
    double dense;   /* elements one rank decodes or zeroes in a stream */
    double sparse;  /* sparse entries one rank adds at scattered indices */
    double seconds; /* the model's estimate */
} gcomp_cost_t;

/* 1 if algo applies to the codec. */
GCOMP_INTERNAL int gcomp_algo_applies(gcomp_algo_t algo, gcomp_codec_t codec);
GCOMP_INTERNAL const char *gcomp_algo_name(gcomp_algo_t algo);
GCOMP_INTERNAL void gcomp_cost_estimate(gcomp_algo_t algo, const gcomp_codec_params_t *params, size_t n,
                                        int size, size_t stage_elems, gcomp_cost_t *cost_p);
/* The algorithm for a call: @p forced when it applies to the codec, else the cheapest estimate. */
GCOMP_INTERNAL gcomp_algo_t gcomp_algo_choose(const gcomp_codec_params_t *params, size_t n, int size,
                                              size_t stage_elems, gcomp_algo_t forced);

#endif
