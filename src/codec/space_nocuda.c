/* gcomp_space_find() of a build without CUDA (meson picks this file or cuda/space_cuda.c): every
 * pointer is host memory. */
#include "codec/space.h"

gcomp_status_t gcomp_space_find(const void *in, const void *out, int type_ok, int quiet, gcomp_space_t *space_p)
{
    (void)in, (void)out, (void)type_ok, (void)quiet;
    if (space_p != NULL) *space_p = gcomp_space_host();
    return GCOMP_OK;
}
