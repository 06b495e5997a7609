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

static const char *const level_choices[] = {"error", "warn", "info", "trace", NULL};
const char *const gcomp_subsys_names[] = {"init", "codec", "coll", "net", "cuda", NULL};

static const gcomp_config_row_t core_rows[] = {
    GCOMP_CONFIG_ROW(gcomp_core_config_t, debug_level, ENUM, level_choices, 0, 0, 0, "GCOMP_DEBUG", "warn", "log level", "error, warn, info, trace"),
    GCOMP_CONFIG_ROW(gcomp_core_config_t, debug_subsys, SUBSYS, NULL, 0, 0, 0, "GCOMP_DEBUG_SUBSYS", "all", "subsystems that log at info and trace level", "all or comma list of init, codec, coll, net, cuda"),
    GCOMP_CONFIG_ROW(gcomp_core_config_t, strict, BOOL, NULL, 0, 1, 0, "GCOMP_STRICT", "0", "fail at initialisation on an invalid variable instead of turning compression off", "0 or 1"),
};

/* Read by tests and tools, not by a layer's table. */
static const char *const core_also_known[] = {"GCOMP_TEST_", NULL};

GCOMP_CONFIG_TABLE(core, "core", gcomp_core_config_t, core_rows, NULL, core_also_known)

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

int gcomp_parse_choice(const char *s, const char *const *choices, int *out)
{
    for (int i = 0; choices[i] != NULL; i++) {
        if (strcasecmp(s, choices[i]) == 0) {
            *out = i;
            return 0;
        }
    }
    return -1;
}

static int parse_subsys(const char *s, unsigned *out)
{
    if (strcasecmp(s, "all") == 0) {
        *out = GCOMP_SUBSYS_ALL;
        return 0;
    }
    unsigned mask = 0;
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", s);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int idx;
        if (gcomp_parse_choice(tok, gcomp_subsys_names, &idx) != 0) return -1;
        mask |= 1u << idx;
    }
    *out = mask;
    return 0;
}

static int in_range(const gcomp_config_row_t *row, double v)
{
    if (row->hi <= row->lo && row->lo == 0) return 1; /* no range */
    if (row->lo_open ? !(v > row->lo) : !(v >= row->lo)) return 0;
    if (row->hi > row->lo && v > row->hi) return 0;
    return 1;
}

/* Store the value of s in field (row's field of its table's values) and return 0; on failure
 * return -1 and leave the field as it was. */
static int parse_row(const gcomp_config_row_t *row, const char *s, void *field)
{
    char *end;
    errno = 0;
    switch (row->type) {
    case GCOMP_VAR_ENUM:
        return gcomp_parse_choice(s, row->choices, (int *)field);
    case GCOMP_VAR_BOOL:
        if (strcmp(s, "0") == 0 || strcasecmp(s, "false") == 0 || strcasecmp(s, "off") == 0) {
            *(int *)field = 0;
            return 0;
        }
        if (strcmp(s, "1") == 0 || strcasecmp(s, "true") == 0 || strcasecmp(s, "on") == 0) {
            *(int *)field = 1;
            return 0;
        }
        return -1;
    case GCOMP_VAR_INT:
    case GCOMP_VAR_UINT32: {
        long v = strtol(s, &end, 10);
        if (end == s || *end != '\0' || errno != 0 || !in_range(row, (double)v)) return -1;
        if (row->type == GCOMP_VAR_INT) *(int *)field = (int)v;
        else *(uint32_t *)field = (uint32_t)v;
        return 0;
    }
    case GCOMP_VAR_U64: {
        if (*s == '-') return -1;
        unsigned long long v = strtoull(s, &end, 0);
        if (end == s || *end != '\0' || errno != 0) return -1;
        *(uint64_t *)field = v;
        return 0;
    }
    case GCOMP_VAR_SIZE: {
        size_t v;
        if (gcomp_parse_size(s, &v) != 0 || !in_range(row, (double)v)) return -1;
        *(size_t *)field = v;
        return 0;
    }
    case GCOMP_VAR_FLOAT:
    case GCOMP_VAR_DOUBLE: {
        double v = strtod(s, &end);
        if (end == s || *end != '\0' || errno != 0 || !isfinite(v) || !in_range(row, v)) return -1;
        if (row->type == GCOMP_VAR_FLOAT) *(float *)field = (float)v;
        else *(double *)field = v;
        return 0;
    }
    case GCOMP_VAR_STRING:
        *(const char **)field = s;
        return 0;
    case GCOMP_VAR_SUBSYS:
        return parse_subsys(s, (unsigned *)field);
    }
    return -1;
}

static void *row_field(const gcomp_config_table_t *t, const gcomp_config_row_t *row)
{
    return (char *)t->values + row->offset;
}

static int name_in(const char *const *names, const char *name, size_t len)
{
    for (int i = 0; names != NULL && names[i] != NULL; i++) {
        size_t nl = strlen(names[i]);
        if (names[i][nl - 1] == '_' ? strncmp(name, names[i], nl) == 0
                                    : (nl == len && strncmp(name, names[i], len) == 0))
            return 1;
    }
    return 0;
}

