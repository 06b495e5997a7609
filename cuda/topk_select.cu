/*
 * Top-k selection on the device, the twin of src/codec/topk_select.c and topk_pass.c. CPU reference:
 * emulate_topk.c (the same steps, one loop each).
 *
 * Selection is a radix select on 31-bit |x| keys in three levels (12, 10, 9 bits): a histogram
 * kernel per level (shared-memory bins, merged with one atomic per non-empty bin) and a one-block
 * pick kernel that finds the digit holding the wanted rank and writes the next step's state into
 * the control block. Kept elements are written by single-pass order-keeping compactions
 * (scan.cuh), so the kept list comes out in index order with no sort.
 *
 * The sampled path (topk_select.c's scheme, decision for decision): keys of a jittered strided
 * sample, their threshold by the same radix select, one fused pass (g' = src + e stored, candidates
 * with key >= threshold compacted), then keep, trim to k among the candidates, or fall back to
 * exact selection over the stored g' -- all decided on the device by kernels that read the counts.
 * The kept list goes on to topk.cu, which writes the payload.
 */
#include <cuda_runtime.h>
#include <stdint.h>

#include "common.cuh"
#include "elem.h"
#include "kernels.h"
#include "launch.cuh"
#include "scan.cuh"

#define KEY_NONE 0xffffffffu

/* ---- selection sources -------------------------------------------------------------------------- */

static __device__ __forceinline__ uint64_t src_count(const gcomp_cu_source_t &s, const gcomp_cu_ctl_t *ctl)
{
    if (s.kind != GCOMP_CU_SRC_CAND) return s.n;
    uint64_t c = ctl->cand_count;
    return c < s.n ? c : s.n;
}

/* Element j: chunk index, g' and key (KEY_NONE when non-finite). */
static __device__ __forceinline__ void src_at(const gcomp_cu_source_t &s, uint64_t j, uint32_t *index, float *g,
                                              uint32_t *key)
{
    if (s.kind == GCOMP_CU_SRC_KEYS) {
        *index = (uint32_t)j;
        *g = 0.0f;
        *key = s.keys[j];
        return;
    }
    if (s.kind == GCOMP_CU_SRC_CAND) {
        *index = s.idx[j];
        *g = s.val[j];
    } else {
        *index = (uint32_t)j;
        *g = gcomp_cu_load(s.g, s.dtype, j);
    }
    uint32_t k = gcomp_cu_key(*g);
    *key = k >= GCOMP_CU_KEY_NONFINITE ? KEY_NONE : k;
}

/* ---- sample, g' pass, histograms, picks ------------------------------------------------------- */

__global__ void __launch_bounds__(256) sample_kernel(gcomp_cu_topk_sample_t a)
{
    for (uint64_t j = (uint64_t)blockIdx.x * 256 + threadIdx.x; j < a.s; j += (uint64_t)gridDim.x * 256) {
        uint64_t pos = gcomp_cu_sample_pos(j, a.stride);
        float x = gcomp_cu_load(a.src, a.dtype, pos);
        float g = a.res ? gcomp_cu_gprime(x, a.res[pos]) : x;
        uint32_t key = gcomp_cu_key(g);
        a.keys[j] = key >= GCOMP_CU_KEY_NONFINITE ? KEY_NONE : key;
    }
}

extern "C" int GCOMP_CU_LAUNCHER(topk_sample)(void *stream, const gcomp_cu_topk_sample_t *a)
{
    if (a->s == 0) return 0;
    GCU_LAUNCH(gcu_grid_stride_blocks(a->s), 256, (cudaStream_t)stream, sample_kernel)(*a);
    return (int)cudaGetLastError();
}

