#!/bin/sh
# A rank dies (SIGKILL) or hangs (SIGSTOP) while compressed all-reduces are in flight: the job must
# end, with a non-zero status, within a bound, and leave nothing running. Runs kill_loop through
# libgcomp_preload.so, waits until every rank has completed a call (each writes its pid to a temp
# directory), sends the signal to one rank, and times how long mpiexec takes to end.
#   - SIGKILL: MPICH's launcher sees the death and tears the job down; gcomp must not stand in the
#     way (no survivor stuck in a call, nothing orphaned).
#   - SIGSTOP: nothing tells the others; only gcomp's GCOMP_TIMEOUT_S can end their calls, the error
#     has to reach the program through the communicator's error handler, and the job then aborts.
#     Use --expect to require the survivors' report of that timeout.
# The bound is GCOMP_TIMEOUT_S + 30 s (KILL_END_BOUND_S overrides); `timeout` guards the whole run
# so the test never hangs, and leftover processes of this run are killed (and fail the test).
#
# usage: kill_rank.sh [--signal KILL|STOP] [--victim RANK] [--expect REGEX]... NRANKS PRELOAD_LIB PROGRAM
# environment: MPIEXEC, MPIEXEC_ARGS (as for preload_run.sh), GCOMP_TIMEOUT_S (required).
set -u
sig=KILL victim=1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
: >"$dir/expect"
while [ $# -gt 0 ]; do
    case $1 in
    --signal) sig=$2; shift 2 ;;
    --victim) victim=$2; shift 2 ;;
    --expect) printf '%s\n' "$2" >>"$dir/expect"; shift 2 ;;
    *) break ;;
    esac
done
if [ $# -ne 3 ] || { [ "$sig" != KILL ] && [ "$sig" != STOP ]; }; then
    echo "usage: $0 [--signal KILL|STOP] [--victim RANK] [--expect REGEX]... NRANKS PRELOAD_LIB PROGRAM" >&2
    exit 2
fi
np=$1 lib=$2 prog=$3
[ -f "$lib" ] || { echo "FAIL: no preload library at $lib" >&2; exit 1; }
if [ "$victim" -lt 0 ] || [ "$victim" -ge "$np" ]; then
    echo "--victim $victim: not a rank of $np" >&2
    exit 2
fi
tmo=${GCOMP_TIMEOUT_S:?set GCOMP_TIMEOUT_S short, e.g. 5, so a hung peer ends the job soon}
bound=${KILL_END_BOUND_S:-$((tmo + 30))}
now() { date +%s.%N; }
# Processes of this run: their command line holds the temp directory (kill_loop's argument).
ours() { pgrep -f -- "$dir" 2>/dev/null; }
running() { [ -r "/proc/$1/stat" ] && [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" != Z ]; }

# shellcheck disable=SC2086  # MPIEXEC_ARGS is a list of words
timeout -k 5 $((bound + 60)) "${MPIEXEC:?MPIEXEC not set}" ${MPIEXEC_ARGS:-} -n "$np" \
    env LD_PRELOAD="${PRELOAD_EXTRA:+$PRELOAD_EXTRA:}$lib" "$prog" "$dir" >"$dir/out" 2>&1 &
job=$!

fail=0
waited=0
while [ $waited -lt 600 ]; do # 60 s for every rank's first call
    n=0
    for r in $(seq 0 $((np - 1))); do [ -f "$dir/rank$r.pid" ] && n=$((n + 1)); done
    [ $n -eq "$np" ] && break
    kill -0 $job 2>/dev/null || break
    sleep 0.1
    waited=$((waited + 1))
done
# The launcher's own helpers (MPICH's hydra_pmi_proxy), to check after the end as well.
helpers=$(for p in $(pgrep -P $job); do pgrep -P "$p"; done)
victim_pid=$(cat "$dir/rank$victim.pid" 2>/dev/null)
if [ -z "$victim_pid" ] || ! ours | grep -qx "$victim_pid"; then
    echo "FAIL: the ranks did not all complete a first call within 60 s (or rank $victim is gone); output:" >&2
    kill $job 2>/dev/null # timeout passes the signal on to mpiexec
    wait $job
    cat "$dir/out"
    fail=1
else
    sleep 0.2 # deeper into the loop: the next calls are in flight on every rank
    kill -s "$sig" "$victim_pid"
    t0=$(now)
    wait $job
    rc=$?
    secs=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }')
    # What the surviving ranks reported (kill_loop writes it to files too: the launcher may drop it).
    cat "$dir"/rank*.err >>"$dir/out" 2>/dev/null
    cat "$dir/out"
    if [ "$rc" -eq 0 ]; then
        echo "FAIL: mpiexec exited with status 0 after rank $victim got SIG$sig" >&2
        fail=1
    fi
    if awk -v s="$secs" -v b="$bound" 'BEGIN { exit !(s > b) }'; then
        echo "FAIL: mpiexec took $secs s to end after SIG$sig to rank $victim (bound $bound s)" \
             "$([ "$rc" -eq 124 ] && echo '; it was killed by the guard timeout')" >&2
        fail=1
    fi
    while IFS= read -r re; do
        grep -Eq -- "$re" "$dir/out" || { echo "FAIL: output has no line matching /$re/" >&2; fail=1; }
    done <"$dir/expect"
fi

# Nothing of this run may outlive mpiexec. Zombies are already dead (init reaps them): give the
# rest a few seconds, then kill what is left, by pid, and fail.
left=
for _ in 1 2 3 4 5 6 7 8 9 10; do
    left=
    for p in $(ours) $helpers; do running "$p" && left="$left $p"; done
    [ -z "$left" ] && break
    sleep 0.5
done
if [ -n "$left" ]; then
    echo "FAIL: still running 5 s after mpiexec ended:" >&2
    # shellcheck disable=SC2086  # a list of pids
    ps -o pid,stat,args -p "$(echo $left | tr ' ' ',')" >&2
    # shellcheck disable=SC2086
    kill -9 $left 2>/dev/null
    fail=1
fi
echo "kill_rank: SIG$sig to rank $victim (pid ${victim_pid:-?}) of $np; mpiexec ended with status ${rc:-?}" \
     "after ${secs:-?} s (bound $bound s); leftover processes:${left:- none}: $([ $fail -eq 0 ] && echo ok || echo FAIL)"
exit $fail
