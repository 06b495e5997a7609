#define GCOMP_LOG_SUBSYS GCOMP_SUBSYS_INIT
#include "preload/errors.h"

#include <pthread.h>
#include <stdio.h>

#include "core/log.h"

/* Statuses run from GCOMP_ERR_NOMEM (-1) down to GCOMP_ERR_INTERNAL (-12). */
#define N_STATUS (-(int)GCOMP_ERR_INTERNAL)

static struct {
    pthread_once_t once;
    int ok;
    int codes[N_STATUS + 1]; /* indexed by -status */
} errors = {
    .once = PTHREAD_ONCE_INIT,
};

static void register_codes(void)
{
    int cls;
    if (PMPI_Add_error_class(&cls) != MPI_SUCCESS) {
        gcomp_warn("MPI_Add_error_class failed: gcomp errors surface as MPI_ERR_OTHER");
        return;
    }
    PMPI_Add_error_string(cls, "gcomp: compressed all-reduce failed");
    for (int i = 1; i <= N_STATUS; i++) {
        char text[MPI_MAX_ERROR_STRING];
        snprintf(text, sizeof(text), "gcomp: %s: see the log line above", gcomp_status_string((gcomp_status_t)-i));
        if (PMPI_Add_error_code(cls, &errors.codes[i]) != MPI_SUCCESS ||
            PMPI_Add_error_string(errors.codes[i], text) != MPI_SUCCESS) {
            gcomp_warn("MPI_Add_error_code failed: gcomp errors surface as MPI_ERR_OTHER");
            return;
        }
    }
    errors.ok = 1;
}

int gcomp_preload_error_code(gcomp_status_t status)
{
    pthread_once(&errors.once, register_codes);
    int i = -(int)status;
    if (!errors.ok || i < 1 || i > N_STATUS) return MPI_ERR_OTHER;
    return errors.codes[i];
}

int gcomp_preload_raise(MPI_Comm comm, gcomp_status_t status)
{
    int code = gcomp_preload_error_code(status);
    PMPI_Comm_call_errhandler(comm, code);
    return code;
}
