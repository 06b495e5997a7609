/*
 * The exception list every codec but none appends to its payload (src/codec/wire.c's format): the
 * non-finite g' of the encode, listed in index order and zeroed in the residual, and their values
 * put back (or added) after a decode. CPU reference: emulate.c.
 *
 * The encode steps (q8.cu, topk_select.cu) leave the non-finite g' in place and count them into
 * ctl.exc_seen; the collection reads that count on the device and returns at once when it is 0.
 */
#include <cuda_runtime.h>
#include <stdint.h>

#include "common.cuh"
#include "elem.h"
#include "kernels.h"
#include "launch.cuh"
#include "scan.cuh"

struct exc_op {
    struct raw_t {
        float g;
    };
    gcomp_cu_exc_collect_t a;
    __device__ raw_t load(uint64_t pos)
    {
        raw_t r;
        r.g = gcomp_cu_load(a.g, a.dtype, pos);
        return r;
    }
    __device__ bool take(uint64_t pos, raw_t r, uint32_t *index, float *g)
    {
        *index = (uint32_t)pos;
        *g = r.g;
        if (gcomp_cu_key(r.g) < GCOMP_CU_KEY_NONFINITE) return false;
        if (a.res) a.res[pos] = 0.0f;
        return true;
    }
    __device__ void emit(uint64_t rank, uint32_t index, float g)
    {
        if (rank < a.cap) {
            uint32_t *e = (uint32_t *)(a.list + 8 * rank);
            e[0] = index;
            e[1] = gcomp_cu_bits(g);
        }
    }
};

__global__ void __launch_bounds__(GCU_BLOCK) exc_collect_kernel(gcomp_cu_exc_collect_t a)
{
    if (*(volatile const uint64_t *)&a.ctl->exc_seen == 0) return;
    exc_op op;
    op.a = a;
    gcu_compact_tiles(op, a.n, a.status, &a.ctl->tiles_next, &a.ctl->exc_seen);
}

extern "C" int GCOMP_CU_LAUNCHER(exc_collect)(void *stream, const gcomp_cu_exc_collect_t *a)
{
    if (a->n == 0) return 0;
    cudaStream_t s = (cudaStream_t)stream;
    int e = gcu_reset_tiles(s, a->ctl, a->status, a->n);
    if (e) return e;
    int grid = gcu_persistent_blocks((a->n + GCOMP_CU_TILE - 1) / GCOMP_CU_TILE);
    GCU_LAUNCH(grid, GCU_BLOCK, s, exc_collect_kernel)(*a);
    return (int)cudaGetLastError();
}

__global__ void __launch_bounds__(256) exc_apply_kernel(gcomp_cu_exc_apply_t a)
{
    if (a.ctl->bad) return;
    const uint64_t stride = (uint64_t)gridDim.x * 256;
    uint64_t t = (uint64_t)blockIdx.x * 256 + threadIdx.x;
    if (a.overflow) {
        const float nan = gcomp_cu_float(0x7fc00000u);
        for (uint64_t i = t; i < a.n; i += stride) a.dst[i] = a.accumulate ? GCOMP_CU_ADD(a.dst[i], nan) : nan;
        return;
    }
    for (uint64_t e = t; e < a.count; e += stride) {
        const uint8_t *entry = a.list + 8 * e; /* at any byte offset: after the codec payload */
        float v = gcomp_cu_float(gcomp_cu_load_le32(entry + 4));
        float *d = a.dst + gcomp_cu_load_le32(entry);
        *d = a.accumulate ? GCOMP_CU_ADD(*d, v) : v;
    }
}

extern "C" int GCOMP_CU_LAUNCHER(exc_apply)(void *stream, const gcomp_cu_exc_apply_t *a)
{
    uint64_t work = a->overflow ? a->n : a->count;
    if (work == 0) return 0;
    GCU_LAUNCH(gcu_grid_stride_blocks(work), 256, (cudaStream_t)stream, exc_apply_kernel)(*a);
    return (int)cudaGetLastError();
}
