/*
 * The SIMT emulator's launchers are the kernel files' own, renamed so that they link beside the nvcc
 * objects of the same files: included before kernels.h, this renames its prototypes too (kernels.h
 * names every launcher through GCOMP_CU_LAUNCHER).
 */
#ifndef GCOMP_SIMT_NAMES_H
#define GCOMP_SIMT_NAMES_H

#define GCOMP_CU_LAUNCHER(step) gcomp_simt_launch_##step

#endif
