/*
 * Agreement: before any data moves, every rank learns whether all ranks make the same call (count,
 * type, codec parameters, error feedback, algorithm, pipeline stage); after the data phase every
 * rank learns the worst status any rank saw. Both are one small non-blocking all-reduce waited on
 * with a deadline, so a rank that never calls costs the others GCOMP_TIMEOUT_S, not a hang.
 *
 * The fingerprint all-reduce takes MPI_MAX over (v, ~v, v on rank 0 else INT64_MIN) per field: the
 * maximum and the minimum over ranks (~max(~v) = min(v)) and rank 0's value, in one call. ~v
 * rather than -v: it reverses the order with no overflow at INT64_MIN.
 */
#define GCOMP_LOG_SUBSYS GCOMP_SUBSYS_COLL
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "coll/coll.h"
#include "core/log.h"

static const char *const field_names[GCOMP_FP_COUNT_OF] = {
    [GCOMP_FP_STATUS] = "local status",
    [GCOMP_FP_COUNT] = "count",
    [GCOMP_FP_DTYPE] = "datatype",
    [GCOMP_FP_CODEC] = "codec (GCOMP_CODEC)",
    [GCOMP_FP_EF] = "error feedback (GCOMP_EF, or a residual passed on some ranks only)",
    [GCOMP_FP_BUCKET] = "q8 bucket (GCOMP_Q8_BUCKET)",
    [GCOMP_FP_ROUNDING] = "rounding (GCOMP_ROUNDING)",
    [GCOMP_FP_RATIO] = "top-k ratio (GCOMP_TOPK_RATIO)",
    [GCOMP_FP_SELECT] = "top-k selection (GCOMP_TOPK_SELECT)",
    [GCOMP_FP_VALUES] = "top-k value type (GCOMP_TOPK_VALUES)",
    [GCOMP_FP_ZSTD] = "zstd level (GCOMP_ZSTD)",
    [GCOMP_FP_CHECKSUM] = "checksum (GCOMP_CHECKSUM)",
    [GCOMP_FP_SEED] = "seed (GCOMP_SEED)",
    [GCOMP_FP_ALGO] = "algorithm (GCOMP_ALGO)",
    [GCOMP_FP_STAGE] = "pipeline stage (GCOMP_PIPELINE_BYTES)",
};

static void fingerprint(const gcomp_call_t *call, gcomp_status_t local, int64_t *v)
{
    const gcomp_codec_params_t *p = &call->params;
    uint64_t seed = p->seed;
    v[GCOMP_FP_STATUS] = local;
    v[GCOMP_FP_COUNT] = (int64_t)call->n;
    v[GCOMP_FP_DTYPE] = call->dtype;
    v[GCOMP_FP_CODEC] = p->codec;
    v[GCOMP_FP_EF] = p->error_feedback;
    v[GCOMP_FP_BUCKET] = p->q8_bucket;
    v[GCOMP_FP_ROUNDING] = p->rounding;
    v[GCOMP_FP_RATIO] = gcomp_f32_bits(p->topk_ratio);
    v[GCOMP_FP_SELECT] = p->topk_select;
    v[GCOMP_FP_VALUES] = p->topk_values;
    v[GCOMP_FP_ZSTD] = p->zstd_level;
    v[GCOMP_FP_CHECKSUM] = p->checksum;
    memcpy(&v[GCOMP_FP_SEED], &seed, sizeof(seed));
    v[GCOMP_FP_ALGO] = call->algo;
    v[GCOMP_FP_STAGE] = (int64_t)call->stage_elems;
}

static const char *dtype_name(int64_t v)
{
    static const char *const names[] = {"fp32", "fp16", "bf16", "fp64"};
    return v >= 0 && v < 4 ? names[v] : "?";
}

