/*
 * Contexts: gcomp's private duplicate of a communicator, the transport over it, the identifier in
 * every frame, counters, and the scratch memory the calls reuse.
 */
#define GCOMP_LOG_SUBSYS GCOMP_SUBSYS_COLL
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coll/coll.h"
#include "core/log.h"
#include "core/rng.h"

/* A fresh identifier: different across contexts of one process and across processes and runs. */
static uint32_t draw_comm_id(void)
{
    static uint64_t counter;
    uint64_t c = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t h = gcomp_splitmix64((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30));
    h = gcomp_splitmix64(h ^ ((uint64_t)getpid() << 20) ^ c);
    return (uint32_t)(h ^ (h >> 32));
}

gcomp_status_t gcomp_comm_create(MPI_Comm comm, gcomp_comm_t **ctx_p)
{
    gcomp_status_t st = GCOMP_OK;
    if (ctx_p == NULL) return GCOMP_ERR_INVALID;
    if (comm == MPI_COMM_NULL) {
        gcomp_warn("gcomp_comm_create: the communicator is MPI_COMM_NULL");
        return GCOMP_ERR_INVALID;
    }
    int inter = 0;
    if (PMPI_Comm_test_inter(comm, &inter) != MPI_SUCCESS) {
        gcomp_warn("gcomp_comm_create: PMPI_Comm_test_inter failed: not a valid communicator?");
        return GCOMP_ERR_MPI;
    }
    if (inter) {
        gcomp_warn("gcomp_comm_create: intercommunicators are not supported; use an intracommunicator "
                   "(e.g. from MPI_Intercomm_merge)");
        return GCOMP_ERR_INVALID;
    }

    gcomp_comm_t *ctx = calloc(1, sizeof(*ctx));
    if (ctx == NULL) return GCOMP_ERR_NOMEM;
    ctx->agree = calloc(1, sizeof(*ctx->agree));
    if (ctx->agree == NULL) {
        st = GCOMP_ERR_NOMEM;
        goto err_free_ctx;
    }
    ctx->agree->req = MPI_REQUEST_NULL;
    ctx->last_algo = GCOMP_ALGO_AUTO;
    ctx->fault_seq = -1;
    ctx->cfg = *gcomp_coll_config();
    gcomp_codec_params_default(&ctx->defaults);

    if (PMPI_Comm_dup(comm, &ctx->comm) != MPI_SUCCESS) {
        gcomp_warn("gcomp_comm_create: PMPI_Comm_dup failed");
        st = GCOMP_ERR_MPI;
        goto err_free_agree;
    }
    /* gcomp turns MPI errors on its own communicator into statuses; the user's handler stays on
     * the user's communicator. */
    if (PMPI_Comm_set_errhandler(ctx->comm, MPI_ERRORS_RETURN) != MPI_SUCCESS ||
        PMPI_Comm_rank(ctx->comm, &ctx->rank) != MPI_SUCCESS ||
        PMPI_Comm_size(ctx->comm, &ctx->size) != MPI_SUCCESS) {
        st = GCOMP_ERR_MPI;
        goto err_free_comm;
    }
    int world_rank;
    if (PMPI_Comm_rank(MPI_COMM_WORLD, &world_rank) == MPI_SUCCESS) gcomp_log_set_rank(world_rank);
    uint32_t id = ctx->rank == 0 ? draw_comm_id() : 0;
    if (PMPI_Bcast(&id, 1, MPI_UINT32_T, 0, ctx->comm) != MPI_SUCCESS) {
        gcomp_warn("gcomp_comm_create: PMPI_Bcast of the communicator id failed");
        st = GCOMP_ERR_MPI;
        goto err_free_comm;
    }
    ctx->comm_id = id;
    gcomp_fault_arm(ctx);

    const gcomp_transport_ops_t *ops = gcomp_transport_select((gcomp_transport_kind_t)gcomp_transport_config()->transport);
    st = ops->connect(ctx->comm, &ctx->tp);
    if (st != GCOMP_OK) {
        gcomp_warn("gcomp_comm_create: the %s transport failed to connect: %s", ops->name,
                   gcomp_status_string(st));
        goto err_free_comm;
    }
    gcomp_info("context 0x%08x: rank %d of %d, transport %s", ctx->comm_id, ctx->rank, ctx->size, ops->name);
    *ctx_p = ctx;
    return GCOMP_OK;

err_free_comm:
    PMPI_Comm_free(&ctx->comm);
err_free_agree:
    free(ctx->agree);
err_free_ctx:
    free(ctx);
    return st;
}

/*
 * Buffers of failed contexts that MPI may still write into (a receive that could not be cancelled,
 * an agreement collective that never completed) are kept for the life of the process. They are
 * linked here rather than dropped, so that they stay reachable: leak checkers (LeakSanitizer,
 * valgrind) report real leaks, not memory kept on purpose.
 */
typedef struct kept_buffers {
    struct kept_buffers *next;
    void *frames;
    gcomp_agree_mem_t *agree;
} kept_buffers_t;

static kept_buffers_t *kept_list;
static pthread_mutex_t kept_lock = PTHREAD_MUTEX_INITIALIZER;

static void keep_buffers(gcomp_comm_t *ctx)
{
    kept_buffers_t *k = malloc(sizeof(*k));
    if (k == NULL) return; /* then they are merely unreachable: still never freed */
    k->frames = ctx->frames.ptr;
    k->agree = ctx->agree;
    pthread_mutex_lock(&kept_lock);
    k->next = kept_list;
    kept_list = k;
    pthread_mutex_unlock(&kept_lock);
}

void gcomp_comm_destroy(gcomp_comm_t *ctx)
{
    if (ctx == NULL) return;
    ctx->tp->ops->close(ctx->tp);
    /* A failed context may have left frames in flight or unreceived. Its communicator is kept, so
     * that MPI cannot hand its context id to a later communicator whose receives would match those
     * frames (MPICH reuses ids once every rank has freed them). Otherwise local in practice: MPI
     * keeps a communicator alive until the requests on it complete. */
    if (ctx->failed == GCOMP_OK) PMPI_Comm_free(&ctx->comm);
    if (!ctx->leak) {
        gcomp_scratch_free(&ctx->frames);
        free(ctx->agree);
    } else {
        keep_buffers(ctx);
    }
    gcomp_scratch_free(&ctx->msgs);
    gcomp_scratch_free(&ctx->work);
    gcomp_scratch_free(&ctx->conv);
    gcomp_scratch_free(&ctx->snap);
    gcomp_scratch_free(&ctx->codec);
    gcomp_spacebuf_free(&ctx->dwork);
    gcomp_spacebuf_free(&ctx->dsnap);
    gcomp_spacebuf_free(&ctx->dconv);
    free(ctx);
}

void gcomp_comm_fail(gcomp_comm_t *ctx, gcomp_status_t st, const char *why)
{
    if (ctx->failed != GCOMP_OK) return;
    ctx->failed = st;
    snprintf(ctx->failed_why, sizeof(ctx->failed_why), "%s", why);
}

void gcomp_comm_stats(const gcomp_comm_t *ctx, gcomp_stats_t *stats_p)
{
    if (stats_p == NULL) return;
    if (ctx == NULL) {
        memset(stats_p, 0, sizeof(*stats_p));
        return;
    }
    *stats_p = ctx->stats;
}

void gcomp_comm_stats_reset(gcomp_comm_t *ctx)
{
    if (ctx != NULL) memset(&ctx->stats, 0, sizeof(ctx->stats));
}
