#define GCOMP_LOG_SUBSYS GCOMP_SUBSYS_INIT
#include "preload/policy.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "codec/codec_vars.h"
#include "core/config.h"
#include "preload/preload_vars.h"

/* One item of GCOMP_EXCLUDE: call sites lo..hi or byte sizes lo..hi, both inclusive. */
typedef struct exclude_range {
    int bytes;
    uint64_t lo, hi;
} exclude_range_t;

typedef struct call_site {
    const void *addr;
    unsigned number;
    int excluded;
} call_site_t;

static struct {
    pthread_once_t once;
    int setup_errors;
    atomic_int enabled;
    size_t min_bytes;
    exclude_range_t *exclude;
    size_t n_exclude;
    /* Call sites in order of first appearance; few in any real program, so a linear search. */
    pthread_mutex_t sites_lock;
    call_site_t *sites;
    size_t n_sites, cap_sites;
} policy = {
    .once = PTHREAD_ONCE_INIT,
    .sites_lock = PTHREAD_MUTEX_INITIALIZER,
};

static int parse_u64(const char *s, int bytes, uint64_t *out)
{
    if (bytes) {
        size_t v;
        if (gcomp_parse_size(s, &v) != 0) return -1;
        *out = v;
        return 0;
    }
    char *end;
    if (*s < '0' || *s > '9') return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end != '\0' || v == 0) return -1;
    *out = v;
    return 0;
}

/* "7", "7-9", "bytes:0-4M", "bytes:64M-" (no upper end), "bytes:1M" (exactly). */
static int parse_item(char *item, exclude_range_t *r)
{
    while (*item == ' ') item++;
    size_t len = strlen(item);
    while (len > 0 && item[len - 1] == ' ') item[--len] = '\0';
    r->bytes = strncmp(item, "bytes:", 6) == 0;
    if (r->bytes) item += 6;
    char *dash = strchr(item, '-');
    if (dash == NULL) {
        if (parse_u64(item, r->bytes, &r->lo) != 0) return -1;
        r->hi = r->lo;
        return 0;
    }
    *dash = '\0';
    const char *lo = item, *hi = dash + 1;
    if (*lo == '\0' && r->bytes) r->lo = 0;
    else if (parse_u64(lo, r->bytes, &r->lo) != 0) return -1;
    if (*hi == '\0') r->hi = UINT64_MAX;
    else if (parse_u64(hi, r->bytes, &r->hi) != 0) return -1;
    return r->lo <= r->hi ? 0 : -1;
}

static int parse_exclude(const char *spec)
{
    size_t n = 1;
    for (const char *p = spec; *p; p++) n += *p == ',';
    char *copy = strdup(spec);
    exclude_range_t *ranges = calloc(n, sizeof(*ranges));
    if (copy == NULL || ranges == NULL) {
        free(copy);
        free(ranges);
        gcomp_warn("out of memory parsing GCOMP_EXCLUDE");
        return -1;
    }
    size_t used = 0;
    int bad = 0;
    for (char *save = NULL, *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char item[128];
        snprintf(item, sizeof(item), "%s", tok);
        if (parse_item(tok, &ranges[used]) != 0) {
            gcomp_warn("GCOMP_EXCLUDE=\"%s\": item \"%s\" is not valid; accepted: call-site numbers from 1 "
                       "(3, 7-9) and byte ranges (bytes:0-4M, bytes:64M-)", spec, item);
            bad = 1;
            continue;
        }
        used++;
    }
    free(copy);
    if (bad) {
        free(ranges);
        return -1;
    }
    policy.exclude = ranges;
    policy.n_exclude = used;
    return 0;
}

static void policy_setup_once(void)
{
    const gcomp_preload_config_t *cfg = gcomp_preload_config();
    const gcomp_core_config_t *core = gcomp_core_config();
    policy.min_bytes = cfg->min_bytes;
    if (cfg->exclude != NULL && cfg->exclude[0] != '\0' && parse_exclude(cfg->exclude) != 0) {
        policy.setup_errors = 1;
        if (!core->strict)
            gcomp_warn("compression is off because GCOMP_EXCLUDE is not valid "
                       "(GCOMP_STRICT=1 makes this an error instead)");
    }
    int on = gcomp_codec_config()->codec != GCOMP_CODEC_NONE && core->n_errors == 0 && policy.setup_errors == 0;
    atomic_store_explicit(&policy.enabled, on, memory_order_release);
}

int gcomp_policy_setup(void)
{
    pthread_once(&policy.once, policy_setup_once);
    return policy.setup_errors;
}

int gcomp_policy_enabled(void)
{
    gcomp_policy_setup();
    return atomic_load_explicit(&policy.enabled, memory_order_acquire);
}

