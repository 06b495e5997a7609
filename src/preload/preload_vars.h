/* The interposer's variables (preload_vars.c). Compiled into every build, not only the preload
 * library, so that gcomp_info and the unknown-variable check know them everywhere. */
#ifndef GCOMP_PRELOAD_PRELOAD_VARS_H
#define GCOMP_PRELOAD_PRELOAD_VARS_H

#include <stddef.h>

#include "core/compiler.h"
#include "core/config.h"

typedef struct gcomp_preload_config {
    size_t min_bytes;
    size_t ef_max_bytes;
    const char *exclude;
    int stats;
} gcomp_preload_config_t;

GCOMP_INTERNAL extern const gcomp_config_table_t gcomp_preload_config_table;
GCOMP_INTERNAL const gcomp_preload_config_t *gcomp_preload_config(void);

#endif
