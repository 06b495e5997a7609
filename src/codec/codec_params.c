#define GCOMP_LOG_SUBSYS GCOMP_SUBSYS_CODEC
#include <math.h>

#include "gcomp_config.h"
#include "codec/codec.h"
#include "codec/codec_vars.h"
#include "core/log.h"

void gcomp_codec_params_default(gcomp_codec_params_t *params)
{
    const gcomp_codec_config_t *cfg = gcomp_codec_config();
    params->codec = (gcomp_codec_t)cfg->codec;
    params->error_feedback = cfg->ef;
    params->q8_bucket = cfg->q8_bucket;
    params->rounding = (gcomp_rounding_t)cfg->rounding;
    params->topk_ratio = cfg->topk_ratio;
    params->topk_select = (gcomp_topk_select_t)cfg->topk_select;
    params->topk_values = (gcomp_value_type_t)cfg->topk_values;
    params->zstd_level = cfg->zstd_level;
    params->checksum = cfg->checksum;
    params->seed = cfg->seed;
}

gcomp_status_t gcomp_codec_params_check(const gcomp_codec_params_t *p)
{
    if (p == NULL) return GCOMP_ERR_INVALID;
    if ((unsigned)p->codec > GCOMP_CODEC_TOPK_Q8) {
        gcomp_warn("codec %d is not one of none, q8, topk, topk-q8", (int)p->codec);
        return GCOMP_ERR_CONFIG;
    }
    if (p->q8_bucket < 1 || p->q8_bucket > (1u << 20)) {
        gcomp_warn("q8 bucket %u is outside 1..1048576 (GCOMP_Q8_BUCKET)", p->q8_bucket);
        return GCOMP_ERR_CONFIG;
    }
    if ((unsigned)p->rounding > GCOMP_ROUND_NEAREST) {
        gcomp_warn("rounding %d is not stochastic or nearest (GCOMP_ROUNDING)", (int)p->rounding);
        return GCOMP_ERR_CONFIG;
    }
    if (!(p->topk_ratio > 0.0f && p->topk_ratio <= 1.0f)) {
        gcomp_warn("top-k ratio %g is outside (0, 1] (GCOMP_TOPK_RATIO)", (double)p->topk_ratio);
        return GCOMP_ERR_CONFIG;
    }
    if ((unsigned)p->topk_select > GCOMP_TOPK_EXACT || (unsigned)p->topk_values > GCOMP_VALUES_FP16) {
        gcomp_warn("top-k selection %d or value type %d is unknown", (int)p->topk_select, (int)p->topk_values);
        return GCOMP_ERR_CONFIG;
    }
    if (p->zstd_level < 0 || p->zstd_level > 19) {
        gcomp_warn("zstd level %d is outside 0..19 (GCOMP_ZSTD)", p->zstd_level);
        return GCOMP_ERR_CONFIG;
    }
    if (p->checksum != 0 && p->checksum != 1) {
        gcomp_warn("checksum %d is not 0 or 1 (GCOMP_CHECKSUM)", p->checksum);
        return GCOMP_ERR_CONFIG;
    }
    return GCOMP_OK;
}

const char *gcomp_codec_name(gcomp_codec_t codec)
{
    return (unsigned)codec <= GCOMP_CODEC_TOPK_Q8 ? gcomp_codec_names[codec] : "?";
}

const gcomp_codec_ops_t *gcomp_codec_ops_get(gcomp_codec_t id)
{
    switch (id) {
    case GCOMP_CODEC_NONE: return &gcomp_codec_none_ops;
    case GCOMP_CODEC_Q8: return &gcomp_codec_q8_ops;
    case GCOMP_CODEC_TOPK: return &gcomp_codec_topk_ops;
    case GCOMP_CODEC_TOPK_Q8: return &gcomp_codec_topk_q8_ops;
    }
    return NULL;
}

size_t gcomp_frame_bound(const gcomp_codec_params_t *params, uint64_t chunk_count)
{
    if (gcomp_codec_params_check(params) != GCOMP_OK || chunk_count > GCOMP_WIRE_MAX_COUNT) return 0;
    const gcomp_codec_ops_t *ops = gcomp_codec_ops_get(params->codec);
    return GCOMP_WIRE_HEADER_LEN + ops->payload_bound(params, chunk_count) +
           (size_t)gcomp_wire_exc_cap(chunk_count) * GCOMP_WIRE_EXC_LEN;
}

double gcomp_frame_bytes(const gcomp_codec_params_t *params, double n, double kept, double width, double exceptions)
{
    const gcomp_codec_ops_t *ops = gcomp_codec_ops_get(params->codec);
    if (ops == NULL) return 0;
    double listed = ops->exceptions_inline ? 0 : exceptions * GCOMP_WIRE_EXC_LEN;
    return GCOMP_WIRE_HEADER_LEN + ops->payload_bytes(params, n, kept, width) + listed;
}
