/*
 * Counting a sum's non-zeros for the sparse reduce-scatter's choice of frame (src/coll): per part of
 * the array, the finite non-zeros, the non-finite values, the first and last non-zero and the largest
 * gap, joined on the host. CPU reference: emulate.c (both use gcomp_cu_count_range of elem.h).
 */
#include <cuda_runtime.h>
#include <stdint.h>

#include "common.cuh"
#include "elem.h"
#include "kernels.h"
#include "launch.cuh"

/* One block per part: each thread counts a contiguous run of the part, thread 0 joins the runs in
 * order (gaps across runs need the neighbours' ends). */
__global__ void __launch_bounds__(GCU_THREADS) count_kernel(gcomp_cu_count_t a)
{
    __shared__ gcomp_cu_count_part_t s_run[GCU_THREADS];
    const uint64_t lo = (uint64_t)blockIdx.x * a.per_part;
    const uint64_t hi = lo + a.per_part < a.n ? lo + a.per_part : a.n;
    const uint64_t span = hi > lo ? hi - lo : 0, each = (span + GCU_THREADS - 1) / GCU_THREADS;
    const uint64_t b = lo + each * threadIdx.x, e = b + each < hi ? b + each : hi;
    s_run[threadIdx.x] = gcomp_cu_count_range(a.src, b, e);
    __syncthreads();
    if (threadIdx.x == 0) {
        gcomp_cu_count_part_t p = s_run[0];
        for (int t = 1; t < GCU_THREADS; t++) gcomp_cu_count_join(&p, &s_run[t]);
        a.parts[blockIdx.x] = p;
    }
}

extern "C" int GCOMP_CU_LAUNCHER(count)(void *stream, const gcomp_cu_count_t *a)
{
    if (a->nparts == 0) return 0;
    GCU_LAUNCH((int)a->nparts, GCU_THREADS, (cudaStream_t)stream, count_kernel)(*a);
    return (int)cudaGetLastError();
}
