/* The codec layer's rows of the configuration (core/config.h says how the tables fit together). */
#include "codec/codec_vars.h"

#include <stddef.h>

#include "codec/isa.h"

const char *const gcomp_codec_names[] = {"none", "q8", "topk", "topk-q8", NULL};
const char *const gcomp_isa_names[] = {"auto", "scalar", "avx2", "avx512", NULL};
static const char *const rounding_choices[] = {"stochastic", "nearest", NULL};
static const char *const select_choices[] = {"sampled", "exact", NULL};
static const char *const values_choices[] = {"fp32", "fp16", NULL};

static gcomp_codec_config_t codec_config;

#define OFF(f) offsetof(gcomp_codec_config_t, f)

static const gcomp_config_row_t codec_rows[] = {
    {{"GCOMP_CODEC", "q8", "codec for compressed all-reduce calls", "none, q8, topk, topk-q8"},
     GCOMP_VAR_ENUM, OFF(codec), gcomp_codec_names, 0, 0, 0},
    {{"GCOMP_EF", "1", "error feedback: keep what compression dropped and add it back next call", "0 or 1"},
     GCOMP_VAR_BOOL, OFF(ef), NULL, 0, 1, 0},
    {{"GCOMP_Q8_BUCKET", "512", "elements sharing one fp32 scale in q8 codecs", "integer 1..1048576"},
     GCOMP_VAR_UINT32, OFF(q8_bucket), NULL, 1, 1048576, 0},
    {{"GCOMP_ROUNDING", "stochastic", "q8 rounding: unbiased stochastic or round-to-nearest", "stochastic, nearest"},
     GCOMP_VAR_ENUM, OFF(rounding), rounding_choices, 0, 0, 0},
    {{"GCOMP_TOPK_RATIO", "0.01", "fraction of elements top-k keeps: k = ceil(ratio * n)", "number in (0, 1]"},
     GCOMP_VAR_FLOAT, OFF(topk_ratio), NULL, 0, 1, 1},
    {{"GCOMP_TOPK_SELECT", "sampled", "top-k threshold: sampled estimate (fast) or exact selection", "sampled, exact"},
     GCOMP_VAR_ENUM, OFF(topk_select), select_choices, 0, 0, 0},
    {{"GCOMP_TOPK_VALUES", "fp32", "value type the topk codec sends", "fp32, fp16"},
     GCOMP_VAR_ENUM, OFF(topk_values), values_choices, 0, 0, 0},
    {{"GCOMP_ZSTD", "0", "zstd level over frame payloads, used only when it shrinks a frame; 0 is off", "integer 0..19"},
     GCOMP_VAR_INT, OFF(zstd_level), NULL, 0, 19, 0},
    {{"GCOMP_CHECKSUM", "1", "XXH3-64 checksum over every frame", "0 or 1"},
     GCOMP_VAR_BOOL, OFF(checksum), NULL, 0, 1, 0},
    {{"GCOMP_SEED", "0", "seed of the stochastic-rounding generator", "unsigned 64-bit integer"},
     GCOMP_VAR_U64, OFF(seed), NULL, 0, 0, 0},
    {{"GCOMP_ISA", "auto", "CPU kernel variant; auto picks the best the CPU supports", "auto, scalar, avx2, avx512"},
     GCOMP_VAR_ENUM, OFF(isa), gcomp_isa_names, 0, 0, 0},
};

#undef OFF

/* An invalid variable anywhere turns compression off (GCOMP_STRICT=1 fails instead). */
static void codec_on_invalid(void *values)
{
    ((gcomp_codec_config_t *)values)->codec = GCOMP_CODEC_NONE;
}

const gcomp_config_table_t gcomp_codec_config_table = {
    .layer = "codec",
    .rows = codec_rows,
    .n_rows = GCOMP_ARRAY_SIZE(codec_rows),
    .values = &codec_config,
    .on_invalid = codec_on_invalid,
};

const gcomp_codec_config_t *gcomp_codec_config(void)
{
    gcomp_config_load();
    return &codec_config;
}
