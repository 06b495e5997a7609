/*
 * Process configuration: every GCOMP_* environment variable is one row of a table, and each layer
 * owns its table (its rows, its names, the struct the values land in): core here and in config.c,
 * codec in codec/codec_vars.c, transports in transports/transport_vars.c, coll in coll/coll_vars.c,
 * the interposer in preload/preload_vars.c. config.c is only the engine: it parses every table once,
 * on first use, from one list of tables (config_tables.c, the one place that names them all, like
 * UCX's registered config tables), so an unknown GCOMP_* variable is told apart from a known one and
 * gcomp_info prints every row.
 *
 * Layers read their own values through their accessor (gcomp_codec_config() ...). A communicator
 * snapshots what its calls use at creation (coll/coll_vars.h), so calls never read the environment.
 */
#ifndef GCOMP_CORE_CONFIG_H
#define GCOMP_CORE_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "gcomp.h"
#include "core/compiler.h"

typedef enum {
    GCOMP_VAR_ENUM,     /* index into choices */
    GCOMP_VAR_BOOL,     /* int 0 or 1 */
    GCOMP_VAR_INT,
    GCOMP_VAR_UINT32,
    GCOMP_VAR_U64,
    GCOMP_VAR_SIZE,     /* size_t, with K, M, G suffixes */
    GCOMP_VAR_FLOAT,
    GCOMP_VAR_DOUBLE,
    GCOMP_VAR_STRING,   /* const char *, pointing into the environment */
    GCOMP_VAR_SUBSYS,   /* unsigned mask of GCOMP_SUBSYS_* */
} gcomp_var_type_t;

/* One row of the variable table, for gcomp_info and the docs. */
typedef struct gcomp_config_var_info {
    const char *name;
    const char *default_value;
    const char *doc;
    const char *accepted;  /* accepted values, in words */
} gcomp_config_var_info_t;

typedef struct gcomp_config_row {
    gcomp_config_var_info_t info;
    gcomp_var_type_t type;
    size_t offset;              /* of the field in the table's values struct */
    const char *const *choices; /* GCOMP_VAR_ENUM: index = stored value, NULL-terminated */
    double lo, hi;              /* numeric range, inclusive unless lo_open; lo == hi == 0: none */
    int lo_open;                /* lower bound excluded */
} gcomp_config_row_t;

typedef struct gcomp_config_table {
    const char *layer;
    const gcomp_config_row_t *rows;
    size_t n_rows;
    void *values;               /* the layer's struct the rows are parsed into */
    /* Called after parsing when some variable (of any table) was invalid and GCOMP_STRICT is off:
     * the layer falls back to its safe choice (the codec table turns compression off). May be NULL. */
    void (*on_invalid)(void *values);
    /* Further variables the layer reads itself (tests, tools), NULL-terminated; a name ending in '_'
     * is a prefix. May be NULL. */
    const char *const *also_known;
} gcomp_config_table_t;

/* One row, on one line: the field of values_t it fills, its GCOMP_VAR_ type without the prefix,
 * its choices and range (as in gcomp_config_row_t), then the variable's name, default, doc and
 * accepted values. */
#define GCOMP_CONFIG_ROW(values_t, field, type_, choices_, lo_, hi_, lo_open_, name_, default_, doc_, accepted_) \
    { {name_, default_, doc_, accepted_}, GCOMP_VAR_##type_, offsetof(values_t, field), choices_, lo_, hi_, lo_open_ }

/* Defines a layer's configuration: its values (static, type values_t), its table
 * gcomp_<name>_config_table over the rows array, and its accessor gcomp_<name>_config(), which parses
 * every table on first use. on_invalid and also_known as in gcomp_config_table_t (NULL for none);
 * the storage is gcomp_<name>_config_values, for the file's own code. */
#define GCOMP_CONFIG_TABLE(name, layer_name, values_t, rows_, on_invalid_, also_known_) \
    static values_t gcomp_##name##_config_values; \
    const gcomp_config_table_t gcomp_##name##_config_table = { \
        .layer = layer_name, .rows = rows_, .n_rows = GCOMP_ARRAY_SIZE(rows_), \
        .values = &gcomp_##name##_config_values, .on_invalid = on_invalid_, .also_known = also_known_, \
    }; \
    const values_t *gcomp_##name##_config(void) \
    { \
        gcomp_config_load(); \
        return &gcomp_##name##_config_values; \
    }

/* Names of the bits of a GCOMP_SUBSYS_* mask (log.h), bit 0 first, NULL-terminated. */
GCOMP_INTERNAL extern const char *const gcomp_subsys_names[];

/* Every table, NULL-terminated (config_tables.c). */
GCOMP_INTERNAL extern const gcomp_config_table_t *const gcomp_config_tables[];

/* Parse every table from the environment, once (thread-safe); the layers' accessors call it. */
GCOMP_INTERNAL void gcomp_config_load(void);

/* Re-read the environment (tests and tools only; not safe while other threads use gcomp). */
GCOMP_INTERNAL void gcomp_config_reload(void);

/* Core's own rows. */
typedef struct gcomp_core_config {
    int debug_level;    /* gcomp_log_level_t */
    unsigned debug_subsys;
    int strict;
    int n_errors;       /* set by parsing: variables (of every table) whose value could not be used */
} gcomp_core_config_t;

GCOMP_INTERNAL extern const gcomp_config_table_t gcomp_core_config_table;
GCOMP_INTERNAL const gcomp_core_config_t *gcomp_core_config(void);

/* Every row of every table, in table order, for gcomp_info and the docs. */
GCOMP_INTERNAL size_t gcomp_config_var_count(void);
GCOMP_INTERNAL const gcomp_config_var_info_t *gcomp_config_var(size_t i);
/* Current value of row i as text, in buf. */
GCOMP_INTERNAL const char *gcomp_config_var_value(size_t i, char *buf, size_t len);
/* 1 if the environment sets row i. */
GCOMP_INTERNAL int gcomp_config_var_is_set(size_t i);

/* Parsers shared with per-call option strings: return 0 on success. */
GCOMP_INTERNAL int gcomp_parse_size(const char *s, size_t *out);
/* Index of s (case-insensitive) in a NULL-terminated name list. */
GCOMP_INTERNAL int gcomp_parse_choice(const char *s, const char *const *choices, int *out);

#endif
