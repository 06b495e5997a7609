/*
 * The q8 codec on the device (src/codec/codec_q8.c): encode with fused error feedback, decode and
 * decode-accumulate of several frames in one pass. CPU reference: emulate.c (same steps, same element
 * functions from elem.h).
 *
 * q8 encode reads g and e once and writes e and the frame once: a group of G lanes owns a bucket,
 * keeps its G * EPL values in registers, reduces the absmax with shuffles, then quantizes from the
 * registers (G = 32 and EPL = 16 for the default bucket of 512). Buckets above 1024 elements take a
 * block each and read g' twice. Non-finite g' are left in the residual and counted; the exception
 * step lists them in order and zeroes them (exc.cu).
 */
#include <cuda_runtime.h>
#include <stdint.h>

#include "common.cuh"
#include "elem.h"
#include "kernels.h"
#include "launch.cuh"

#define Q8_THREADS 256

static int q8_grid(uint64_t groups, int per_block)
{
    uint64_t b = (groups + per_block - 1) / per_block;
    const uint64_t cap = 65535ull * 16;
    return (int)(b < 1 ? 1 : b > cap ? cap : b);
}

/* One bucket per group of G lanes, EPL values per lane in registers. */
template <int G, int EPL, int DT>
__global__ void __launch_bounds__(Q8_THREADS) q8_encode_regs(gcomp_cu_q8_encode_t a)
{
    const int lane = threadIdx.x & (G - 1);
    const uint64_t groups_per_grid = (uint64_t)gridDim.x * (Q8_THREADS / G);
    const uint64_t nb = (a.n + a.bucket - 1) / a.bucket;
    const float *__restrict__ res_in = a.res;
    uint32_t nonfinite = 0;
    /* Every lane of a warp runs the same number of iterations (the shuffles need them all). */
    const uint64_t first = (uint64_t)blockIdx.x * (Q8_THREADS / G) + threadIdx.x / G;
    const uint64_t warp_first = first - (threadIdx.x & 31) / G;
    for (uint64_t wb = warp_first; wb < nb; wb += groups_per_grid) {
        const uint64_t b = wb + (threadIdx.x & 31) / G;
        const bool live = b < nb;
        const uint64_t s = b * a.bucket;
        const uint64_t len = live ? (a.n - s < a.bucket ? a.n - s : a.bucket) : 0;
        float g[EPL];
        uint32_t maxkey = 0;
#pragma unroll
        for (int e = 0; e < EPL; e++) {
            uint64_t j = (uint64_t)lane + (uint64_t)G * e;
            g[e] = 0.0f;
            if (j < len) {
                float x = gcu_load_as<DT>(a.src, s + j);
                g[e] = res_in ? gcomp_cu_gprime(x, res_in[s + j]) : x;
            }
        }
#pragma unroll
        for (int e = 0; e < EPL; e++) {
            uint32_t key = gcomp_cu_key(g[e]);
            if (key < GCOMP_CU_KEY_NONFINITE && key > maxkey) maxkey = key;
        }
#pragma unroll
        for (int o = G / 2; o > 0; o >>= 1) {
            uint32_t y = __shfl_xor_sync(0xffffffffu, maxkey, o);
            maxkey = y > maxkey ? y : maxkey;
        }
        if (!live) continue;
        const gcomp_cu_q8_bucket_t bk = gcomp_cu_q8_bucket(maxkey, 1);
#pragma unroll
        for (int e = 0; e < EPL; e++) {
            uint64_t j = (uint64_t)lane + (uint64_t)G * e;
            if (j >= len) continue;
            uint64_t i = s + j;
            float v = g[e];
            if (gcomp_cu_key(v) >= GCOMP_CU_KEY_NONFINITE) {
                a.q[i] = 0;
                if (a.res) a.res[i] = v;
                nonfinite++;
                continue;
            }
            gcomp_cu_q8_encode_one(&a, bk, i, v);
        }
        if (lane == 0) ((float *)a.scales)[b] = bk.scale;
    }
    gcu_add_nonfinite(a.ctl, nonfinite);
}

/* Large buckets: one block each, g' computed once into the residual (or re-read from src). */
template <int DT>
__global__ void __launch_bounds__(Q8_THREADS) q8_encode_block(gcomp_cu_q8_encode_t a)
{
    __shared__ uint32_t s_max[Q8_THREADS / 32];
    const uint64_t nb = (a.n + a.bucket - 1) / a.bucket;
    uint32_t nonfinite = 0;
    for (uint64_t b = blockIdx.x; b < nb; b += gridDim.x) {
        const uint64_t s = b * a.bucket;
        const uint64_t len = a.n - s < a.bucket ? a.n - s : a.bucket;
        uint32_t maxkey = 0;
        for (uint64_t j = threadIdx.x; j < len; j += Q8_THREADS) {
            float x = gcu_load_as<DT>(a.src, s + j);
            float g = a.res ? gcomp_cu_gprime(x, a.res[s + j]) : x;
            if (a.res) a.res[s + j] = g;
            uint32_t key = gcomp_cu_key(g);
            if (key < GCOMP_CU_KEY_NONFINITE && key > maxkey) maxkey = key;
        }
        maxkey = __reduce_max_sync(0xffffffffu, maxkey);
        if ((threadIdx.x & 31) == 0) s_max[threadIdx.x >> 5] = maxkey;
        __syncthreads();
        maxkey = 0;
        for (int w = 0; w < Q8_THREADS / 32; w++) maxkey = s_max[w] > maxkey ? s_max[w] : maxkey;
        const gcomp_cu_q8_bucket_t bk = gcomp_cu_q8_bucket(maxkey, 1);
        for (uint64_t j = threadIdx.x; j < len; j += Q8_THREADS) {
            uint64_t i = s + j;
            float v = a.res ? a.res[i] : gcu_load_as<DT>(a.src, i);
            if (gcomp_cu_key(v) >= GCOMP_CU_KEY_NONFINITE) {
                a.q[i] = 0;
                nonfinite++;
                continue;
            }
            gcomp_cu_q8_encode_one(&a, bk, i, v);
        }
        if (threadIdx.x == 0) ((float *)a.scales)[b] = bk.scale;
        __syncthreads();
    }
    gcu_add_nonfinite(a.ctl, nonfinite);
}

