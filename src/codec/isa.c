#define GCOMP_LOG_SUBSYS GCOMP_SUBSYS_CODEC
#include "codec/isa.h"

#include <pthread.h>

#include "gcomp_config.h"
#include "codec/codec_vars.h"
#include "core/log.h"

int gcomp_isa_available(gcomp_isa_t isa)
{
    switch (isa) {
    case GCOMP_ISA_SCALAR: return 1;
    case GCOMP_ISA_AVX2:
#if GCOMP_BUILD_AVX2 && (defined(__x86_64__) || defined(__i386__))
        /* Every x86 CPU with AVX2 also has F16C; clang's __builtin_cpu_supports has no "f16c". */
        return __builtin_cpu_supports("avx2");
#else
        return 0;
#endif
    case GCOMP_ISA_AVX512:
#if GCOMP_BUILD_AVX512 && (defined(__x86_64__) || defined(__i386__))
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
#else
        return 0;
#endif
    default: return 0;
    }
}

const char *gcomp_isa_name(gcomp_isa_t isa)
{
    return (unsigned)isa <= GCOMP_ISA_AVX512 ? gcomp_isa_names[isa] : "?";
}

static gcomp_isa_t active = GCOMP_ISA_AUTO;
static pthread_once_t active_once = PTHREAD_ONCE_INIT;

static void choose(void)
{
    gcomp_isa_t best = gcomp_isa_available(GCOMP_ISA_AVX512) ? GCOMP_ISA_AVX512
                       : gcomp_isa_available(GCOMP_ISA_AVX2) ? GCOMP_ISA_AVX2
                                                             : GCOMP_ISA_SCALAR;
    gcomp_isa_t want = (gcomp_isa_t)gcomp_codec_config()->isa;
    if (want != GCOMP_ISA_AUTO && !gcomp_isa_available(want)) {
        gcomp_warn("GCOMP_ISA=%s is not available on this CPU or build; using %s",
                   gcomp_isa_name(want), gcomp_isa_name(best));
        want = GCOMP_ISA_AUTO;
    }
    active = want == GCOMP_ISA_AUTO ? best : want;
    gcomp_info("cpu kernels: %s", gcomp_isa_name(active));
}

gcomp_isa_t gcomp_isa_active(void)
{
    pthread_once(&active_once, choose);
    return active;
}
