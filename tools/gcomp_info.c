/* gcomp_info: the library's version, what this build has, and every configuration variable with its
 * value, default and doc (UCX's ucx_info, NCCL's debug dump). */
#include <stdio.h>
#include <string.h>

#include "gcomp.h"
#include "gcomp_config.h"
#include "codec/isa.h"
#include "core/config.h"

static void usage(void)
{
    printf("usage: gcomp_info [-v | -c | -f]\n"
           "  (none)  version, build features and every variable\n"
           "  -v      version only\n"
           "  -c      variables only, as NAME=VALUE lines\n"
           "  -f      build features only\n");
}

static void print_features(void)
{
    printf("build features:\n");
    printf("  mpi:        %s\n", GCOMP_MPI_FLAVOUR);
    printf("  cuda:       %s\n", GCOMP_HAVE_CUDA ? "kernels built (sm_80, sm_90, PTX); gcomp_allreduce takes host and device buffers"
                                                 : "no");
    printf("  verbs:      %s\n", GCOMP_HAVE_VERBS ? "libibverbs headers found; no verbs transport in this version"
                                                 : "no");
    printf("  zstd:       %s\n", GCOMP_HAVE_ZSTD ? "yes" : "no");
    printf("  faults:     %s\n", GCOMP_HAVE_FAULT_INJECTION
                                     ? "fault injection compiled in (test build): GCOMP_FAULT=KIND,rank=R,call=C"
                                     : "no fault injection (GCOMP_FAULT is ignored)");
    printf("  cpu kernels:");
    for (int isa = GCOMP_ISA_SCALAR; isa <= GCOMP_ISA_AVX512; isa++)
        printf(" %s%s", gcomp_isa_name((gcomp_isa_t)isa), gcomp_isa_available((gcomp_isa_t)isa) ? "" : "(n/a)");
    printf("; chosen: %s\n", gcomp_isa_name(gcomp_isa_active()));
}

static void print_variables(int terse)
{
    char value[256];
    if (!terse) printf("variables (value, default, doc):\n");
    for (size_t i = 0; i < gcomp_config_var_count(); i++) {
        const gcomp_config_var_info_t *v = gcomp_config_var(i);
        gcomp_config_var_value(i, value, sizeof(value));
        if (terse) {
            printf("%s=%s\n", v->name, value);
            continue;
        }
        printf("  %-20s = %-12s (default %s%s)\n      %s; accepted: %s\n", v->name, value,
               v->default_value[0] ? v->default_value : "\"\"", gcomp_config_var_is_set(i) ? ", set" : "",
               v->doc, v->accepted);
    }
}

int main(int argc, char **argv)
{
    const char *opt = argc > 1 ? argv[1] : "";
    if (argc > 2 || (opt[0] && strcmp(opt, "-v") && strcmp(opt, "-c") && strcmp(opt, "-f"))) {
        usage();
        return 2;
    }
    if (!strcmp(opt, "-v")) {
        printf("%s\n", gcomp_version_string());
        return 0;
    }
    if (!strcmp(opt, "-c")) {
        print_variables(1);
        return 0;
    }
    printf("gcomp %s\n", gcomp_version_string());
    print_features();
    if (!strcmp(opt, "-f")) return 0;
    print_variables(0);
    return gcomp_core_config()->n_errors > 0 ? 1 : 0;
}
