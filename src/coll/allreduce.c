/*
 * gcomp_allreduce: the way of one call.
 *   1. anything but MPI_SUM on a float type goes to PMPI_Allreduce unchanged;
 *   2. local preparation: parameters, algorithm (cost model), memory, residual transaction, and the
 *      fp32 view of the buffers (fp32 is used in place; double and half types are converted);
 *   3. agreement on the call (agree.c): a disagreement is GCOMP_ERR_MISMATCH on every rank;
 *   4. the algorithm moves the data;
 *   5. agreement on the outcome, then the residual is committed or rolled back and the output
 *      converted back to the buffer's type.
 * A hard error (timeout, MPI failure) in 3-5 abandons the call's requests and fails the context.
 */
#define GCOMP_LOG_SUBSYS GCOMP_SUBSYS_COLL
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "coll/algo.h"
#include "codec/isa.h"
#include "core/log.h"

/* The element types compressed; others pass through. */
static int dtype_of(MPI_Datatype datatype, gcomp_dtype_t *dtype_p, size_t *size_p)
{
    if (datatype == MPI_FLOAT) {
        *dtype_p = GCOMP_DTYPE_FP32, *size_p = 4;
        return 1;
    }
    if (datatype == MPI_DOUBLE) {
        *dtype_p = GCOMP_DTYPE_FP64, *size_p = 8;
        return 1;
    }
#ifdef MPIX_C_FLOAT16
    if (datatype == MPIX_C_FLOAT16) {
        *dtype_p = GCOMP_DTYPE_FP16, *size_p = 2;
        return 1;
    }
#endif
#ifdef MPIX_BFLOAT16
    if (datatype == MPIX_BFLOAT16) {
        *dtype_p = GCOMP_DTYPE_BF16, *size_p = 2;
        return 1;
    }
#endif
    return 0;
}

static gcomp_status_t passthrough(gcomp_comm_t *ctx, const void *sendbuf, void *recvbuf, size_t count,
                                  MPI_Datatype datatype, MPI_Op op)
{
    int rc;
    if (count <= INT_MAX) {
        rc = PMPI_Allreduce(sendbuf, recvbuf, (int)count, datatype, op, ctx->comm);
    } else {
#if MPI_VERSION >= 4
        rc = PMPI_Allreduce_c(sendbuf, recvbuf, (MPI_Count)count, datatype, op, ctx->comm);
#else
        gcomp_warn("count %zu is beyond what PMPI_Allreduce takes with this MPI", count);
        return GCOMP_ERR_UNSUPPORTED;
#endif
    }
    ctx->stats.calls_dense++;
    if (rc != MPI_SUCCESS) {
        gcomp_warn("PMPI_Allreduce of %zu elements failed with MPI error %d", count, rc);
        ctx->stats.errors++;
        return GCOMP_ERR_MPI;
    }
    return GCOMP_OK;
}

/* Step 2 for the algorithm: memory and the level-2 residual's length. */
static gcomp_status_t prepare_algo(gcomp_call_t *call, size_t *l2_len_p)
{
    *l2_len_p = 0;
    const gcomp_algo_ops_t *ops = gcomp_algo_ops_get(call->algo);
    return ops != NULL ? ops->prepare(call, l2_len_p) : GCOMP_ERR_INTERNAL;
}

static gcomp_status_t run_algo(gcomp_call_t *call)
{
    const gcomp_algo_ops_t *ops = gcomp_algo_ops_get(call->algo);
    return ops != NULL ? ops->run(call) : GCOMP_ERR_INTERNAL;
}

