/*
 * MPI point-to-point transport: frames are MPI_BYTE messages on gcomp's private duplicate of the
 * user's communicator. Always the PMPI_ names: this file is also linked into the LD_PRELOAD
 * interposer, whose MPI_ symbols wrap the application's calls and must not see gcomp's own.
 */
#define GCOMP_LOG_SUBSYS GCOMP_SUBSYS_NET
#include "transport.h"

#include <limits.h>
#include <stdlib.h>

#include "core/log.h"

typedef struct mpi_transport {
    gcomp_transport_t base;
    MPI_Comm comm;
} mpi_transport_t;

static int mpi_probe(void)
{
    int up = 0;
    return PMPI_Initialized(&up) == MPI_SUCCESS && up;
}

static gcomp_status_t mpi_connect(MPI_Comm comm, gcomp_transport_t **tp_p)
{
    mpi_transport_t *t = calloc(1, sizeof(*t));
    if (t == NULL) return GCOMP_ERR_NOMEM;
    t->base.ops = &gcomp_transport_mpi_ops;
    t->comm = comm;
    *tp_p = &t->base;
    return GCOMP_OK;
}

static MPI_Comm comm_of(gcomp_transport_t *tp)
{
    return ((mpi_transport_t *)tp)->comm;
}

static gcomp_status_t mpi_isend(gcomp_transport_t *tp, const void *buf, size_t len, int peer, int tag,
                                gcomp_treq_t *req)
{
    if (len > INT_MAX) {
        gcomp_warn("frame of %zu bytes to rank %d is larger than one MPI message holds here", len, peer);
        return GCOMP_ERR_INVALID;
    }
    int rc = PMPI_Isend(buf, (int)len, MPI_BYTE, peer, tag, comm_of(tp), &req->u.mpi);
    if (rc != MPI_SUCCESS) {
        gcomp_warn("PMPI_Isend of %zu bytes to rank %d (tag %d) failed with MPI error %d", len, peer, tag, rc);
        return GCOMP_ERR_TRANSPORT;
    }
    req->active = 1;
    req->is_recv = 0;
    return GCOMP_OK;
}

static gcomp_status_t mpi_irecv(gcomp_transport_t *tp, void *buf, size_t cap, int peer, int tag,
                                gcomp_treq_t *req)
{
    int count = cap > INT_MAX ? INT_MAX : (int)cap;
    int rc = PMPI_Irecv(buf, count, MPI_BYTE, peer, tag, comm_of(tp), &req->u.mpi);
    if (rc != MPI_SUCCESS) {
        gcomp_warn("PMPI_Irecv of up to %zu bytes from rank %d (tag %d) failed with MPI error %d", cap, peer,
                   tag, rc);
        return GCOMP_ERR_TRANSPORT;
    }
    req->active = 1;
    req->is_recv = 1;
    return GCOMP_OK;
}

static gcomp_status_t mpi_test(gcomp_transport_t *tp, gcomp_treq_t *req, int *done_p, size_t *len_p)
{
    (void)tp;
    if (!req->active) {
        *done_p = 1;
        *len_p = 0;
        return GCOMP_OK;
    }
    int flag = 0;
    MPI_Status status;
    int rc = PMPI_Test(&req->u.mpi, &flag, &status);
    if (rc != MPI_SUCCESS) {
        /* The communicator returns errors (gcomp sets MPI_ERRORS_RETURN on it); the request is done. */
        int cls = MPI_ERR_OTHER;
        PMPI_Error_class(rc, &cls);
        req->active = 0;
        req->u.mpi = MPI_REQUEST_NULL;
        if (cls == MPI_ERR_TRUNCATE) return GCOMP_ERR_NOSPACE;
        gcomp_warn("PMPI_Test failed with MPI error %d (class %d)", rc, cls);
        return GCOMP_ERR_TRANSPORT;
    }
    if (!flag) {
        *done_p = 0;
        return GCOMP_OK;
    }
    /* A send's status is undefined: only a receive has a count. */
    int count = 0;
    if (req->is_recv) PMPI_Get_count(&status, MPI_BYTE, &count);
    req->active = 0;
    *done_p = 1;
    *len_p = count > 0 ? (size_t)count : 0;
    return GCOMP_OK;
}

static int mpi_cancel(gcomp_transport_t *tp, gcomp_treq_t *req)
{
    (void)tp;
    if (!req->active) return 1;
    req->active = 0;
    int flag = 0;
    if (PMPI_Test(&req->u.mpi, &flag, MPI_STATUS_IGNORE) == MPI_SUCCESS && flag) return 1;
    /* A receive not matched yet is cancelled locally and completes at once. A send may already be
     * on the wire (and cancelling sends is deprecated since MPI 4.0): it is freed below and MPI
     * finishes it with the buffer it still owns. */
    if (req->is_recv && PMPI_Cancel(&req->u.mpi) == MPI_SUCCESS) {
        for (int i = 0; i < 100 && !flag; i++) {
            if (PMPI_Test(&req->u.mpi, &flag, MPI_STATUS_IGNORE) != MPI_SUCCESS) break;
        }
        if (flag) return 1;
    }
    PMPI_Request_free(&req->u.mpi);
    return 0;
}

static void mpi_close(gcomp_transport_t *tp)
{
    free(tp);
}

const gcomp_transport_ops_t gcomp_transport_mpi_ops = {
    .name = "mpi",
    .kind = GCOMP_TRANSPORT_MPI,
    .probe = mpi_probe,
    .connect = mpi_connect,
    .isend = mpi_isend,
    .irecv = mpi_irecv,
    .test = mpi_test,
    .cancel = mpi_cancel,
    .close = mpi_close,
};
