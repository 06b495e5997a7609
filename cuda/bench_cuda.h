/* The --gpu mode of bench/gcomp_codec_bench (bench_cuda.c). */
#ifndef GCOMP_CUDA_BENCH_CUDA_H
#define GCOMP_CUDA_BENCH_CUDA_H

#include <stdio.h>

#include "core/compiler.h"

/* Benchmark the codecs in the comma list on device 0 for each size (MiB, comma list), printing a
 * table and, if json is not NULL, JSON. @return 0, 1 on failure, 77 when there is no GPU. */
GCOMP_INTERNAL int gcomp_cuda_codec_bench(const char *sizes_mib, const char *codec_list, int iters, double ratio,
                                          FILE *json);

#endif
