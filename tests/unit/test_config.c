/* The variable table: defaults, parsing of every type, invalid values turning compression off, and
 * GCOMP_STRICT. */
#include <string.h>

#include "check.h"
#include "gcomp.h"
#include "codec/codec.h"
#include "codec/codec_vars.h"
#include "coll/coll_vars.h"
#include "core/config.h"
#include "preload/preload_vars.h"

static void clear_env(void)
{
    for (size_t i = 0; i < gcomp_config_var_count(); i++) unsetenv(gcomp_config_var(i)->name);
}

int main(void)
{
    clear_env();
    gcomp_config_reload();
    /* Each layer's values; reload updates them in place. */
    const gcomp_codec_config_t *c = gcomp_codec_config();
    const gcomp_coll_config_t *coll = gcomp_coll_config();
    const gcomp_preload_config_t *pre = gcomp_preload_config();
    const gcomp_core_config_t *core = gcomp_core_config();
    CHECK(c->codec == GCOMP_CODEC_Q8 && c->ef == 1 && c->q8_bucket == 512, "codec/ef/bucket defaults");
    CHECK(c->rounding == GCOMP_ROUND_STOCHASTIC && c->topk_select == GCOMP_TOPK_SAMPLED, "rounding/select defaults");
    CHECK(fabsf(c->topk_ratio - 0.01f) < 1e-9f && pre->min_bytes == 1u << 20 && coll->timeout_s == 300, "numeric defaults");
    CHECK(core->n_errors == 0 && c->checksum == 1 && c->zstd_level == 0, "clean parse");

    /* Every row has a name, a default that parses, a doc and accepted values. */
    for (size_t i = 0; i < gcomp_config_var_count(); i++) {
        const gcomp_config_var_info_t *v = gcomp_config_var(i);
        CHECK(strncmp(v->name, "GCOMP_", 6) == 0 && v->doc[0] && v->accepted[0], "row %zu", i);
    }

    setenv("GCOMP_CODEC", "topk-q8", 1);
    setenv("GCOMP_TOPK_RATIO", "0.25", 1);
    setenv("GCOMP_MIN_BYTES", "64K", 1);
    setenv("GCOMP_EF_MAX_BYTES", "1.5G", 1);
    setenv("GCOMP_SEED", "0x10", 1);
    setenv("GCOMP_DEBUG_SUBSYS", "coll,net", 1);
    setenv("GCOMP_EF", "off", 1);
    gcomp_config_reload();
    CHECK(c->codec == GCOMP_CODEC_TOPK_Q8 && fabsf(c->topk_ratio - 0.25f) < 1e-9f, "codec and ratio");
    CHECK(pre->min_bytes == 65536 && pre->ef_max_bytes == (size_t)(1.5 * 1024 * 1024 * 1024), "sizes");
    CHECK(c->seed == 16 && c->ef == 0 && core->n_errors == 0, "seed %llu ef %d", (unsigned long long)c->seed, c->ef);
    char buf[64];
    for (size_t i = 0; i < gcomp_config_var_count(); i++) {
        if (strcmp(gcomp_config_var(i)->name, "GCOMP_DEBUG_SUBSYS") == 0)
            CHECK(strcmp(gcomp_config_var_value(i, buf, sizeof(buf)), "coll,net") == 0, "subsys value %s", buf);
    }

    /* Each bad value is counted, and any of them turns compression off unless strict. */
    const char *bad[][2] = {{"GCOMP_TOPK_RATIO", "0"},   {"GCOMP_TOPK_RATIO", "1.5"}, {"GCOMP_Q8_BUCKET", "0"},
                            {"GCOMP_Q8_BUCKET", "12x"},  {"GCOMP_ZSTD", "20"},        {"GCOMP_ROUNDING", "up"},
                            {"GCOMP_TIMEOUT_S", "-1"},   {"GCOMP_MIN_BYTES", "lots"}, {"GCOMP_EF", "2"},
                            {"GCOMP_TOPK_RATIO", "nan"}, {"GCOMP_SEED", "-3"},        {"GCOMP_PIPELINE_BYTES", "1K"}};
    for (size_t i = 0; i < GCOMP_ARRAY_SIZE(bad); i++) {
        clear_env();
        setenv("GCOMP_CODEC", "q8", 1);
        setenv(bad[i][0], bad[i][1], 1);
        gcomp_config_reload();
        CHECK(core->n_errors == 1 && c->codec == GCOMP_CODEC_NONE, "%s=%s: errors %d codec %d", bad[i][0], bad[i][1],
              core->n_errors, c->codec);
    }
    clear_env();
    setenv("GCOMP_CODEC", "bogus", 1);
    setenv("GCOMP_STRICT", "1", 1);
    gcomp_config_reload();
    CHECK(core->n_errors == 1 && core->strict == 1, "strict keeps the error for the caller to fail on");

    size_t sz;
    CHECK(gcomp_parse_size("4M", &sz) == 0 && sz == 4u << 20, "4M");
    CHECK(gcomp_parse_size("10", &sz) == 0 && sz == 10, "10");
    CHECK(gcomp_parse_size("2kB", &sz) == 0 && sz == 2048, "2kB");
    CHECK(gcomp_parse_size("-1", &sz) != 0 && gcomp_parse_size("", &sz) != 0 && gcomp_parse_size("3Q", &sz) != 0,
          "bad sizes");

    gcomp_codec_params_t p;
    clear_env();
    gcomp_config_reload();
    gcomp_codec_params_default(&p);
    CHECK(gcomp_codec_params_check(&p) == GCOMP_OK, "defaults are valid");
    p.topk_ratio = 0;
    CHECK(gcomp_codec_params_check(&p) == GCOMP_ERR_CONFIG, "ratio 0");
    p.topk_ratio = 0.5f;
    p.q8_bucket = 0;
    CHECK(gcomp_codec_params_check(&p) == GCOMP_ERR_CONFIG, "bucket 0");
    p.q8_bucket = 16;
    p.codec = (gcomp_codec_t)9;
    CHECK(gcomp_codec_params_check(&p) == GCOMP_ERR_CONFIG, "codec 9");
    CHECK(strcmp(gcomp_codec_name(GCOMP_CODEC_TOPK_Q8), "topk-q8") == 0, "codec name");
    /* The layers' name lists are the ones their ops tables and the parser use. */
    for (int k = GCOMP_CODEC_NONE; k <= GCOMP_CODEC_TOPK_Q8; k++)
        CHECK(strcmp(gcomp_codec_ops_get((gcomp_codec_t)k)->name, gcomp_codec_names[k]) == 0, "codec %d name", k);
    /* No variable is in two layers' tables. */
    for (size_t i = 0; i < gcomp_config_var_count(); i++)
        for (size_t j = i + 1; j < gcomp_config_var_count(); j++)
            CHECK(strcmp(gcomp_config_var(i)->name, gcomp_config_var(j)->name) != 0, "%s twice",
                  gcomp_config_var(i)->name);
    CHECK(strcmp(gcomp_status_string(GCOMP_ERR_CHECKSUM), "frame checksum mismatch") == 0, "status string");
    CHECK(gcomp_version() == GCOMP_VERSION_NUMBER, "version");
    return check_finish("test_config");
}
