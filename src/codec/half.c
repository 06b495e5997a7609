/* IEEE binary16 conversions in plain C (codec/half.h, shared with the CUDA kernels): used on short
 * lists (top-k values), so portability wins over F16C here. */
#include "codec/codec.h"
#include "codec/half.h"

uint16_t gcomp_f32_to_f16(float f)
{
    return gcomp_half_from_f32_bits(gcomp_f32_bits(f));
}

float gcomp_f16_to_f32(uint16_t h)
{
    return gcomp_bits_f32(gcomp_half_to_f32_bits(h));
}
