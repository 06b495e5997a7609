/*
 * The SIMT backend of kernels.h: the real kernels (every .cu of cuda/) run by the emulator of
 * cuda/simt over host memory. Memory steps are the host emulation's (emulate.c), launches the
 * kernel files' own launchers, renamed (names.h).
 */
#include "names.h"
#include "kernels.h"
#include "simt.h"

const gcomp_cu_backend_t *gcomp_cu_backend_simt(void)
{
    static gcomp_cu_backend_t be;
    if (be.name == NULL) {
        be = gcomp_cu_backend_emu;
#define SIMT_STEP(step, args) be.step = GCOMP_CU_LAUNCHER(step);
        GCOMP_CU_STEPS(SIMT_STEP)
#undef SIMT_STEP
        be.name = "simt";
    }
    return &be;
}
