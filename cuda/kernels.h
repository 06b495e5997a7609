/*
 * The steps the CUDA codecs are made of, as one ops table with three implementations:
 *   gcomp_cu_backend_gpu (runtime.c): the kernels of none.cu, q8.cu, count.cu, exc.cu,
 *   topk_select.cu, topk.cu and topk_decode.cu, launched on the context's stream over device memory;
 *   gcomp_cu_backend_emu (emulate.c, emulate_topk.c): the same steps as plain loops over host memory,
 *   with the same per-element arithmetic (elem.h). It is each kernel's CPU reference: frame_cuda.c
 *   drives either one identically, so on a machine without a GPU the unit suite runs the whole frame
 *   path through the emulation and compares its bytes with the CPU codecs;
 *   gcomp_cu_backend_simt() (simt/backend.c): the kernel files themselves, run by the SIMT emulator.
 *
 * GCOMP_CU_STEPS below is the one list of steps: the table's fields, the launchers' and the
 * emulation's prototypes and the three tables are all expanded from it, so a new step is one line
 * there, its argument struct here, its kernel and launcher in a .cu, its loop in emulate*.c.
 *
 * Steps are enqueued in order and never wait for the host. A step that only sometimes has work (the
 * top-k corrections, the exception list) reads its condition from the control block in device
 * memory and returns at once when there is none: the host reads the control block back once, when
 * the call needs the result.
 */
#ifndef GCOMP_CUDA_KERNELS_H
#define GCOMP_CUDA_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GCOMP_CU_MAX_FRAMES 16    /* frames one fused q8 decode-accumulate step sums */
#define GCOMP_CU_TILE 4096        /* elements per tile of the single-pass scans (256 threads x 16) */

/* One selection (radix select over 31-bit keys, three levels; elem.h has the level widths). */
typedef struct gcomp_cu_sel {
    uint64_t r;          /* rank wanted within the keys that match prefix */
    uint64_t total;      /* finite keys of the source (set at level 0) */
    uint64_t ties;       /* keys equal to thr to keep, lowest positions first */
    uint64_t ties_total; /* keys equal to thr */
    uint64_t cutoff;     /* last index whose tie is kept; UINT64_MAX keeps them all */
    uint32_t prefix;     /* key bits fixed by the levels done so far */
    uint32_t thr;        /* the threshold key once the last level is done */
    uint32_t all;        /* 1: no more finite keys than r: keep them all (thr 0) */
    uint32_t pad;
} gcomp_cu_sel_t;

/* Where the top-k selection goes next; set by the pick and decide steps. */
enum {
    GCOMP_CU_MODE_PASS = 0,    /* sampled threshold known: run the fused pass */
    GCOMP_CU_MODE_PREP = 1,    /* exact from the start: fused g' + level-0 histogram */
    GCOMP_CU_MODE_KEEP = 2,    /* the pass's candidates are the result */
    GCOMP_CU_MODE_TRIM = 3,    /* select k among the pass's candidates */
    GCOMP_CU_MODE_EXACT = 4,   /* exact over g' the pass stored */
    GCOMP_CU_MODE_EX_CAND = 5, /* exact: the bin and above were collected; finish on them */
    GCOMP_CU_MODE_EX_FULL = 6, /* exact: the bin is huge; finish over all elements */
    GCOMP_CU_MODE_EX_ALL = 7,  /* exact: no more finite elements than k; keep them all */
};
#define GCOMP_CU_IN(mode) (1u << (mode))

/* Decode failures (bits of ctl.bad). */
enum { GCOMP_CU_BAD_Q8 = 1, GCOMP_CU_BAD_INDEX = 2, GCOMP_CU_BAD_VALUE = 4 };

/* Control block, in device memory; one per context. */
typedef struct gcomp_cu_ctl {
    uint64_t exc_seen;   /* non-finite g' (encode) */
    uint64_t cand_count; /* candidates of the pass or of the collection, including any past capacity */
    uint64_t kept;       /* length of the kept list */
    uint64_t ties_found; /* the tie step's count */
    uint32_t tiles_next; /* the single-pass scans' tile counter (reset before each) */
    uint32_t mode;
    uint32_t or_deltas;  /* all deltas of the kept list or-ed together */
    uint32_t bad;
    uint32_t kept_in_cand;
    uint32_t after_pass;   /* the sampled path's decision + 1 (GCOMP_CU_AFTER_*), 0 if it did not run */
    gcomp_cu_sel_t sel[2]; /* 0: the sample's threshold, 1: the selection of the kept set */
} gcomp_cu_ctl_t;

