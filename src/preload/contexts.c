#define GCOMP_LOG_SUBSYS GCOMP_SUBSYS_COLL
#include "preload/contexts.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

typedef struct comm_entry {
    MPI_Comm comm;
    gcomp_comm_t *ctx;  /* NULL while being created */
    int size;
    struct comm_entry *next;
} comm_entry_t;

/* Communicators with contexts are few (world, a data-parallel group or two): a list suffices. */
static struct {
    pthread_mutex_t lock;
    pthread_cond_t created;
    comm_entry_t *head;
    gcomp_contexts_totals_t retired; /* counters of dropped contexts */
} contexts = {
    .lock = PTHREAD_MUTEX_INITIALIZER,
    .created = PTHREAD_COND_INITIALIZER,
};

static comm_entry_t **find(MPI_Comm comm)
{
    comm_entry_t **pp = &contexts.head;
    while (*pp != NULL && (*pp)->comm != comm) pp = &(*pp)->next;
    return pp;
}

static void stats_add(gcomp_stats_t *sum, const gcomp_stats_t *s)
{
    sum->calls += s->calls;
    sum->calls_dense += s->calls_dense;
    sum->errors += s->errors;
    sum->bytes_in += s->bytes_in;
    sum->bytes_sent += s->bytes_sent;
    sum->bytes_received += s->bytes_received;
    sum->nonfinite += s->nonfinite;
    sum->time_encode_s += s->time_encode_s;
    sum->time_wire_s += s->time_wire_s;
    sum->time_decode_s += s->time_decode_s;
    sum->time_total_s += s->time_total_s;
}

static void totals_add(gcomp_contexts_totals_t *t, const comm_entry_t *e)
{
    gcomp_stats_t s;
    gcomp_comm_stats(e->ctx, &s);
    stats_add(&t->stats, &s);
    t->dense_bytes += 2.0 * (e->size - 1) / e->size * (double)s.bytes_in;
}

gcomp_status_t gcomp_contexts_get(MPI_Comm comm, gcomp_comm_t **ctx_p)
{
    pthread_mutex_lock(&contexts.lock);
    comm_entry_t **pp = find(comm);
    /* Another thread creating a context on the same communicator is making a concurrent collective
     * call on it, which MPI forbids; waiting is still better than creating two. */
    while (*pp != NULL && (*pp)->ctx == NULL) {
        pthread_cond_wait(&contexts.created, &contexts.lock);
        pp = find(comm);
    }
    if (*pp != NULL) {
        *ctx_p = (*pp)->ctx;
        pthread_mutex_unlock(&contexts.lock);
        return GCOMP_OK;
    }
    comm_entry_t *e = calloc(1, sizeof(*e));
    if (e == NULL) {
        pthread_mutex_unlock(&contexts.lock);
        gcomp_warn("out of memory for a communicator entry");
        return GCOMP_ERR_NOMEM;
    }
    e->comm = comm;
    e->next = contexts.head;
    contexts.head = e;
    pthread_mutex_unlock(&contexts.lock);

    /* Collective: other threads may meanwhile need the lock for their own communicators. */
    gcomp_comm_t *ctx = NULL;
    gcomp_status_t st = gcomp_comm_create(comm, &ctx);
    int size = 0;
    if (st == GCOMP_OK && PMPI_Comm_size(comm, &size) != MPI_SUCCESS) size = 2;

    pthread_mutex_lock(&contexts.lock);
    pp = find(comm);
    if (st == GCOMP_OK) {
        e->ctx = ctx;
        e->size = size;
        contexts.retired.contexts++;
    } else {
        *pp = e->next;
        free(e);
    }
    pthread_cond_broadcast(&contexts.created);
    pthread_mutex_unlock(&contexts.lock);
    if (st != GCOMP_OK) return st;
    gcomp_info("context created for communicator of %d ranks", size);
    *ctx_p = ctx;
    return GCOMP_OK;
}

void gcomp_contexts_drop(MPI_Comm comm)
{
    pthread_mutex_lock(&contexts.lock);
    comm_entry_t **pp = find(comm);
    comm_entry_t *e = *pp;
    if (e == NULL || e->ctx == NULL) {
        /* No context, or one being created: freeing a communicator during a call on it is the
         * user's error, and the creating thread still owns the entry. */
        pthread_mutex_unlock(&contexts.lock);
        return;
    }
    *pp = e->next;
    totals_add(&contexts.retired, e);
    pthread_mutex_unlock(&contexts.lock);
    gcomp_comm_destroy(e->ctx);
    free(e);
}

void gcomp_contexts_drop_all(void)
{
    pthread_mutex_lock(&contexts.lock);
    comm_entry_t *list = NULL;
    for (comm_entry_t **pp = &contexts.head; *pp != NULL;) {
        comm_entry_t *e = *pp;
        if (e->ctx == NULL) {
            pp = &e->next;
            continue;
        }
        *pp = e->next;
        totals_add(&contexts.retired, e);
        e->next = list;
        list = e;
    }
    pthread_mutex_unlock(&contexts.lock);
    while (list != NULL) {
        comm_entry_t *e = list;
        list = e->next;
        gcomp_comm_destroy(e->ctx);
        free(e);
    }
}

void gcomp_contexts_totals(gcomp_contexts_totals_t *totals_p)
{
    pthread_mutex_lock(&contexts.lock);
    gcomp_contexts_totals_t t = contexts.retired;
    for (const comm_entry_t *e = contexts.head; e != NULL; e = e->next) {
        if (e->ctx != NULL) totals_add(&t, e);
    }
    pthread_mutex_unlock(&contexts.lock);
    *totals_p = t;
}
