/*
 * Top-k decode on the device, the twin of src/codec/topk_decode.c: the indices from the packed deltas
 * (a single-pass scan), every index and value checked before anything is written, then the scatter
 * or scatter-add. CPU reference: emulate_topk.c.
 */
#include <cuda_runtime.h>
#include <stdint.h>

#include "common.cuh"
#include "elem.h"
#include "kernels.h"
#include "launch.cuh"
#include "scan.cuh"

static __device__ __forceinline__ float decoded_value(const gcomp_cu_topk_decode_t &a, uint64_t j, bool *bad)
{
    const uint8_t *v = a.payload + a.values_off;
    if (a.kind == GCOMP_CU_VALUES_F16) {
        uint16_t h = (uint16_t)(v[2 * j] | v[2 * j + 1] << 8);
        *bad = (h & 0x7c00u) == 0x7c00u;
        return gcomp_cu_f16_to_f32(h);
    }
    if (a.kind == GCOMP_CU_VALUES_Q8) {
        int8_t q = (int8_t)a.payload[a.q_off + j];
        *bad = q == INT8_MIN;
        return gcomp_cu_q8_dequantize(q, gcomp_cu_float(gcomp_cu_load_le32(v + 4 * (j / a.bucket))));
    }
    float x = gcomp_cu_float(gcomp_cu_load_le32(v + 4 * j));
    *bad = gcomp_cu_key(x) >= GCOMP_CU_KEY_NONFINITE;
    return x;
}

/* Indices from the deltas: a single-pass scan of (delta + 1), 16 consecutive entries per thread;
 * every index and value is checked before the scatter kernel writes anything. */
__global__ void __launch_bounds__(GCU_BLOCK) decode_scan_kernel(gcomp_cu_topk_decode_t a)
{
    __shared__ uint32_t s_tile;
    __shared__ uint64_t s_warp[GCU_WARPS];
    __shared__ uint64_t s_prefix;
    const uint32_t ntiles = (uint32_t)((a.k + GCOMP_CU_TILE - 1) / GCOMP_CU_TILE);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    uint32_t bad = 0;
    for (;;) {
        if (threadIdx.x == 0) s_tile = atomicAdd(&a.ctl->tiles_next, 1u);
        __syncthreads();
        const uint32_t tile = s_tile;
        if (tile >= ntiles) break;
        const uint64_t j0 = (uint64_t)tile * GCOMP_CU_TILE + (uint64_t)threadIdx.x * GCU_ITEMS;
        uint64_t step[GCU_ITEMS], local = 0;
#pragma unroll
        for (int e = 0; e < GCU_ITEMS; e++) {
            uint64_t j = j0 + e;
            step[e] = j < a.k ? (uint64_t)gcomp_cu_unpack(a.payload + 4, a.packed_len, j, a.width) + 1 : 0;
            local = gcu_sat_add(local, step[e]);
        }
        uint64_t incl = local;
        for (int o = 1; o < 32; o <<= 1) {
            uint64_t y = __shfl_up_sync(0xffffffffu, incl, o);
            if (lane >= o) incl = gcu_sat_add(incl, y);
        }
        if (lane == 31) s_warp[warp] = incl;
        __syncthreads();
        if (warp == 0) {
            uint64_t w = lane < GCU_WARPS ? s_warp[lane] : 0, wi = w;
            for (int o = 1; o < 32; o <<= 1) {
                uint64_t y = __shfl_up_sync(0xffffffffu, wi, o);
                if (lane >= o) wi = gcu_sat_add(wi, y);
            }
            if (lane < GCU_WARPS) s_warp[lane] = wi - w;
            uint64_t aggregate = __shfl_sync(0xffffffffu, wi, 31);
            uint64_t prefix = gcu_lookback(a.status, tile, aggregate);
            if (lane == 0) s_prefix = prefix;
        }
        __syncthreads();
        uint64_t run = gcu_sat_add(gcu_sat_add(s_prefix, s_warp[warp]), incl - local);
#pragma unroll
        for (int e = 0; e < GCU_ITEMS; e++) {
            uint64_t j = j0 + e;
            if (j >= a.k) break;
            run = gcu_sat_add(run, step[e]);
            uint64_t i = run - 1;
            if (i >= a.n) {
                bad |= GCOMP_CU_BAD_INDEX;
                continue;
            }
            a.idx[j] = (uint32_t)i;
            bool vbad;
            (void)decoded_value(a, j, &vbad);
            if (vbad) bad |= GCOMP_CU_BAD_VALUE;
        }
        __syncthreads();
    }
    bad = __reduce_or_sync(0xffffffffu, bad);
    if (bad && lane == 0) atomicOr(&a.ctl->bad, bad);
}

__global__ void __launch_bounds__(256) decode_zero_kernel(gcomp_cu_topk_decode_t a)
{
    if (a.ctl->bad) return;
    for (uint64_t i = (uint64_t)blockIdx.x * 256 + threadIdx.x; i < a.n; i += (uint64_t)gridDim.x * 256)
        a.dst[i] = 0.0f;
}

__global__ void __launch_bounds__(256) decode_scatter_kernel(gcomp_cu_topk_decode_t a)
{
    if (a.ctl->bad) return;
    for (uint64_t j = (uint64_t)blockIdx.x * 256 + threadIdx.x; j < a.k; j += (uint64_t)gridDim.x * 256) {
        bool vbad;
        float v = decoded_value(a, j, &vbad);
        float *d = a.dst + a.idx[j];
        *d = a.accumulate ? GCOMP_CU_ADD(*d, v) : v;
    }
}

extern "C" int GCOMP_CU_LAUNCHER(topk_decode)(void *stream, const gcomp_cu_topk_decode_t *a)
{
    cudaStream_t s = (cudaStream_t)stream;
    if (a->k > 0) {
        int e = gcu_reset_tiles(s, a->ctl, a->status, a->k);
        if (e) return e;
        int grid = gcu_persistent_blocks((a->k + GCOMP_CU_TILE - 1) / GCOMP_CU_TILE);
        GCU_LAUNCH(grid, GCU_BLOCK, s, decode_scan_kernel)(*a);
    }
    if (!a->accumulate && a->n > 0)
        GCU_LAUNCH(gcu_grid_stride_blocks(a->n), 256, s, decode_zero_kernel)(*a);
    if (a->k > 0) GCU_LAUNCH(gcu_grid_stride_blocks(a->k), 256, s, decode_scatter_kernel)(*a);
    return (int)cudaGetLastError();
}
