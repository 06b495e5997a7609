#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/config.h"

static int log_rank = -1;

void gcomp_log_set_rank(int rank)
{
    log_rank = rank;
}

int gcomp_log_enabled(gcomp_log_level_t level, unsigned subsys)
{
    if (level == GCOMP_LOG_ERROR) return 1;
    const gcomp_core_config_t *cfg = gcomp_core_config();
    if (level == GCOMP_LOG_WARN) return cfg->debug_level >= GCOMP_LOG_WARN;
    return (int)level <= cfg->debug_level && (cfg->debug_subsys & subsys) != 0;
}

static const char *subsys_name(unsigned subsys)
{
    for (int b = 0; gcomp_subsys_names[b] != NULL; b++)
        if (subsys == 1u << b) return gcomp_subsys_names[b];
    return "?";
}

void gcomp_log_emit(gcomp_log_level_t level, unsigned subsys, const char *file, int line,
                    const char *fmt, ...)
{
    static const char *level_names[] = {"ERROR", "WARN", "INFO", "TRACE"};
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    char who[32] = "";
    if (log_rank >= 0) snprintf(who, sizeof(who), " rank %d", log_rank);
    /* One fprintf per line so that lines from concurrent threads do not interleave. */
    fprintf(stderr, "gcomp[%d%s] %s %s: %s (%s:%d)\n", (int)getpid(), who, level_names[level],
            subsys_name(subsys), msg, base, line);
}
