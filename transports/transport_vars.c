/* The transport layer's rows of the configuration (core/config.h says how the tables fit together). */
#include "transport_vars.h"

#include <stddef.h>

const char *const gcomp_transport_names[] = {"auto", "mpi", "verbs", NULL};

static const gcomp_config_row_t transport_rows[] = {
    GCOMP_CONFIG_ROW(gcomp_transport_config_t, transport, ENUM, gcomp_transport_names, 0, 0, 0, "GCOMP_TRANSPORT", "auto", "how frames move: mpi point-to-point; verbs is not in this version and falls back to mpi", "auto, mpi, verbs"),
};

GCOMP_CONFIG_TABLE(transport, "transports", gcomp_transport_config_t, transport_rows, NULL, NULL)
