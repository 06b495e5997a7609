/*
 * Device helpers every kernel file uses (none.cu, q8.cu, count.cu, exc.cu, topk_select.cu, topk.cu,
 * topk_decode.cu): loading an element of the source's type, grid sizes, counting non-finite g' into
 * the control block, and the test a conditional step makes of the control block's mode. Static, so
 * that each kernel file (and each of its SIMT copies, one namespace each) has its own.
 */
#ifndef GCOMP_CUDA_COMMON_CUH
#define GCOMP_CUDA_COMMON_CUH

#include <cuda_runtime.h>
#include <stdint.h>

#include "elem.h"
#include "kernels.h"

/* Threads of the grid-stride kernels. */
#define GCU_THREADS 256

/* Element i of src, of the type DT, as fp32 (the dtype known at compile time; gcomp_cu_load reads it
 * at run time). */
template <int DT>
static __device__ __forceinline__ float gcu_load_as(const void *__restrict__ src, uint64_t i)
{
    if (DT == GCOMP_CU_F16) return gcomp_cu_f16_to_f32(((const uint16_t *)src)[i]);
    if (DT == GCOMP_CU_BF16) return gcomp_cu_bf16_to_f32(((const uint16_t *)src)[i]);
    return ((const float *)src)[i];
}

/* Blocks of GCU_THREADS for n elements, per_thread each, capped (the kernels loop over the rest). */
static int gcu_grid_for(uint64_t n, int per_thread)
{
    uint64_t b = (n + (uint64_t)GCU_THREADS * per_thread - 1) / ((uint64_t)GCU_THREADS * per_thread);
    const uint64_t cap = 132ull * 64;
    return (int)(b < 1 ? 1 : b > cap ? cap : b);
}

/* Blocks for a persistent grid: enough to fill the device, never more than the tiles. */
static int gcu_persistent_blocks(uint64_t tiles)
{
    static int sms;
    if (sms == 0) {
        int dev = 0, v = 0;
        if (cudaGetDevice(&dev) == cudaSuccess &&
            cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, dev) == cudaSuccess && v > 0)
            sms = v;
        else
            sms = 132;
    }
    uint64_t want = (uint64_t)sms * 8; /* 8 blocks of 256 threads per SM */
    if (tiles < want) want = tiles;
    return (int)(want < 1 ? 1 : want);
}

/* A grid-stride kernel over n elements, 1024 per block at least. */
static int gcu_grid_stride_blocks(uint64_t n)
{
    return gcu_persistent_blocks((n + 1023) / 1024);
}

/* Whether a step that runs only in some modes of the selection (run_if: GCOMP_CU_IN masks) runs. */
static __device__ __forceinline__ bool gcu_runs(const gcomp_cu_ctl_t *ctl, uint32_t run_if)
{
    return (GCOMP_CU_IN(*(volatile const uint32_t *)&ctl->mode) & run_if) != 0;
}

/* A warp's non-finite g' added to ctl->exc_seen (one atomic per warp); every lane calls it. */
static __device__ __forceinline__ void gcu_add_nonfinite(gcomp_cu_ctl_t *ctl, uint32_t mine)
{
    uint32_t all = __reduce_add_sync(0xffffffffu, mine);
    if (all && (threadIdx.x & 31) == 0) atomicAdd((unsigned long long *)&ctl->exc_seen, (unsigned long long)all);
}

#endif
