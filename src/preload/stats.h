/*
 * GCOMP_STATS=1: the interposer's counters, reduced over MPI_COMM_WORLD at MPI_Finalize and
 * printed by rank 0 as one block.
 */
#ifndef GCOMP_PRELOAD_STATS_H
#define GCOMP_PRELOAD_STATS_H

#include <stdatomic.h>
#include <stdint.h>

#include "gcomp.h"
#include "core/compiler.h"

/* MPI_Allreduce calls the policy sent to PMPI_Allreduce (a relaxed atomic add). */
GCOMP_INTERNAL extern atomic_uint_fast64_t gcomp_preload_passthrough_calls;

static inline void gcomp_preload_count_passthrough(void)
{
    atomic_fetch_add_explicit(&gcomp_preload_passthrough_calls, 1, memory_order_relaxed);
}

/* Collective over MPI_COMM_WORLD: reduce this rank's counters to rank 0, which prints them. Call
 * before the contexts are dropped or after: dropped contexts keep their counters. */
GCOMP_INTERNAL void gcomp_preload_stats_report(void);

#endif
