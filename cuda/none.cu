/*
 * The none codec on the device (src/codec/codec_none.c): g' = src + e as fp32 words, the residual
 * cleared, and its decode and decode-accumulate; with them fp32 -> fp16/bf16, the conversion of fp32
 * sums back to the user's type. The collectives also use none_encode to widen fp16/bf16 to fp32
 * (no residual) and to fold a residual into a sum in place. CPU reference: emulate.c.
 */
#include <cuda_runtime.h>
#include <stdint.h>

#include "common.cuh"
#include "elem.h"
#include "kernels.h"
#include "launch.cuh"

template <int DT>
__global__ void __launch_bounds__(GCU_THREADS) none_encode_kernel(gcomp_cu_none_t a)
{
    const uint64_t stride = (uint64_t)gridDim.x * GCU_THREADS;
    for (uint64_t i = (uint64_t)blockIdx.x * GCU_THREADS + threadIdx.x; i < a.n; i += stride) {
        float x = gcu_load_as<DT>(a.src, i);
        float g = a.res ? gcomp_cu_gprime(x, a.res[i]) : x;
        ((uint32_t *)a.out)[i] = gcomp_cu_bits(g);
        if (a.res) a.res[i] = 0.0f;
    }
}

extern "C" int GCOMP_CU_LAUNCHER(none_encode)(void *stream, const gcomp_cu_none_t *a)
{
    if (a->n == 0) return 0;
    cudaStream_t s = (cudaStream_t)stream;
    int grid = gcu_grid_for(a->n, 1);
    switch (a->dtype) {
    case GCOMP_CU_F16: GCU_LAUNCH(grid, GCU_THREADS, s, none_encode_kernel<GCOMP_CU_F16>)(*a); break;
    case GCOMP_CU_BF16: GCU_LAUNCH(grid, GCU_THREADS, s, none_encode_kernel<GCOMP_CU_BF16>)(*a); break;
    default: GCU_LAUNCH(grid, GCU_THREADS, s, none_encode_kernel<GCOMP_CU_F32>)(*a); break;
    }
    return (int)cudaGetLastError();
}

__global__ void __launch_bounds__(GCU_THREADS) none_decode_kernel(gcomp_cu_none_t a)
{
    const uint64_t stride = (uint64_t)gridDim.x * GCU_THREADS;
    const float *in = (const float *)a.src;
    for (uint64_t i = (uint64_t)blockIdx.x * GCU_THREADS + threadIdx.x; i < a.n; i += stride)
        a.dst[i] = a.accumulate ? GCOMP_CU_ADD(a.dst[i], in[i]) : in[i];
}

extern "C" int GCOMP_CU_LAUNCHER(none_decode)(void *stream, const gcomp_cu_none_t *a)
{
    if (a->n == 0) return 0;
    GCU_LAUNCH(gcu_grid_for(a->n, 1), GCU_THREADS, (cudaStream_t)stream, none_decode_kernel)(*a);
    return (int)cudaGetLastError();
}

__global__ void __launch_bounds__(GCU_THREADS) convert_kernel(gcomp_cu_convert_t a)
{
    const uint64_t stride = (uint64_t)gridDim.x * GCU_THREADS;
    for (uint64_t i = (uint64_t)blockIdx.x * GCU_THREADS + threadIdx.x; i < a.n; i += stride) {
        float x = a.src[i];
        if (a.dtype == GCOMP_CU_F16) ((uint16_t *)a.dst)[i] = gcomp_cu_f32_to_f16(x);
        else if (a.dtype == GCOMP_CU_BF16) ((uint16_t *)a.dst)[i] = gcomp_cu_f32_to_bf16(x);
        else ((float *)a.dst)[i] = x;
    }
}

extern "C" int GCOMP_CU_LAUNCHER(convert)(void *stream, const gcomp_cu_convert_t *a)
{
    if (a->n == 0) return 0;
    GCU_LAUNCH(gcu_grid_for(a->n, 1), GCU_THREADS, (cudaStream_t)stream, convert_kernel)(*a);
    return (int)cudaGetLastError();
}
