#define GCOMP_LOG_SUBSYS GCOMP_SUBSYS_INIT
#include "core/config.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/log.h"

extern char **environ;

typedef enum {
    VAR_ENUM,
    VAR_BOOL,
    VAR_INT,
    VAR_UINT32,
    VAR_U64,
    VAR_SIZE,
    VAR_FLOAT,
    VAR_DOUBLE,
    VAR_STRING,
    VAR_SUBSYS,
} var_type_t;

typedef struct var_row {
    gcomp_config_var_info_t info;
    var_type_t type;
    size_t offset;
    const char *const *choices; /* VAR_ENUM: index = stored value */
    double lo, hi;              /* numeric range, inclusive unless noted in accepted */
    int lo_open;                /* lower bound excluded */
} var_row_t;

static const char *const codec_choices[] = {"none", "q8", "topk", "topk-q8", NULL};
static const char *const rounding_choices[] = {"stochastic", "nearest", NULL};
static const char *const select_choices[] = {"sampled", "exact", NULL};
static const char *const values_choices[] = {"fp32", "fp16", NULL};
static const char *const isa_choices[] = {"auto", "scalar", "avx2", "avx512", NULL};
static const char *const transport_choices[] = {"auto", "mpi", "verbs", NULL};
static const char *const algo_choices[] = {"auto", "sra", "allgather", "sparse-rs", NULL};
static const char *const level_choices[] = {"error", "warn", "info", "trace", NULL};

#define OFF(f) offsetof(gcomp_config_t, f)

