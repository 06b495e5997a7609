/*
 * Process configuration: every GCOMP_* environment variable is one row of the table in config.c
 * (name, default, one-line doc, type, field). Parsed once, on first use; gcomp_info prints it.
 */
#ifndef GCOMP_CORE_CONFIG_H
#define GCOMP_CORE_CONFIG_H

#include <stddef.h>
#include <stdint.h>

/* Most pipeline stages of one all-reduce in flight at once (GCOMP_PIPELINE_DEPTH). */
#define GCOMP_PIPELINE_DEPTH_MAX 8

#include "gcomp.h"
#include "core/compiler.h"

typedef enum { GCOMP_ISA_AUTO = 0, GCOMP_ISA_SCALAR, GCOMP_ISA_AVX2, GCOMP_ISA_AVX512 } gcomp_isa_t;
typedef enum { GCOMP_TRANSPORT_AUTO = 0, GCOMP_TRANSPORT_MPI, GCOMP_TRANSPORT_VERBS } gcomp_transport_kind_t;
typedef enum { GCOMP_ALGO_AUTO = 0, GCOMP_ALGO_SRA, GCOMP_ALGO_ALLGATHER, GCOMP_ALGO_SPARSE_RS } gcomp_algo_t;

typedef struct gcomp_config {
    /* codec */
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
    /* collective and interposer */
    size_t min_bytes;
    double timeout_s;
    size_t ef_max_bytes;
    const char *exclude;
    int stats;
    int transport;      /* gcomp_transport_kind_t */
    int algo;           /* gcomp_algo_t */
    size_t pipeline_bytes;
    int pipeline_depth;
    /* diagnostics */
    int debug_level;    /* gcomp_log_level_t */
    unsigned debug_subsys;
    int strict;
    /* set by parsing */
    int n_errors;       /* variables whose value could not be used */
} gcomp_config_t;

/* The configuration, parsed from the environment on first call (thread-safe). */
GCOMP_INTERNAL const gcomp_config_t *gcomp_config(void);

/* Re-read the environment (tests and tools only; not safe while other threads use gcomp). */
GCOMP_INTERNAL void gcomp_config_reload(void);

/* One row of the variable table, for gcomp_info and the docs. */
typedef struct gcomp_config_var_info {
    const char *name;
    const char *default_value;
    const char *doc;
    const char *accepted;  /* accepted values, in words */
} gcomp_config_var_info_t;

GCOMP_INTERNAL size_t gcomp_config_var_count(void);
GCOMP_INTERNAL const gcomp_config_var_info_t *gcomp_config_var(size_t i);
/* Current value of row i as text, in buf. */
GCOMP_INTERNAL const char *gcomp_config_var_value(size_t i, char *buf, size_t len);
/* 1 if the environment sets row i. */
GCOMP_INTERNAL int gcomp_config_var_is_set(size_t i);

/* Parsers shared with per-call option strings: return 0 on success. */
GCOMP_INTERNAL int gcomp_parse_size(const char *s, size_t *out);
GCOMP_INTERNAL int gcomp_parse_codec(const char *s, int *out);

#endif
