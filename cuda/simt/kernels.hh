/*
 * What a kernel file compiled for the SIMT emulator sees before its own text: the CUDA dialect
 * (cuda_runtime.h here), the shared headers, and the launchers' new names. The kernel file is then
 * included inside a namespace of its own, so its kernels and helpers do not collide with the nvcc
 * objects of the same file in one program.
 */
#ifndef GCOMP_SIMT_KERNELS_HH
#define GCOMP_SIMT_KERNELS_HH

#include <math.h>
#include <stdint.h>
#include <string.h>

#include <cuda_runtime.h>

#include "names.h"
#include "elem.h"
#include "kernels.h"
#include "launch.cuh"

#endif
