/* The interposer's rows of the configuration (core/config.h says how the tables fit together). */
#include "preload/preload_vars.h"

static gcomp_preload_config_t preload_config;

#define OFF(f) offsetof(gcomp_preload_config_t, f)

static const gcomp_config_row_t preload_rows[] = {
    {{"GCOMP_MIN_BYTES", "1M", "smallest buffer the interposer compresses; smaller calls pass through", "size in bytes (suffix K, M, G)"},
     GCOMP_VAR_SIZE, OFF(min_bytes), NULL, 0, 0, 0},
    {{"GCOMP_EF_MAX_BYTES", "4G", "cap on residual memory the interposer keeps; least recently used is evicted", "size in bytes (suffix K, M, G)"},
     GCOMP_VAR_SIZE, OFF(ef_max_bytes), NULL, 0, 0, 0},
    {{"GCOMP_EXCLUDE", "", "interposer calls to pass through: call-site numbers (3,7-9) or size ranges (bytes:0-4M)", "comma list"},
     GCOMP_VAR_STRING, OFF(exclude), NULL, 0, 0, 0},
    {{"GCOMP_STATS", "0", "print call counts, bytes saved and time split at MPI_Finalize (rank 0)", "0 or 1"},
     GCOMP_VAR_BOOL, OFF(stats), NULL, 0, 1, 0},
};

#undef OFF

const gcomp_config_table_t gcomp_preload_config_table = {
    .layer = "preload",
    .rows = preload_rows,
    .n_rows = GCOMP_ARRAY_SIZE(preload_rows),
    .values = &preload_config,
};

const gcomp_preload_config_t *gcomp_preload_config(void)
{
    gcomp_config_load();
    return &preload_config;
}
