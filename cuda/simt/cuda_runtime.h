/*
 * The CUDA dialect the kernels of cuda/ (q8.cu, topk.cu, scan.cuh) use, for the host's C++ compiler:
 * the SIMT emulator.
 *
 * The emulator compiles the real kernel sources (not a rewrite of them) and runs every CUDA thread as
 * a fiber: the threads of a block take turns on one host thread, switching only at __syncthreads and
 * at warp collectives (shuffles, ballots, reductions), which complete when every lane of the warp has
 * reached them. Several host threads run blocks at the same time, so the single-pass scans' look-back
 * really waits for other blocks. It checks what nvcc cannot: a warp collective or a barrier that not
 * every thread reaches (a deadlock on a GPU, or undefined behaviour) stops the program with the
 * kernel, the block, the warp and the source lines; with ASan, any read or write outside an
 * allocation is caught at the element that does it.
 *
 * What it does not model: the GPU's memory model beyond x86's (stores become visible in order),
 * uninitialised shared memory (here it keeps the previous block's values), and timing.
 *
 * This header stands in for <cuda_runtime.h> when GCOMP_SIMT is defined (cuda/simt comes first on
 * the include path of the emulator's objects only).
 */
#ifndef GCOMP_SIMT_CUDA_RUNTIME_H
#define GCOMP_SIMT_CUDA_RUNTIME_H

#ifndef GCOMP_SIMT
#error "cuda/simt/cuda_runtime.h is the SIMT emulator's; build with -DGCOMP_SIMT"
#endif

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <tuple>
#include <utility>

/* ---- the runtime API the launchers call ----------------------------------------------------------- */

typedef struct gcomp_simt_stream *cudaStream_t;
typedef enum cudaError { cudaSuccess = 0, cudaErrorInvalidConfiguration = 9 } cudaError_t;
enum cudaDeviceAttr { cudaDevAttrMultiProcessorCount = 16 };

cudaError_t cudaGetLastError(void);
cudaError_t cudaGetDevice(int *device);
cudaError_t cudaDeviceGetAttribute(int *value, enum cudaDeviceAttr attr, int device);
cudaError_t cudaMemsetAsync(void *p, int value, size_t bytes, cudaStream_t stream);

/* ---- declarations ---------------------------------------------------------------------------------- */

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __launch_bounds__(...)
/* One block at a time per host thread: a static per host thread is the block's shared memory. */
#define __shared__ static thread_local

namespace gcomp_simt {

struct dim3_t {
    unsigned x, y, z;
};

/* threadIdx of the CUDA thread running on this host thread (set at every switch), and the block's. */
extern thread_local dim3_t thread_idx, block_idx, block_dim, grid_dim;

/* Collectives. kind names the intrinsic; file and line say where (for the deadlock report). */
enum { OP_SYNCTHREADS, OP_SHFL, OP_SHFL_UP, OP_SHFL_XOR, OP_BALLOT, OP_ANY, OP_REDUCE_ADD, OP_REDUCE_MAX,
       OP_REDUCE_OR };
void syncthreads(const char *file, int line);
/* Every lane of the warp puts v in; the call returns when all have, pointing at the 32 values. */
const uint64_t *warp_exchange(int kind, uint64_t v, uint32_t mask, const char *file, int line);
void nanosleep_ns(unsigned ns);

template <class T> static inline uint64_t to_slot(T v)
{
    static_assert(sizeof(T) <= sizeof(uint64_t), "shuffled values are at most 8 bytes");
    uint64_t s = 0;
    memcpy(&s, &v, sizeof(T));
    return s;
}

template <class T> static inline T from_slot(uint64_t s)
{
    T v;
    memcpy(&v, &s, sizeof(T));
    return v;
}

static inline unsigned lane_id(void)
{
    return thread_idx.x & 31u;
}

/* ---- launches ---------------------------------------------------------------------------------- */

struct launch_t {
    unsigned grid, block;
    const char *name;
    void (*thunk)(const void *closure);
    const void *closure;
};
void run(const launch_t &l);

template <class Kernel> struct launcher {
    unsigned grid, block;
    const char *name;
    Kernel *kernel;
    launcher(int g, int b, const char *n, Kernel *k) : grid((unsigned)g), block((unsigned)b), name(n), kernel(k) {}
    template <class... A> void operator()(const A &...args) const
    {
        struct closure_t {
            Kernel *kernel;
            std::tuple<A...> args;
        } c{kernel, std::tuple<A...>(args...)};
        /* Each CUDA thread gets its own copy of the parameters, as on the device. */
        launch_t l{grid, block, name,
                   [](const void *p) {
                       const closure_t *cl = (const closure_t *)p;
                       std::tuple<A...> mine = cl->args;
                       std::apply(cl->kernel, mine);
                   },
                   &c};
        run(l);
    }
};
template <class Kernel> launcher(int, int, const char *, Kernel *) -> launcher<Kernel>;

} // namespace gcomp_simt