__global__ void __launch_bounds__(256) prep_kernel(gcomp_cu_topk_prep_t a)
{
    __shared__ uint32_t sh[4096];
    if (!gcu_runs(a.ctl, a.run_if)) return;
    for (int d = threadIdx.x; d < 4096; d += 256) sh[d] = 0;
    __syncthreads();
    uint32_t nonfinite = 0;
    const uint64_t stride = (uint64_t)gridDim.x * 256 * 4;
    for (uint64_t i0 = (uint64_t)blockIdx.x * 1024 + threadIdx.x; i0 < a.n; i0 += stride) {
        float x[4], e[4];
#pragma unroll
        for (int u = 0; u < 4; u++) {
            uint64_t i = i0 + 256 * u;
            if (i < a.n) {
                x[u] = gcomp_cu_load(a.src, a.dtype, i);
                e[u] = a.res ? a.res[i] : 0.0f;
            }
        }
#pragma unroll
        for (int u = 0; u < 4; u++) {
            uint64_t i = i0 + 256 * u;
            if (i >= a.n) break;
            float g = a.res ? gcomp_cu_gprime(x[u], e[u]) : x[u];
            if (a.res) a.res[i] = g;
            uint32_t key = gcomp_cu_key(g);
            if (key >= GCOMP_CU_KEY_NONFINITE) nonfinite++;
            else atomicAdd(&sh[key >> 19], 1u);
        }
    }
    gcu_add_nonfinite(a.ctl, nonfinite);
    __syncthreads();
    for (int d = threadIdx.x; d < 4096; d += 256)
        if (sh[d]) atomicAdd(&a.hist[d], sh[d]);
}

extern "C" int GCOMP_CU_LAUNCHER(topk_prep)(void *stream, const gcomp_cu_topk_prep_t *a)
{
    if (a->n == 0) return 0;
    GCU_LAUNCH(gcu_grid_stride_blocks(a->n), 256, (cudaStream_t)stream, prep_kernel)(*a);
    return (int)cudaGetLastError();
}

__global__ void __launch_bounds__(256) hist_kernel(gcomp_cu_topk_hist_t a)
{
    __shared__ uint32_t sh[4096];
    const gcomp_cu_ctl_t *ctl = a.ctl;
    if (!gcu_runs(ctl, a.run_if)) return;
    const gcomp_cu_sel_t *sel = &ctl->sel[a.sel];
    if (a.level > 0 && sel->all) return;
    const unsigned bins = gcomp_cu_level_bins(a.level), sh_bits = gcomp_cu_level_shift(a.level);
    const unsigned psh = a.level > 0 ? gcomp_cu_level_shift(a.level - 1) : 31;
    const uint32_t prefix = a.level > 0 ? sel->prefix : 0;
    for (unsigned d = threadIdx.x; d < bins; d += 256) sh[d] = 0;
    __syncthreads();
    const uint64_t count = src_count(a.src, ctl);
    for (uint64_t j = (uint64_t)blockIdx.x * 256 + threadIdx.x; j < count; j += (uint64_t)gridDim.x * 256) {
        uint32_t index, key;
        float g;
        src_at(a.src, j, &index, &g, &key);
        if (key == KEY_NONE) continue;
        if (a.level > 0 && (key >> psh) != prefix) continue;
        atomicAdd(&sh[(key >> sh_bits) & (bins - 1)], 1u);
    }
    __syncthreads();
    for (unsigned d = threadIdx.x; d < bins; d += 256)
        if (sh[d]) atomicAdd(&a.hist[d], sh[d]);
}

extern "C" int GCOMP_CU_LAUNCHER(topk_hist)(void *stream, const gcomp_cu_topk_hist_t *a)
{
    if (a->src.n == 0) return 0;
    GCU_LAUNCH(gcu_grid_stride_blocks(a->src.n), 256, (cudaStream_t)stream, hist_kernel)(*a);
    return (int)cudaGetLastError();
}

