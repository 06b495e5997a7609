/*
 * The SIMT emulator's runtime (cuda_runtime.h says what it is for): fibers, the per-block scheduler,
 * warp collectives, barriers, and the host threads that run blocks side by side.
 *
 * A launch hands blocks out from a counter to GCOMP_TEST_SIMT_WORKERS host threads (default 3). A
 * host thread runs one block at a time: blockDim.x fibers on their own stacks, each a CUDA thread.
 * The scheduler resumes every runnable fiber in turn (in an order shuffled by GCOMP_TEST_SIMT_SEED,
 * default 1; 0 keeps thread order); a fiber runs until it reaches a collective it has to wait at, or returns.
 * A warp collective completes when all 32 lanes have reached one of the same kind; a barrier when
 * every thread of the block has. When no fiber can run and some have not returned, the kernel is
 * wrong (some thread skipped a collective the others wait at): the emulator prints who waits where
 * and aborts.
 *
 * The fibers and the switches between them are fiber.h's and fiber.cc's; with ASan the switches are
 * announced to it, so it checks the fibers' stacks and the kernels' memory accesses as it would plain
 * code.
 */
#include "fiber.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

namespace gcomp_simt {

thread_local dim3_t thread_idx, block_idx, block_dim, grid_dim;

static worker *workers[MAX_WORKERS];
static struct {
    uint64_t launches, blocks, threads, switches, waits;
} stats; /* updated with atomics: workers run at the same time */
static thread_local worker *W;
static thread_local cudaError_t last_error = cudaSuccess;

static const char *op_name(int op)
{
    static const char *const names[] = {"__syncthreads", "__shfl_sync", "__shfl_up_sync", "__shfl_xor_sync",
                                        "__ballot_sync", "__any_sync", "__reduce_add_sync", "__reduce_max_sync",
                                        "__reduce_or_sync"};
    return op >= 0 && op < (int)(sizeof(names) / sizeof(names[0])) ? names[op] : "?";
}

/* The warps of the block (or just warp `only`): which lanes are where, one line per place. */
static void report_warps(const worker *w, int only)
{
    for (unsigned wp = 0; wp * 32 < w->nthreads; wp++) {
        if (only >= 0 && wp != (unsigned)only) continue;
        uint32_t left = 0;
        for (unsigned l = 0; l < 32 && wp * 32 + l < w->nthreads; l++) left |= 1u << l;
        while (left) {
            const fiber *f = &w->fib[wp * 32 + (unsigned)__builtin_ctz(left)];
            uint32_t same = 0;
            for (unsigned l = 0; l < 32; l++) {
                const fiber *o = &w->fib[wp * 32 + l];
                if (((left >> l) & 1u) && o->state == f->state &&
                    (f->state == F_DONE || f->state == F_RUN || (o->op == f->op && o->line == f->line)))
                    same |= 1u << l;
            }
            left &= ~same;
            if (f->state == F_WAIT_WARP || f->state == F_WAIT_BLOCK)
                fprintf(stderr, "simt:   warp %u, lanes 0x%08x: wait at %s (%s:%d)\n", wp, same, op_name(f->op),
                        f->file, f->line);
            else
                fprintf(stderr, "simt:   warp %u, lanes 0x%08x: %s\n", wp, same,
                        f->state == F_DONE ? "returned" : "not there yet");
        }
    }
}

/* A kernel broke a rule of collectives (or the emulator cannot go on): say where, and stop. */
[[noreturn]] static void die(const char *what, int warp)
{
    const launch_t *l = W ? W->launch : NULL;
    fprintf(stderr, "simt: %s in kernel %s, block %u of %u (%u threads)\n", what, l ? l->name : "?",
            block_idx.x, grid_dim.x, block_dim.x);
    if (W) report_warps(W, warp);
    abort();
}

static unsigned env_unsigned(const char *name, unsigned dflt, unsigned lo, unsigned hi)
{
    const char *v = getenv(name);
    if (v == NULL || *v == '\0') return dflt;
    char *end;
    errno = 0;
    unsigned long x = strtoul(v, &end, 10);
    if (errno || *end || x < lo || x > hi) {
        fprintf(stderr, "simt: %s=%s is not a number in [%u, %u]; using %u\n", name, v, lo, hi, dflt);
        return dflt;
    }
    return (unsigned)x;
}

/* ---- the scheduler ------------------------------------------------------------------------------ */

static void yield(worker *w, fiber *f)
{
    asan_leave_fiber(w, f, false);
    to_scheduler(w, f);
    asan_in_fiber(w, f, false);
}

static void fiber_main(void)
{
    worker *w = W;
    asan_in_fiber(w, w->cur, true);
    w->launch->thunk(w->launch->closure);
    fiber *f = w->cur;
    f->state = F_DONE;
    w->done++;
    asan_leave_fiber(w, f, true);
    to_scheduler(w, f);
    __builtin_unreachable();
}

static uint64_t next_rand(worker *w)
{
    uint64_t x = w->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return w->rng = x;
}

static void shuffle(worker *w)
{
    for (unsigned i = w->nthreads; i > 1; i--) {
        unsigned j = (unsigned)(next_rand(w) % i);
        unsigned t = w->order[i - 1];
        w->order[i - 1] = w->order[j];
        w->order[j] = t;
    }
}

static void run_block(worker *w, unsigned b, unsigned seed)
{
    const unsigned T = w->nthreads;
    block_idx = dim3_t{b, 0, 0};
    w->done = 0;
    w->block_arrived = 0;
    memset(w->warps, 0, sizeof(warp_t) * ((T + 31) / 32));
    for (unsigned t = 0; t < T; t++) {
        fiber *f = &w->fib[t];
        f->state = F_RUN;
        f->op = -1;
        f->file = NULL;
        f->line = 0;
#ifdef SIMT_ASAN
        /* The last block's frames never unwound (fibers switch away at their end): clear their poison. */
        ASAN_UNPOISON_MEMORY_REGION(f->stack, STACK_BYTES);
#endif
        fiber_init(f, fiber_main);
        w->order[t] = t;
    }
    if (seed) {
        w->rng = seed * 0x9e3779b97f4a7c15ull ^ ((uint64_t)b << 32 | 0x2545f491u);
        shuffle(w);
    }
    uint64_t switches = 0;
    while (w->done < T) {
        bool progress = false;
        for (unsigned k = 0; k < T; k++) {
            fiber *f = &w->fib[w->order[k]];
            if (f->state != F_RUN) continue;
            w->cur = f;
            thread_idx = dim3_t{w->order[k], 0, 0};
            asan_enter_fiber(w, f);
            to_fiber(w, f);
            asan_back_in_scheduler(w);
            progress = true;
            switches++;
        }
        if (!progress) die("deadlock: some threads wait at a collective the others never reach", -1);
        if (seed) shuffle(w);
    }
    __atomic_fetch_add(&stats.blocks, 1, __ATOMIC_RELAXED);
    __atomic_fetch_add(&stats.threads, T, __ATOMIC_RELAXED);
    __atomic_fetch_add(&stats.switches, switches, __ATOMIC_RELAXED);
}

void syncthreads(const char *file, int line)
{
    worker *w = W;
    fiber *f = w->cur;
    f->op = OP_SYNCTHREADS;
    f->file = file;
    f->line = line;
    if (++w->block_arrived == w->nthreads) {
        w->block_arrived = 0;
        for (unsigned t = 0; t < w->nthreads; t++)
            if (w->fib[t].state == F_WAIT_BLOCK) w->fib[t].state = F_RUN;
        return;
    }
    f->state = F_WAIT_BLOCK;
    yield(w, f);
}

const uint64_t *warp_exchange(int op, uint64_t v, uint32_t mask, const char *file, int line)
{
    worker *w = W;
    fiber *f = w->cur;
    const unsigned tid = (unsigned)(f - w->fib), lane = tid & 31;
    f->op = op;
    f->file = file;
    f->line = line;
    const int warp = (int)(tid >> 5);
    if (mask != 0xffffffffu) die("a warp collective with a partial mask (the emulator takes full warps only)", warp);
    if ((w->nthreads & 31) != 0) die("a warp collective in a block whose size is not a multiple of 32", warp);
    warp_t *wp = &w->warps[warp];
    if (wp->arrived == 0) {
        wp->op = op;
    } else if (wp->op != op) {
        f->state = F_WAIT_WARP; /* for the report */
        die("lanes of one warp at different collectives", warp);
    }
    const uint64_t gen = wp->gen;
    wp->slot[gen & 1][lane] = v;
    if (++wp->arrived == 32) {
        wp->arrived = 0;
        wp->gen++;
        for (unsigned l = 0; l < 32; l++) {
            fiber *o = &w->fib[(tid & ~31u) + l];
            if (o->state == F_WAIT_WARP) o->state = F_RUN;
        }
    } else {
        f->state = F_WAIT_WARP;
        yield(w, f);
    }
    return wp->slot[gen & 1];
}

void nanosleep_ns(unsigned ns)
{
    (void)ns;
    __atomic_fetch_add(&stats.waits, 1, __ATOMIC_RELAXED);
    sched_yield(); /* the thread it waits for runs another block on another host thread */
}

/* ---- launches ----------------------------------------------------------------------------------- */

struct job_t {
    const launch_t *launch;
    unsigned next; /* next block to hand out */
    unsigned seed;
};

static worker *worker_get(unsigned i)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&lock);
    worker *w = workers[i];
    if (w == NULL) {
        w = (worker *)calloc(1, sizeof(*w));
        size_t each = STACK_BYTES + 4096;
        void *m = w ? mmap(NULL, each * MAX_THREADS, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                           -1, 0)
                    : MAP_FAILED;
        if (m == MAP_FAILED) {
            fprintf(stderr, "simt: no memory for %d fiber stacks\n", MAX_THREADS);
            abort();
        }
        w->stacks = (char *)m;
        for (unsigned t = 0; t < MAX_THREADS; t++) {
            char *guard = w->stacks + t * each;
            mprotect(guard, 4096, PROT_NONE); /* a fiber that overflows its stack faults at once */
            w->fib[t].stack = guard + 4096;
        }
        workers[i] = w;
    }
    pthread_mutex_unlock(&lock);
    return w;
}

