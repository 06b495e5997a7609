/*
 * The top-k kernels and the exception list. CPU reference: emulate.c (the same steps, one loop each).
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
 */
#include <cuda_runtime.h>
#include <stdint.h>

#include "elem.h"
#include "kernels.h"
#include "launch.cuh"
#include "scan.cuh"

#define KEY_NONE 0xffffffffu

int gcu_persistent_blocks(uint64_t tiles)
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

int gcu_reset_tiles(cudaStream_t s, gcomp_cu_ctl_t *ctl, uint64_t *status, uint64_t count)
{
    uint64_t tiles = (count + GCOMP_CU_TILE - 1) / GCOMP_CU_TILE;
    cudaError_t e = cudaSuccess;
    if (tiles) e = cudaMemsetAsync(status, 0, tiles * sizeof(uint64_t), s);
    if (e == cudaSuccess) e = cudaMemsetAsync(&ctl->tiles_next, 0, sizeof(ctl->tiles_next), s);
    return (int)e;
}

static int grid_stride_blocks(uint64_t n)
{
    return gcu_persistent_blocks((n + 1023) / 1024);
}

static __device__ __forceinline__ bool runs(const gcomp_cu_ctl_t *ctl, uint32_t run_if)
{
    return (GCOMP_CU_IN(*(volatile const uint32_t *)&ctl->mode) & run_if) != 0;
}

static __device__ __forceinline__ void add_nonfinite(gcomp_cu_ctl_t *ctl, uint32_t mine)
{
    uint32_t all = __reduce_add_sync(0xffffffffu, mine);
    if (all && (threadIdx.x & 31) == 0) atomicAdd((unsigned long long *)&ctl->exc_seen, (unsigned long long)all);
}

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

extern "C" int gcomp_cu_launch_topk_sample(void *stream, const gcomp_cu_topk_sample_t *a)
{
    if (a->s == 0) return 0;
    GCU_LAUNCH(grid_stride_blocks(a->s), 256, (cudaStream_t)stream, sample_kernel)(*a);
    return (int)cudaGetLastError();
}

__global__ void __launch_bounds__(256) prep_kernel(gcomp_cu_topk_prep_t a)
{
    __shared__ uint32_t sh[4096];
    if (!runs(a.ctl, a.run_if)) return;
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
    add_nonfinite(a.ctl, nonfinite);
    __syncthreads();
    for (int d = threadIdx.x; d < 4096; d += 256)
        if (sh[d]) atomicAdd(&a.hist[d], sh[d]);
}

extern "C" int gcomp_cu_launch_topk_prep(void *stream, const gcomp_cu_topk_prep_t *a)
{
    if (a->n == 0) return 0;
    GCU_LAUNCH(grid_stride_blocks(a->n), 256, (cudaStream_t)stream, prep_kernel)(*a);
    return (int)cudaGetLastError();
}