/* One block: the digit of this level that holds rank r counted from the largest key. */
__global__ void __launch_bounds__(1024) pick_kernel(gcomp_cu_topk_pick_t a)
{
    __shared__ uint64_t s_warp[32];
    __shared__ uint64_t s_r;
    __shared__ int s_stop;
    gcomp_cu_ctl_t *ctl = a.ctl;
    if (!gcu_runs(ctl, a.run_if)) return;
    gcomp_cu_sel_t *sel = &ctl->sel[a.sel];
    if (a.level > 0 && sel->all) return;
    const unsigned bins = gcomp_cu_level_bins(a.level);
    const unsigned per = (bins + 1023) / 1024;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    /* Thread t owns reversed bins [t * per, (t + 1) * per): bin bins - 1 - rb. */
    uint64_t local = 0;
    for (unsigned e = 0; e < per; e++) {
        unsigned rb = threadIdx.x * per + e;
        if (rb < bins) local += a.hist[bins - 1 - rb];
    }
    uint64_t incl = local;
    for (int o = 1; o < 32; o <<= 1) {
        uint64_t y = __shfl_up_sync(0xffffffffu, incl, o);
        if (lane >= o) incl += y;
    }
    if (lane == 31) s_warp[warp] = incl;
    __syncthreads();
    if (warp == 0) {
        uint64_t w = s_warp[lane], wi = w;
        for (int o = 1; o < 32; o <<= 1) {
            uint64_t y = __shfl_up_sync(0xffffffffu, wi, o);
            if (lane >= o) wi += y;
        }
        s_warp[lane] = wi - w; /* exclusive per warp */
        if (lane == 31) {
            uint64_t total = wi;
            uint64_t r = sel->r;
            int stop = 0;
            if (a.level == 0) {
                sel->total = total;
                if (a.flavour == GCOMP_CU_PICK_SAMPLE) {
                    if (total == 0) {
                        ctl->mode = GCOMP_CU_MODE_PREP;
                        stop = 1;
                    } else {
                        r = gcomp_cu_sample_rank(a.s, total, a.k, a.n);
                        sel->r = r;
                    }
                }
                if (!stop && total < r) {
                    sel->all = 1;
                    sel->thr = 0;
                    sel->cutoff = UINT64_MAX;
                    if (a.flavour == GCOMP_CU_PICK_MAIN) ctl->mode = GCOMP_CU_MODE_EX_ALL;
                    stop = 1;
                }
            }
            s_r = r;
            s_stop = stop;
        }
    }
    __syncthreads();
    if (s_stop) return;
    const uint64_t r = s_r;
    uint64_t above = s_warp[warp] + incl - local;
    for (unsigned e = 0; e < per; e++) {
        unsigned rb = threadIdx.x * per + e;
        if (rb >= bins) break;
        unsigned d = bins - 1 - rb;
        uint64_t h = a.hist[d];
        if (above < r && above + h >= r) {
            sel->r = r - above;
            if (a.level == 0) {
                sel->prefix = d;
                if (a.flavour == GCOMP_CU_PICK_MAIN)
                    ctl->mode = above + h <= a.cand_cap ? GCOMP_CU_MODE_EX_CAND : GCOMP_CU_MODE_EX_FULL;
            } else if (a.level == 1) {
                sel->prefix = sel->prefix << 10 | d;
            } else {
                sel->thr = sel->prefix << 9 | d;
                sel->ties = r - above;
                sel->ties_total = h;
                sel->cutoff = UINT64_MAX;
            }
        }
        above += h;
    }
}

extern "C" int GCOMP_CU_LAUNCHER(topk_pick)(void *stream, const gcomp_cu_topk_pick_t *a)
{
    GCU_LAUNCH(1, 1024, (cudaStream_t)stream, pick_kernel)(*a);
    return (int)cudaGetLastError();
}

__global__ void decide_kernel(gcomp_cu_topk_decide_t a)
{
    gcomp_cu_topk_decide(&a);
}

extern "C" int GCOMP_CU_LAUNCHER(topk_decide)(void *stream, const gcomp_cu_topk_decide_t *a)
{
    GCU_LAUNCH(1, 1, (cudaStream_t)stream, decide_kernel)(*a);
    return (int)cudaGetLastError();
}

/* ---- compactions ------------------------------------------------------------------------------- */

/* The sampled path's fused pass: g' = src + e stored, non-finite counted, key >= threshold kept. */
struct pass_op {
    struct raw_t {
        float x, e;
    };
    gcomp_cu_topk_compact_t a;
    uint32_t thr;
    uint32_t nonfinite;
    __device__ raw_t load(uint64_t pos)
    {
        raw_t r;
        r.x = gcomp_cu_load(a.src.g, a.src.dtype, pos);
        r.e = a.res ? a.res[pos] : 0.0f;
        return r;
    }
    __device__ bool take(uint64_t pos, raw_t r, uint32_t *index, float *g)
    {
        float v = a.res ? gcomp_cu_gprime(r.x, r.e) : r.x;
        if (a.res) a.res[pos] = v;
        uint32_t key = gcomp_cu_key(v);
        *index = (uint32_t)pos;
        *g = v;
        if (key >= GCOMP_CU_KEY_NONFINITE) {
            nonfinite++;
            return false;
        }
        return key >= thr;
    }
    __device__ void emit(uint64_t rank, uint32_t index, float g)
    {
        if (rank < a.cap) {
            a.out_idx[rank] = index;
            a.out_val[rank] = g;
        }
    }
};

