/*
 * Single-pass, order-keeping scans over tiles of GCOMP_CU_TILE elements (decoupled look-back, Merrill
 * and Garland 2016): each block claims tiles in order from a counter, publishes its tile's aggregate,
 * and warp 0 walks back over its predecessors' published values, 32 at a time, until it meets an
 * inclusive prefix. One read of the data, no second pass, no host round trip.
 *
 * gcu_compact_tiles builds the compactions on it: a thread takes items tile_base + it * 256 + tid
 * (coalesced), a warp ranks its kept items with one ballot per item row, and the kept items of a tile
 * are written in index order at consecutive positions (warp-aggregated: one shared-memory slot per
 * warp and row, no per-element atomics).
 */
#ifndef GCOMP_CUDA_SCAN_CUH
#define GCOMP_CUDA_SCAN_CUH

#include <cuda_runtime.h>
#include <stdint.h>

#include "common.cuh"
#include "elem.h"
#include "kernels.h"

#define GCU_BLOCK 256
#define GCU_ITEMS (GCOMP_CU_TILE / GCU_BLOCK)
#define GCU_WARPS (GCU_BLOCK / 32)
#define GCU_FLAG_AGG (1ull << 62)
#define GCU_FLAG_PRE (2ull << 62)
#define GCU_VALUE_MASK ((1ull << 62) - 1)
#define GCU_SAT (1ull << 60) /* sums saturate here: counts never reach it, decoded indices are invalid far below */

static __device__ __forceinline__ uint64_t gcu_sat_add(uint64_t a, uint64_t b)
{
    uint64_t s = a + b;
    return s > GCU_SAT ? GCU_SAT : s;
}

static __device__ __forceinline__ uint64_t gcu_warp_sum(uint64_t v)
{
    for (int o = 16; o > 0; o >>= 1) v = gcu_sat_add(v, __shfl_xor_sync(0xffffffffu, v, o));
    return v;
}

static __device__ __forceinline__ uint32_t gcu_lanemask_lt(void)
{
    return (1u << (threadIdx.x & 31)) - 1;
}

/* Warp 0 only: publish this tile's aggregate, find its exclusive prefix, publish the inclusive one.
 * status[] was zeroed before the launch. Returns the exclusive prefix in every lane. */
static __device__ uint64_t gcu_lookback(uint64_t *status, uint32_t tile, uint64_t aggregate)
{
    const int lane = threadIdx.x & 31;
    volatile unsigned long long *st = (volatile unsigned long long *)status;
    if (tile == 0) {
        if (lane == 0) st[0] = GCU_FLAG_PRE | aggregate;
        return 0;
    }
    if (lane == 0) st[tile] = GCU_FLAG_AGG | aggregate;
    uint64_t exclusive = 0;
    int64_t base = (int64_t)tile - 1;
    for (;;) {
        int64_t t = base - lane;
        uint64_t s = GCU_FLAG_PRE; /* before tile 0: a prefix of 0 */
        if (t >= 0) {
            unsigned spins = 0;
            do {
                s = st[t];
                if ((s >> 62) == 0 && ++spins > 8) __nanosleep(64);
            } while ((s >> 62) == 0);
        }
        uint32_t pre = __ballot_sync(0xffffffffu, (s >> 62) == 2);
        uint64_t v = s & GCU_VALUE_MASK;
        if (pre) {
            int first = __ffs(pre) - 1; /* the nearest predecessor with an inclusive prefix */
            exclusive = gcu_sat_add(exclusive, gcu_warp_sum(lane <= first ? v : 0));
            break;
        }
        exclusive = gcu_sat_add(exclusive, gcu_warp_sum(v));
        base -= 32;
    }
    if (lane == 0) st[tile] = GCU_FLAG_PRE | gcu_sat_add(exclusive, aggregate);
    return exclusive;
}

/*
 * Order-keeping compaction of `count` items with Op:
 *   typename Op::raw_t;  raw_t load(uint64_t pos);        reads only (all loads of a tile first)
 *   bool take(uint64_t pos, raw_t, uint32_t *index, float *g); side effects allowed
 *   void emit(uint64_t rank, uint32_t index, float g);   rank: position in the output
 * The total goes to *total (by the block that does the last tile).
 */
