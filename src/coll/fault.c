/*
 * Fault injection for tests (builds with -Dfault_injection=true only; docs/reliability.md).
 *
 * GCOMP_FAULT=KIND,rank=R,call=C makes rank R of every context created afterwards misbehave in its
 * call number C (0 = the context's first compressed call), the way a broken network or peer would:
 *   flip      flip one payload byte of the first frame it sends in that call (a bit error on the wire)
 *   truncate  send only the first half of that frame (a cut connection, a short read)
 *   stale     send that frame with the previous call's sequence number (a frame from another call)
 *   silent    send nothing from that call on, while still receiving (a peer that stops sending)
 *   vanish    leave the call right after the call agreement, as a crashed rank would
 * The receivers must reject each of these; the tests check that every rank fails the call with a
 * log line that names the peer and the reason, and that residuals are left as they were.
 */
#define GCOMP_LOG_SUBSYS GCOMP_SUBSYS_COLL
#include <stdlib.h>
#include <string.h>

#include "gcomp_config.h"
#include "codec/codec.h"
#include "codec/wire.h"
#include "coll/coll.h"
#include "core/log.h"

#if GCOMP_HAVE_FAULT_INJECTION

static const char *const kind_names[] = {
    [GCOMP_FAULT_FLIP] = "flip",       [GCOMP_FAULT_TRUNCATE] = "truncate", [GCOMP_FAULT_STALE] = "stale",
    [GCOMP_FAULT_SILENT] = "silent",   [GCOMP_FAULT_VANISH] = "vanish",
};

static int parse_kind(const char *s, size_t len)
{
    for (int k = 0; k < (int)GCOMP_ARRAY_SIZE(kind_names); k++)
        if (strlen(kind_names[k]) == len && strncmp(kind_names[k], s, len) == 0) return k;
    return -1;
}

/* "KIND,rank=R,call=C" -> kind, rank, call; 0 on success. */
static int parse(const char *s, int *kind_p, long *rank_p, long long *call_p)
{
    const char *comma = strchr(s, ',');
    if (comma == NULL || (*kind_p = parse_kind(s, (size_t)(comma - s))) < 0) return -1;
    char *end;
    if (strncmp(comma, ",rank=", 6) != 0) return -1;
    *rank_p = strtol(comma + 6, &end, 10);
    if (end == comma + 6 || *rank_p < 0 || strncmp(end, ",call=", 6) != 0) return -1;
    const char *c = end + 6;
    *call_p = strtoll(c, &end, 10);
    if (end == c || *call_p < 0 || *end != '\0') return -1;
    return 0;
}

void gcomp_fault_arm(gcomp_comm_t *ctx)
{
    ctx->fault_seq = -1;
    const char *s = getenv("GCOMP_FAULT");
    if (s == NULL || *s == '\0') return;
    int kind;
    long rank;
    long long call;
    if (parse(s, &kind, &rank, &call) != 0) {
        gcomp_warn("GCOMP_FAULT=\"%s\" is not KIND,rank=R,call=C with KIND one of flip, truncate, stale, "
                   "silent, vanish: no fault injected", s);
        return;
    }
    if (rank != ctx->rank) return;
    ctx->fault_kind = kind;
    ctx->fault_seq = (int64_t)(ctx->seq + (uint64_t)call);
    gcomp_info("fault injection armed: %s in call %lld of this context", kind_names[kind], call);
}

int gcomp_fault_on_send(gcomp_call_t *call, gcomp_msg_t *m)
{
    gcomp_comm_t *ctx = call->ctx;
    if (ctx->fault_seq < 0 || (uint64_t)ctx->fault_seq > call->seq) return 0;
    if (ctx->fault_kind == GCOMP_FAULT_SILENT) {
        if ((uint64_t)ctx->fault_seq == call->seq)
            gcomp_warn("fault injection: call %llu: sending nothing from now on", (unsigned long long)call->seq);
        ctx->fault_seq = (int64_t)call->seq + 1; /* and every later call */
        return 1;
    }
    if ((uint64_t)ctx->fault_seq != call->seq || m->len <= GCOMP_WIRE_HEADER_LEN) return 0;
    const char *what = "";
    switch (ctx->fault_kind) {
    case GCOMP_FAULT_FLIP:
        m->buf[GCOMP_WIRE_HEADER_LEN + (m->len - GCOMP_WIRE_HEADER_LEN) / 2] ^= 0x10;
        what = "flipped a payload bit";
        break;
    case GCOMP_FAULT_TRUNCATE:
        m->len /= 2;
        what = "cut the frame in half";
        break;
    case GCOMP_FAULT_STALE: {
        gcomp_store_le64(m->buf + GCOMP_WIRE_OFF_SEQ, call->seq - 1);
        if (m->buf[GCOMP_WIRE_OFF_FLAGS] & GCOMP_WIRE_FLAG_CHECKSUM) /* a well-formed frame of the wrong call */
            gcomp_store_le64(m->buf + GCOMP_WIRE_OFF_CHECKSUM, gcomp_frame_checksum(m->buf, m->len));
        what = "relabelled the frame as one of the previous call";
        break;
    }
    default: return 0;
    }
    gcomp_warn("fault injection: call %llu: %s sent to rank %d", (unsigned long long)call->seq, what, m->peer);
    ctx->fault_seq = -1;
    return 0;
}

int gcomp_fault_vanish(gcomp_call_t *call)
{
    gcomp_comm_t *ctx = call->ctx;
    return ctx->fault_seq == (int64_t)call->seq && ctx->fault_kind == GCOMP_FAULT_VANISH;
}

#else

void gcomp_fault_arm(gcomp_comm_t *ctx)
{
    ctx->fault_seq = -1;
    const char *s = getenv("GCOMP_FAULT");
    if (s != NULL && *s != '\0')
        gcomp_warn("GCOMP_FAULT is set but this build has no fault injection (meson -Dfault_injection=true): "
                   "ignored");
}

#endif
