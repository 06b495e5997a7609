/* The codec layer's variables (its rows of the configuration, codec_vars.c) and its name lists:
 * the one place each name is spelled, for parsing and for printing. */
#ifndef GCOMP_CODEC_CODEC_VARS_H
#define GCOMP_CODEC_CODEC_VARS_H

#include <stdint.h>

#include "gcomp.h"
#include "core/compiler.h"
#include "core/config.h"

typedef struct gcomp_codec_config {
    int codec;          /* gcomp_codec_t */
    int ef;
    uint32_t q8_bucket;
    int rounding;       /* gcomp_rounding_t */
    float topk_ratio;
    int topk_select;    /* gcomp_topk_select_t */
    int topk_values;    /* gcomp_value_type_t */
    int zstd_level;
    int checksum;
    uint64_t seed;
    int isa;            /* gcomp_isa_t */
} gcomp_codec_config_t;

GCOMP_INTERNAL extern const gcomp_config_table_t gcomp_codec_config_table;
GCOMP_INTERNAL const gcomp_codec_config_t *gcomp_codec_config(void);

/* Indexed by gcomp_codec_t and gcomp_isa_t, NULL-terminated. */
GCOMP_INTERNAL extern const char *const gcomp_codec_names[];
GCOMP_INTERNAL extern const char *const gcomp_isa_names[];

#endif
