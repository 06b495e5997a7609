/*
 * The SIMT backend of kernels.h: the real kernels (q8.cu, topk.cu) run by the emulator of
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
        be.none_encode = gcomp_cu_launch_none_encode;
        be.none_decode = gcomp_cu_launch_none_decode;
        be.q8_encode = gcomp_cu_launch_q8_encode;
        be.q8_decode = gcomp_cu_launch_q8_decode;
        be.exc_collect = gcomp_cu_launch_exc_collect;
        be.exc_apply = gcomp_cu_launch_exc_apply;
        be.topk_sample = gcomp_cu_launch_topk_sample;
        be.topk_prep = gcomp_cu_launch_topk_prep;
        be.topk_hist = gcomp_cu_launch_topk_hist;
        be.topk_pick = gcomp_cu_launch_topk_pick;
        be.topk_compact = gcomp_cu_launch_topk_compact;
        be.topk_decide = gcomp_cu_launch_topk_decide;
        be.topk_payload = gcomp_cu_launch_topk_payload;
        be.topk_decode = gcomp_cu_launch_topk_decode;
        be.convert = gcomp_cu_launch_convert;
        be.count = gcomp_cu_launch_count;
        be.name = "simt";
    }
    return &be;
}
