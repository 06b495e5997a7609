#!/usr/bin/env bash
# The GPU check, in one go, for a machine with an NVIDIA GPU (written for an H200): build with CUDA
# and without MPI, run the gpu suite (CUDA frames byte-identical to the CPU codecs' up to 10^8
# elements), the codec benchmark on the device, and gcomp's top-k against torch.topk on the same
# 10^8 floats at 1%, both timed in one Python process, and compute-sanitizer's memcheck, racecheck,
# synccheck and initcheck over the gpu suite at small sizes. Every step has a time limit; the rest
# finishes in under 8 minutes, and the three tools beyond memcheck add at most 330 s to that
# (GPU_CHECK_SANITIZERS=memcheck leaves them out). Logs go to $OUT (or build/gpu-check),
# one per step (memcheck.log, racecheck.log, ...), and the last lines summarise.
#
# What the machine must have: meson, ninja, nvcc (CUDA >= 12), python3 with torch. No MPI, no network,
# no Debian packages: xxhash is used header-only from .deps/xxhash/usr/include when pkg-config does
# not find libxxhash. Prepare that folder where apt works, and carry it along (it is git-ignored):
#     mkdir -p .deps && cd .deps && apt-get download libxxhash-dev && dpkg -x libxxhash-dev_*.deb xxhash
#
# Usage: bench/gpu_check.sh            (from the repository root or anywhere)
#        GPU_CHECK_SANITIZERS="memcheck racecheck" bench/gpu_check.sh   (a subset of the sanitizer tools)
set -uo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)
out=${OUT:-build/gpu-check}
mkdir -p "$out"
build=build/gpu
status=0
summary=()

note() { echo "gpu_check: $*" | tee -a "$out/summary.txt"; }
step() { # name limit_s command...: run with a time limit, log to $out/name.log
    local name=$1 limit=$2
    shift 2
    local t0=$(date +%s)
    echo "== $name (limit ${limit}s): $*" | tee -a "$out/summary.txt"
    timeout --kill-after=10 "$limit" "$@" >"$out/$name.log" 2>&1
    local rc=$?
    tail -n 40 "$out/$name.log"
    summary+=("$name: exit $rc in $(($(date +%s) - t0))s")
    echo "== $name: exit $rc in $(($(date +%s) - t0))s" | tee -a "$out/summary.txt"
    return $rc
}

[ -d /usr/local/cuda/bin ] && export PATH=/usr/local/cuda/bin:$PATH
note "host $(hostname), $(nproc) cores, $(date -u +%FT%TZ)"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv >"$out/nvidia-smi.txt" 2>&1 &&
    cat "$out/nvidia-smi.txt"
for tool in meson ninja nvcc python3; do
    command -v "$tool" >/dev/null || { note "missing $tool"; exit 1; }
done
nvcc --version | tail -2 | tee -a "$out/summary.txt"
if ! pkg-config --exists libxxhash 2>/dev/null && [ ! -f .deps/xxhash/usr/include/xxhash.h ]; then
    note "no libxxhash and no .deps/xxhash/usr/include/xxhash.h: see the top of this script"
    exit 1
fi

# 1. Build (codec-only, CUDA kernels for sm_80, sm_90 and PTX).
if [ ! -f "$build/build.ninja" ]; then
    step configure 60 meson setup "$build" -Dmpi=disabled -Dcuda=enabled -Dbuildtype=release || exit 1
fi
step build 200 ninja -C "$build" -j"$(nproc)" || { note "build failed"; exit 1; }

# 2. The element copies and the emulated kernels (unit), then the device against the CPU (gpu).
step unit_cuda 60 meson test -C "$build" --print-errorlogs cuda_elem cuda_frames_emulated || status=1
step gpu_suite 170 meson test -C "$build" --suite gpu --print-errorlogs -v || status=1
cp "$build/meson-logs/testlog.txt" "$out/testlog.txt" 2>/dev/null
# compute-sanitizer over the gpu suite (small sizes), one tool at a time: each finds what the SIMT
# emulator cannot (cuda/simt/README.md): memcheck out-of-bounds and misaligned device accesses and
# leaks, racecheck shared-memory hazards, synccheck barrier and warp-primitive misuse, initcheck reads
# of uninitialised device memory. GPU_CHECK_SANITIZERS picks the tools (empty: none).
if command -v compute-sanitizer >/dev/null; then
    for tool in ${GPU_CHECK_SANITIZERS-memcheck racecheck synccheck initcheck}; do
        case $tool in
        racecheck) limit=150 ;;
        *) limit=90 ;;
        esac
        step "$tool" $limit env GCOMP_TEST_GPU_SMALL=1 meson test -C "$build" --suite gpu --print-errorlogs -v \
            --wrapper "compute-sanitizer --tool $tool --error-exitcode 3" || status=1
    done
else
    note "compute-sanitizer not found: memcheck, racecheck, synccheck and initcheck not run"
fi

# 3. Throughput on the device, a device copy as the baseline in the same run.
step codec_bench 50 "$build/bench/gcomp_codec_bench" --gpu -s 64,400,1024 -n 10 --json "$out/codec_bench_gpu.json" ||
    status=1

# 4. Top-k against torch.topk: 10^8 floats, k = 1%, same data, same process.
step torch_topk 80 env OUT="$out" python3 tests/gpu/torch_topk.py "$build/tests/gpu/libgcomp_cuda_py.so" 1e8 0.01 ||
    status=1

echo
note "summary ($(($(date +%s) - start))s in all):"
for s in "${summary[@]}"; do note "  $s"; done
grep -hE "checks|frames compared|corrupted" "$out/gpu_suite.log" 2>/dev/null | tee -a "$out/summary.txt"
grep -E "^ +[0-9]+ (q8|topk|none)" "$out/codec_bench.log" 2>/dev/null | tee -a "$out/summary.txt"
grep -E "torch.topk|gcomp_topk|exact selection" "$out/torch_topk.log" 2>/dev/null | tee -a "$out/summary.txt"
note "overall: $([ $status -eq 0 ] && echo PASS || echo FAIL)"
exit $status
