#define GCOMP_LOG_SUBSYS GCOMP_SUBSYS_COLL
#include "preload/registry.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/log.h"
#include "codec/codec_vars.h"
#include "preload/preload_vars.h"

struct gcomp_ef_entry {
    MPI_Comm comm;
    void *buf;
    size_t count;
    MPI_Datatype datatype;
    gcomp_residual_t *residual; /* NULL: this buffer's residual alone would not fit under the cap */
    size_t bytes;               /* this entry plus what its residual held after its last call */
    int in_use;
    int dropped;                /* removed while in use: gcomp_registry_release() frees it */
    gcomp_ef_entry_t *hnext;    /* hash chain */
    gcomp_ef_entry_t *older, *newer; /* recency list */
};

static struct {
    pthread_mutex_t lock;
    gcomp_ef_entry_t **buckets;
    size_t n_buckets; /* a power of two, or 0 before the first entry */
    gcomp_ef_entry_t *oldest, *newest;
    gcomp_registry_stats_t stats;
} reg = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
};

/* A communicator handle as a number, for hashing and for log lines (an int in MPICH, a pointer in
 * Open MPI). */
static unsigned long long comm_bits(MPI_Comm comm)
{
    unsigned long long v = 0;
    memcpy(&v, &comm, sizeof(comm) < sizeof(v) ? sizeof(comm) : sizeof(v));
    return v;
}

static size_t slot(MPI_Comm comm, const void *buf, size_t n_buckets)
{
    uint64_t h = (uint64_t)(uintptr_t)buf ^ (comm_bits(comm) * 0x9e3779b97f4a7c15ull);
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 32;
    return (size_t)h & (n_buckets - 1);
}

static gcomp_ef_entry_t **lookup(MPI_Comm comm, const void *buf)
{
    gcomp_ef_entry_t **pp = &reg.buckets[slot(comm, buf, reg.n_buckets)];
    while (*pp != NULL && ((*pp)->comm != comm || (*pp)->buf != buf)) pp = &(*pp)->hnext;
    return pp;
}

static int grow_table(void)
{
    size_t n = reg.n_buckets ? 2 * reg.n_buckets : 64;
    gcomp_ef_entry_t **b = calloc(n, sizeof(*b));
    if (b == NULL) return -1;
    for (size_t i = 0; i < reg.n_buckets; i++) {
        while (reg.buckets[i] != NULL) {
            gcomp_ef_entry_t *e = reg.buckets[i];
            reg.buckets[i] = e->hnext;
            size_t s = slot(e->comm, e->buf, n);
            e->hnext = b[s];
            b[s] = e;
        }
    }
    free(reg.buckets);
    reg.buckets = b;
    reg.n_buckets = n;
    return 0;
}

static void list_unlink(gcomp_ef_entry_t *e)
{
    if (e->older) e->older->newer = e->newer;
    else reg.oldest = e->newer;
    if (e->newer) e->newer->older = e->older;
    else reg.newest = e->older;
    e->older = e->newer = NULL;
}

static void list_push_newest(gcomp_ef_entry_t *e)
{
    e->older = reg.newest;
    e->newer = NULL;
    if (reg.newest) reg.newest->newer = e;
    else reg.oldest = e;
    reg.newest = e;
}

/* Take e out of the table, the list and the byte count (the caller frees it). */
static void detach(gcomp_ef_entry_t *e)
{
    gcomp_ef_entry_t **pp = lookup(e->comm, e->buf);
    if (*pp == e) *pp = e->hnext;
    list_unlink(e);
    reg.stats.entries--;
    reg.stats.bytes -= e->bytes;
}

static void entry_free(gcomp_ef_entry_t *e)
{
    gcomp_residual_destroy(e->residual);
    free(e);
}

/*
 * Evict the least recently used entries not in use until at most limit bytes are held. Entries
 * count too (ENTRY_BYTES each), so a program that all-reduces into ever new addresses cannot grow
 * the registry past the cap with entries that hold no residual.
 */
#define ENTRY_BYTES sizeof(gcomp_ef_entry_t)

static void evict_to(size_t limit, size_t cap)
{
    gcomp_ef_entry_t *e = reg.oldest;
    while (reg.stats.bytes > limit && e != NULL) {
        gcomp_ef_entry_t *next = e->newer;
        if (!e->in_use) {
            if (e->residual != NULL) {
                gcomp_info("evicted the residual of buffer %p (count %zu, %zu bytes, comm 0x%llx): "
                           "GCOMP_EF_MAX_BYTES=%zu reached", e->buf, e->count, e->bytes, comm_bits(e->comm), cap);
                reg.stats.evictions++;
            }
            detach(e);
            entry_free(e);
        }
        e = next;
    }
}

