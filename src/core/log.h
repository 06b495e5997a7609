/*
 * Logging. Each source file names its subsystem before including this header:
 *     #define GCOMP_LOG_SUBSYS GCOMP_SUBSYS_CODEC
 * Levels: GCOMP_DEBUG=error|warn|info|trace (default warn); GCOMP_DEBUG_SUBSYS=init,codec,coll,net,cuda
 * filters info and trace. Errors are always printed; trace compiles out of release builds (NDEBUG).
 */
#ifndef GCOMP_CORE_LOG_H
#define GCOMP_CORE_LOG_H

#include <stdatomic.h>

#include "core/compiler.h"

typedef enum {
    GCOMP_LOG_ERROR = 0,
    GCOMP_LOG_WARN = 1,
    GCOMP_LOG_INFO = 2,
    GCOMP_LOG_TRACE = 3
} gcomp_log_level_t;

typedef enum {
    GCOMP_SUBSYS_INIT = 1u << 0,
    GCOMP_SUBSYS_CODEC = 1u << 1,
    GCOMP_SUBSYS_COLL = 1u << 2,
    GCOMP_SUBSYS_NET = 1u << 3,
    GCOMP_SUBSYS_CUDA = 1u << 4,
    GCOMP_SUBSYS_ALL = 0x1fu
} gcomp_subsys_t;

#ifndef GCOMP_LOG_SUBSYS
#define GCOMP_LOG_SUBSYS GCOMP_SUBSYS_INIT
#endif

GCOMP_INTERNAL int gcomp_log_enabled(gcomp_log_level_t level, unsigned subsys);
GCOMP_INTERNAL void gcomp_log_emit(gcomp_log_level_t level, unsigned subsys, const char *file, int line,
                                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* The rank printed in each line; -1 (the default) prints none. */
GCOMP_INTERNAL void gcomp_log_set_rank(int rank);

#define gcomp_log_(level, ...)                                                                    \
    do {                                                                                          \
        if (gcomp_log_enabled((level), GCOMP_LOG_SUBSYS))                                         \
            gcomp_log_emit((level), GCOMP_LOG_SUBSYS, __FILE__, __LINE__, __VA_ARGS__);           \
    } while (0)

/* Log at most once per process from this line, whichever threads get here (the flag is atomic). */
#define gcomp_log_once_(level, ...)                                                               \
    do {                                                                                          \
        static atomic_flag once_ = ATOMIC_FLAG_INIT;                                              \
        if (!atomic_flag_test_and_set_explicit(&once_, memory_order_relaxed))                     \
            gcomp_log_((level), __VA_ARGS__);                                                     \
    } while (0)

#define gcomp_error(...) gcomp_log_(GCOMP_LOG_ERROR, __VA_ARGS__)
#define gcomp_warn(...) gcomp_log_(GCOMP_LOG_WARN, __VA_ARGS__)
#define gcomp_info(...) gcomp_log_(GCOMP_LOG_INFO, __VA_ARGS__)
#define gcomp_warn_once(...) gcomp_log_once_(GCOMP_LOG_WARN, __VA_ARGS__)
#define gcomp_info_once(...) gcomp_log_once_(GCOMP_LOG_INFO, __VA_ARGS__)
#ifdef NDEBUG
#define gcomp_trace(...) ((void)0)
#else
#define gcomp_trace(...) gcomp_log_(GCOMP_LOG_TRACE, __VA_ARGS__)
#endif

/* Return-on-error helpers (NCCL checks.h). */
#define GCOMP_CHECK(call)                                                                         \
    do {                                                                                          \
        gcomp_status_t st_ = (call);                                                              \
        if (GCOMP_UNLIKELY(st_ != GCOMP_OK)) return st_;                                          \
    } while (0)

#define GCOMP_CHECK_GOTO(call, st, label)                                                         \
    do {                                                                                          \
        (st) = (call);                                                                            \
        if (GCOMP_UNLIKELY((st) != GCOMP_OK)) goto label;                                         \
    } while (0)

#endif
