/*
 * The top-k payload from the kept list of topk_select.cu (src/codec/codec_topk.c's layout): the deltas'
 * common bit width, the packed index words, and the values (f32, f16 or q8 per bucket) with their
 * residuals. CPU reference: emulate_topk.c.
 */
#include <cuda_runtime.h>
#include <stdint.h>

#include "common.cuh"
#include "elem.h"
#include "kernels.h"
#include "launch.cuh"

static __device__ __forceinline__ void kept_list(const gcomp_cu_topk_payload_t &a, const uint32_t **idx,
                                                 const float **val, uint64_t *m)
{
    const gcomp_cu_ctl_t *ctl = a.ctl;
    *idx = ctl->kept_in_cand ? a.cand_idx : a.kept_idx;
    *val = ctl->kept_in_cand ? a.cand_val : a.kept_val;
    *m = ctl->kept;
}

/* Where the values start: after the width word and the index words of m deltas at their width. */
static __device__ __forceinline__ uint8_t *values_start(const gcomp_cu_topk_payload_t &a, uint64_t m)
{
    return a.payload + 4 + 4 * ((m * gcomp_cu_bit_width(a.ctl->or_deltas) + 31) / 32);
}

__global__ void __launch_bounds__(256) or_kernel(gcomp_cu_topk_payload_t a)
{
    const uint32_t *idx;
    const float *val;
    uint64_t m;
    kept_list(a, &idx, &val, &m);
    uint32_t all = 0;
    for (uint64_t j = (uint64_t)blockIdx.x * 256 + threadIdx.x; j < m; j += (uint64_t)gridDim.x * 256)
        all |= gcomp_cu_delta(idx, j);
    all = __reduce_or_sync(0xffffffffu, all);
    if (all && (threadIdx.x & 31) == 0) atomicOr(&a.ctl->or_deltas, all);
}

/* Index words, and f32/f16 values with their residuals. */
__global__ void __launch_bounds__(256) write_kernel(gcomp_cu_topk_payload_t a)
{
    const uint32_t *idx;
    const float *val;
    uint64_t m;
    kept_list(a, &idx, &val, &m);
    const unsigned width = gcomp_cu_bit_width(a.ctl->or_deltas);
    const uint64_t words = (m * width + 31) / 32;
    uint8_t *vals = values_start(a, m);
    if (blockIdx.x == 0 && threadIdx.x == 0) *(uint32_t *)a.payload = width;
    const uint64_t work = a.kind == GCOMP_CU_VALUES_Q8 ? words : (words > m ? words : m);
    for (uint64_t t = (uint64_t)blockIdx.x * 256 + threadIdx.x; t < work; t += (uint64_t)gridDim.x * 256) {
        if (t < words) ((uint32_t *)(a.payload + 4))[t] = gcomp_cu_pack_word(idx, m, width, t);
        if (a.kind == GCOMP_CU_VALUES_Q8 || t >= m) continue;
        float v = val[t];
        if (a.kind == GCOMP_CU_VALUES_F32) {
            ((uint32_t *)vals)[t] = gcomp_cu_bits(v);
            if (a.res) a.res[idx[t]] = 0.0f;
        } else {
            uint16_t h = gcomp_cu_topk_f16(v);
            ((uint16_t *)vals)[t] = h;
            if (a.res) a.res[idx[t]] = GCOMP_CU_SUB(v, gcomp_cu_f16_to_f32(h));
        }
    }
}

/* topk-q8 values: G lanes per bucket of the kept list, two passes over it (it is small and cached). */
__global__ void __launch_bounds__(256) q8_values_kernel(gcomp_cu_topk_payload_t a, int G)
{
    const uint32_t *idx;
    const float *val;
    uint64_t m;
    kept_list(a, &idx, &val, &m);
    uint8_t *vals = values_start(a, m);
    const uint64_t B = a.bucket, nb = (m + B - 1) / B;
    int8_t *q = (int8_t *)(vals + 4 * nb);
    const int lane = threadIdx.x & (G - 1);
    const uint64_t per_warp = 32 / G, groups = (uint64_t)gridDim.x * (256 / G);
    const uint64_t warp_first = ((uint64_t)blockIdx.x * 256 + (threadIdx.x & ~31u)) / G;
    for (uint64_t wb = warp_first; wb < nb; wb += groups) {
        const uint64_t b = wb + (threadIdx.x & 31) / G;
        const bool live = b < nb;
        const uint64_t j0 = b * B, j1 = live ? (j0 + B < m ? j0 + B : m) : j0;
        uint32_t maxkey = 0;
        for (uint64_t j = j0 + lane; j < j1; j += G) {
            uint32_t key = gcomp_cu_key(val[j]);
            maxkey = key > maxkey ? key : maxkey;
        }
        for (int o = G / 2; o > 0; o >>= 1) {
            uint32_t y = __shfl_xor_sync(0xffffffffu, maxkey, o);
            maxkey = y > maxkey ? y : maxkey;
        }
        (void)per_warp;
        if (!live) continue;
        const gcomp_cu_q8_bucket_t bk = gcomp_cu_q8_bucket(maxkey, 1);
        if (lane == 0) ((uint32_t *)vals)[b] = gcomp_cu_bits(bk.scale);
        for (uint64_t j = j0 + lane; j < j1; j += G) {
            float v = val[j];
            uint32_t bits = a.nearest ? 0u : gcomp_cu_rng_bits(a.k0, a.k1, a.base + idx[j]);
            int qv = gcomp_cu_q8_quantize(v, bk, a.nearest, bits);
            q[j] = (int8_t)qv;
            if (a.res) a.res[idx[j]] = GCOMP_CU_SUB(v, gcomp_cu_q8_dequantize(qv, bk.scale));
        }
    }
}

extern "C" int GCOMP_CU_LAUNCHER(topk_payload)(void *stream, const gcomp_cu_topk_payload_t *a)
{
    cudaStream_t s = (cudaStream_t)stream;
    /* The kept count is on the device: grids cover the most any selection keeps. */
    int grid = gcu_persistent_blocks(1u << 20);
    GCU_LAUNCH(grid, 256, s, or_kernel)(*a);
    GCU_LAUNCH(grid, 256, s, write_kernel)(*a);
    if (a->kind == GCOMP_CU_VALUES_Q8) {
        int G = 1;
        while (G < 32 && (uint32_t)G < a->bucket) G <<= 1;
        GCU_LAUNCH(grid, 256, s, q8_values_kernel)(*a, G);
    }
    return (int)cudaGetLastError();
}
