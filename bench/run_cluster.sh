#!/usr/bin/env bash
# Sweep gcomp_bench over an emulated cluster (bench/cluster/cluster.sh): N ranks, one per host, at each
# link rate; every codec beside plain MPI_Allreduce in the same run. Writes, per rate, the human table
# (rate-RG.txt) and JSON (rate-RG.json), then the plots and a markdown summary (bench/plot.py).
#
#   bench/run_cluster.sh [-r RATES] [-N RANKS] [-b MIN] [-e MAX] [-f FACTOR] [-n ITERS] [-w WARMUP]
#                        [-c CODECS] [-o DIR] [-t SECONDS] [--build DIR] [--split] [--no-plot]
#
#   -r RATES   comma list of link rates in Gbit/s (default 1,10; add 25 where the machine keeps up)
#   -N RANKS   ranks = hosts (default 4)
#   -b -e -f -n -w -c   as gcomp_bench (default 1M, 256M, 4, 5, 2, dense,none,q8,topk,topk-q8)
#   -o DIR     where results go (default build/cluster/UTC-DATE)
#   -t SECONDS bound on each rate's run (default 1800)
#   --build    build directory (default build/bench; configured here if it is not)
#   --delay D  one-way link delay (netem; not every kernel has it)
#   --preload CODECS  also, per rate, 64 MiB through the interposer (LD_PRELOAD=libgcomp_preload.so,
#              gcomp_bench --preload, GCOMP_CODEC=each codec) beside dense: what a trainer gets unchanged
# Extra GCOMP_* variables in the environment reach every rank (e.g. GCOMP_TOPK_RATIO=0.001).
# Root only: the cluster needs network namespaces. The cluster is taken down on exit, also on error.
set -euo pipefail
cd "$(dirname "$0")/.."

rates=1,10
ranks=4
bmin=1M bmax=256M factor=4 iters=5 warmup=2
codecs=dense,none,q8,topk,topk-q8
out=
limit=1800
build=${GCOMP_BUILD_DIR:-build/bench}
split=--split
plot=1
delay=
preload=
usage() { sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
while [ $# -gt 0 ]; do
    case $1 in
    -r) rates=$2; shift 2 ;;
    -N) ranks=$2; shift 2 ;;
    -b) bmin=$2; shift 2 ;;
    -e) bmax=$2; shift 2 ;;
    -f) factor=$2; shift 2 ;;
    -n) iters=$2; shift 2 ;;
    -w) warmup=$2; shift 2 ;;
    -c) codecs=$2; shift 2 ;;
    -o) out=$2; shift 2 ;;
    -t) limit=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --delay) delay=$2; shift 2 ;;
    --split) split=--split; shift ;;
    --preload) preload=$2; shift 2 ;;
    --no-plot) plot=0; shift ;;
    -h|--help) usage ;;
    *) echo "run_cluster: unknown argument $1" >&2; usage ;;
    esac
done

unset GCOMP_BUILD_DIR   # ours, not gcomp's: gcomp warns about GCOMP_* variables it does not know
[ "$(id -u)" -eq 0 ] || { echo "run_cluster: needs root for the emulated cluster (network namespaces)" >&2; exit 1; }
tools/install-deps.sh iproute2 iputils-ping python3-matplotlib
bench/cluster/cluster.sh check >/dev/null

if [ ! -f "$build/build.ninja" ]; then
    meson setup "$build" -Dmpi=mpich -Dbuildtype=release -Dtests=false >/dev/null
fi
ninja -C "$build" >/dev/null
bench=$build/bench/gcomp_bench
[ -x "$bench" ] || { echo "run_cluster: $bench was not built" >&2; exit 1; }
bench=$(cd "$(dirname "$bench")" && pwd)/gcomp_bench
preload_lib=$(cd "$build/src/preload" 2>/dev/null && pwd)/libgcomp_preload.so
[ -z "$preload" ] || [ -f "$preload_lib" ] || { echo "run_cluster: $preload_lib was not built" >&2; exit 1; }

out=${out:-build/cluster/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$out"
out=$(cd "$out" && pwd)

trap 'bench/cluster/cluster.sh down >/dev/null 2>&1 || true' EXIT
# A cluster left by an earlier run that was killed.
bench/cluster/cluster.sh down >/dev/null

{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)"
    echo "kernel: $(uname -r)"
    echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD 2>/dev/null || echo ' (with uncommitted changes)')"
    echo "command: bench/run_cluster.sh -r $rates -N $ranks -b $bmin -e $bmax -f $factor -n $iters -w $warmup -c $codecs${delay:+ --delay $delay}"
    env | grep -E '^(GCOMP|UCX|MPIR_CVAR)_' | sort | sed 's/^/env: /' || true
    echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$out/run-info.txt"
cat "$out/run-info.txt"

status=0
for rate in ${rates//,/ }; do
    tag=rate-${rate}g
    echo
    echo "== $ranks ranks, $rate Gbit/s links${delay:+, delay $delay}: $out/$tag.txt"
    bench/cluster/cluster.sh up "$ranks" "$rate" ${delay:+"$delay"}
    rc=0
    bench/cluster/mpirun.sh -t "$limit" -m "# gcomp_bench: done" -n "$ranks" \
        "$bench" -b "$bmin" -e "$bmax" -f "$factor" -n "$iters" -w "$warmup" -c "$codecs" $split \
        --json "$out/$tag.json" --label "$ranks ranks, $rate Gbit/s links${delay:+, delay $delay}" \
        2>&1 | tee "$out/$tag.txt" || rc=$?
    echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/$tag.txt"
    if [ $rc -ne 0 ] || ! grep -q "^# gcomp_bench: done" "$out/$tag.txt"; then
        echo "run_cluster: the $rate Gbit/s run did not complete (exit $rc)" >&2
        status=1
    fi
    for codec in ${preload//,/ }; do
        ptag=$tag-preload-$codec
        echo "== through the interposer, GCOMP_CODEC=$codec: $out/$ptag.txt"
        rc=0
        GCOMP_CODEC=$codec bench/cluster/mpirun.sh -t "$limit" -m "# gcomp_bench: done" \
            -x LD_PRELOAD="$preload_lib" -n "$ranks" \
            "$bench" --preload -b 64M -e 64M -n "$iters" -w "$warmup" -c "dense,$codec" \
            --json "$out/$ptag.json" --label "$ranks ranks, $rate Gbit/s links, LD_PRELOAD" \
            2>&1 | tee "$out/$ptag.txt" || rc=$?
        if [ $rc -ne 0 ] || ! grep -q "^# gcomp_bench: done" "$out/$ptag.txt"; then
            echo "run_cluster: the interposer run ($codec, $rate Gbit/s) did not complete (exit $rc)" >&2
            status=1
        fi
    done
    bench/cluster/cluster.sh down >/dev/null
done

if [ $plot -eq 1 ] && ls "$out"/rate-*g.json >/dev/null 2>&1; then
    /usr/bin/python3 bench/plot.py -o "$out" --markdown "$out/summary.md" "$out"/rate-*g.json
fi
echo
echo "results: $out"
exit $status