struct worker_arg {
    job_t *job;
    unsigned index;
};

static void *worker_main(void *p)
{
    worker_arg *a = (worker_arg *)p;
    job_t *job = a->job;
    worker *w = worker_get(a->index);
    W = w;
    w->launch = job->launch;
    w->nthreads = job->launch->block;
    grid_dim = dim3_t{job->launch->grid, 1, 1};
    block_dim = dim3_t{job->launch->block, 1, 1};
    for (;;) {
        unsigned b = __atomic_fetch_add(&job->next, 1u, __ATOMIC_RELAXED);
        if (b >= job->launch->grid) break;
        run_block(w, b, job->seed);
    }
    W = NULL;
    return NULL;
}

void run(const launch_t &l)
{
    if (l.block == 0 || l.block > MAX_THREADS || l.grid == 0 || l.grid > 0x7fffffffu) {
        fprintf(stderr, "simt: launch of %s with grid %u and block %u is invalid\n", l.name, l.grid, l.block);
        last_error = cudaErrorInvalidConfiguration;
        return;
    }
    static unsigned nworkers, seed;
    if (nworkers == 0) {
        seed = env_unsigned("GCOMP_TEST_SIMT_SEED", 1, 0, 0xffffffffu);
        nworkers = env_unsigned("GCOMP_TEST_SIMT_WORKERS", 3, 1, MAX_WORKERS);
    }
    stats.launches++;
    job_t job = {&l, 0, seed};
    unsigned n = l.grid < nworkers ? l.grid : nworkers;
    pthread_t tids[MAX_WORKERS];
    worker_arg args[MAX_WORKERS];
    for (unsigned i = 0; i < n; i++) args[i] = worker_arg{&job, i};
    unsigned started = 1;
    for (unsigned i = 1; i < n; i++, started++)
        if (pthread_create(&tids[i], NULL, worker_main, &args[i]) != 0) break; /* fewer workers still work */
    worker_main(&args[0]);
    for (unsigned i = 1; i < started; i++) pthread_join(tids[i], NULL);
}

} // namespace gcomp_simt

