/* The collective layer's variables (coll_vars.c), its name list, and what a communicator snapshots
 * of them at creation (calls never read the environment). Free of MPI so that every build lists
 * every variable. */
#ifndef GCOMP_COLL_COLL_VARS_H
#define GCOMP_COLL_COLL_VARS_H

#include <stddef.h>

#include "core/compiler.h"
#include "core/config.h"

/* Most pipeline stages of one all-reduce in flight at once (GCOMP_PIPELINE_DEPTH). */
#define GCOMP_PIPELINE_DEPTH_MAX 8

typedef enum { GCOMP_ALGO_AUTO = 0, GCOMP_ALGO_SRA, GCOMP_ALGO_ALLGATHER, GCOMP_ALGO_SPARSE_RS } gcomp_algo_t;

typedef struct gcomp_coll_config {
    double timeout_s;
    int algo;           /* gcomp_algo_t */
    size_t pipeline_bytes;
    int pipeline_depth;
} gcomp_coll_config_t;

GCOMP_INTERNAL extern const gcomp_config_table_t gcomp_coll_config_table;
GCOMP_INTERNAL const gcomp_coll_config_t *gcomp_coll_config(void);
/* Indexed by gcomp_algo_t, NULL-terminated. */
GCOMP_INTERNAL extern const char *const gcomp_algo_names[];

#endif
