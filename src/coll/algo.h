/*
 * The all-reduce algorithms as ops tables: what each applies to, what the cost model estimates for
 * it, and how a call prepares and runs it. gcomp_algos lists them in the cost model's order of
 * preference on a tie; allreduce.c and cost_model.c walk it instead of naming algorithms.
 */
#ifndef GCOMP_COLL_ALGO_H
#define GCOMP_COLL_ALGO_H

#include "coll/coll.h"

typedef struct gcomp_algo_ops {
    gcomp_algo_t id;
    const char *name;
    /* 1 if the algorithm takes frames of this codec. */
    int (*applies)(gcomp_codec_t codec);
    /* What one rank sends and computes in a call (cost_model.c weighs it into seconds). */
    void (*estimate)(const gcomp_codec_params_t *params, size_t n, int size, size_t stage_elems,
                     gcomp_cost_t *cost_p);
    /* Reserve the call's memory (local, before the agreement) and give the level-2 residual's length. */
    gcomp_status_t (*prepare)(gcomp_call_t *call, size_t *l2_len_p);
    /* The level-2 residual length prepare would give, nothing reserved. */
    size_t (*l2_len)(gcomp_call_t *call);
    gcomp_status_t (*run)(gcomp_call_t *call);
} gcomp_algo_ops_t;

GCOMP_INTERNAL extern const gcomp_algo_ops_t gcomp_algo_sra_ops;
GCOMP_INTERNAL extern const gcomp_algo_ops_t gcomp_algo_allgather_ops;
GCOMP_INTERNAL extern const gcomp_algo_ops_t gcomp_algo_sparse_rs_ops;

GCOMP_INTERNAL extern const gcomp_algo_ops_t *const gcomp_algos[];
GCOMP_INTERNAL extern const size_t gcomp_algos_count;

/* The ops of an algorithm; NULL for GCOMP_ALGO_AUTO or an unknown id. */
GCOMP_INTERNAL const gcomp_algo_ops_t *gcomp_algo_ops_get(gcomp_algo_t algo);

/* Shared pieces of the estimates (cost_model.c). */
GCOMP_INTERNAL int gcomp_codec_is_sparse(gcomp_codec_t codec);
/* Pipeline stages of a call of n elements (0 for none). */
GCOMP_INTERNAL double gcomp_cost_stages(size_t n, size_t stage_elems);
/* Expected frame of m elements with params' codec, keeping k (sparse codecs only). */
GCOMP_INTERNAL double gcomp_cost_frame(const gcomp_codec_params_t *params, double m, double k);

#endif
