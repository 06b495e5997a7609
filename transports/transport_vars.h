/* The transport layer's variables (transport_vars.c) and its name list. Free of MPI so that every
 * build, codec-only ones too, lists every variable. */
#ifndef GCOMP_TRANSPORTS_TRANSPORT_VARS_H
#define GCOMP_TRANSPORTS_TRANSPORT_VARS_H

#include "core/compiler.h"
#include "core/config.h"

typedef enum { GCOMP_TRANSPORT_AUTO = 0, GCOMP_TRANSPORT_MPI, GCOMP_TRANSPORT_VERBS } gcomp_transport_kind_t;

typedef struct gcomp_transport_config {
    int transport;      /* gcomp_transport_kind_t */
} gcomp_transport_config_t;

GCOMP_INTERNAL extern const gcomp_config_table_t gcomp_transport_config_table;
GCOMP_INTERNAL const gcomp_transport_config_t *gcomp_transport_config(void);
/* Indexed by gcomp_transport_kind_t, NULL-terminated. */
GCOMP_INTERNAL extern const char *const gcomp_transport_names[];

#endif
