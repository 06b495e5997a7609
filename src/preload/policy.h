/*
 * Which MPI_Allreduce calls the interposer compresses. Everything the policy refuses goes to
 * PMPI_Allreduce with the caller's exact arguments, so it gives what plain MPI gives, bit for bit.
 */
#ifndef GCOMP_PRELOAD_POLICY_H
#define GCOMP_PRELOAD_POLICY_H

#include <stddef.h>

#include "gcomp.h"
#include "core/compiler.h"
#include "core/config.h"

/*
 * Read the configuration and parse GCOMP_EXCLUDE (once; later calls return the first answer).
 * @return 0, or the number of invalid settings the policy found (GCOMP_EXCLUDE); with any, the
 *         policy compresses nothing.
 */
GCOMP_INTERNAL int gcomp_policy_setup(void);

/* 1 if compression is on at all (codec not none, configuration valid). */
GCOMP_INTERNAL int gcomp_policy_enabled(void);

/*
 * 1 if this call is to be compressed: op MPI_SUM, a float type, an intracommunicator of more than
 * one rank, at least GCOMP_MIN_BYTES, not excluded by GCOMP_EXCLUDE. The cheap tests run first, so
 * a call that fails them costs a few compares. @p site is the caller's return address (numbered
 * in order of first appearance among calls that pass every other test).
 * @param bytes_p  on 1, count times the element size
 */
GCOMP_INTERNAL int gcomp_policy_wants(const void *site, size_t count, MPI_Datatype datatype, MPI_Op op,
                                      MPI_Comm comm, size_t *bytes_p);

/* Bytes per element of the float types the policy compresses, 0 for every other type. */
GCOMP_INTERNAL size_t gcomp_policy_float_size(MPI_Datatype datatype);

/* Free the call-site table and the exclusion list (at MPI_Finalize). */
GCOMP_INTERNAL void gcomp_policy_fini(void);

#endif
