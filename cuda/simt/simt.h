/*
 * The SIMT emulator, seen from C: a kernels.h backend that runs the real CUDA kernels on the CPU,
 * each CUDA thread a fiber (cuda_runtime.h in this folder says how and what it checks). For tests:
 * put it in an emulated context (ctx->be) and drive it like the GPU.
 */
#ifndef GCOMP_SIMT_H
#define GCOMP_SIMT_H

#include <stdio.h>

#include "kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

const gcomp_cu_backend_t *gcomp_cu_backend_simt(void);

/* What the emulator ran so far: launches, blocks, threads, switches, and how often a block's
 * look-back had to wait for another block (evidence that blocks really overlapped). */
void gcomp_simt_report(FILE *out);

#ifdef __cplusplus
}
#endif

#endif