static const var_row_t var_table[] = {
    {{"GCOMP_CODEC", "q8", "codec for compressed all-reduce calls", "none, q8, topk, topk-q8"},
     VAR_ENUM, OFF(codec), codec_choices, 0, 0, 0},
    {{"GCOMP_EF", "1", "error feedback: keep what compression dropped and add it back next call", "0 or 1"},
     VAR_BOOL, OFF(ef), NULL, 0, 1, 0},
    {{"GCOMP_Q8_BUCKET", "512", "elements sharing one fp32 scale in q8 codecs", "integer 1..1048576"},
     VAR_UINT32, OFF(q8_bucket), NULL, 1, 1048576, 0},
    {{"GCOMP_ROUNDING", "stochastic", "q8 rounding: unbiased stochastic or round-to-nearest", "stochastic, nearest"},
     VAR_ENUM, OFF(rounding), rounding_choices, 0, 0, 0},
    {{"GCOMP_TOPK_RATIO", "0.01", "fraction of elements top-k keeps: k = ceil(ratio * n)", "number in (0, 1]"},
     VAR_FLOAT, OFF(topk_ratio), NULL, 0, 1, 1},
    {{"GCOMP_TOPK_SELECT", "sampled", "top-k threshold: sampled estimate (fast) or exact selection", "sampled, exact"},
     VAR_ENUM, OFF(topk_select), select_choices, 0, 0, 0},
    {{"GCOMP_TOPK_VALUES", "fp32", "value type the topk codec sends", "fp32, fp16"},
     VAR_ENUM, OFF(topk_values), values_choices, 0, 0, 0},
    {{"GCOMP_ZSTD", "0", "zstd level over frame payloads, used only when it shrinks a frame; 0 is off", "integer 0..19"},
     VAR_INT, OFF(zstd_level), NULL, 0, 19, 0},
    {{"GCOMP_CHECKSUM", "1", "XXH3-64 checksum over every frame", "0 or 1"},
     VAR_BOOL, OFF(checksum), NULL, 0, 1, 0},
    {{"GCOMP_SEED", "0", "seed of the stochastic-rounding generator", "unsigned 64-bit integer"},
     VAR_U64, OFF(seed), NULL, 0, 0, 0},
    {{"GCOMP_ISA", "auto", "CPU kernel variant; auto picks the best the CPU supports", "auto, scalar, avx2, avx512"},
     VAR_ENUM, OFF(isa), isa_choices, 0, 0, 0},
    {{"GCOMP_MIN_BYTES", "1M", "smallest buffer the interposer compresses; smaller calls pass through", "size in bytes (suffix K, M, G)"},
     VAR_SIZE, OFF(min_bytes), NULL, 0, 0, 0},
    {{"GCOMP_TIMEOUT_S", "300", "seconds a compressed call waits for a peer before failing", "number > 0"},
     VAR_DOUBLE, OFF(timeout_s), NULL, 0, 1e9, 1},
    {{"GCOMP_EF_MAX_BYTES", "4G", "cap on residual memory the interposer keeps; least recently used is evicted", "size in bytes (suffix K, M, G)"},
     VAR_SIZE, OFF(ef_max_bytes), NULL, 0, 0, 0},
    {{"GCOMP_EXCLUDE", "", "interposer calls to pass through: call-site numbers (3,7-9) or size ranges (bytes:0-4M)", "comma list"},
     VAR_STRING, OFF(exclude), NULL, 0, 0, 0},
    {{"GCOMP_STATS", "0", "print call counts, bytes saved and time split at MPI_Finalize (rank 0)", "0 or 1"},
     VAR_BOOL, OFF(stats), NULL, 0, 1, 0},
    {{"GCOMP_TRANSPORT", "auto", "how frames move: mpi point-to-point; verbs is not in this version and falls back to mpi", "auto, mpi, verbs"},
     VAR_ENUM, OFF(transport), transport_choices, 0, 0, 0},
    {{"GCOMP_ALGO", "auto", "all-reduce algorithm; auto uses the cost model", "auto, sra, allgather, sparse-rs"},
     VAR_ENUM, OFF(algo), algo_choices, 0, 0, 0},
    {{"GCOMP_PIPELINE_BYTES", "4M", "fp32 bytes per pipeline stage of a large all-reduce", "size in bytes (suffix K, M, G), >= 4K"},
     VAR_SIZE, OFF(pipeline_bytes), NULL, 4096, 0, 0},
    {{"GCOMP_PIPELINE_DEPTH", "4", "pipeline stages of a large all-reduce in flight at once", "integer 2..8"},
     VAR_INT, OFF(pipeline_depth), NULL, 2, GCOMP_PIPELINE_DEPTH_MAX, 0},
    {{"GCOMP_DEBUG", "warn", "log level", "error, warn, info, trace"},
     VAR_ENUM, OFF(debug_level), level_choices, 0, 0, 0},
    {{"GCOMP_DEBUG_SUBSYS", "all", "subsystems that log at info and trace level", "all or comma list of init, codec, coll, net, cuda"},
     VAR_SUBSYS, OFF(debug_subsys), NULL, 0, 0, 0},
    {{"GCOMP_STRICT", "0", "fail at initialisation on an invalid variable instead of turning compression off", "0 or 1"},
     VAR_BOOL, OFF(strict), NULL, 0, 1, 0},
};

static gcomp_config_t config;
static pthread_once_t config_once = PTHREAD_ONCE_INIT;

int gcomp_parse_size(const char *s, size_t *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || errno != 0 || !(v >= 0)) return -1;
    double mult = 1;
    switch (*end) {
    case 'k': case 'K': mult = 1024.0; end++; break;
    case 'm': case 'M': mult = 1024.0 * 1024; end++; break;
    case 'g': case 'G': mult = 1024.0 * 1024 * 1024; end++; break;
    default: break;
    }
    if (*end == 'B' || *end == 'b') end++;
    if (*end != '\0') return -1;
    v *= mult;
    if (v > (double)SIZE_MAX / 2) return -1;
    *out = (size_t)v;
    return 0;
}

static int parse_enum(const char *s, const char *const *choices, int *out)
{
    for (int i = 0; choices[i] != NULL; i++) {
        if (strcasecmp(s, choices[i]) == 0) {
            *out = i;
            return 0;
        }
    }
    return -1;
}

int gcomp_parse_codec(const char *s, int *out)
{
    return parse_enum(s, codec_choices, out);
}

