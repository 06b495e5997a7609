#!/usr/bin/env bash
# The convergence study of docs/convergence.md: five ways of averaging the gradients of the same
# training, 4 ranks, the same seed and epochs:
#
#   dense      plain MPI_Allreduce
#   q8         GCOMP_CODEC=q8 (error feedback is on by default)
#   topk       GCOMP_CODEC=topk GCOMP_TOPK_RATIO=0.01
#   topk-q8    GCOMP_CODEC=topk-q8 GCOMP_TOPK_RATIO=0.01
#   topk-noef  GCOMP_CODEC=topk GCOMP_TOPK_RATIO=0.01 GCOMP_EF=0
#
#   examples/convergence_study.sh [-e EPOCHS] [-v EVALS_PER_EPOCH] [-o DIR] [-c CONFIGS] STUDY...
#
#   STUDY   py          examples/train_fmnist.py (PyTorch, mpi4py on Open MPI), preloaded with the Open
#                       MPI build of gcomp (GCOMP_OPENMPI_BUILD, default build/openmpi), on this machine
#           c           train_mlp (the C API) of the MPICH build (GCOMP_MPICH_BUILD, default build/train)
#           cluster-py  the Python trainer on the emulated cluster, 4 hosts with 1 Gbit/s links
#                       (bench/cluster; root): brought up before and down after, whatever happens
#           cluster-c   train_mlp there
#   -e      epochs (default 5)       -v  tests per epoch (default 2)
#   -o      results folder (default docs/perf/convergence)
#   -c      comma list of configurations (default all five)
#
# Writes DIR/STUDY-CONFIG.json (one JSON object per test), DIR/STUDY-CONFIG.log (the trainer's output;
# gcomp's GCOMP_STATS summary for the Python runs) and DIR/run-info.txt; on the cluster also the bytes
# each host sent through its shaped link (DIR/STUDY-CONFIG.wire). examples/plot_convergence.py DIR
# then draws the plots and writes the tables.
set -euo pipefail
cd "$(dirname "$0")/.."

epochs=5
evals=2
out=docs/perf/convergence
configs=dense,q8,topk,topk-q8,topk-noef
while getopts "e:v:o:c:h" opt; do
    case $opt in
    e) epochs=$OPTARG ;;
    v) evals=$OPTARG ;;
    o) out=$OPTARG ;;
    c) configs=$OPTARG ;;
    *) sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
[ $# -ge 1 ] || { sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }

ompi_build=${GCOMP_OPENMPI_BUILD:-build/openmpi}
mpich_build=${GCOMP_MPICH_BUILD:-build/train}
preload=$PWD/$ompi_build/src/preload/libgcomp_preload.so
train_mlp=$PWD/$mpich_build/examples/train_mlp
ranks=4
seed=1
limit=${GCOMP_STUDY_TIMEOUT_S:-3600} # bound on one run
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mkdir -p "$out"

gcomp_env() {
    case $1 in
    dense) ;;
    q8) echo GCOMP_CODEC=q8 ;;
    topk) echo GCOMP_CODEC=topk GCOMP_TOPK_RATIO=0.01 ;;
    topk-q8) echo GCOMP_CODEC=topk-q8 GCOMP_TOPK_RATIO=0.01 ;;
    topk-noef) echo GCOMP_CODEC=topk GCOMP_TOPK_RATIO=0.01 GCOMP_EF=0 ;;
    *) echo "convergence_study: unknown configuration $1" >&2; exit 2 ;;
    esac
}

# Run "$@" with its output in LOG, bounded by $limit seconds. MPI over TCP can stay in MPI_Finalize
# after all work is done: once MARKER is in the log, the run gets 60 s more (MPI_Finalize prints gcomp's
# statistics; Python's exit with torch loaded is slow on a busy machine) and is then stopped and
# counted a success.
run_bounded() {
    local log=$1 marker=$2
    shift 2
    setsid "$@" >"$log" 2>&1 </dev/null &
    local pid=$! start=$SECONDS done_at=
    while kill -0 "$pid" 2>/dev/null; do
        if [ -z "$done_at" ] && grep -qF -- "$marker" "$log" 2>/dev/null; then done_at=$SECONDS; fi
        if { [ -n "$done_at" ] && [ $((SECONDS - done_at)) -ge 60 ]; } || [ $((SECONDS - start)) -ge "$limit" ]; then
            kill -TERM -- "-$pid" 2>/dev/null || true
            sleep 2
            kill -KILL -- "-$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
            [ -n "$done_at" ] && { echo "(run stopped $((SECONDS - done_at)) s after its results were complete)" >>"$log"; return 0; }
            echo "convergence_study: run stopped at the ${limit}s bound" | tee -a "$log" >&2
            return 124
        fi
        sleep 1
    done
    wait "$pid"
}

# Bytes sent by each emulated host through its link, as one line "gch1=N gch2=N ...".
link_bytes() {
    local i line=
    for i in $(seq 1 "$ranks"); do
        line+="gch$i=$(ip netns exec "gch$i" cat /sys/class/net/eth0/statistics/tx_bytes) "
    done
    echo "$line"
}