/* Local preparation: every failure here is a status the agreement passes to all ranks. */
static gcomp_status_t prepare(gcomp_call_t *call, const void *sendbuf, void *recvbuf, gcomp_residual_t *residual)
{
    gcomp_comm_t *ctx = call->ctx;
    if (call->n > 0 && (recvbuf == NULL || sendbuf == NULL)) {
        gcomp_warn("gcomp_allreduce: NULL buffer for %zu elements", call->n);
        return GCOMP_ERR_INVALID;
    }
    GCOMP_CHECK(gcomp_codec_params_check(&call->params) == GCOMP_OK ? GCOMP_OK : GCOMP_ERR_CONFIG);
    size_t l2_len;
    GCOMP_CHECK(prepare_algo(call, &l2_len));
    const void *in = sendbuf == MPI_IN_PLACE ? recvbuf : sendbuf;
    if (call->dtype == GCOMP_DTYPE_FP32) {
        call->src = in;
        call->dst = recvbuf;
    } else {
        /* One fp32 buffer serves as input and output: each region is encoded before it is written. */
        GCOMP_CHECK(gcomp_coll_widen(call, in));
    }
    if (residual != NULL && call->params.error_feedback) {
        gcomp_residual_key_t key = {
            .count = call->n,
            .size = ctx->size,
            .rank = ctx->rank,
            .algo = call->algo,
            .space_id = call->space.id,
            .stage_elems = call->stage_elems,
        };
        GCOMP_CHECK(gcomp_residual_begin(ctx, residual, &key, &call->space, l2_len, &call->txn));
    }
    return GCOMP_OK;
}

/* A hard error: give up the call's requests and fail the context. */
static gcomp_status_t fail_hard(gcomp_call_t *call, gcomp_status_t st, const char *where)
{
    char why[160];
    gcomp_msgs_abandon(call);
    gcomp_residual_rollback(&call->txn);
    snprintf(why, sizeof(why), "call %llu failed in %s: %s", (unsigned long long)call->seq, where,
             gcomp_status_string(st));
    gcomp_comm_fail(call->ctx, st, why);
    return st;
}

static void account(gcomp_call_t *call, double t0, size_t elem_size, gcomp_status_t st)
{
    gcomp_stats_t *s = &call->ctx->stats;
    double total = gcomp_now_s() - t0;
    s->calls++;
    s->errors += st != GCOMP_OK;
    s->bytes_in += call->n * elem_size;
    s->bytes_sent += call->sent;
    s->bytes_received += call->received;
    s->nonfinite += call->nonfinite;
    /* The residual's snapshot for undo is part of what error feedback costs the encoder. */
    double encode = call->t_encode + call->txn.t_save;
    s->time_encode_s += encode;
    s->time_decode_s += call->t_decode;
    s->time_total_s += total;
    double wire = total - encode - call->t_decode;
    s->time_wire_s += wire > 0 ? wire : 0;
}

