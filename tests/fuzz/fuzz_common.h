/*
 * What the fuzz targets share: a hard failure that libFuzzer (and the corpus replayer) report as a
 * crash with a message, quiet logging, and the scratch space the decoders use.
 */
#ifndef GCOMP_FUZZ_COMMON_H
#define GCOMP_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/mem.h"

#define FUZZ_ASSERT(cond, ...)                                                                     \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz property broken at %s:%d: ", __FILE__, __LINE__);                \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static inline gcomp_scratch_t *fuzz_scratch(void)
{
    gcomp_scratch_t *s = gcomp_thread_scratch();
    FUZZ_ASSERT(s != NULL, "no scratch space");
    return s;
}

#endif