/* ---- q8 ---------------------------------------------------------------------------------------- */

typedef struct gcomp_cu_q8_encode {
    const void *src;
    int dtype;            /* GCOMP_CU_F32 / F16 / BF16 */
    float *res;           /* NULL: no error feedback. Non-finite g' are left in it for the exception step */
    uint64_t n;
    uint32_t bucket;
    int nearest;
    uint32_t k0, k1;      /* generator key */
    uint64_t base;        /* global index of element 0 */
    uint8_t *scales;      /* ceil(n / bucket) f32 */
    int8_t *q;            /* n */
    gcomp_cu_ctl_t *ctl;  /* exc_seen is added to */
} gcomp_cu_q8_encode_t;

typedef struct gcomp_cu_q8_decode {
    int nframes;          /* 1..GCOMP_CU_MAX_FRAMES, summed in order */
    const uint8_t *scales[GCOMP_CU_MAX_FRAMES];
    const int8_t *q[GCOMP_CU_MAX_FRAMES];
    uint32_t bucket[GCOMP_CU_MAX_FRAMES];
    uint64_t n;
    float *dst;
    int accumulate;       /* 0: the first frame is stored, the others added */
    gcomp_cu_ctl_t *ctl;  /* GCOMP_CU_BAD_Q8 when a value is -128 */
} gcomp_cu_q8_decode_t;

/* ---- none (dense fp32) ------------------------------------------------------------------------ */

typedef struct gcomp_cu_none {
    const void *src;      /* encode: the source (dtype); decode: the payload (f32) */
    int dtype;
    float *res;           /* encode: added, then cleared; NULL without error feedback */
    uint64_t n;
    uint8_t *out;         /* encode: n x f32 */
    float *dst;           /* decode */
    int accumulate;
} gcomp_cu_none_t;

/* ---- exceptions (non-finite g') -------------------------------------------------------------- */

typedef struct gcomp_cu_exc_collect {
    const void *g;        /* where g' is: the residual (fp32) with error feedback, else the source */
    int dtype;
    float *res;           /* zeroed at the non-finite elements; NULL without error feedback */
    uint64_t n;
    uint64_t cap;         /* wire list capacity */
    uint8_t *list;        /* cap entries of { u32 offset, u32 bits }, little-endian, in order */
    gcomp_cu_ctl_t *ctl;  /* runs only when exc_seen > 0 */
    uint64_t *status;     /* tile status, (n + TILE - 1) / TILE entries */
} gcomp_cu_exc_collect_t;

typedef struct gcomp_cu_exc_apply {
    const uint8_t *list;  /* validated entries */
    uint64_t count;
    int overflow;         /* 1: every element becomes (or gets) NaN instead */
    uint64_t n;
    float *dst;
    int accumulate;
    gcomp_cu_ctl_t *ctl;  /* skipped when ctl.bad != 0 */
} gcomp_cu_exc_apply_t;

/* ---- top-k ----------------------------------------------------------------------------------- */

/* What a selection step reads. */
enum {
    GCOMP_CU_SRC_FULL = 0, /* g' of every element: g (dtype), n elements */
    GCOMP_CU_SRC_CAND = 1, /* the candidate list (idx, val), ctl.cand_count elements (capped) */
    GCOMP_CU_SRC_KEYS = 2, /* keys[0, n) of the sample; UINT32_MAX marks a non-finite one */
};

typedef struct gcomp_cu_source {
    int kind;
    const void *g;
    int dtype;
    uint64_t n;           /* FULL, KEYS: count; CAND: capacity */
    const uint32_t *idx;
    const float *val;
    const uint32_t *keys;
} gcomp_cu_source_t;

typedef struct gcomp_cu_topk_sample {
    const void *src;
    int dtype;
    const float *res;     /* may be NULL */
    uint64_t s, stride;
    uint32_t *keys;       /* s keys */
} gcomp_cu_topk_sample_t;

/* The fused g' pass of exact selection: g' into res (if any), non-finite counted, level-0 histogram. */
typedef struct gcomp_cu_topk_prep {
    const void *src;
    int dtype;
    float *res;
    uint64_t n;
    uint32_t *hist;       /* level 0 of sel[1] (zeroed by the caller) */
    gcomp_cu_ctl_t *ctl;
    uint32_t run_if;      /* GCOMP_CU_IN(mode) mask */
} gcomp_cu_topk_prep_t;

