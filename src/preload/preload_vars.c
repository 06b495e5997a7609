/* The interposer's rows of the configuration (core/config.h says how the tables fit together). */
#include "preload/preload_vars.h"

static const gcomp_config_row_t preload_rows[] = {
    GCOMP_CONFIG_ROW(gcomp_preload_config_t, min_bytes, SIZE, NULL, 0, 0, 0, "GCOMP_MIN_BYTES", "1M", "smallest buffer the interposer compresses; smaller calls pass through", "size in bytes (suffix K, M, G)"),
    GCOMP_CONFIG_ROW(gcomp_preload_config_t, ef_max_bytes, SIZE, NULL, 0, 0, 0, "GCOMP_EF_MAX_BYTES", "4G", "cap on residual memory the interposer keeps; least recently used is evicted", "size in bytes (suffix K, M, G)"),
    GCOMP_CONFIG_ROW(gcomp_preload_config_t, exclude, STRING, NULL, 0, 0, 0, "GCOMP_EXCLUDE", "", "interposer calls to pass through: call-site numbers (3,7-9) or size ranges (bytes:0-4M)", "comma list"),
    GCOMP_CONFIG_ROW(gcomp_preload_config_t, stats, BOOL, NULL, 0, 1, 0, "GCOMP_STATS", "0", "print call counts, bytes saved and time split at MPI_Finalize (rank 0)", "0 or 1"),
};

GCOMP_CONFIG_TABLE(preload, "preload", gcomp_preload_config_t, preload_rows, NULL, NULL)