/* Collection, ties and the final kept list over a source (elements, or candidates in index order). */
struct select_op {
    struct raw_t {
        float g;
        uint32_t index, key;
    };
    gcomp_cu_topk_compact_t a;
    gcomp_cu_sel_t *sel;
    uint32_t prefix, thr;
    uint64_t cutoff, ties;
    __device__ raw_t load(uint64_t pos)
    {
        raw_t r;
        src_at(a.src, pos, &r.index, &r.g, &r.key);
        return r;
    }
    __device__ bool take(uint64_t pos, raw_t r, uint32_t *index, float *g)
    {
        *index = r.index;
        *g = r.g;
        if (r.key == KEY_NONE) return false;
        switch (a.op) {
        case GCOMP_CU_COMPACT_COLLECT: return (r.key >> 19) >= prefix;
        case GCOMP_CU_COMPACT_TIES: return r.key == thr;
        default: return r.key > thr || (r.key == thr && r.index <= cutoff);
        }
    }
    __device__ void emit(uint64_t rank, uint32_t index, float g)
    {
        if (a.op == GCOMP_CU_COMPACT_TIES) {
            if (rank == ties - 1) sel->cutoff = index;
        } else if (rank < a.cap) {
            a.out_idx[rank] = index;
            a.out_val[rank] = g;
        }
    }
};

__global__ void __launch_bounds__(GCU_BLOCK) pass_kernel(gcomp_cu_topk_compact_t a)
{
    gcomp_cu_ctl_t *ctl = a.ctl;
    if (!gcu_runs(ctl, a.run_if)) return;
    pass_op op;
    op.a = a;
    op.thr = ctl->sel[0].thr;
    op.nonfinite = 0;
    if (a.src.n == 0) {
        if (blockIdx.x == 0 && threadIdx.x == 0) *a.count = 0;
        return;
    }
    gcu_compact_tiles(op, a.src.n, a.status, &ctl->tiles_next, a.count);
    gcu_add_nonfinite(ctl, op.nonfinite);
}

__global__ void __launch_bounds__(GCU_BLOCK) select_kernel(gcomp_cu_topk_compact_t a)
{
    gcomp_cu_ctl_t *ctl = a.ctl;
    if (!gcu_runs(ctl, a.run_if)) return;
    gcomp_cu_sel_t *sel = &ctl->sel[1];
    if (a.op == GCOMP_CU_COMPACT_TIES && (sel->all || sel->ties_total <= sel->ties)) return;
    select_op op;
    op.a = a;
    op.sel = sel;
    op.prefix = sel->prefix;
    op.thr = sel->thr;
    op.cutoff = sel->cutoff;
    op.ties = sel->ties;
    uint64_t count = src_count(a.src, ctl);
    if (count == 0) {
        if (blockIdx.x == 0 && threadIdx.x == 0) *a.count = 0;
        return;
    }
    gcu_compact_tiles(op, count, a.status, &ctl->tiles_next, a.count);
}

extern "C" int GCOMP_CU_LAUNCHER(topk_compact)(void *stream, const gcomp_cu_topk_compact_t *a)
{
    cudaStream_t s = (cudaStream_t)stream;
    int e = gcu_reset_tiles(s, a->ctl, a->status, a->src.n);
    if (e) return e;
    int grid = gcu_persistent_blocks((a->src.n + GCOMP_CU_TILE - 1) / GCOMP_CU_TILE);
    if (a->op == GCOMP_CU_COMPACT_PASS) GCU_LAUNCH(grid, GCU_BLOCK, s, pass_kernel)(*a);
    else GCU_LAUNCH(grid, GCU_BLOCK, s, select_kernel)(*a);
    return (int)cudaGetLastError();
}