static int parse_subsys(const char *s, unsigned *out)
{
    static const char *const names[] = {"init", "codec", "coll", "net", "cuda", NULL};
    if (strcasecmp(s, "all") == 0) {
        *out = GCOMP_SUBSYS_ALL;
        return 0;
    }
    unsigned mask = 0;
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", s);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int idx;
        if (parse_enum(tok, names, &idx) != 0) return -1;
        mask |= 1u << idx;
    }
    *out = mask;
    return 0;
}

static int in_range(const var_row_t *row, double v)
{
    if (row->hi <= row->lo && row->lo == 0) return 1; /* no range */
    if (row->lo_open ? !(v > row->lo) : !(v >= row->lo)) return 0;
    if (row->hi > row->lo && v > row->hi) return 0;
    return 1;
}

/* Store the value of s in the field of row; 0 on success. */
static int parse_row(const var_row_t *row, const char *s, gcomp_config_t *cfg)
{
    void *field = (char *)cfg + row->offset;
    char *end;
    errno = 0;
    switch (row->type) {
    case VAR_ENUM:
        return parse_enum(s, row->choices, (int *)field);
    case VAR_BOOL:
        if (strcmp(s, "0") == 0 || strcasecmp(s, "false") == 0 || strcasecmp(s, "off") == 0) {
            *(int *)field = 0;
            return 0;
        }
        if (strcmp(s, "1") == 0 || strcasecmp(s, "true") == 0 || strcasecmp(s, "on") == 0) {
            *(int *)field = 1;
            return 0;
        }
        return -1;
    case VAR_INT:
    case VAR_UINT32: {
        long v = strtol(s, &end, 10);
        if (end == s || *end != '\0' || errno != 0 || !in_range(row, (double)v)) return -1;
        if (row->type == VAR_INT) *(int *)field = (int)v;
        else *(uint32_t *)field = (uint32_t)v;
        return 0;
    }
    case VAR_U64: {
        if (*s == '-') return -1;
        unsigned long long v = strtoull(s, &end, 0);
        if (end == s || *end != '\0' || errno != 0) return -1;
        *(uint64_t *)field = v;
        return 0;
    }
    case VAR_SIZE: {
        size_t v;
        if (gcomp_parse_size(s, &v) != 0 || !in_range(row, (double)v)) return -1;
        *(size_t *)field = v;
        return 0;
    }
    case VAR_FLOAT:
    case VAR_DOUBLE: {
        double v = strtod(s, &end);
        if (end == s || *end != '\0' || errno != 0 || !isfinite(v) || !in_range(row, v)) return -1;
        if (row->type == VAR_FLOAT) *(float *)field = (float)v;
        else *(double *)field = v;
        return 0;
    }
    case VAR_STRING:
        *(const char **)field = s;
        return 0;
    case VAR_SUBSYS:
        return parse_subsys(s, (unsigned *)field);
    }
    return -1;
}

static int known_variable(const char *name, size_t len)
{
    for (size_t i = 0; i < GCOMP_ARRAY_SIZE(var_table); i++) {
        if (strlen(var_table[i].info.name) == len && strncmp(var_table[i].info.name, name, len) == 0)
            return 1;
    }
    /* Variables read by tests and tools rather than by the library. */
    static const char *const others[] = {"GCOMP_IBVERBS_LIB", "GCOMP_IB_DEVICE", "GCOMP_IB_GID_INDEX",
                                         "GCOMP_IB_TIMEOUT", "GCOMP_IB_RETRY_CNT", "GCOMP_FAULT",
                                         "GCOMP_TEST_", NULL};
    for (int i = 0; others[i]; i++) {
        size_t ol = strlen(others[i]);
        if (others[i][ol - 1] == '_' ? strncmp(name, others[i], ol) == 0
                                     : (ol == len && strncmp(name, others[i], len) == 0))
            return 1;
    }
    return 0;
}

