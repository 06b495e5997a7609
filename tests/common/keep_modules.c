/*
 * LD_PRELOAD shim for sanitizer runs of the MPI tests: dlclose() does nothing, so the modules MPI
 * loads at run time (UCX transports) stay mapped until exit and LeakSanitizer can name the module
 * that allocated memory it never freed. Without it those leaks show as "<unknown module>", and a
 * suppression file could only hide them by hiding everything. Never used outside tests.
 */
#include <dlfcn.h>

int dlclose(void *handle)
{
    (void)handle;
    return 0;
}
