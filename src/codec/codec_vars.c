/* The codec layer's rows of the configuration (core/config.h says how the tables fit together). */
#include "codec/codec_vars.h"

#include <stddef.h>

#include "codec/isa.h"

const char *const gcomp_codec_names[] = {"none", "q8", "topk", "topk-q8", NULL};
const char *const gcomp_isa_names[] = {"auto", "scalar", "avx2", "avx512", NULL};
static const char *const rounding_choices[] = {"stochastic", "nearest", NULL};
static const char *const select_choices[] = {"sampled", "exact", NULL};
static const char *const values_choices[] = {"fp32", "fp16", NULL};

static const gcomp_config_row_t codec_rows[] = {
    GCOMP_CONFIG_ROW(gcomp_codec_config_t, codec, ENUM, gcomp_codec_names, 0, 0, 0, "GCOMP_CODEC", "q8", "codec for compressed all-reduce calls", "none, q8, topk, topk-q8"),
    GCOMP_CONFIG_ROW(gcomp_codec_config_t, ef, BOOL, NULL, 0, 1, 0, "GCOMP_EF", "1", "error feedback: keep what compression dropped and add it back next call", "0 or 1"),
    GCOMP_CONFIG_ROW(gcomp_codec_config_t, q8_bucket, UINT32, NULL, 1, 1048576, 0, "GCOMP_Q8_BUCKET", "512", "elements sharing one fp32 scale in q8 codecs", "integer 1..1048576"),
    GCOMP_CONFIG_ROW(gcomp_codec_config_t, rounding, ENUM, rounding_choices, 0, 0, 0, "GCOMP_ROUNDING", "stochastic", "q8 rounding: unbiased stochastic or round-to-nearest", "stochastic, nearest"),
    GCOMP_CONFIG_ROW(gcomp_codec_config_t, topk_ratio, FLOAT, NULL, 0, 1, 1, "GCOMP_TOPK_RATIO", "0.01", "fraction of elements top-k keeps: k = ceil(ratio * n)", "number in (0, 1]"),
    GCOMP_CONFIG_ROW(gcomp_codec_config_t, topk_select, ENUM, select_choices, 0, 0, 0, "GCOMP_TOPK_SELECT", "sampled", "top-k threshold: sampled estimate (fast) or exact selection", "sampled, exact"),
    GCOMP_CONFIG_ROW(gcomp_codec_config_t, topk_values, ENUM, values_choices, 0, 0, 0, "GCOMP_TOPK_VALUES", "fp32", "value type the topk codec sends", "fp32, fp16"),
    GCOMP_CONFIG_ROW(gcomp_codec_config_t, zstd_level, INT, NULL, 0, 19, 0, "GCOMP_ZSTD", "0", "zstd level over frame payloads, used only when it shrinks a frame; 0 is off", "integer 0..19"),
    GCOMP_CONFIG_ROW(gcomp_codec_config_t, checksum, BOOL, NULL, 0, 1, 0, "GCOMP_CHECKSUM", "1", "XXH3-64 checksum over every frame", "0 or 1"),
    GCOMP_CONFIG_ROW(gcomp_codec_config_t, seed, U64, NULL, 0, 0, 0, "GCOMP_SEED", "0", "seed of the stochastic-rounding generator", "unsigned 64-bit integer"),
    GCOMP_CONFIG_ROW(gcomp_codec_config_t, isa, ENUM, gcomp_isa_names, 0, 0, 0, "GCOMP_ISA", "auto", "CPU kernel variant; auto picks the best the CPU supports", "auto, scalar, avx2, avx512"),
};

/* An invalid variable anywhere turns compression off (GCOMP_STRICT=1 fails instead). */
static void codec_on_invalid(void *values)
{
    ((gcomp_codec_config_t *)values)->codec = GCOMP_CODEC_NONE;
}

GCOMP_CONFIG_TABLE(codec, "codec", gcomp_codec_config_t, codec_rows, codec_on_invalid, NULL)
