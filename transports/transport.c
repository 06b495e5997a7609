/*
 * Transport selection, and the idle step of every polling loop. Selection walks a
 * table, best first; a transport that is not in this build is simply not in the table, and one
 * whose library or device is missing probes false.
 */
#define GCOMP_LOG_SUBSYS GCOMP_SUBSYS_NET
#include "transport.h"

#include <sched.h>

#include "core/log.h"

static const gcomp_transport_ops_t *const transport_table[] = {
    /* The verbs transport goes first here when it is written. */
    &gcomp_transport_mpi_ops,
};

static const char *kind_name(gcomp_transport_kind_t kind)
{
    return (unsigned)kind <= GCOMP_TRANSPORT_VERBS ? gcomp_transport_names[kind] : "?";
}

const gcomp_transport_ops_t *gcomp_transport_select(gcomp_transport_kind_t kind)
{
    for (size_t i = 0; i < GCOMP_ARRAY_SIZE(transport_table); i++) {
        const gcomp_transport_ops_t *ops = transport_table[i];
        if (kind != GCOMP_TRANSPORT_AUTO && ops->kind != kind) continue;
        if (ops->probe()) return ops;
        if (kind != GCOMP_TRANSPORT_AUTO) break;
    }
    if (kind != GCOMP_TRANSPORT_AUTO && kind != GCOMP_TRANSPORT_MPI) {
        gcomp_info_once("GCOMP_TRANSPORT=%s is not available in this build or on this machine; "
                        "using mpi point-to-point", kind_name(kind));
    }
    return &gcomp_transport_mpi_ops;
}

void gcomp_transport_idle(unsigned *idle_passes)
{
    /* Spin briefly (latency), then yield: with more ranks than cores the peer we wait for may
     * need this core to make the progress we are waiting for. */
    if (++*idle_passes >= 64) {
        *idle_passes = 0;
        sched_yield();
    }
}
