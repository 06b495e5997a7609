#!/usr/bin/env bash
# The main job: 4 ranks all-reduce 64 MiB of gradient-like fp32 data with each codec and with plain
# MPI_Allreduce, then the single-core codec throughput table.
#
# As root where network namespaces can be made, the ranks run in an emulated cluster (one host each,
# 1 Gbit/s links: bench/cluster/cluster.sh), where the network is the bottleneck as on a real cluster.
# Otherwise (not root, or a container without namespaces) they run on this machine, where MPI uses
# shared memory; the script says which it ran.
# Usage: bench/demo.sh   (as root on a fresh Debian 12 machine it installs what is missing first)
#        GCOMP_DEMO_MODE=local|cluster|auto (default auto), GCOMP_DEMO_RANKS (default 4),
#        GCOMP_DEMO_RATE (Gbit/s of the emulated links, default 1)
set -euo pipefail
cd "$(dirname "$0")/.."

tools/install-deps.sh

build=${GCOMP_BUILD_DIR:-build/demo}
if [ ! -f "$build/build.ninja" ]; then
    meson setup "$build" -Dmpi=mpich -Dbuildtype=release -Dtests=false >/dev/null
fi
ninja -C "$build" >/dev/null
bench=$(cd "$build/bench" && pwd)/gcomp_bench

ranks=${GCOMP_DEMO_RANKS:-4}
rate=${GCOMP_DEMO_RATE:-1}
mode=${GCOMP_DEMO_MODE:-auto}
args=(-b 64M -e 64M -n 5 -w 2 -c "dense,none,q8,topk,topk-q8")
# These are the script's, not gcomp's: gcomp warns about GCOMP_* variables it does not know.
unset GCOMP_BUILD_DIR GCOMP_DEMO_RANKS GCOMP_DEMO_RATE GCOMP_DEMO_MODE

why=
if [ "$mode" = auto ]; then
    if [ "$(id -u)" -ne 0 ]; then
        why="not root"
    elif ! why=$(bench/cluster/cluster.sh check 2>&1 >/dev/null); then
        why=${why#cluster: }
    else
        why=
    fi
    [ -z "$why" ] && mode=cluster || mode=local
fi

if [ "$mode" = cluster ]; then
    trap 'bench/cluster/cluster.sh down >/dev/null 2>&1 || true' EXIT
    bench/cluster/cluster.sh down >/dev/null
    echo "== gcomp demo: emulated cluster, $ranks hosts with ${rate} Gbit/s links, 64 MiB fp32 per rank,"
    echo "   every codec against plain MPI_Allreduce measured in the same run"
    bench/cluster/cluster.sh up "$ranks" "$rate"
    # Bounded: MPICH can stay in MPI_Finalize after the results are out (mpirun.sh then stops it).
    bench/cluster/mpirun.sh -t 480 -m "# gcomp_bench: done" -n "$ranks" "$bench" "${args[@]}"
    bench/cluster/cluster.sh down >/dev/null
    trap - EXIT
else
    echo "== gcomp demo: $ranks local ranks (no emulated cluster: ${why:-GCOMP_DEMO_MODE=local}),"
    echo "   64 MiB fp32 per rank, every codec against plain MPI_Allreduce"
    echo "   (one machine: MPI moves data through shared memory here, so the time column shows codec cost"
    echo "    and the wire column shows what compression saves on a real network)"
    rc=0
    timeout 600 mpiexec.mpich -n "$ranks" "$bench" "${args[@]}" || rc=$?
    if [ $rc -eq 124 ]; then
        echo "(MPI_Finalize did not return; results above are complete)"
    elif [ $rc -ne 0 ]; then
        exit $rc
    fi
fi

echo
echo "== single-core codec throughput, memcpy of the same buffer measured in the same run"
"$build/bench/gcomp_codec_bench" -s 1,16,64 -n 5
