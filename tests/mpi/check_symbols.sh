#!/bin/sh
# The symbols-leak test (libinput's idea): the libraries export exactly what is meant.
#   libgcomp.so          every exported symbol starts with gcomp_ (and gcomp_version is among them)
#   libgcomp_preload.so  exactly the MPI_ wrappers, nothing of gcomp
#
# usage: check_symbols.sh LIBGCOMP LIBGCOMP_PRELOAD HAVE_ALLREDUCE_C(0|1)
set -u
libgcomp=$1 preload=$2 have_c=$3
command -v nm >/dev/null 2>&1 || { echo "SKIP: nm not installed"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

nm -D --defined-only "$libgcomp" | awk '{print $NF}' | sort -u >"$tmp/gcomp"
grep -qx gcomp_version "$tmp/gcomp" || { echo "FAIL: libgcomp.so does not export gcomp_version" >&2; fail=1; }
if grep -v '^gcomp_' "$tmp/gcomp" >"$tmp/gcomp_bad"; then
    echo "FAIL: libgcomp.so exports symbols outside the gcomp_ namespace:" >&2
    cat "$tmp/gcomp_bad" >&2
    fail=1
fi

nm -D --defined-only "$preload" | awk '{print $NF}' | sort -u >"$tmp/preload"
{
    printf '%s\n' MPI_Allreduce MPI_Comm_disconnect MPI_Comm_free MPI_Finalize MPI_Init MPI_Init_thread
    [ "$have_c" = 1 ] && echo MPI_Allreduce_c
} | sort >"$tmp/expected"
if ! cmp -s "$tmp/expected" "$tmp/preload"; then
    echo "FAIL: libgcomp_preload.so exports (+) / misses (-):" >&2
    diff "$tmp/expected" "$tmp/preload" | grep '^[<>]' | sed 's/^</-/; s/^>/+/' >&2
    fail=1
fi
[ $fail -eq 0 ] && echo "check_symbols: libgcomp.so exports $(wc -l <"$tmp/gcomp") gcomp_ symbols; libgcomp_preload.so exactly $(wc -l <"$tmp/preload") MPI_ wrappers"
exit $fail
