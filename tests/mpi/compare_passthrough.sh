#!/bin/sh
# Run test_passthrough's fixed set of calls twice, without and with libgcomp_preload.so, and require
# bit-identical results on every rank. Fails unless both runs completed every case on every rank.
#
# usage: compare_passthrough.sh NRANKS PRELOAD_LIB PROGRAM
# environment: MPIEXEC, MPIEXEC_ARGS (optional), PRELOAD_EXTRA (optional, before the preload library);
# the GCOMP_* settings for the preloaded run
set -u
np=$1 lib=$2 prog=$3
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
[ -f "$lib" ] || { echo "FAIL: no preload library at $lib" >&2; exit 1; }

# shellcheck disable=SC2086
"${MPIEXEC:?MPIEXEC not set}" ${MPIEXEC_ARGS:-} -n "$np" "$prog" record "$dir/plain" || {
    echo "FAIL: the run without the preload library failed" >&2; exit 1; }
# The info log proves the library was loaded with compression on: the calls passed through by policy.
# shellcheck disable=SC2086
GCOMP_DEBUG=info "$MPIEXEC" ${MPIEXEC_ARGS:-} -n "$np" env LD_PRELOAD="${PRELOAD_EXTRA:+$PRELOAD_EXTRA:}$lib" "$prog" record "$dir/preload" \
    2>"$dir/log" || { cat "$dir/log" >&2; echo "FAIL: the run with the preload library failed" >&2; exit 1; }

fail=0
active=$(grep -c "interposer active" "$dir/log")
[ "$active" -eq "$np" ] || { echo "FAIL: $active of $np ranks logged 'interposer active'" >&2; fail=1; }
grep -q "call site 1: .*excluded by GCOMP_EXCLUDE" "$dir/log" || {
    echo "FAIL: no rank logged call site 1 as excluded (is GCOMP_EXCLUDE=1,... set?)" >&2; fail=1; }
r=0
while [ $r -lt "$np" ]; do
    for run in plain preload; do
        f=$dir/$run.$r
        if ! tail -n 1 "$f" 2>/dev/null | grep -q "^END [0-9]* cases, $np ranks$"; then
            echo "FAIL: $run run, rank $r did not finish its cases" >&2
            fail=1
        fi
    done
    if ! cmp -s "$dir/plain.$r" "$dir/preload.$r"; then
        echo "FAIL: rank $r: results differ with the preload library:" >&2
        diff "$dir/plain.$r" "$dir/preload.$r" >&2
        fail=1
    fi
    r=$((r + 1))
done
if [ $fail -eq 0 ]; then
    echo "compare_passthrough: $(tail -n 1 "$dir/plain.0" | cut -d' ' -f2) cases on $np ranks bit-identical with and without the preload library"
fi
exit $fail
