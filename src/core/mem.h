/* Aligned allocation and growable scratch buffers (grown, never shrunk, reused across calls). */
#ifndef GCOMP_CORE_MEM_H
#define GCOMP_CORE_MEM_H

#include <stddef.h>

#include "gcomp.h"
#include "core/compiler.h"

#define GCOMP_ALIGNMENT 64

GCOMP_INTERNAL void *gcomp_aligned_alloc(size_t size);
GCOMP_INTERNAL void gcomp_aligned_free(void *ptr);

typedef struct gcomp_scratch {
    void *ptr;
    size_t size;
    /* How the memory is made and given back: NULL for gcomp_aligned_alloc and gcomp_aligned_free
     * (the collectives put pinned memory here for calls on device buffers). */
    void *(*alloc)(size_t size);
    void (*release)(void *ptr);
} gcomp_scratch_t;

/* Make s hold at least size bytes (64-byte aligned; contents not preserved). */
GCOMP_INTERNAL gcomp_status_t gcomp_scratch_reserve(gcomp_scratch_t *s, size_t size);
GCOMP_INTERNAL void gcomp_scratch_free(gcomp_scratch_t *s);

/* A scratch buffer owned by the calling thread, freed when the thread exits. */
GCOMP_INTERNAL gcomp_scratch_t *gcomp_thread_scratch(void);

#endif
