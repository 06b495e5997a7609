#!/usr/bin/env bash
# Run an MPI program with one rank per host of the emulated cluster (bench/cluster/cluster.sh up).
#
#   bench/cluster/mpirun.sh [-t SECONDS] [-m MARKER] [-g GRACE] [-x NAME=VALUE]... -n N PROG [ARGS...]
#
#   -n N        ranks, on hosts gch1..gchN (N <= hosts that are up)
#   -x N=V      set a variable for the ranks only (mpiexec -genv), e.g. LD_PRELOAD=.../libgcomp_preload.so
#   -t SECONDS  bound on the whole run (default 600); exit 124 when it is reached
#   -m MARKER   a line the program prints when its work is done (e.g. "# gcomp_bench: done"). MPICH in
#               the namespaces can stay in MPI_Finalize after all work is done: once MARKER has been
#               printed, the run is given GRACE seconds (default 10) to end and is then stopped and
#               counted a success (exit 0, with a note on stderr).
#
# Ranks talk TCP over the shaped links: UCX_TLS=tcp,self (UCX would otherwise find shared memory and
# bypass the shaping) and UCX_NET_DEVICES=eth0, the host's only link. Both can be overridden.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
state=/run/gcomp-cluster/state
limit=600
marker=
grace=10
n=
genv=()
while getopts "t:m:g:n:x:h" opt; do
    case $opt in
    x) genv+=(-genv "${OPTARG%%=*}" "${OPTARG#*=}") ;;
    t) limit=$OPTARG ;;
    m) marker=$OPTARG ;;
    g) grace=$OPTARG ;;
    n) n=$OPTARG ;;
    *) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
if [ -z "$n" ] || [ $# -lt 1 ]; then
    sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi
[ -e "$state" ] || { echo "mpirun: no cluster is up (bench/cluster/cluster.sh up N RATE)" >&2; exit 1; }
hosts_up=$(sed -n 's/^n=//p' "$state")
bridge_addr=$(sed -n 's/^bridge_addr=//p' "$state")
[ "$n" -le "$hosts_up" ] || { echo "mpirun: $n ranks but only $hosts_up hosts are up" >&2; exit 1; }
hosts=$(seq -s, -f 'gch%g' 1 "$n")

export UCX_TLS=${UCX_TLS:-tcp,self}
export UCX_NET_DEVICES=${UCX_NET_DEVICES:-eth0}

log=$(mktemp /tmp/gcomp-mpirun.XXXXXX)
mpiexec.mpich -launcher ssh -launcher-exec "$here/launch.sh" -localhost "$bridge_addr" \
    -hosts "$hosts" "${genv[@]}" -n "$n" "$@" </dev/null >"$log" 2>&1 &
mpid=$!
tail -n +1 -f --pid=$mpid "$log" &
tailpid=$!

# Every process in the cluster's namespaces was started by a run like this one.
kill_ranks() {
    local i pids
    for i in $(seq 1 "$hosts_up"); do
        mapfile -t pids < <(ip netns pids "gch$i" 2>/dev/null || true)
        if [ ${#pids[@]} -gt 0 ]; then kill -9 "${pids[@]}" 2>/dev/null || true; fi
    done
}

stop_run() {
    kill -TERM "$mpid" 2>/dev/null || true
    sleep 2
    kill_ranks
    kill -9 "$mpid" 2>/dev/null || true
    wait "$mpid" 2>/dev/null || true
}
trap 'stop_run; kill "$tailpid" 2>/dev/null; rm -f "$log"; exit 130' INT TERM

start=$SECONDS
done_at=
rc=
while kill -0 "$mpid" 2>/dev/null; do
    if [ -n "$marker" ] && [ -z "$done_at" ] && grep -qF -- "$marker" "$log"; then
        done_at=$SECONDS
    fi
    if [ -n "$done_at" ] && [ $((SECONDS - done_at)) -ge "$grace" ]; then
        stop_run
        rc=0
        note="mpirun: results complete; MPI_Finalize had not returned after ${grace}s, run stopped"
        break
    fi
    if [ $((SECONDS - start)) -ge "$limit" ]; then
        stop_run
        rc=124
        note="mpirun: run stopped at the ${limit}s bound"
        break
    fi
    sleep 0.5
done
if [ -z "$rc" ]; then
    set +e
    wait "$mpid"
    rc=$?
    set -e
    note=
fi
wait "$tailpid" 2>/dev/null || true
# A run that ended on its own can still leave a rank behind in a namespace.
kill_ranks
[ -z "$note" ] || echo "$note" >&2
rm -f "$log"
exit "$rc"
