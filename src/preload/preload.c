/*
 * libgcomp_preload.so: the PMPI interposer. `LD_PRELOAD=libgcomp_preload.so mpiexec ... ./trainer`
 * turns the trainer's MPI_Allreduce(MPI_SUM) calls on large float buffers into gcomp's compressed
 * all-reduce with error feedback; every other call goes to PMPI_Allreduce untouched.
 *
 * The only symbols this library exports are the MPI_ wrappers below (see exports.map).
 */
#define GCOMP_LOG_SUBSYS GCOMP_SUBSYS_INIT
#include <pthread.h>

#include "gcomp.h"
#include "coll/coll.h"
#include "core/config.h"
#include "codec/codec_vars.h"
#include "preload/preload_vars.h"
#include "core/log.h"
#include "preload/contexts.h"
#include "preload/errors.h"
#include "preload/policy.h"
#include "preload/registry.h"
#include "preload/stats.h"

#define GCOMP_WRAPPER __attribute__((visibility("default")))

/* Set while gcomp works on this thread: the MPI calls it makes go straight to PMPI. */
static _Thread_local int in_gcomp;

static pthread_once_t setup_once = PTHREAD_ONCE_INIT;
static int setup_invalid; /* invalid variables: the configuration's and the policy's */

static void setup(void)
{
    const gcomp_preload_config_t *cfg = gcomp_preload_config();
    const gcomp_codec_config_t *codec = gcomp_codec_config();
    int rank;
    if (PMPI_Comm_rank(MPI_COMM_WORLD, &rank) == MPI_SUCCESS) gcomp_log_set_rank(rank);
    setup_invalid = gcomp_core_config()->n_errors + gcomp_policy_setup();
    if (gcomp_policy_enabled())
        gcomp_info("interposer active: codec %s, GCOMP_MIN_BYTES=%zu, GCOMP_EF=%d, GCOMP_EF_MAX_BYTES=%zu%s%s",
                   gcomp_codec_name((gcomp_codec_t)codec->codec), cfg->min_bytes, codec->ef, cfg->ef_max_bytes,
                   cfg->exclude[0] ? ", GCOMP_EXCLUDE=" : "", cfg->exclude);
    else
        gcomp_info("interposer loaded with compression off: every MPI_Allreduce goes to PMPI_Allreduce");
}

/* After PMPI_Init*: read the configuration; with GCOMP_STRICT=1, an invalid one fails MPI_Init. */
static int start(void)
{
    pthread_once(&setup_once, setup);
    if (setup_invalid == 0 || !gcomp_core_config()->strict) return MPI_SUCCESS;
    gcomp_error("GCOMP_STRICT=1 and %d GCOMP_ variable%s above %s not valid: MPI_Init fails", setup_invalid,
                setup_invalid > 1 ? "s" : "", setup_invalid > 1 ? "are" : "is");
    return gcomp_preload_raise(MPI_COMM_WORLD, GCOMP_ERR_CONFIG);
}

GCOMP_WRAPPER int MPI_Init(int *argc, char ***argv)
{
    int rc = PMPI_Init(argc, argv);
    if (rc != MPI_SUCCESS || in_gcomp) return rc;
    return start();
}

GCOMP_WRAPPER int MPI_Init_thread(int *argc, char ***argv, int required, int *provided)
{
    int rc = PMPI_Init_thread(argc, argv, required, provided);
    if (rc != MPI_SUCCESS || in_gcomp) return rc;
    return start();
}

GCOMP_WRAPPER int MPI_Finalize(void)
{
    if (in_gcomp) return PMPI_Finalize();
    in_gcomp = 1;
    if (gcomp_preload_config()->stats) gcomp_preload_stats_report();
    gcomp_registry_drop_all();
    gcomp_contexts_drop_all();
    gcomp_policy_fini();
    in_gcomp = 0;
    return PMPI_Finalize();
}

/* The user is about to free comm: its residuals and context go first (handles are reused). */
static void forget(MPI_Comm comm)
{
    if (comm == MPI_COMM_NULL) return;
    in_gcomp = 1;
    gcomp_registry_drop_comm(comm);
    gcomp_contexts_drop(comm);
    in_gcomp = 0;
}

GCOMP_WRAPPER int MPI_Comm_free(MPI_Comm *comm)
{
    if (!in_gcomp && comm != NULL) forget(*comm);
    return PMPI_Comm_free(comm);
}

GCOMP_WRAPPER int MPI_Comm_disconnect(MPI_Comm *comm)
{
    if (!in_gcomp && comm != NULL) forget(*comm);
    return PMPI_Comm_disconnect(comm);
}

static int compressed_allreduce(const void *sendbuf, void *recvbuf, size_t count, MPI_Datatype datatype,
                                MPI_Op op, MPI_Comm comm)
{
    pthread_once(&setup_once, setup);
    in_gcomp = 1;
    gcomp_comm_t *ctx;
    gcomp_status_t st = gcomp_contexts_get(comm, &ctx);
    if (st == GCOMP_OK) {
        gcomp_ef_entry_t *ef;
        gcomp_residual_t *residual;
        gcomp_registry_acquire(comm, recvbuf, count, datatype, gcomp_allreduce_residual_bytes(ctx, count, NULL),
                               &ef, &residual);
        st = gcomp_allreduce(ctx, sendbuf, recvbuf, count, datatype, op, residual, NULL);
        gcomp_registry_release(ef);
    }
    in_gcomp = 0;
    /* Outside the guard: the user's error handler may itself call MPI. */
    return st == GCOMP_OK ? MPI_SUCCESS : gcomp_preload_raise(comm, st);
}

GCOMP_WRAPPER int MPI_Allreduce(const void *sendbuf, void *recvbuf, int count, MPI_Datatype datatype, MPI_Op op,
                                MPI_Comm comm)
{
    size_t bytes;
    if (in_gcomp) return PMPI_Allreduce(sendbuf, recvbuf, count, datatype, op, comm);
    if (count < 0 ||
        !gcomp_policy_wants(__builtin_return_address(0), (size_t)count, datatype, op, comm, &bytes) ||
        !gcomp_coll_device_ok(sendbuf, recvbuf, 1 /* the policy took float and half types only */)) {
        gcomp_preload_count_passthrough();
        return PMPI_Allreduce(sendbuf, recvbuf, count, datatype, op, comm);
    }
    return compressed_allreduce(sendbuf, recvbuf, (size_t)count, datatype, op, comm);
}

#if MPI_VERSION >= 4
GCOMP_WRAPPER int MPI_Allreduce_c(const void *sendbuf, void *recvbuf, MPI_Count count, MPI_Datatype datatype,
                                  MPI_Op op, MPI_Comm comm)
{
    size_t bytes;
    if (in_gcomp) return PMPI_Allreduce_c(sendbuf, recvbuf, count, datatype, op, comm);
    if (count < 0 || (unsigned long long)count > SIZE_MAX ||
        !gcomp_policy_wants(__builtin_return_address(0), (size_t)count, datatype, op, comm, &bytes) ||
        !gcomp_coll_device_ok(sendbuf, recvbuf, 1 /* the policy took float and half types only */)) {
        gcomp_preload_count_passthrough();
        return PMPI_Allreduce_c(sendbuf, recvbuf, count, datatype, op, comm);
    }
    return compressed_allreduce(sendbuf, recvbuf, (size_t)count, datatype, op, comm);
}
#endif
