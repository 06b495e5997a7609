/*
 * The one list of the layers' variable tables (core/config.h): the only file that names every
 * layer's table, so that the core's parser never includes a higher layer. Rows print in this
 * order (gcomp_info, docs): the codec's, then the all-reduce's, the transport's, the interposer's,
 * and the diagnostics last.
 */
#include "core/config.h"
#include "codec/codec_vars.h"
#include "coll/coll_vars.h"
#include "preload/preload_vars.h"
#include "transports/transport_vars.h"

const gcomp_config_table_t *const gcomp_config_tables[] = {
    &gcomp_codec_config_table, &gcomp_coll_config_table, &gcomp_transport_config_table,
    &gcomp_preload_config_table, &gcomp_core_config_table, NULL,
};
