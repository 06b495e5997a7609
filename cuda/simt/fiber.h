/*
 * The SIMT emulator's fibers (simt.cc runs them): what a fiber, a warp and a host thread running
 * blocks (a worker) hold, and the switches between a fiber and its worker's scheduler. The switch is
 * a few instructions of assembly on x86-64 (fiber.cc), ucontext elsewhere; with ASan every switch is
 * announced to it, so that it follows the stack in use.
 */
#ifndef GCOMP_SIMT_FIBER_H
#define GCOMP_SIMT_FIBER_H

#include "cuda_runtime.h"

#include <stddef.h>
#include <stdint.h>

#if defined(__SANITIZE_ADDRESS__)
#define SIMT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SIMT_ASAN 1
#endif
#endif
#ifdef SIMT_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

#if !defined(__x86_64__)
#include <ucontext.h>
#endif

namespace gcomp_simt {

enum { MAX_THREADS = 1024, MAX_WORKERS = 16 };
static const size_t STACK_BYTES = 256 * 1024; /* ASan's frames are several times larger than plain ones */

enum { F_RUN, F_WAIT_WARP, F_WAIT_BLOCK, F_DONE };

struct fiber {
#if defined(__x86_64__)
    void *sp;
#else
    ucontext_t uc;
#endif
    char *stack;
    int state;
    int op;             /* where it waits: the collective, file and line */
    const char *file;
    int line;
#ifdef SIMT_ASAN
    void *fake_stack;   /* ASan's fake frames of this fiber while it is switched out */
#endif
};

struct warp_t {
    unsigned arrived;
    uint64_t gen;
    int op;
    uint64_t slot[2][32]; /* by generation parity: a lane can be at most one collective ahead */
};

struct worker {
    fiber fib[MAX_THREADS];
    warp_t warps[MAX_THREADS / 32];
    unsigned order[MAX_THREADS];
    char *stacks;        /* MAX_THREADS stacks, each above a guard page */
    unsigned nthreads, done, block_arrived;
    fiber *cur;
#if defined(__x86_64__)
    void *sched_sp;
#else
    ucontext_t sched_uc;
#endif
    const launch_t *launch;
    uint64_t rng;
#ifdef SIMT_ASAN
    const void *sched_bottom;
    size_t sched_size;
    void *fake_stack;
#endif
};

/* A fiber that starts at entry on its own stack when first switched to (fiber.cc). */
void fiber_init(fiber *f, void (*entry)(void));

#if defined(__x86_64__)
extern "C" void gcomp_simt_switch(void **save_sp, void *to_sp);

static inline void to_fiber(worker *w, fiber *f)
{
    gcomp_simt_switch(&w->sched_sp, f->sp);
}

static inline void to_scheduler(worker *w, fiber *f)
{
    gcomp_simt_switch(&f->sp, w->sched_sp);
}
#else
static inline void to_fiber(worker *w, fiber *f)
{
    swapcontext(&w->sched_uc, &f->uc);
}

static inline void to_scheduler(worker *w, fiber *f)
{
    swapcontext(&f->uc, &w->sched_uc);
}
#endif

/* ASan follows the stack in use: it is told before each switch where execution goes, and after. */
static inline void asan_enter_fiber(worker *w, fiber *f)
{
#ifdef SIMT_ASAN
    __sanitizer_start_switch_fiber(&w->fake_stack, f->stack, STACK_BYTES);
#else
    (void)w, (void)f;
#endif
}

static inline void asan_back_in_scheduler(worker *w)
{
#ifdef SIMT_ASAN
    __sanitizer_finish_switch_fiber(w->fake_stack, NULL, NULL);
#else
    (void)w;
#endif
}

static inline void asan_leave_fiber(worker *w, fiber *f, bool for_good)
{
#ifdef SIMT_ASAN
    __sanitizer_start_switch_fiber(for_good ? NULL : &f->fake_stack, w->sched_bottom, w->sched_size);
#else
    (void)w, (void)f, (void)for_good;
#endif
}

static inline void asan_in_fiber(worker *w, fiber *f, bool first)
{
#ifdef SIMT_ASAN
    if (first) __sanitizer_finish_switch_fiber(NULL, &w->sched_bottom, &w->sched_size);
    else __sanitizer_finish_switch_fiber(f->fake_stack, NULL, NULL);
#else
    (void)w, (void)f, (void)first;
#endif
}

} // namespace gcomp_simt

#endif
