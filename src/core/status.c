#include "gcomp.h"
#include "gcomp_config.h"

unsigned gcomp_version(void)
{
    return GCOMP_VERSION_NUMBER;
}

const char *gcomp_version_string(void)
{
    return GCOMP_VERSION_STRING;
}

const char *gcomp_status_string(gcomp_status_t status)
{
    switch (status) {
    case GCOMP_OK: return "success";
    case GCOMP_ERR_NOMEM: return "out of memory";
    case GCOMP_ERR_INVALID: return "invalid argument";
    case GCOMP_ERR_CONFIG: return "invalid configuration";
    case GCOMP_ERR_UNSUPPORTED: return "not supported";
    case GCOMP_ERR_NOSPACE: return "output buffer too small";
    case GCOMP_ERR_FRAME: return "malformed frame";
    case GCOMP_ERR_CHECKSUM: return "frame checksum mismatch";
    case GCOMP_ERR_MISMATCH: return "frame or call does not match what was expected";
    case GCOMP_ERR_TIMEOUT: return "timed out waiting for a peer";
    case GCOMP_ERR_TRANSPORT: return "transport error";
    case GCOMP_ERR_MPI: return "MPI error";
    case GCOMP_ERR_INTERNAL: return "internal error";
    }
    return "unknown status";
}