void gcomp_registry_acquire(MPI_Comm comm, void *buf, size_t count, MPI_Datatype datatype, size_t residual_bytes,
                            gcomp_ef_entry_t **entry_p, gcomp_residual_t **residual_p)
{
    *entry_p = NULL;
    *residual_p = NULL;
    if (!gcomp_codec_config()->ef) return;
    size_t cap = gcomp_preload_config()->ef_max_bytes;
    size_t need = residual_bytes > SIZE_MAX - ENTRY_BYTES ? SIZE_MAX : residual_bytes + ENTRY_BYTES;
    int fits = need <= cap;

    pthread_mutex_lock(&reg.lock);
    if (reg.stats.entries >= reg.n_buckets && grow_table() != 0 && reg.n_buckets == 0) {
        pthread_mutex_unlock(&reg.lock);
        gcomp_warn("out of memory for the residual registry: no error feedback for this call");
        return;
    }
    gcomp_ef_entry_t *e = *lookup(comm, buf);
    if (e != NULL && e->in_use) {
        /* Two calls at once on one buffer and communicator: erroneous in MPI; give the second none. */
        pthread_mutex_unlock(&reg.lock);
        return;
    }
    if (e == NULL) {
        e = calloc(1, sizeof(*e));
        if (e == NULL) goto err_nomem;
        e->comm = comm;
        e->buf = buf;
        e->count = count;
        e->datatype = datatype;
        gcomp_ef_entry_t **pp = lookup(comm, buf);
        e->hnext = *pp;
        *pp = e;
        list_push_newest(e);
        reg.stats.entries++;
        e->bytes = ENTRY_BYTES;
        reg.stats.bytes += ENTRY_BYTES;
        if (!fits)
            gcomp_info("no error feedback for buffer %p: its residual (%zu bytes) would not fit under "
                       "GCOMP_EF_MAX_BYTES=%zu", buf, need, cap);
    } else if (e->count != count || e->datatype != datatype) {
        gcomp_info("residual of buffer %p reset: count %zu -> %zu%s", buf, e->count, count,
                   e->datatype != datatype ? ", datatype changed" : "");
        if (e->residual != NULL) {
            reg.stats.resets++;
            if (fits) {
                gcomp_residual_reset(e->residual);
            } else {
                gcomp_residual_destroy(e->residual);
                e->residual = NULL;
                reg.stats.bytes -= e->bytes - ENTRY_BYTES;
                e->bytes = ENTRY_BYTES;
            }
        }
        e->count = count;
        e->datatype = datatype;
    }
    list_unlink(e);
    list_push_newest(e);
    e->in_use = 1;
    if (fits) {
        /* Make room before the call for what the residual will hold after it (need, entry
         * included), so the cap also bounds the peak. */
        size_t others = reg.stats.bytes - e->bytes;
        if (others + need > cap) evict_to(cap - need + e->bytes, cap);
        /* What may still be over the cap is in use by calls running on other threads. This call
         * keeps its residual anyway: whether a call has error feedback must not depend on thread
         * timing, which differs between ranks (they would disagree on the call). */
        /* Reserve it: a call running at the same time on another buffer sees it as taken. */
        if (need > e->bytes) {
            reg.stats.bytes += need - e->bytes;
            e->bytes = need;
            if (reg.stats.bytes > reg.stats.peak_bytes) reg.stats.peak_bytes = reg.stats.bytes;
        }
        if (e->residual == NULL && gcomp_residual_create(&e->residual) != GCOMP_OK) {
            e->residual = NULL;
            e->in_use = 0;
            pthread_mutex_unlock(&reg.lock);
            gcomp_warn("out of memory for a residual: no error feedback for this call");
            return;
        }
    } else if (reg.stats.bytes > cap) {
        evict_to(cap, cap); /* this entry alone: the others' entries must not pile up either */
    }
    *entry_p = e;
    *residual_p = e->residual;
    pthread_mutex_unlock(&reg.lock);
    return;

err_nomem:
    pthread_mutex_unlock(&reg.lock);
    gcomp_warn("out of memory for the residual registry: no error feedback for this call");
}

void gcomp_registry_release(gcomp_ef_entry_t *e)
{
    if (e == NULL) return;
    pthread_mutex_lock(&reg.lock);
    if (e->dropped) {
        pthread_mutex_unlock(&reg.lock);
        entry_free(e);
        return;
    }
    size_t bytes = ENTRY_BYTES + (e->residual ? gcomp_residual_bytes(e->residual) : 0);
    reg.stats.bytes = reg.stats.bytes - e->bytes + bytes;
    e->bytes = bytes;
    e->in_use = 0;
    if (reg.stats.bytes > reg.stats.peak_bytes) reg.stats.peak_bytes = reg.stats.bytes;
    size_t cap = gcomp_preload_config()->ef_max_bytes;
    if (reg.stats.bytes > cap) evict_to(cap, cap);
    pthread_mutex_unlock(&reg.lock);
}

/* Remove the entries that match (all when all is set); in-use ones are freed by their release. */
static void drop(MPI_Comm comm, int all)
{
    pthread_mutex_lock(&reg.lock);
    for (gcomp_ef_entry_t *e = reg.oldest, *next; e != NULL; e = next) {
        next = e->newer;
        if (!all && e->comm != comm) continue;
        detach(e);
        if (e->in_use) e->dropped = 1;
        else entry_free(e);
    }
    if (all) {
        free(reg.buckets);
        reg.buckets = NULL;
        reg.n_buckets = 0;
    }
    pthread_mutex_unlock(&reg.lock);
}

void gcomp_registry_drop_comm(MPI_Comm comm)
{
    drop(comm, 0);
}

void gcomp_registry_drop_all(void)
{
    drop(MPI_COMM_NULL, 1);
}

void gcomp_registry_stats(gcomp_registry_stats_t *stats_p)
{
    pthread_mutex_lock(&reg.lock);
    *stats_p = reg.stats;
    pthread_mutex_unlock(&reg.lock);
}