template <int G, int EPL>
static void launch_regs(cudaStream_t s, const gcomp_cu_q8_encode_t *a, uint64_t nb)
{
    int grid = q8_grid(nb, Q8_THREADS / G);
    switch (a->dtype) {
    case GCOMP_CU_F16: GCU_LAUNCH(grid, Q8_THREADS, s, q8_encode_regs<G, EPL, GCOMP_CU_F16>)(*a); break;
    case GCOMP_CU_BF16:
        GCU_LAUNCH(grid, Q8_THREADS, s, q8_encode_regs<G, EPL, GCOMP_CU_BF16>)(*a);
        break;
    default: GCU_LAUNCH(grid, Q8_THREADS, s, q8_encode_regs<G, EPL, GCOMP_CU_F32>)(*a); break;
    }
}

extern "C" int GCOMP_CU_LAUNCHER(q8_encode)(void *stream, const gcomp_cu_q8_encode_t *a)
{
    cudaStream_t s = (cudaStream_t)stream;
    const uint64_t nb = (a->n + a->bucket - 1) / a->bucket;
    const uint32_t B = a->bucket;
    if (B <= 1) launch_regs<1, 1>(s, a, nb);
    else if (B <= 2) launch_regs<2, 1>(s, a, nb);
    else if (B <= 4) launch_regs<4, 1>(s, a, nb);
    else if (B <= 8) launch_regs<8, 1>(s, a, nb);
    else if (B <= 16) launch_regs<16, 1>(s, a, nb);
    else if (B <= 32) launch_regs<32, 1>(s, a, nb);
    else if (B <= 64) launch_regs<32, 2>(s, a, nb);
    else if (B <= 128) launch_regs<32, 4>(s, a, nb);
    else if (B <= 256) launch_regs<32, 8>(s, a, nb);
    else if (B <= 512) launch_regs<32, 16>(s, a, nb);
    else if (B <= 1024) launch_regs<32, 32>(s, a, nb);
    else {
        int grid = (int)(nb < 65535 * 8 ? nb : 65535 * 8);
        switch (a->dtype) {
        case GCOMP_CU_F16: GCU_LAUNCH(grid, Q8_THREADS, s, q8_encode_block<GCOMP_CU_F16>)(*a); break;
        case GCOMP_CU_BF16: GCU_LAUNCH(grid, Q8_THREADS, s, q8_encode_block<GCOMP_CU_BF16>)(*a); break;
        default: GCU_LAUNCH(grid, Q8_THREADS, s, q8_encode_block<GCOMP_CU_F32>)(*a); break;
        }
    }
    return (int)cudaGetLastError();
}

/* dst (=|+=) sum over frames of q * scale, in frame order, four elements per thread. */
__global__ void __launch_bounds__(Q8_THREADS) q8_decode_kernel(gcomp_cu_q8_decode_t a)
{
    const uint64_t stride = (uint64_t)gridDim.x * Q8_THREADS * 4;
    uint32_t bad = 0;
    for (uint64_t i0 = ((uint64_t)blockIdx.x * Q8_THREADS + threadIdx.x) * 4; i0 < a.n; i0 += stride) {
        float acc[4];
        const int m = a.n - i0 < 4 ? (int)(a.n - i0) : 4;
#pragma unroll
        for (int e = 0; e < 4; e++) acc[e] = a.accumulate && e < m ? a.dst[i0 + e] : 0.0f;
        for (int f = 0; f < a.nframes; f++) {
            const int8_t *q = a.q[f];
            const float *scales = (const float *)a.scales[f];
            const uint32_t B = a.bucket[f];
#pragma unroll
            for (int e = 0; e < 4; e++) {
                if (e >= m) break;
                int8_t qv = q[i0 + e];
                bad |= qv == INT8_MIN;
                float v = gcomp_cu_q8_dequantize(qv, scales[(i0 + e) / B]);
                acc[e] = f == 0 && !a.accumulate ? v : GCOMP_CU_ADD(acc[e], v);
            }
        }
#pragma unroll
        for (int e = 0; e < 4; e++)
            if (e < m) a.dst[i0 + e] = acc[e];
    }
    if (__any_sync(0xffffffffu, bad) && (threadIdx.x & 31) == 0) atomicOr(&a.ctl->bad, (uint32_t)GCOMP_CU_BAD_Q8);
}

extern "C" int GCOMP_CU_LAUNCHER(q8_decode)(void *stream, const gcomp_cu_q8_decode_t *a)
{
    if (a->n == 0) return 0;
    GCU_LAUNCH(gcu_grid_for(a->n, 4), Q8_THREADS, (cudaStream_t)stream, q8_decode_kernel)(*a);
    return (int)cudaGetLastError();
}
