/* Run-time choice of the CPU kernel variant (AVX-512, AVX2, plain C), best first. */
#ifndef GCOMP_CODEC_ISA_H
#define GCOMP_CODEC_ISA_H

#include "core/compiler.h"

typedef enum { GCOMP_ISA_AUTO = 0, GCOMP_ISA_SCALAR, GCOMP_ISA_AVX2, GCOMP_ISA_AVX512 } gcomp_isa_t;

#define GCOMP_ISA_COUNT 4 /* indexed by gcomp_isa_t; GCOMP_ISA_AUTO is never a kernel slot */

/* 1 if the variant was compiled in and this CPU runs it. */
GCOMP_INTERNAL int gcomp_isa_available(gcomp_isa_t isa);
/* The variant GCOMP_ISA asks for, or the best available (with one warning if the one asked for
 * is not available). Never GCOMP_ISA_AUTO. */
GCOMP_INTERNAL gcomp_isa_t gcomp_isa_active(void);
GCOMP_INTERNAL const char *gcomp_isa_name(gcomp_isa_t isa);

#endif