static void config_parse(void)
{
    gcomp_config_t cfg;
    memset(&cfg, 0, sizeof(cfg));
    for (size_t i = 0; i < GCOMP_ARRAY_SIZE(var_table); i++) {
        if (parse_row(&var_table[i], var_table[i].info.default_value, &cfg) != 0) abort();
    }
    int n_errors = 0;
    for (size_t i = 0; i < GCOMP_ARRAY_SIZE(var_table); i++) {
        const var_row_t *row = &var_table[i];
        const char *s = getenv(row->info.name);
        if (s == NULL) continue;
        gcomp_config_t tmp = cfg;
        if (parse_row(row, s, &tmp) == 0) {
            cfg = tmp;
        } else {
            n_errors++;
            /* The log level itself may be what failed to parse: print directly. */
            fprintf(stderr,
                    "gcomp WARN init: %s=\"%s\" is not valid; accepted: %s. Using the default \"%s\".\n",
                    row->info.name, s, row->info.accepted, row->info.default_value);
        }
    }
    for (char **env = environ; env && *env; env++) {
        if (strncmp(*env, "GCOMP_", 6) != 0) continue;
        const char *eq = strchr(*env, '=');
        size_t len = eq ? (size_t)(eq - *env) : strlen(*env);
        if (!known_variable(*env, len))
            fprintf(stderr, "gcomp WARN init: unknown variable %.*s is ignored (gcomp_info lists them all)\n",
                    (int)len, *env);
    }
    cfg.n_errors = n_errors;
    if (n_errors > 0 && !cfg.strict) {
        fprintf(stderr, "gcomp WARN init: compression is off because of the invalid variable%s above "
                        "(GCOMP_STRICT=1 makes this an error instead)\n", n_errors > 1 ? "s" : "");
        cfg.codec = GCOMP_CODEC_NONE;
    }
    config = cfg;
}

const gcomp_config_t *gcomp_config(void)
{
    pthread_once(&config_once, config_parse);
    return &config;
}

void gcomp_config_reload(void)
{
    pthread_once(&config_once, config_parse);
    config_parse();
}

size_t gcomp_config_var_count(void)
{
    return GCOMP_ARRAY_SIZE(var_table);
}

const gcomp_config_var_info_t *gcomp_config_var(size_t i)
{
    return i < GCOMP_ARRAY_SIZE(var_table) ? &var_table[i].info : NULL;
}

int gcomp_config_var_is_set(size_t i)
{
    return i < GCOMP_ARRAY_SIZE(var_table) && getenv(var_table[i].info.name) != NULL;
}

const char *gcomp_config_var_value(size_t i, char *buf, size_t len)
{
    if (i >= GCOMP_ARRAY_SIZE(var_table) || len == 0) return "";
    const var_row_t *row = &var_table[i];
    const void *field = (const char *)gcomp_config() + row->offset;
    switch (row->type) {
    case VAR_ENUM: snprintf(buf, len, "%s", row->choices[*(const int *)field]); break;
    case VAR_BOOL:
    case VAR_INT: snprintf(buf, len, "%d", *(const int *)field); break;
    case VAR_UINT32: snprintf(buf, len, "%u", *(const uint32_t *)field); break;
    case VAR_U64: snprintf(buf, len, "%llu", (unsigned long long)*(const uint64_t *)field); break;
    case VAR_SIZE: snprintf(buf, len, "%zu", *(const size_t *)field); break;
    case VAR_FLOAT: snprintf(buf, len, "%g", (double)*(const float *)field); break;
    case VAR_DOUBLE: snprintf(buf, len, "%g", *(const double *)field); break;
    case VAR_STRING: snprintf(buf, len, "%s", *(const char *const *)field); break;
    case VAR_SUBSYS: {
        unsigned m = *(const unsigned *)field;
        if (m == GCOMP_SUBSYS_ALL) {
            snprintf(buf, len, "all");
        } else {
            static const char *const names[] = {"init", "codec", "coll", "net", "cuda"};
            buf[0] = '\0';
            for (int b = 0; b < 5; b++) {
                if (!(m & (1u << b))) continue;
                size_t used = strlen(buf);
                snprintf(buf + used, len - used, "%s%s", used ? "," : "", names[b]);
            }
        }
        break;
    }
    }
    return buf;
}