extern "C" void gcomp_simt_report(FILE *out)
{
    using gcomp_simt::stats;
    fprintf(out,
            "simt: %llu launches, %llu blocks, %llu CUDA threads, %llu fiber switches, %llu look-back waits "
            "for another block\n",
            (unsigned long long)stats.launches, (unsigned long long)stats.blocks, (unsigned long long)stats.threads,
            (unsigned long long)stats.switches, (unsigned long long)stats.waits);
}

/* ---- runtime API ------------------------------------------------------------------------------- */

cudaError_t cudaGetLastError(void)
{
    cudaError_t e = gcomp_simt::last_error;
    gcomp_simt::last_error = cudaSuccess;
    return e;
}

cudaError_t cudaGetDevice(int *device)
{
    *device = 0;
    return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int *value, enum cudaDeviceAttr attr, int device)
{
    (void)device;
    /* Few "SMs": the persistent grids of the scans then have several tiles per block. */
    *value = attr == cudaDevAttrMultiProcessorCount
                 ? (int)gcomp_simt::env_unsigned("GCOMP_TEST_SIMT_SMS", 2, 1, 1024)
                 : 0;
    return cudaSuccess;
}

cudaError_t cudaMemsetAsync(void *p, int value, size_t bytes, cudaStream_t stream)
{
    (void)stream;
    memset(p, value, bytes);
    return cudaSuccess;
}
