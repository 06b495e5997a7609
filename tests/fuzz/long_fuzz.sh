#!/usr/bin/env bash
# The long fuzzing run of docs/reliability.md: every target of a -Dfuzz=true build at once, each
# until it has used MINUTES of CPU time (default 30), then its final statistics.
# Usage: tests/fuzz/long_fuzz.sh <fuzz build dir> [MINUTES]
# Logs and the corpora it grows go to <fuzz build dir>/long-fuzz/<target>/; a crash stops nothing
# else and leaves its input there (crash-*).
set -uo pipefail
build=$1 minutes=${2:-30}
src=$(cd "$(dirname "$0")" && pwd)
targets=(decode_none decode_q8 decode_topk roundtrip)
export ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
declare -A pid
for t in "${targets[@]}"; do
    work=$build/long-fuzz/$t
    mkdir -p "$work/corpus"
    nice -n 10 "$build/tests/fuzz/fuzz_$t" -timeout=20 -rss_limit_mb=2048 -max_len=8192 -print_final_stats=1 \
        -artifact_prefix="$work/" "$work/corpus" "$src/corpus/$t" >"$work/log" 2>&1 &
    pid[$t]=$!
done
ticks=$(getconf CLK_TCK)
running=${#targets[@]}
while [ "$running" -gt 0 ]; do
    sleep 20
    running=0
    for t in "${targets[@]}"; do
        p=${pid[$t]}
        [ -r /proc/$p/stat ] || continue
        cpu=$(awk -v tk="$ticks" '{print int(($14 + $15) / tk)}' /proc/$p/stat)
        if [ "$cpu" -ge $((minutes * 60)) ]; then
            kill -INT "$p"
        else
            running=$((running + 1))
        fi
    done
done
wait
for t in "${targets[@]}"; do
    log=$build/long-fuzz/$t/log
    execs=$(awk '/stat::number_of_executed_units/ {print $2}' "$log")
    crashes=$(ls "$build/long-fuzz/$t"/crash-* 2>/dev/null | wc -l)
    echo "$t: ${execs:-?} executions in $minutes CPU minutes, corpus $(ls "$build/long-fuzz/$t/corpus" | wc -l) inputs, crashes $crashes"
done
