#!/usr/bin/env bash
# The main job: 4 local ranks all-reduce 64 MiB of gradient-like fp32 data with each codec and with
# plain MPI_Allreduce, then the single-core codec throughput table.
# Usage: bench/demo.sh   (as root on a fresh Debian 12 machine it installs what is missing first)
set -euo pipefail
cd "$(dirname "$0")/.."

tools/install-deps.sh

build=${GCOMP_BUILD_DIR:-build/demo}
if [ ! -f "$build/build.ninja" ]; then
    meson setup "$build" -Dmpi=mpich -Dbuildtype=release -Dtests=false >/dev/null
fi
ninja -C "$build" >/dev/null

ranks=${GCOMP_DEMO_RANKS:-4}
echo "== gcomp demo: $ranks local ranks, 64 MiB fp32 per rank, every codec against plain MPI_Allreduce"
echo "   (one machine: MPI moves data through shared memory here, so the time column shows codec cost"
echo "    and the wire column shows what compression saves on a real network)"
# Debian's MPICH can linger in MPI_Finalize after all work is done: results are printed first and the
# run is bounded.
timeout 600 mpiexec.mpich -n "$ranks" "$build/bench/gcomp_bench" -b 64M -e 64M -n 5 -w 2 \
    -c dense,none,q8,topk,topk-q8 || { rc=$?; [ $rc -eq 124 ] && echo "(MPI_Finalize did not return; results above are complete)" || exit $rc; }

echo
echo "== single-core codec throughput, memcpy of the same buffer measured in the same run"
"$build/bench/gcomp_codec_bench" -s 1,16,64 -n 5