typedef struct gcomp_cu_topk_hist {
    gcomp_cu_source_t src;
    int sel;
    int level;
    uint32_t *hist;       /* this level's bins, zeroed by the caller */
    gcomp_cu_ctl_t *ctl;
    uint32_t run_if;
} gcomp_cu_topk_hist_t;

enum { GCOMP_CU_PICK_PLAIN = 0, GCOMP_CU_PICK_SAMPLE = 1, GCOMP_CU_PICK_MAIN = 2 };
typedef struct gcomp_cu_topk_pick {
    int sel;
    int level;
    int flavour;          /* SAMPLE: r from the finite count (level 0); MAIN: choose the mode (level 0) */
    const uint32_t *hist;
    uint64_t k, n, s;     /* SAMPLE: the chunk's k and n, the sample's size */
    uint64_t cand_cap;    /* MAIN: collect candidates when the bin and above fit */
    gcomp_cu_ctl_t *ctl;
    uint32_t run_if;
} gcomp_cu_topk_pick_t;

/* One single-pass, order-keeping compaction. */
enum {
    GCOMP_CU_COMPACT_PASS = 0,    /* fused sampled pass: g' = src + res stored; finite key >= sel[0].thr */
    GCOMP_CU_COMPACT_COLLECT = 1, /* finite key >> 19 >= sel[1].prefix (the level-0 bin and above) */
    GCOMP_CU_COMPACT_TIES = 2,    /* finite key == sel[1].thr: the sel.ties-th one sets sel.cutoff */
    GCOMP_CU_COMPACT_FINAL = 3,   /* finite, key > thr, or == thr with index <= cutoff */
};
typedef struct gcomp_cu_topk_compact {
    int op;
    gcomp_cu_source_t src; /* PASS: FULL over src with res below */
    float *res;            /* PASS: g' stored here (NULL without error feedback) */
    uint32_t *out_idx;
    float *out_val;
    uint64_t cap;
    uint64_t *count;       /* where the total goes (a ctl field) */
    gcomp_cu_ctl_t *ctl;
    uint64_t *status;
    uint32_t run_if;
} gcomp_cu_topk_compact_t;

typedef struct gcomp_cu_topk_decide {
    uint64_t cap, k;
    gcomp_cu_ctl_t *ctl;
} gcomp_cu_topk_decide_t;

enum { GCOMP_CU_VALUES_F32 = 0, GCOMP_CU_VALUES_F16 = 1, GCOMP_CU_VALUES_Q8 = 2 };
typedef struct gcomp_cu_topk_payload {
    const uint32_t *cand_idx, *kept_idx;
    const float *cand_val, *kept_val;
    int kind;
    uint32_t bucket;
    int nearest;
    uint32_t k0, k1;
    uint64_t base;
    float *res;           /* NULL without error feedback */
    uint8_t *payload;     /* bound bytes */
    gcomp_cu_ctl_t *ctl;
} gcomp_cu_topk_payload_t;

typedef struct gcomp_cu_topk_decode {
    const uint8_t *payload; /* device copy of the codec payload, layout checked by the host */
    uint64_t n, k;
    unsigned width;
    int kind;
    uint32_t bucket;
    uint64_t packed_len;  /* bytes of packed deltas, starting at payload + 4 */
    uint64_t values_off;  /* f32/f16 values, or the q8 scales */
    uint64_t q_off;       /* q8 values */
    uint32_t *idx;        /* k indices (work) */
    uint64_t *status;     /* (k + TILE - 1) / TILE */
    float *dst;
    int accumulate;
    gcomp_cu_ctl_t *ctl;  /* bad: INDEX or VALUE; then dst is not touched */
} gcomp_cu_topk_decode_t;

/* ---- counting a sum's non-zeros (the sparse reduce-scatter's choice of frame) -------------------- */

#define GCOMP_CU_NONE_INDEX UINT64_MAX
/* What one part (a contiguous range) of the array holds. */
typedef struct gcomp_cu_count_part {
    uint64_t nnz;       /* finite non-zero values */
    uint64_t nonfinite;
    uint64_t first;     /* index of the first and the last finite non-zero; GCOMP_CU_NONE_INDEX if none */
    uint64_t last;
    uint64_t max_gap;   /* largest i - j - 1 between consecutive finite non-zeros j < i of the part */
} gcomp_cu_count_part_t;

