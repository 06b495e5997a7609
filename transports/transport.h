/*
 * How frames move between the ranks of a gcomp context. A transport is an ops table (NCCL's
 * struct ncclTransport, libfabric's fi_provider); the collectives in src/coll only ever post sends
 * and receives of whole frames and test them, so a new transport (verbs) plugs in here without
 * touching the algorithms.
 *
 * Transports never wait: waiting, with a deadline, is the caller's (the collectives' progress loops
 * test many requests at once and give up after GCOMP_TIMEOUT_S without progress).
 */
#ifndef GCOMP_TRANSPORTS_TRANSPORT_H
#define GCOMP_TRANSPORTS_TRANSPORT_H

#include <stddef.h>

#include "gcomp.h"
#include "core/compiler.h"
#include "core/config.h"
#include "core/timing.h"
#include "transport_vars.h"

typedef struct gcomp_transport_ops gcomp_transport_ops_t;

/* An instance over one communicator; each transport extends it (it is their first member). */
typedef struct gcomp_transport {
    const gcomp_transport_ops_t *ops;
} gcomp_transport_t;

/* One outstanding send or receive. Zero-initialised means idle. */
typedef struct gcomp_treq {
    union {
        MPI_Request mpi;
        void *ptr;
    } u;
    int active;  /* posted and not yet completed (or abandoned) */
    int is_recv; /* set by irecv: only receives can be cancelled */
} gcomp_treq_t;

struct gcomp_transport_ops {
    const char *name;
    gcomp_transport_kind_t kind;
    /* 1 if the transport can run in this process (library present, devices found). */
    int (*probe)(void);
    /* Set up over @p comm, gcomp's private duplicate (collective over it). */
    gcomp_status_t (*connect)(MPI_Comm comm, gcomp_transport_t **tp_p);
    /* Post a send of len bytes to peer; buf must stay untouched until the request completes. */
    gcomp_status_t (*isend)(gcomp_transport_t *tp, const void *buf, size_t len, int peer, int tag,
                            gcomp_treq_t *req);
    /* Post a receive of at most cap bytes from peer. A longer message completes the request with
     * GCOMP_ERR_NOSPACE from test (never a write past cap). */
    gcomp_status_t (*irecv)(gcomp_transport_t *tp, void *buf, size_t cap, int peer, int tag,
                            gcomp_treq_t *req);
    /* Non-blocking completion check; drives progress. On completion req goes idle, *done_p = 1 and,
     * for a receive, *len_p = bytes received. An error also completes (idles) the request. */
    gcomp_status_t (*test)(gcomp_transport_t *tp, gcomp_treq_t *req, int *done_p, size_t *len_p);
    /* Give up on a request (after a timeout or an error): idles it and returns 1 if its buffer is
     * free now, 0 if the transport may still read or write it (the caller must then never free or
     * reuse that buffer). */
    int (*cancel)(gcomp_transport_t *tp, gcomp_treq_t *req);
    /* Release the instance (local). Requests still active are the caller's to cancel first. */
    void (*close)(gcomp_transport_t *tp);
};

GCOMP_INTERNAL extern const gcomp_transport_ops_t gcomp_transport_mpi_ops;

/*
 * The transport GCOMP_TRANSPORT asks for (@p kind), or the best that probes true for auto. A kind
 * this build or machine lacks falls back to MPI point-to-point with one info line.
 */
GCOMP_INTERNAL const gcomp_transport_ops_t *gcomp_transport_select(gcomp_transport_kind_t kind);

/* Let the other ranks sharing these cores run while a wait makes no progress (oversubscribed
 * runs): called by every polling loop once per idle pass. */
GCOMP_INTERNAL void gcomp_transport_idle(unsigned *idle_passes);

#endif