static int known_variable(const char *name, size_t len)
{
    for (const gcomp_config_table_t *const *t = gcomp_config_tables; *t != NULL; t++) {
        for (size_t i = 0; i < (*t)->n_rows; i++) {
            const char *row = (*t)->rows[i].info.name;
            if (strlen(row) == len && strncmp(row, name, len) == 0) return 1;
        }
        if (name_in((*t)->also_known, name, len)) return 1;
    }
    return 0;
}

static void config_parse(void)
{
    for (const gcomp_config_table_t *const *t = gcomp_config_tables; *t != NULL; t++) {
        for (size_t i = 0; i < (*t)->n_rows; i++) {
            const gcomp_config_row_t *row = &(*t)->rows[i];
            if (parse_row(row, row->info.default_value, row_field(*t, row)) != 0) abort();
        }
    }
    int n_errors = 0;
    for (const gcomp_config_table_t *const *t = gcomp_config_tables; *t != NULL; t++) {
        for (size_t i = 0; i < (*t)->n_rows; i++) {
            const gcomp_config_row_t *row = &(*t)->rows[i];
            const char *s = getenv(row->info.name);
            if (s == NULL || parse_row(row, s, row_field(*t, row)) == 0) continue;
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
    gcomp_core_config_values.n_errors = n_errors;
    if (n_errors > 0 && !gcomp_core_config_values.strict) {
        fprintf(stderr, "gcomp WARN init: compression is off because of the invalid variable%s above "
                        "(GCOMP_STRICT=1 makes this an error instead)\n", n_errors > 1 ? "s" : "");
        for (const gcomp_config_table_t *const *t = gcomp_config_tables; *t != NULL; t++)
            if ((*t)->on_invalid != NULL) (*t)->on_invalid((*t)->values);
    }
}

void gcomp_config_load(void)
{
    pthread_once(&config_once, config_parse);
}

void gcomp_config_reload(void)
{
    pthread_once(&config_once, config_parse);
    config_parse();
}

/* Row i of all the tables, and its table. */
static const gcomp_config_row_t *row_at(size_t i, const gcomp_config_table_t **table_p)
{
    for (const gcomp_config_table_t *const *t = gcomp_config_tables; *t != NULL; t++) {
        if (i < (*t)->n_rows) {
            if (table_p != NULL) *table_p = *t;
            return &(*t)->rows[i];
        }
        i -= (*t)->n_rows;
    }
    return NULL;
}

size_t gcomp_config_var_count(void)
{
    size_t n = 0;
    for (const gcomp_config_table_t *const *t = gcomp_config_tables; *t != NULL; t++) n += (*t)->n_rows;
    return n;
}

const gcomp_config_var_info_t *gcomp_config_var(size_t i)
{
    const gcomp_config_row_t *row = row_at(i, NULL);
    return row != NULL ? &row->info : NULL;
}

int gcomp_config_var_is_set(size_t i)
{
    const gcomp_config_row_t *row = row_at(i, NULL);
    return row != NULL && getenv(row->info.name) != NULL;
}

const char *gcomp_config_var_value(size_t i, char *buf, size_t len)
{
    const gcomp_config_table_t *t;
    const gcomp_config_row_t *row = row_at(i, &t);
    if (row == NULL || len == 0) return "";
    gcomp_config_load();
    const void *field = row_field(t, row);
    switch (row->type) {
    case GCOMP_VAR_ENUM: snprintf(buf, len, "%s", row->choices[*(const int *)field]); break;
    case GCOMP_VAR_BOOL:
    case GCOMP_VAR_INT: snprintf(buf, len, "%d", *(const int *)field); break;
    case GCOMP_VAR_UINT32: snprintf(buf, len, "%u", *(const uint32_t *)field); break;
    case GCOMP_VAR_U64: snprintf(buf, len, "%llu", (unsigned long long)*(const uint64_t *)field); break;
    case GCOMP_VAR_SIZE: snprintf(buf, len, "%zu", *(const size_t *)field); break;
    case GCOMP_VAR_FLOAT: snprintf(buf, len, "%g", (double)*(const float *)field); break;
    case GCOMP_VAR_DOUBLE: snprintf(buf, len, "%g", *(const double *)field); break;
    case GCOMP_VAR_STRING: snprintf(buf, len, "%s", *(const char *const *)field); break;
    case GCOMP_VAR_SUBSYS: {
        unsigned m = *(const unsigned *)field;
        if (m == GCOMP_SUBSYS_ALL) {
            snprintf(buf, len, "all");
            break;
        }
        buf[0] = '\0';
        for (int b = 0; gcomp_subsys_names[b] != NULL; b++) {
            if (!(m & (1u << b))) continue;
            size_t used = strlen(buf);
            snprintf(buf + used, len - used, "%s%s", used ? "," : "", gcomp_subsys_names[b]);
        }
        break;
    }
    }
    return buf;
}