gcomp_status_t gcomp_allreduce_algo(gcomp_comm_t *ctx, const void *sendbuf, void *recvbuf, size_t count,
                                    MPI_Datatype datatype, MPI_Op op, gcomp_residual_t *residual,
                                    const gcomp_codec_params_t *params, gcomp_algo_t algo)
{
    if (ctx == NULL) return GCOMP_ERR_INVALID;
    if (ctx->failed != GCOMP_OK) {
        gcomp_warn("context 0x%08x failed earlier (%s): create a new one", ctx->comm_id, ctx->failed_why);
        ctx->stats.errors++;
        return ctx->failed;
    }
    gcomp_dtype_t dtype;
    size_t elem_size;
    if (op != MPI_SUM || !dtype_of(datatype, &dtype, &elem_size))
        return passthrough(ctx, sendbuf, recvbuf, count, datatype, op);

    double t0 = gcomp_now_s();
    gcomp_call_t call;
    memset(&call, 0, sizeof(call));
    call.ctx = ctx;
    if (params != NULL) call.params = *params;
    else call.params = ctx->defaults;
    call.params.error_feedback = call.params.error_feedback && residual != NULL;
    call.isa = gcomp_isa_active();
    call.dtype = dtype;
    call.n = count;
    call.seq = ctx->seq++;
    call.stage_elems = gcomp_coll_stage_elems(ctx->cfg.pipeline_bytes, count);
    call.depth = ctx->cfg.pipeline_depth;
    /* Device buffers are never touched from the host: an unsupported case is this rank's error. */
    gcomp_status_t local = gcomp_coll_space_attach(&call, sendbuf, recvbuf);
    call.algo = gcomp_algo_choose(&call.params, count, ctx->size, call.stage_elems, algo);
    ctx->last_algo = call.algo;

    if (local == GCOMP_OK) local = prepare(&call, sendbuf, recvbuf, residual);
    gcomp_status_t agreed, st = gcomp_coll_agree_call(&call, local, &agreed);
    if (st != GCOMP_OK) {
        st = fail_hard(&call, st, "the call agreement");
        goto out;
    }
    if (agreed != GCOMP_OK || count == 0) {
        gcomp_residual_rollback(&call.txn);
        st = agreed;
        goto out;
    }
    gcomp_trace("call %llu: %zu elements, codec %s, algorithm %s, %zu per stage", (unsigned long long)call.seq,
                count, gcomp_codec_name(call.params.codec), gcomp_algo_name(call.algo), call.stage_elems);

    if (GCOMP_UNLIKELY(gcomp_fault_vanish(&call))) {
        st = fail_hard(&call, GCOMP_ERR_INTERNAL, "fault injection (vanished after the call agreement)");
        goto out;
    }
    call.deadline = gcomp_now_s() + ctx->cfg.timeout_s;
    st = run_algo(&call);
    if (st != GCOMP_OK) {
        st = fail_hard(&call, st, "the data exchange");
        goto out;
    }
    st = gcomp_coll_agree_status(&call, &agreed);
    if (st != GCOMP_OK) {
        st = fail_hard(&call, st, "the status agreement");
        goto out;
    }
    st = agreed;
    if (st == GCOMP_OK) {
        gcomp_residual_commit(&call.txn);
        if (dtype != GCOMP_DTYPE_FP32) st = gcomp_coll_narrow(&call, recvbuf);
    } else {
        gcomp_residual_rollback(&call.txn);
    }
out:
    account(&call, t0, elem_size, st);
    return st;
}

gcomp_status_t gcomp_allreduce(gcomp_comm_t *ctx, const void *sendbuf, void *recvbuf, size_t count,
                               MPI_Datatype datatype, MPI_Op op, gcomp_residual_t *residual,
                               const gcomp_codec_params_t *params)
{
    return gcomp_allreduce_algo(ctx, sendbuf, recvbuf, count, datatype, op, residual, params,
                                (gcomp_algo_t)ctx->cfg.algo);
}

size_t gcomp_allreduce_residual_bytes(gcomp_comm_t *ctx, size_t count, const gcomp_codec_params_t *params)
{
    gcomp_call_t call;
    memset(&call, 0, sizeof(call));
    call.ctx = ctx;
    if (params != NULL) call.params = *params;
    else call.params = ctx->defaults;
    call.params.error_feedback = 1;
    call.n = count;
    call.stage_elems = gcomp_coll_stage_elems(ctx->cfg.pipeline_bytes, count);
    call.algo = gcomp_algo_choose(&call.params, count, ctx->size, call.stage_elems, (gcomp_algo_t)ctx->cfg.algo);
    const gcomp_algo_ops_t *ops = gcomp_algo_ops_get(call.algo);
    size_t l2 = ops != NULL ? ops->l2_len(&call) : 0;
    return sizeof(gcomp_residual_t) + (count + l2) * sizeof(float);
}

size_t gcomp_coll_stage_elems(size_t pipeline_bytes, size_t n)
{
    /* Frames of a stage stay far below MPI's 2 GiB message limit. */
    size_t s = pipeline_bytes / sizeof(float);
    s = GCOMP_MIN(GCOMP_MAX(s, (size_t)1024), (size_t)1 << 26) / 64 * 64;
    /* A call that fits one stage has the same plan whatever GCOMP_PIPELINE_BYTES says. */
    if (n <= s) s = GCOMP_ALIGN_UP(GCOMP_MAX(n, (size_t)1), (size_t)64);
    return s;
}
