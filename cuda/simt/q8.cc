/* cuda/q8.cu, compiled for the SIMT emulator (kernels.hh says how). */
#include "kernels.hh"

namespace gcomp_simt_q8 {
#include "../q8.cu"
}
