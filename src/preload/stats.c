#define GCOMP_LOG_SUBSYS GCOMP_SUBSYS_INIT
#include "preload/stats.h"

#include <stdio.h>

#include "core/config.h"
#include "core/log.h"
#include "codec/codec_vars.h"
#include "preload/contexts.h"
#include "preload/registry.h"

atomic_uint_fast64_t gcomp_preload_passthrough_calls;

enum { S_CALLS, S_PASSED, S_ERRORS, S_BYTES_IN, S_SENT, S_NONFINITE, S_EVICTIONS, S_RESETS,
       S_CONTEXTS, N_SUM };
enum { M_ENCODE, M_WIRE, M_DECODE, M_TOTAL, M_PEAK_EF, N_MAX };

static const char *human(double bytes, char *buf, size_t len)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (bytes >= 1024.0 && u < 4) {
        bytes /= 1024.0;
        u++;
    }
    snprintf(buf, len, u ? "%.2f %s" : "%.0f %s", bytes, units[u]);
    return buf;
}

void gcomp_preload_stats_report(void)
{
    gcomp_contexts_totals_t t;
    gcomp_registry_stats_t r;
    gcomp_contexts_totals(&t);
    gcomp_registry_stats(&r);

    uint64_t sum[N_SUM] = {
        [S_CALLS] = t.stats.calls,
        [S_PASSED] = atomic_load_explicit(&gcomp_preload_passthrough_calls, memory_order_relaxed) +
                     t.stats.calls_dense,
        [S_ERRORS] = t.stats.errors,
        [S_BYTES_IN] = t.stats.bytes_in,
        [S_SENT] = t.stats.bytes_sent,
        [S_NONFINITE] = t.stats.nonfinite,
        [S_EVICTIONS] = r.evictions,
        [S_RESETS] = r.resets,
        [S_CONTEXTS] = t.contexts,
    };
    double max[N_MAX] = {
        [M_ENCODE] = t.stats.time_encode_s,
        [M_WIRE] = t.stats.time_wire_s,
        [M_DECODE] = t.stats.time_decode_s,
        [M_TOTAL] = t.stats.time_total_s,
        [M_PEAK_EF] = (double)r.peak_bytes,
    };
    double dense = t.dense_bytes;
    uint64_t sum_all[N_SUM];
    double max_all[N_MAX], dense_all;
    int rank, size;
    PMPI_Comm_rank(MPI_COMM_WORLD, &rank);
    PMPI_Comm_size(MPI_COMM_WORLD, &size);
    if (PMPI_Reduce(sum, sum_all, N_SUM, MPI_UINT64_T, MPI_SUM, 0, MPI_COMM_WORLD) != MPI_SUCCESS ||
        PMPI_Reduce(max, max_all, N_MAX, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD) != MPI_SUCCESS ||
        PMPI_Reduce(&dense, &dense_all, 1, MPI_DOUBLE, MPI_SUM, 0, MPI_COMM_WORLD) != MPI_SUCCESS) {
        gcomp_warn("GCOMP_STATS: reducing the counters failed; no report");
        return;
    }
    if (rank != 0) return;

    char in[32], sent[32], dense_h[32], peak[32];
    double ratio = sum_all[S_SENT] ? dense_all / (double)sum_all[S_SENT] : 0.0;
    /* One fprintf so that the block is not interleaved with other ranks' output. */
    fprintf(stderr,
            "gcomp stats (%d ranks, codec %s, sums over ranks):\n"
            "  calls:     %llu compressed, %llu passed through, %llu failed, %llu contexts\n"
            "  bytes:     %s in, %s sent on the wire (a dense ring all-reduce sends %s): %.2fx less\n"
            "  time:      encode %.3f s, wire %.3f s, decode %.3f s, total %.3f s (slowest rank)\n"
            "  residuals: peak %s on one rank, %llu evicted, %llu reset; %llu non-finite values seen\n",
            size, gcomp_codec_name((gcomp_codec_t)gcomp_codec_config()->codec),
            (unsigned long long)sum_all[S_CALLS], (unsigned long long)sum_all[S_PASSED],
            (unsigned long long)sum_all[S_ERRORS], (unsigned long long)sum_all[S_CONTEXTS],
            human((double)sum_all[S_BYTES_IN], in, sizeof(in)), human((double)sum_all[S_SENT], sent, sizeof(sent)),
            human(dense_all, dense_h, sizeof(dense_h)), ratio, max_all[M_ENCODE], max_all[M_WIRE],
            max_all[M_DECODE], max_all[M_TOTAL], human(max_all[M_PEAK_EF], peak, sizeof(peak)),
            (unsigned long long)sum_all[S_EVICTIONS], (unsigned long long)sum_all[S_RESETS],
            (unsigned long long)sum_all[S_NONFINITE]);
}