cluster_down() { bench/cluster/cluster.sh down >/dev/null 2>&1 || true; }

run_one() {
    local study=$1 config=$2 env base cmd
    read -r -a env <<<"$(gcomp_env "$config")"
    base=$out/$study-$config
    case $study in
    py | cluster-py)
        cmd=(/usr/bin/python3 examples/train_fmnist.py --epochs "$epochs" --evals-per-epoch "$evals"
             --seed "$seed" --label "$study-$config" --json "$base.json")
        if [ "$config" != dense ]; then
            cmd=(env LD_PRELOAD="$preload" GCOMP_STATS=1 "${env[@]}" "${cmd[@]}")
        fi
        if [ "$study" = py ]; then
            cmd=(timeout -k 10 "$limit" mpiexec.openmpi --oversubscribe -n "$ranks" "${cmd[@]}")
        else
            # Open MPI's daemons reach the hosts through the cluster's ssh stand-in; the ranks talk TCP
            # over the hosts' shaped links only. The hosts share this machine's /tmp and host name, so
            # the daemons get session directories of their own, away from other Open MPI jobs here.
            mkdir -p /tmp/gcomp-cluster-ompi
            cmd=(mpiexec.openmpi --mca plm_rsh_agent "$PWD/bench/cluster/launch.sh"
                 --mca orte_tmpdir_base /tmp/gcomp-cluster-ompi
                 --host "$(seq -s, -f 'gch%g:1' 1 "$ranks")" -n "$ranks"
                 --mca oob_tcp_if_include 10.77.0.0/24 --mca pml ob1 --mca btl tcp,self
                 --mca btl_tcp_if_include 10.77.0.0/24 "${cmd[@]}")
        fi
        marker="train_fmnist: done" ;;
    c | cluster-c)
        local codec=()
        [ "$config" = dense ] && codec=(-c mpi)
        cmd=("$train_mlp" -e "$epochs" -v "$evals" -s "$seed" -j "$base.json" "${codec[@]}")
        if [ "$study" = c ]; then
            cmd=(env "${env[@]}" timeout -k 10 "$limit" mpiexec.mpich -n "$ranks" "${cmd[@]}")
        else
            local x=() v
            for v in "${env[@]}"; do x+=(-x "$v"); done
            cmd=(bench/cluster/mpirun.sh -t "$limit" -m "train_mlp: done" "${x[@]}" -n "$ranks" "${cmd[@]}")
        fi
        marker="train_mlp: done" ;;
    esac
    echo "== $study $config: ${env[*]:-plain MPI_Allreduce}"
    local before=
    [[ $study == cluster-* ]] && before=$(link_bytes)
    local t0=$SECONDS rc=0 load0
    load0=$(cut -d' ' -f1-3 /proc/loadavg)
    run_bounded "$base.log" "$marker" "${cmd[@]}" || rc=$?
    # The machine is shared: the load says how far the times can be trusted.
    echo "load average before: $load0; after: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$base.log"
    if [[ $study == cluster-* ]]; then
        printf 'before %s\nafter %s\n' "$before" "$(link_bytes)" >"$base.wire"
    fi
    grep -E "^ *[0-9.]+ +[0-9]|done|bytes:" "$base.log" | tail -n 4 || true
    echo "   $((SECONDS - t0)) s, exit $rc"
    return $rc
}

{
    echo "date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
    echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with local changes)')"
    echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), $(uname -r)"
    echo "cpu: $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)"
    echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "open mpi: $(dpkg-query -W -f='${Version}' openmpi-bin 2>/dev/null), mpich: $(dpkg-query -W -f='${Version}' mpich 2>/dev/null)"
    echo "python3-torch: $(dpkg-query -W -f='${Version}' python3-torch 2>/dev/null), python3-mpi4py: $(dpkg-query -W -f='${Version}' python3-mpi4py 2>/dev/null)"
    echo "blas: $(readlink -f /usr/lib/x86_64-linux-gnu/libblas.so.3)"
    echo "studies: $*; epochs $epochs; tests per epoch $evals; ranks $ranks; seed $seed; configurations $configs"
} >>"$out/run-info.txt"

status=0
for study in "$@"; do
    case $study in
    py) [ -e "$preload" ] || { echo "convergence_study: $preload not built (meson setup $ompi_build -Dmpi=openmpi)" >&2; exit 1; } ;;
    c | cluster-c) [ -x "$train_mlp" ] || { echo "convergence_study: $train_mlp not built (meson setup $mpich_build -Dmpi=mpich)" >&2; exit 1; } ;;
    cluster-py) [ -e "$preload" ] || { echo "convergence_study: $preload not built" >&2; exit 1; } ;;
    *) echo "convergence_study: unknown study $study" >&2; exit 2 ;;
    esac
    if [[ $study == cluster-* ]]; then
        trap cluster_down EXIT
        bench/cluster/cluster.sh up "$ranks" 1
    fi
    for config in ${configs//,/ }; do
        run_one "$study" "$config" || status=1
    done
    if [[ $study == cluster-* ]]; then
        cluster_down
        trap - EXIT
    fi
done
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/run-info.txt"
exit $status
