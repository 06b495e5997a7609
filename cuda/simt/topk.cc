/* cuda/topk.cu and cuda/scan.cuh, compiled for the SIMT emulator (kernels.hh says how). */
#include "kernels.hh"

namespace gcomp_simt_topk {
#include "../topk.cu"
}
