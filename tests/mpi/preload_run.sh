#!/bin/sh
# Run an MPI test program with libgcomp_preload.so preloaded into every rank (not into mpiexec),
# then check its exit status and its output. PRELOAD_LIB "none" runs the program as it is (tests
# that link gcomp and only need the output checks). A program that exits 77 (skipped, with its
# reason) makes this script exit 77 too.
#
# usage: preload_run.sh [--status zero|nonzero] [--expect REGEX]... [--reject REGEX]... \
#                       NRANKS PRELOAD_LIB|none PROGRAM [ARGS...]
# environment: MPIEXEC (mpiexec to use), MPIEXEC_ARGS (extra arguments, optional), PRELOAD_EXTRA
# (libraries preloaded before the preload library, optional: sanitizer builds)
set -u
status=zero
expect_file=$(mktemp)
reject_file=$(mktemp)
out=$(mktemp)
trap 'rm -f "$expect_file" "$reject_file" "$out"' EXIT
while [ $# -gt 0 ]; do
    case $1 in
    --status) status=$2; shift 2 ;;
    --expect) printf '%s\n' "$2" >>"$expect_file"; shift 2 ;;
    --reject) printf '%s\n' "$2" >>"$reject_file"; shift 2 ;;
    *) break ;;
    esac
done
if [ $# -lt 3 ]; then
    echo "usage: $0 [--status zero|nonzero] [--expect RE]... [--reject RE]... NRANKS LIB PROGRAM [ARGS...]" >&2
    exit 2
fi
np=$1 lib=$2
shift 2
if [ "$lib" != none ] && [ ! -f "$lib" ]; then
    echo "FAIL: no preload library at $lib" >&2
    exit 1
fi

# shellcheck disable=SC2086  # MPIEXEC_ARGS is a list of words
if [ "$lib" = none ]; then
    "${MPIEXEC:?MPIEXEC not set}" ${MPIEXEC_ARGS:-} -n "$np" "$@" >"$out" 2>&1
else
    "${MPIEXEC:?MPIEXEC not set}" ${MPIEXEC_ARGS:-} -n "$np" env LD_PRELOAD="${PRELOAD_EXTRA:+$PRELOAD_EXTRA:}$lib" "$@" >"$out" 2>&1
fi
rc=$?
cat "$out"
if [ "$rc" -eq 77 ] && grep -q '^SKIP' "$out"; then
    exit 77
fi

fail=0
case $status in
zero) [ "$rc" -eq 0 ] || { echo "FAIL: exit status $rc, expected 0" >&2; fail=1; } ;;
nonzero) [ "$rc" -ne 0 ] || { echo "FAIL: exit status 0, expected a failure" >&2; fail=1; } ;;
*) echo "bad --status $status" >&2; exit 2 ;;
esac
while IFS= read -r re; do
    grep -Eq -- "$re" "$out" || { echo "FAIL: output has no line matching /$re/" >&2; fail=1; }
done <"$expect_file"
while IFS= read -r re; do
    grep -Eq -- "$re" "$out" && { echo "FAIL: output has a line matching /$re/" >&2; fail=1; }
done <"$reject_file"
[ $fail -eq 0 ] && echo "preload_run: exit status $rc as expected, output checks passed"
exit $fail