__global__ void __launch_bounds__(256) hist_kernel(gcomp_cu_topk_hist_t a)
{
    __shared__ uint32_t sh[4096];
    const gcomp_cu_ctl_t *ctl = a.ctl;
    if (!runs(ctl, a.run_if)) return;
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

extern "C" int gcomp_cu_launch_topk_hist(void *stream, const gcomp_cu_topk_hist_t *a)
{
    if (a->src.n == 0) return 0;
    GCU_LAUNCH(grid_stride_blocks(a->src.n), 256, (cudaStream_t)stream, hist_kernel)(*a);
    return (int)cudaGetLastError();
}

/* One block: the digit of this level that holds rank r counted from the largest key. */
__global__ void __launch_bounds__(1024) pick_kernel(gcomp_cu_topk_pick_t a)
{
    __shared__ uint64_t s_warp[32];
    __shared__ uint64_t s_r;
    __shared__ int s_stop;
    gcomp_cu_ctl_t *ctl = a.ctl;
    if (!runs(ctl, a.run_if)) return;
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

extern "C" int gcomp_cu_launch_topk_pick(void *stream, const gcomp_cu_topk_pick_t *a)
{
    GCU_LAUNCH(1, 1024, (cudaStream_t)stream, pick_kernel)(*a);
    return (int)cudaGetLastError();
}

__global__ void decide_kernel(gcomp_cu_topk_decide_t a)
{
    gcomp_cu_ctl_t *ctl = a.ctl;
    if (ctl->mode != GCOMP_CU_MODE_PASS) return;
    int after = gcomp_cu_after_pass(ctl->cand_count, a.cap, a.k);
    ctl->after_pass = (uint32_t)after + 1;
    switch (after) {
    case GCOMP_CU_AFTER_KEEP:
        ctl->mode = GCOMP_CU_MODE_KEEP;
        ctl->kept_in_cand = 1;
        ctl->kept = ctl->cand_count;
        break;
    case GCOMP_CU_AFTER_TRIM: ctl->mode = GCOMP_CU_MODE_TRIM; break;
    default: ctl->mode = GCOMP_CU_MODE_EXACT; break;
    }
}

extern "C" int gcomp_cu_launch_topk_decide(void *stream, const gcomp_cu_topk_decide_t *a)
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
    if (!runs(ctl, a.run_if)) return;
    pass_op op;
    op.a = a;
    op.thr = ctl->sel[0].thr;
    op.nonfinite = 0;
    if (a.src.n == 0) {
        if (blockIdx.x == 0 && threadIdx.x == 0) *a.count = 0;
        return;
    }
    gcu_compact_tiles(op, a.src.n, a.status, &ctl->tiles_next, a.count);
    add_nonfinite(ctl, op.nonfinite);
}

__global__ void __launch_bounds__(GCU_BLOCK) select_kernel(gcomp_cu_topk_compact_t a)
{
    gcomp_cu_ctl_t *ctl = a.ctl;
    if (!runs(ctl, a.run_if)) return;
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

extern "C" int gcomp_cu_launch_topk_compact(void *stream, const gcomp_cu_topk_compact_t *a)
{
    cudaStream_t s = (cudaStream_t)stream;
    int e = gcu_reset_tiles(s, a->ctl, a->status, a->src.n);
    if (e) return e;
    int grid = gcu_persistent_blocks((a->src.n + GCOMP_CU_TILE - 1) / GCOMP_CU_TILE);
    if (a->op == GCOMP_CU_COMPACT_PASS) GCU_LAUNCH(grid, GCU_BLOCK, s, pass_kernel)(*a);
    else GCU_LAUNCH(grid, GCU_BLOCK, s, select_kernel)(*a);
    return (int)cudaGetLastError();
}

/* ---- exceptions -------------------------------------------------------------------------------- */

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

extern "C" int gcomp_cu_launch_exc_collect(void *stream, const gcomp_cu_exc_collect_t *a)
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

extern "C" int gcomp_cu_launch_exc_apply(void *stream, const gcomp_cu_exc_apply_t *a)
{
    uint64_t work = a->overflow ? a->n : a->count;
    if (work == 0) return 0;
    GCU_LAUNCH(grid_stride_blocks(work), 256, (cudaStream_t)stream, exc_apply_kernel)(*a);
    return (int)cudaGetLastError();
}

/* ---- payload -------------------------------------------------------------------------------------- */

static __device__ __forceinline__ void kept_list(const gcomp_cu_topk_payload_t &a, const uint32_t **idx,
                                                 const float **val, uint64_t *m)
{
    const gcomp_cu_ctl_t *ctl = a.ctl;
    *idx = ctl->kept_in_cand ? a.cand_idx : a.kept_idx;
    *val = ctl->kept_in_cand ? a.cand_val : a.kept_val;
    *m = ctl->kept;
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
    uint8_t *vals = a.payload + 4 + 4 * words;
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
    const unsigned width = gcomp_cu_bit_width(a.ctl->or_deltas);
    const uint64_t words = (m * width + 31) / 32;
    uint8_t *vals = a.payload + 4 + 4 * words;
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

extern "C" int gcomp_cu_launch_topk_payload(void *stream, const gcomp_cu_topk_payload_t *a)
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

/* ---- decode ------------------------------------------------------------------------------------ */

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

extern "C" int gcomp_cu_launch_topk_decode(void *stream, const gcomp_cu_topk_decode_t *a)
{
    cudaStream_t s = (cudaStream_t)stream;
    if (a->k > 0) {
        int e = gcu_reset_tiles(s, a->ctl, a->status, a->k);
        if (e) return e;
        int grid = gcu_persistent_blocks((a->k + GCOMP_CU_TILE - 1) / GCOMP_CU_TILE);
        GCU_LAUNCH(grid, GCU_BLOCK, s, decode_scan_kernel)(*a);
    }
    if (!a->accumulate && a->n > 0)
        GCU_LAUNCH(grid_stride_blocks(a->n), 256, s, decode_zero_kernel)(*a);
    if (a->k > 0) GCU_LAUNCH(grid_stride_blocks(a->k), 256, s, decode_scatter_kernel)(*a);
    return (int)cudaGetLastError();
}
