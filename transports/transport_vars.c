/* The transport layer's rows of the configuration (core/config.h says how the tables fit together). */
#include "transport_vars.h"

#include <stddef.h>

const char *const gcomp_transport_names[] = {"auto", "mpi", "verbs", NULL};

static gcomp_transport_config_t transport_config;

static const gcomp_config_row_t transport_rows[] = {
    {{"GCOMP_TRANSPORT", "auto", "how frames move: mpi point-to-point; verbs is not in this version and falls back to mpi", "auto, mpi, verbs"},
     GCOMP_VAR_ENUM, offsetof(gcomp_transport_config_t, transport), gcomp_transport_names, 0, 0, 0},
};

const gcomp_config_table_t gcomp_transport_config_table = {
    .layer = "transports",
    .rows = transport_rows,
    .n_rows = GCOMP_ARRAY_SIZE(transport_rows),
    .values = &transport_config,
};

const gcomp_transport_config_t *gcomp_transport_config(void)
{
    gcomp_config_load();
    return &transport_config;
}
