/*
 * Fault injection for the tests (fault.c, builds with -Dfault_injection=true): GCOMP_FAULT makes a
 * rank damage, drop or withhold its frames on purpose.
 */
#ifndef GCOMP_COLL_FAULT_H
#define GCOMP_COLL_FAULT_H

#include "gcomp.h"
#include "gcomp_config.h"
#include "core/compiler.h"

typedef struct gcomp_call gcomp_call_t;
typedef struct gcomp_msg gcomp_msg_t;

enum { GCOMP_FAULT_FLIP = 0, GCOMP_FAULT_TRUNCATE, GCOMP_FAULT_STALE, GCOMP_FAULT_SILENT, GCOMP_FAULT_VANISH };

/* fault.c: arm from GCOMP_FAULT at context creation. In builds with fault injection,
 * gcomp_fault_on_send may damage the frame of m before it is sent, or return 1 to drop the send;
 * gcomp_fault_vanish says whether this rank leaves the call after the agreement. */
GCOMP_INTERNAL void gcomp_fault_arm(gcomp_comm_t *ctx);
#if GCOMP_HAVE_FAULT_INJECTION
GCOMP_INTERNAL int gcomp_fault_on_send(gcomp_call_t *call, gcomp_msg_t *m);
GCOMP_INTERNAL int gcomp_fault_vanish(gcomp_call_t *call);
#else
static inline int gcomp_fault_on_send(gcomp_call_t *call, gcomp_msg_t *m)
{
    (void)call, (void)m;
    return 0;
}
static inline int gcomp_fault_vanish(gcomp_call_t *call)
{
    (void)call;
    return 0;
}
#endif

#endif