#define threadIdx (gcomp_simt::thread_idx)
#define blockIdx (gcomp_simt::block_idx)
#define blockDim (gcomp_simt::block_dim)
#define gridDim (gcomp_simt::grid_dim)

/* ---- intrinsics --------------------------------------------------------------------------------- */

static inline void __syncthreads(const char *file = __builtin_FILE(), int line = __builtin_LINE())
{
    gcomp_simt::syncthreads(file, line);
}

template <class T>
static inline T __shfl_sync(unsigned mask, T v, int src, const char *file = __builtin_FILE(),
                            int line = __builtin_LINE())
{
    const uint64_t *s = gcomp_simt::warp_exchange(gcomp_simt::OP_SHFL, gcomp_simt::to_slot(v), mask, file, line);
    return gcomp_simt::from_slot<T>(s[src & 31]);
}

template <class T>
static inline T __shfl_up_sync(unsigned mask, T v, unsigned delta, const char *file = __builtin_FILE(),
                               int line = __builtin_LINE())
{
    const uint64_t *s = gcomp_simt::warp_exchange(gcomp_simt::OP_SHFL_UP, gcomp_simt::to_slot(v), mask, file, line);
    unsigned lane = gcomp_simt::lane_id();
    return lane >= delta ? gcomp_simt::from_slot<T>(s[lane - delta]) : v;
}

template <class T>
static inline T __shfl_xor_sync(unsigned mask, T v, int lane_mask, const char *file = __builtin_FILE(),
                                int line = __builtin_LINE())
{
    const uint64_t *s = gcomp_simt::warp_exchange(gcomp_simt::OP_SHFL_XOR, gcomp_simt::to_slot(v), mask, file, line);
    unsigned src = gcomp_simt::lane_id() ^ (unsigned)lane_mask;
    return src < 32 ? gcomp_simt::from_slot<T>(s[src]) : v;
}

static inline unsigned __ballot_sync(unsigned mask, int pred, const char *file = __builtin_FILE(),
                                     int line = __builtin_LINE())
{
    const uint64_t *s = gcomp_simt::warp_exchange(gcomp_simt::OP_BALLOT, pred != 0, mask, file, line);
    unsigned b = 0;
    for (unsigned l = 0; l < 32; l++) b |= (unsigned)(s[l] != 0) << l;
    return b & mask;
}

static inline int __any_sync(unsigned mask, int pred, const char *file = __builtin_FILE(),
                             int line = __builtin_LINE())
{
    return __ballot_sync(mask, pred, file, line) != 0;
}

static inline unsigned __reduce_add_sync(unsigned mask, unsigned v, const char *file = __builtin_FILE(),
                                         int line = __builtin_LINE())
{
    const uint64_t *s = gcomp_simt::warp_exchange(gcomp_simt::OP_REDUCE_ADD, v, mask, file, line);
    unsigned sum = 0;
    for (unsigned l = 0; l < 32; l++) sum += (unsigned)s[l];
    return sum;
}

static inline unsigned __reduce_max_sync(unsigned mask, unsigned v, const char *file = __builtin_FILE(),
                                         int line = __builtin_LINE())
{
    const uint64_t *s = gcomp_simt::warp_exchange(gcomp_simt::OP_REDUCE_MAX, v, mask, file, line);
    unsigned m = 0;
    for (unsigned l = 0; l < 32; l++) m = (unsigned)s[l] > m ? (unsigned)s[l] : m;
    return m;
}

static inline unsigned __reduce_or_sync(unsigned mask, unsigned v, const char *file = __builtin_FILE(),
                                        int line = __builtin_LINE())
{
    const uint64_t *s = gcomp_simt::warp_exchange(gcomp_simt::OP_REDUCE_OR, v, mask, file, line);
    unsigned o = 0;
    for (unsigned l = 0; l < 32; l++) o |= (unsigned)s[l];
    return o;
}

static inline int __popc(unsigned v)
{
    return __builtin_popcount(v);
}

static inline int __ffs(int v)
{
    return __builtin_ffs(v);
}

static inline void __nanosleep(unsigned ns)
{
    gcomp_simt::nanosleep_ns(ns);
}

/* Blocks run at the same time on several host threads: device atomics are host atomics. */
template <class T> static inline T atomicAdd(T *p, T v)
{
    return __atomic_fetch_add(p, v, __ATOMIC_RELAXED);
}

template <class T> static inline T atomicOr(T *p, T v)
{
    return __atomic_fetch_or(p, v, __ATOMIC_RELAXED);
}

#endif