typedef struct gcomp_cu_count {
    const float *src;
    uint64_t n;
    uint64_t per_part;  /* elements of each part but the last */
    uint32_t nparts;
    gcomp_cu_count_part_t *parts;
} gcomp_cu_count_t;

/* fp32 sums back to the user's element type. */
typedef struct gcomp_cu_convert {
    const float *src;
    void *dst;
    int dtype;
    uint64_t n;
} gcomp_cu_convert_t;

/* Every step, once: X(name, argument struct). A step is int step(void *impl, const struct *a), returning
 * 0 or a backend error code (cudaError_t for the GPU); the GPU's are enqueued on the stream given as
 * impl. Kernel files: none.cu, q8.cu, count.cu, exc.cu, topk_select.cu, topk.cu, topk_decode.cu. */
#define GCOMP_CU_STEPS(X)                                                                         \
    X(none_encode, gcomp_cu_none_t)          /* none.cu */                                        \
    X(none_decode, gcomp_cu_none_t)                                                               \
    X(convert, gcomp_cu_convert_t)                                                                \
    X(q8_encode, gcomp_cu_q8_encode_t)       /* q8.cu */                                          \
    X(q8_decode, gcomp_cu_q8_decode_t)                                                            \
    X(count, gcomp_cu_count_t)               /* count.cu */                                       \
    X(exc_collect, gcomp_cu_exc_collect_t)   /* exc.cu */                                         \
    X(exc_apply, gcomp_cu_exc_apply_t)                                                            \
    X(topk_sample, gcomp_cu_topk_sample_t)   /* topk_select.cu */                                 \
    X(topk_prep, gcomp_cu_topk_prep_t)                                                            \
    X(topk_hist, gcomp_cu_topk_hist_t)                                                            \
    X(topk_pick, gcomp_cu_topk_pick_t)                                                            \
    X(topk_compact, gcomp_cu_topk_compact_t)                                                      \
    X(topk_decide, gcomp_cu_topk_decide_t)                                                        \
    X(topk_payload, gcomp_cu_topk_payload_t) /* topk.cu */                                        \
    X(topk_decode, gcomp_cu_topk_decode_t)   /* topk_decode.cu */

typedef struct gcomp_cu_backend {
    const char *name;
    /* memory (device memory for the GPU; host memory for the emulation) */
    int (*alloc)(void *impl, void **p, size_t bytes);
    void (*free)(void *impl, void *p);
    int (*memset)(void *impl, void *p, int value, size_t bytes);
    int (*copy)(void *impl, void *dst, const void *src, size_t bytes); /* any direction */
    int (*sync)(void *impl);
    /* steps */
#define GCOMP_CU_STEP_FIELD(step, args) int (*step)(void *impl, const args *a);
    GCOMP_CU_STEPS(GCOMP_CU_STEP_FIELD)
#undef GCOMP_CU_STEP_FIELD
} gcomp_cu_backend_t;

extern const gcomp_cu_backend_t gcomp_cu_backend_emu;

/* The kernel files' launchers (impl is the cudaStream_t), defined as
 *     extern "C" int GCOMP_CU_LAUNCHER(step)(void *stream, const args *a)
 * so that the SIMT emulator's copies of the same files get names of their own (simt/names.h). */
#ifndef GCOMP_CU_LAUNCHER
#define GCOMP_CU_LAUNCHER(step) gcomp_cu_launch_##step
#endif
#define GCOMP_CU_LAUNCHER_DECL(step, args) int GCOMP_CU_LAUNCHER(step)(void *stream, const args *a);
GCOMP_CU_STEPS(GCOMP_CU_LAUNCHER_DECL)
#undef GCOMP_CU_LAUNCHER_DECL

/* The host emulation of each step (emulate.c, emulate_topk.c); impl is unused. */
#define GCOMP_CU_EMU_DECL(step, args) int gcomp_cu_emu_##step(void *impl, const args *a);
GCOMP_CU_STEPS(GCOMP_CU_EMU_DECL)
#undef GCOMP_CU_EMU_DECL

/* A C backend table's step fields, as designated initialisers: every step's launcher (runtime.c's
 * table) or its emulation (emulate.c's): { ..., GCOMP_CU_STEPS(GCOMP_CU_STEP_INIT_LAUNCH) }. */
#define GCOMP_CU_STEP_INIT_LAUNCH(step, args) .step = GCOMP_CU_LAUNCHER(step),
#define GCOMP_CU_STEP_INIT_EMU(step, args) .step = gcomp_cu_emu_##step,

#ifdef __cplusplus
}
#endif

#endif
