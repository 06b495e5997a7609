/* The collective layer's rows of the configuration (core/config.h says how the tables fit together). */
#include "coll/coll_vars.h"

const char *const gcomp_algo_names[] = {"auto", "sra", "allgather", "sparse-rs", NULL};

static const gcomp_config_row_t coll_rows[] = {
    GCOMP_CONFIG_ROW(gcomp_coll_config_t, timeout_s, DOUBLE, NULL, 0, 1e9, 1, "GCOMP_TIMEOUT_S", "300", "seconds a compressed call waits for a peer before failing", "number > 0"),
    GCOMP_CONFIG_ROW(gcomp_coll_config_t, algo, ENUM, gcomp_algo_names, 0, 0, 0, "GCOMP_ALGO", "auto", "all-reduce algorithm; auto uses the cost model", "auto, sra, allgather, sparse-rs"),
    GCOMP_CONFIG_ROW(gcomp_coll_config_t, pipeline_bytes, SIZE, NULL, 4096, 0, 0, "GCOMP_PIPELINE_BYTES", "4M", "fp32 bytes per pipeline stage of a large all-reduce", "size in bytes (suffix K, M, G), >= 4K"),
    GCOMP_CONFIG_ROW(gcomp_coll_config_t, pipeline_depth, INT, NULL, 2, GCOMP_PIPELINE_DEPTH_MAX, 0, "GCOMP_PIPELINE_DEPTH", "4", "pipeline stages of a large all-reduce in flight at once", "integer 2..8"),
};

/* fault.c reads GCOMP_FAULT itself (test builds). */
static const char *const coll_also_known[] = {"GCOMP_FAULT", NULL};

GCOMP_CONFIG_TABLE(coll, "coll", gcomp_coll_config_t, coll_rows, NULL, coll_also_known)
