#!/bin/sh
# Soak test driver: runs soak_preload (the program checks every call and resident memory) through
# libgcomp_preload.so preloaded into each rank, bounded by `timeout` so it can never hang CI, then
# checks the interposer's own GCOMP_STATS block:
#   - calls were compressed and none failed;
#   - residuals were evicted (GCOMP_EF_MAX_BYTES is set below what the schedule keeps alive, so the
#     cap is exercised, not just configured);
#   - the residual memory peak on any rank stays within GCOMP_EF_MAX_BYTES, as docs/interposer.md
#     promises. The stats block is the only place the interposer reports the registry's peak; it
#     prints it rounded to 2 decimals of its unit, so the check takes the smallest value the printed
#     figure can stand for and fails only when even that is over the cap.
#
# usage: soak_preload.sh NRANKS PRELOAD_LIB PROGRAM NCALLS
# environment: MPIEXEC, MPIEXEC_ARGS (as for preload_run.sh), GCOMP_EF_MAX_BYTES (required),
#              SOAK_TIMEOUT_S (bound on the whole mpiexec run, default 540), other GCOMP_* variables.
set -u
if [ $# -ne 4 ]; then
    echo "usage: $0 NRANKS PRELOAD_LIB PROGRAM NCALLS" >&2
    exit 2
fi
np=$1 lib=$2 prog=$3 ncalls=$4
limit=${SOAK_TIMEOUT_S:-540}
cap_var=${GCOMP_EF_MAX_BYTES:?set GCOMP_EF_MAX_BYTES below the residuals the schedule keeps alive, e.g. 1000K}
if [ ! -f "$lib" ]; then
    echo "FAIL: no preload library at $lib" >&2
    exit 1
fi
# The cap in bytes, read as gcomp reads it (digits with an optional K, M or G).
cap=$(printf '%s\n' "$cap_var" | awk '
    /^[0-9]+[KkMmGg]?$/ { n = $0 + 0; u = substr($0, length($0)); m = 1
                           if (u ~ /[Kk]/) m = 1024; if (u ~ /[Mm]/) m = 1048576; if (u ~ /[Gg]/) m = 1073741824
                           printf "%.0f\n", n * m; ok = 1 }
    END { if (!ok) exit 1 }') || {
    echo "FAIL: cannot read GCOMP_EF_MAX_BYTES=\"$cap_var\": use digits with an optional K, M or G" >&2
    exit 2
}

out=$(mktemp)
trap 'rm -f "$out"' EXIT
export GCOMP_STATS=1
start=$(date +%s)
# shellcheck disable=SC2086  # MPIEXEC_ARGS is a list of words
timeout -k 10 "$limit" "${MPIEXEC:?MPIEXEC not set}" ${MPIEXEC_ARGS:-} -n "$np" \
    env LD_PRELOAD="${PRELOAD_EXTRA:+$PRELOAD_EXTRA:}$lib" "$prog" "$ncalls" >"$out" 2>&1
rc=$?
wall=$(($(date +%s) - start))
cat "$out"

fail=0
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    echo "FAIL: the run did not end within SOAK_TIMEOUT_S=$limit s and was killed" >&2
    fail=1
elif [ "$rc" -ne 0 ]; then
    echo "FAIL: exit status $rc (see the FAIL lines above)" >&2
    fail=1
fi

# "  calls:     N compressed, N passed through, N failed, N contexts"
calls=$(sed -n 's/^ *calls: *\([0-9]*\) compressed, [0-9]* passed through, \([0-9]*\) failed.*/\1 \2/p' "$out")
# "  residuals: peak 1.03 MiB on one rank, 995 evicted, 228 reset; ..."
resid=$(sed -n 's/^ *residuals: peak \([0-9.]*\) \([KMGT]*i*B\) on one rank, \([0-9]*\) evicted.*/\1 \2 \3/p' "$out")
if [ -z "$calls" ] || [ -z "$resid" ]; then
    echo "FAIL: no GCOMP_STATS block in the output: was libgcomp_preload.so loaded, did MPI_Finalize run?" >&2
    exit 1
fi
# shellcheck disable=SC2086  # split the two numbers
set -- $calls
compressed=$1 failed=$2
# shellcheck disable=SC2086  # split figure, unit and count
set -- $resid
peak_fig=$1 peak_unit=$2 evicted=$3
[ "$compressed" -gt 0 ] || { echo "FAIL: no call was compressed (GCOMP_MIN_BYTES, GCOMP_CODEC?)" >&2; fail=1; }
[ "$failed" -eq 0 ] || { echo "FAIL: the interposer counted $failed failed calls" >&2; fail=1; }
[ "$evicted" -gt 0 ] || {
    echo "FAIL: no residual was evicted: GCOMP_EF_MAX_BYTES=$cap_var is not below what the schedule keeps alive," \
         "so the cap was not tested; lower it" >&2
    fail=1
}
# Smallest byte count the printed figure can stand for (it was rounded to 2 decimals).
peak_min=$(awk -v f="$peak_fig" -v u="$peak_unit" 'BEGIN {
    m = 1; if (u == "KiB") m = 1024; if (u == "MiB") m = 1048576; if (u == "GiB") m = 1073741824
    lo = (u == "B") ? f : (f - 0.005) * m; printf "%.0f\n", lo }')
if [ "$peak_min" -gt "$cap" ]; then
    echo "FAIL: residual memory peaked at $peak_fig $peak_unit (at least $peak_min bytes) on one rank," \
         "over GCOMP_EF_MAX_BYTES=$cap_var ($cap bytes)" >&2
    fail=1
fi

rss=$(sed -n 's/.*VmRSS \([0-9]*\) KiB after warm-up, \([0-9]*\) KiB at the end.*/\1 KiB after warm-up, \2 KiB at the end/p' "$out")
echo "soak summary: $ncalls calls on $np ranks (codec ${GCOMP_CODEC:-q8}) in $wall s; VmRSS ${rss:-not reported};" \
     "residual peak $peak_fig $peak_unit vs cap $cap bytes, $evicted evicted; exit status $rc:" \
     "$([ $fail -eq 0 ] && echo ok || echo FAIL)"
exit $fail