size_t gcomp_policy_float_size(MPI_Datatype datatype)
{
    if (datatype == MPI_FLOAT) return 4;
#ifdef MPIX_C_FLOAT16
    if (datatype == MPIX_C_FLOAT16) return 2;
#endif
#ifdef MPIX_BFLOAT16
    if (datatype == MPIX_BFLOAT16) return 2;
#endif
    return 0;
}

static int excluded(int bytes, uint64_t value)
{
    for (size_t i = 0; i < policy.n_exclude; i++) {
        const exclude_range_t *r = &policy.exclude[i];
        if (r->bytes == bytes && value >= r->lo && value <= r->hi) return 1;
    }
    return 0;
}

static void log_new_site(const call_site_t *s, size_t bytes)
{
    Dl_info dl;
    const char *object = "?", *symbol = NULL;
    uintptr_t offset = (uintptr_t)s->addr;
    if (dladdr(s->addr, &dl) != 0) {
        if (dl.dli_fname) object = dl.dli_fname;
        symbol = dl.dli_sname;
        offset -= (uintptr_t)dl.dli_fbase;
    }
    /* The offset is what addr2line -f -e OBJECT takes, for functions the dynamic table lacks. */
    gcomp_info("MPI_Allreduce call site %u: %s+0x%zx%s%s%s, first call %zu bytes%s", s->number, object,
               (size_t)offset, symbol ? " (in " : "", symbol ? symbol : "", symbol ? ")" : "", bytes,
               s->excluded ? "; excluded by GCOMP_EXCLUDE" : "");
}

/* 1 if GCOMP_EXCLUDE names the site's number; a new site is numbered and logged on first sight. */
static int site_excluded(const void *addr, size_t bytes)
{
    int result = 0;
    call_site_t added;
    int is_new = 0;
    pthread_mutex_lock(&policy.sites_lock);
    size_t i;
    for (i = 0; i < policy.n_sites; i++) {
        if (policy.sites[i].addr == addr) break;
    }
    if (i < policy.n_sites) {
        result = policy.sites[i].excluded;
    } else {
        if (policy.n_sites == policy.cap_sites) {
            size_t cap = policy.cap_sites ? 2 * policy.cap_sites : 16;
            call_site_t *grown = realloc(policy.sites, cap * sizeof(*grown));
            if (grown == NULL) {
                /* Out of memory: the site stays unnumbered and is treated as not excluded. */
                pthread_mutex_unlock(&policy.sites_lock);
                return 0;
            }
            policy.sites = grown;
            policy.cap_sites = cap;
        }
        call_site_t *s = &policy.sites[policy.n_sites];
        s->addr = addr;
        s->number = (unsigned)++policy.n_sites;
        s->excluded = excluded(0, s->number);
        result = s->excluded;
        added = *s;
        is_new = 1;
    }
    pthread_mutex_unlock(&policy.sites_lock);
    if (is_new) log_new_site(&added, bytes);
    return result;
}

int gcomp_policy_wants(const void *site, size_t count, MPI_Datatype datatype, MPI_Op op, MPI_Comm comm,
                       size_t *bytes_p)
{
    if (!gcomp_policy_enabled() || op != MPI_SUM) return 0;
    size_t esize = gcomp_policy_float_size(datatype);
    if (esize == 0 || count > SIZE_MAX / esize) return 0;
    size_t bytes = count * esize;
    if (bytes < policy.min_bytes || bytes == 0 || comm == MPI_COMM_NULL) return 0;
    int inter = 1, size = 0;
    if (PMPI_Comm_test_inter(comm, &inter) != MPI_SUCCESS || inter) return 0;
    if (PMPI_Comm_size(comm, &size) != MPI_SUCCESS || size < 2) return 0;
    if (site_excluded(site, bytes)) return 0;
    if (excluded(1, bytes)) {
        gcomp_trace("MPI_Allreduce of %zu bytes passed through: excluded by GCOMP_EXCLUDE", bytes);
        return 0;
    }
    *bytes_p = bytes;
    return 1;
}

void gcomp_policy_fini(void)
{
    pthread_mutex_lock(&policy.sites_lock);
    free(policy.sites);
    policy.sites = NULL;
    policy.n_sites = policy.cap_sites = 0;
    pthread_mutex_unlock(&policy.sites_lock);
    /* The exclusion list is read without a lock by calls in flight; MPI_Finalize comes after all. */
    free(policy.exclude);
    policy.exclude = NULL;
    policy.n_exclude = 0;
    atomic_store_explicit(&policy.enabled, 0, memory_order_release);
}