/* A field's value as the user set it. */
static const char *field_value(int field, int64_t v, char *buf, size_t len)
{
    switch (field) {
    case GCOMP_FP_CODEC: return gcomp_codec_name((gcomp_codec_t)v);
    case GCOMP_FP_DTYPE: return dtype_name(v);
    case GCOMP_FP_ALGO: return gcomp_algo_name((gcomp_algo_t)v);
    case GCOMP_FP_RATIO: snprintf(buf, len, "%g", (double)gcomp_bits_f32((uint32_t)v)); return buf;
    case GCOMP_FP_SEED: snprintf(buf, len, "%llu", (unsigned long long)v); return buf;
    default: snprintf(buf, len, "%lld", (long long)v); return buf;
    }
}

/* Wait for the agreement request; on timeout it stays with MPI (collectives cannot be cancelled),
 * and so do the buffers: the context leaks them. */
static gcomp_status_t wait_agreement(gcomp_call_t *call, const char *what)
{
    gcomp_comm_t *ctx = call->ctx;
    double start = gcomp_now_s();
    unsigned idle = 0;
    for (;;) {
        int flag = 0;
        int rc = PMPI_Test(&ctx->agree->req, &flag, MPI_STATUS_IGNORE);
        if (rc != MPI_SUCCESS) {
            gcomp_warn("call %llu: the %s all-reduce failed with MPI error %d", (unsigned long long)call->seq,
                       what, rc);
            return GCOMP_ERR_MPI;
        }
        if (flag) return GCOMP_OK;
        double now = gcomp_now_s();
        if (now - start > ctx->cfg.timeout_s) {
            gcomp_warn("call %llu: waited %.1f s (GCOMP_TIMEOUT_S=%g) in the %s all-reduce: some rank of "
                       "the %d did not make this call; the context fails from now on",
                       (unsigned long long)call->seq, now - start, ctx->cfg.timeout_s, what, ctx->size);
            ctx->leak = 1;
            return GCOMP_ERR_TIMEOUT;
        }
        gcomp_transport_idle(&idle);
    }
}

gcomp_status_t gcomp_coll_agree_call(gcomp_call_t *call, gcomp_status_t local, gcomp_status_t *agreed_p)
{
    gcomp_comm_t *ctx = call->ctx;
    gcomp_agree_mem_t *a = ctx->agree;
    enum { F = GCOMP_FP_COUNT_OF };
    int64_t v[F];
    fingerprint(call, local, v);
    for (int i = 0; i < F; i++) {
        a->in[i] = v[i];
        a->in[F + i] = ~v[i];
        a->in[2 * F + i] = ctx->rank == 0 ? v[i] : INT64_MIN;
    }
    int rc = PMPI_Iallreduce(a->in, a->out, 3 * F, MPI_INT64_T, MPI_MAX, ctx->comm, &a->req);
    if (rc != MPI_SUCCESS) {
        gcomp_warn("call %llu: PMPI_Iallreduce of the call fingerprint failed with MPI error %d",
                   (unsigned long long)call->seq, rc);
        return GCOMP_ERR_MPI;
    }
    GCOMP_CHECK(wait_agreement(call, "call agreement"));

    int64_t worst = ~a->out[F + GCOMP_FP_STATUS];
    if (worst != GCOMP_OK) {
        /* Some rank failed before moving data (it logged why): all return its status. */
        if (local == GCOMP_OK)
            gcomp_warn("call %llu: another rank could not start this call (%s)", (unsigned long long)call->seq,
                       gcomp_status_string((gcomp_status_t)worst));
        *agreed_p = (gcomp_status_t)worst;
        return GCOMP_OK;
    }
    /* The algorithm and the stage follow from the other fields: report them only when those agree. */
    int primary_differs = 0;
    for (int i = 0; i < F; i++)
        if (i != GCOMP_FP_ALGO && i != GCOMP_FP_STAGE) primary_differs |= a->out[i] != ~a->out[F + i];
    gcomp_status_t agreed = GCOMP_OK;
    for (int i = 0; i < F; i++) {
        int64_t hi = a->out[i], lo = ~a->out[F + i], r0 = a->out[2 * F + i];
        if (hi == lo) continue;
        agreed = GCOMP_ERR_MISMATCH;
        if (primary_differs && (i == GCOMP_FP_ALGO || i == GCOMP_FP_STAGE)) continue;
        char mine[32], first[32], lo_s[32], hi_s[32];
        gcomp_warn("call %llu: ranks disagree on the %s: this rank has %s, rank 0 has %s (range %s..%s); "
                   "every rank must make the same call with the same configuration",
                   (unsigned long long)call->seq, field_names[i], field_value(i, v[i], mine, sizeof(mine)),
                   field_value(i, r0, first, sizeof(first)), field_value(i, lo, lo_s, sizeof(lo_s)),
                   field_value(i, hi, hi_s, sizeof(hi_s)));
    }
    *agreed_p = agreed;
    return GCOMP_OK;
}