template <class Op>
static __device__ void gcu_compact_tiles(Op &op, uint64_t count, uint64_t *status, uint32_t *tiles_next,
                                         uint64_t *total)
{
    __shared__ uint32_t s_tile;
    __shared__ uint32_t s_counts[GCU_ITEMS * GCU_WARPS];
    __shared__ uint64_t s_prefix;
    const uint32_t ntiles = (uint32_t)((count + GCOMP_CU_TILE - 1) / GCOMP_CU_TILE);
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    for (;;) {
        if (threadIdx.x == 0) s_tile = atomicAdd(tiles_next, 1u);
        __syncthreads();
        const uint32_t tile = s_tile;
        if (tile >= ntiles) break;
        const uint64_t base = (uint64_t)tile * GCOMP_CU_TILE + threadIdx.x;
        typename Op::raw_t raw[GCU_ITEMS];
#pragma unroll
        for (int it = 0; it < GCU_ITEMS; it++) {
            uint64_t pos = base + (uint64_t)it * GCU_BLOCK;
            if (pos < count) raw[it] = op.load(pos);
        }
        uint32_t index[GCU_ITEMS];
        float g[GCU_ITEMS];
        uint32_t flags = 0;
#pragma unroll
        for (int it = 0; it < GCU_ITEMS; it++) {
            uint64_t pos = base + (uint64_t)it * GCU_BLOCK;
            if (pos < count && op.take(pos, raw[it], &index[it], &g[it])) flags |= 1u << it;
        }
#pragma unroll
        for (int it = 0; it < GCU_ITEMS; it++) {
            uint32_t b = __ballot_sync(0xffffffffu, (flags >> it) & 1u);
            if (lane == 0) s_counts[it * GCU_WARPS + warp] = __popc(b);
        }
        __syncthreads();
        if (warp == 0) {
            /* Exclusive scan of the 128 (row, warp) counts in index order, 4 per lane. */
            uint32_t c[4], local = 0;
#pragma unroll
            for (int e = 0; e < 4; e++) {
                c[e] = s_counts[lane * 4 + e];
                local += c[e];
            }
            uint32_t incl = local;
            for (int o = 1; o < 32; o <<= 1) {
                uint32_t y = __shfl_up_sync(0xffffffffu, incl, o);
                if (lane >= o) incl += y;
            }
            uint32_t run = incl - local;
#pragma unroll
            for (int e = 0; e < 4; e++) {
                s_counts[lane * 4 + e] = run;
                run += c[e];
            }
            uint64_t aggregate = __shfl_sync(0xffffffffu, incl, 31);
            uint64_t prefix = gcu_lookback(status, tile, aggregate);
            if (lane == 0) {
                s_prefix = prefix;
                if (tile == ntiles - 1) *total = gcu_sat_add(prefix, aggregate);
            }
        }
        __syncthreads();
        const uint64_t prefix = s_prefix;
#pragma unroll
        for (int it = 0; it < GCU_ITEMS; it++) {
            uint32_t b = __ballot_sync(0xffffffffu, (flags >> it) & 1u);
            if ((flags >> it) & 1u)
                op.emit(prefix + s_counts[it * GCU_WARPS + warp] + __popc(b & gcu_lanemask_lt()), index[it], g[it]);
        }
        __syncthreads();
    }
}

/* Reset the tile counter and the status words before a gcu_compact_tiles launch. */
static int gcu_reset_tiles(cudaStream_t s, gcomp_cu_ctl_t *ctl, uint64_t *status, uint64_t count)
{
    uint64_t tiles = (count + GCOMP_CU_TILE - 1) / GCOMP_CU_TILE;
    cudaError_t e = cudaSuccess;
    if (tiles) e = cudaMemsetAsync(status, 0, tiles * sizeof(uint64_t), s);
    if (e == cudaSuccess) e = cudaMemsetAsync(&ctl->tiles_next, 0, sizeof(ctl->tiles_next), s);
    return (int)e;
}

#endif
