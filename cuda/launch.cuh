/*
 * Kernel launches, written once for two compilers: nvcc (`kernel<<<grid, block, 0, stream>>>(args)`)
 * and the SIMT emulator of cuda/simt, which compiles these same kernel sources with the host's C++
 * compiler and runs each CUDA thread as a fiber (the syntax <<< >>> is nvcc's alone). Write
 *     GCU_LAUNCH(grid, block, stream, kernel<template args>)(args);
 * Launches take no dynamic shared memory.
 */
#ifndef GCOMP_CUDA_LAUNCH_CUH
#define GCOMP_CUDA_LAUNCH_CUH

#ifdef GCOMP_SIMT
#define GCU_LAUNCH(grid, block, stream, ...)                                                      \
    ((void)(stream), gcomp_simt::launcher((grid), (block), #__VA_ARGS__, __VA_ARGS__))
#else
#define GCU_LAUNCH(grid, block, stream, ...) __VA_ARGS__<<<(grid), (block), 0, (stream)>>>
#endif

#endif