/*
 * The status all-reduce takes MPI_MIN over one 64-bit key per rank:
 *   class << 56 | -status << 48 | reporting rank << 24 | (peer at fault + 1)
 * with class 0 for an error this rank saw first, 1 for one it only heard about (a peer's stand-in
 * message), 2 for success. Every rank gets the same whole key, so every rank can say which rank saw
 * the failure first and whose frame it was. Ranks and peers fit 24 bits (16M ranks).
 */
enum { KEY_CLASS = 56, KEY_STATUS = 48, KEY_RANK = 24 };

static int64_t status_key(int cls, gcomp_status_t st, int rank, int peer)
{
    return (int64_t)cls << KEY_CLASS | (int64_t)(-(int)st & 0xff) << KEY_STATUS |
           (int64_t)(rank & 0xffffff) << KEY_RANK | (int64_t)((peer + 1) & 0xffffff);
}

gcomp_status_t gcomp_coll_agree_status(gcomp_call_t *call, gcomp_status_t *agreed_p)
{
    gcomp_comm_t *ctx = call->ctx;
    gcomp_agree_mem_t *a = ctx->agree;
    if (call->local != GCOMP_OK) a->status_in = status_key(0, call->local, ctx->rank, call->local_peer);
    else if (call->peer_failed) a->status_in = status_key(1, GCOMP_ERR_TRANSPORT, ctx->rank, -1);
    else a->status_in = status_key(2, GCOMP_OK, ctx->rank, -1);
    int rc = PMPI_Iallreduce(&a->status_in, &a->status_out, 1, MPI_INT64_T, MPI_MIN, ctx->comm, &a->req);
    if (rc != MPI_SUCCESS) {
        gcomp_warn("call %llu: PMPI_Iallreduce of the call status failed with MPI error %d",
                   (unsigned long long)call->seq, rc);
        return GCOMP_ERR_MPI;
    }
    GCOMP_CHECK(wait_agreement(call, "status"));
    int64_t out = a->status_out;
    int cls = (int)(out >> KEY_CLASS);
    gcomp_status_t agreed = cls == 2 ? GCOMP_OK : (gcomp_status_t)(-(int)((out >> KEY_STATUS) & 0xff));
    int origin = (int)((out >> KEY_RANK) & 0xffffff), peer = (int)(out & 0xffffff) - 1;
    if (agreed != GCOMP_OK && call->local == GCOMP_OK) {
        if (peer >= 0)
            gcomp_warn("call %llu: failed on rank %d, which rejected the frame from rank %d (%s); this rank "
                       "returns the same", (unsigned long long)call->seq, origin, peer,
                       gcomp_status_string(agreed));
        else
            gcomp_warn("call %llu: failed on rank %d (%s); this rank returns the same",
                       (unsigned long long)call->seq, origin, gcomp_status_string(agreed));
    }
    *agreed_p = agreed;
    return GCOMP_OK;
}
