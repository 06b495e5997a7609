/* The collective layer's rows of the configuration (core/config.h says how the tables fit together). */
#include "coll/coll_vars.h"

const char *const gcomp_algo_names[] = {"auto", "sra", "allgather", "sparse-rs", NULL};

static gcomp_coll_config_t coll_config;

#define OFF(f) offsetof(gcomp_coll_config_t, f)

static const gcomp_config_row_t coll_rows[] = {
    {{"GCOMP_TIMEOUT_S", "300", "seconds a compressed call waits for a peer before failing", "number > 0"},
     GCOMP_VAR_DOUBLE, OFF(timeout_s), NULL, 0, 1e9, 1},
    {{"GCOMP_ALGO", "auto", "all-reduce algorithm; auto uses the cost model", "auto, sra, allgather, sparse-rs"},
     GCOMP_VAR_ENUM, OFF(algo), gcomp_algo_names, 0, 0, 0},
    {{"GCOMP_PIPELINE_BYTES", "4M", "fp32 bytes per pipeline stage of a large all-reduce", "size in bytes (suffix K, M, G), >= 4K"},
     GCOMP_VAR_SIZE, OFF(pipeline_bytes), NULL, 4096, 0, 0},
    {{"GCOMP_PIPELINE_DEPTH", "4", "pipeline stages of a large all-reduce in flight at once", "integer 2..8"},
     GCOMP_VAR_INT, OFF(pipeline_depth), NULL, 2, GCOMP_PIPELINE_DEPTH_MAX, 0},
};

#undef OFF

/* fault.c reads GCOMP_FAULT itself (test builds). */
static const char *const coll_also_known[] = {"GCOMP_FAULT", NULL};

const gcomp_config_table_t gcomp_coll_config_table = {
    .layer = "coll",
    .rows = coll_rows,
    .n_rows = GCOMP_ARRAY_SIZE(coll_rows),
    .values = &coll_config,
    .also_known = coll_also_known,
};

const gcomp_coll_config_t *gcomp_coll_config(void)
{
    gcomp_config_load();
    return &coll_config;
}
