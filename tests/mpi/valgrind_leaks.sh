#!/bin/sh
# Run an MPI test program under valgrind with libgcomp_preload.so preloaded, and fail if gcomp left
# memory at exit: lost blocks (definitely, indirectly, possibly) allocated through gcomp code, and
# still-reachable blocks gcomp allocated itself (the interposer must free its contexts, residuals and
# tables at MPI_Finalize). MPICH's and UCX's own allocations are not counted. Exit 77 (skipped) when
# valgrind is missing.
#
# usage: valgrind_leaks.sh SUPPRESSIONS NRANKS PRELOAD_LIB PROGRAM [ARGS...]
# environment: MPIEXEC, MPIEXEC_ARGS (optional)
set -u
supp=$1 np=$2 lib=$3
shift 3
command -v valgrind >/dev/null 2>&1 || { echo "SKIP: valgrind not installed"; exit 77; }
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT

# valgrind follows env's exec into the program, so the preload reaches only the program.
# shellcheck disable=SC2086
"${MPIEXEC:?MPIEXEC not set}" ${MPIEXEC_ARGS:-} -n "$np" valgrind --trace-children=yes \
    --leak-check=full --show-leak-kinds=all --num-callers=40 --fullpath-after= --suppressions="$supp" \
    --log-file="$dir/vg.%p" env LD_PRELOAD="$lib" "$@" >"$dir/out" 2>&1
rc=$?
cat "$dir/out"
fail=0
[ "$rc" -eq 0 ] || { echo "FAIL: the program exited with status $rc under valgrind" >&2; fail=1; }

# Only the logs of the program itself (env's exec leaves one log per rank, the program's).
n=$(grep -l "LEAK SUMMARY\|All heap blocks were freed" "$dir"/vg.* 2>/dev/null | wc -l)
[ "$n" -ge "$np" ] || { echo "FAIL: $n of $np ranks produced a valgrind leak report" >&2; fail=1; }

# A frame is gcomp's when its function is gcomp_* or its source is gcomp's (full paths: see
# --fullpath-after), except the MPI_ wrappers themselves, which only call into MPI. A lost block
# counts when any frame of its allocation stack is gcomp's; a still-reachable block when gcomp
# allocated it directly (the first frame past the allocator is gcomp's), so MPI's own lazily built
# state (connections made during gcomp's first message, say) is not charged to gcomp.
bad=$(awk '
    function frame_is_gcomp(line,    fn) {
        fn = line
        sub(/^==[0-9]+== +(at|by) 0x[0-9A-Fa-f]+: /, "", fn)
        if (fn ~ /^MPI_/) return 0
        return fn ~ /^gcomp_/ || line ~ /\((.*\/)?(src\/(core|codec|coll|preload)|transports)\/[^\/]*\.c:[0-9]+\)/
    }
    function is_alloc(line) {
        return line ~ /: (malloc|calloc|realloc|reallocarray|posix_memalign|aligned_alloc|memalign|strdup|strndup) \(/
    }
    function flush() {
        if (rec != "" && ((lost && any) || (!lost && direct))) { printf "%s\n", rec > "/dev/stderr"; count++ }
        rec = ""; lost = 0; any = 0; direct = 0; caller_seen = 0
    }
    / are (definitely|indirectly|possibly) lost in loss record / { flush(); rec = $0; lost = 1; next }
    / are still reachable in loss record / { flush(); rec = $0; next }
    rec != "" && /^==[0-9]+== *$/ { flush(); next }
    rec != "" && / (at|by) 0x/ {
        rec = rec "\n" $0
        g = frame_is_gcomp($0)
        if (g) any = 1
        if (!caller_seen && !is_alloc($0)) { caller_seen = 1; if (g) direct = 1 }
    }
    END { flush(); print count + 0 }
' "$dir"/vg.*)
if [ "$bad" -ne 0 ]; then
    echo "FAIL: $bad loss records with gcomp allocations (above)" >&2
    fail=1
fi
grep -h "definitely lost:\|indirectly lost:\|still reachable:" "$dir"/vg.* | sed 's/^==[0-9]*== */valgrind (all libraries): /' | sort | uniq -c
[ $fail -eq 0 ] && echo "valgrind_leaks: no gcomp allocation left at exit on $np ranks"
exit $fail
