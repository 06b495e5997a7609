#!/usr/bin/env bash
# Fuzz one target for a fixed time from its seed corpus: run_fuzz.sh <target> <seed corpus> <work dir>
# GCOMP_FUZZ_SECONDS (default 30) sets the time. New inputs go to <work dir>/corpus (the seed corpus
# in the source tree is never written), a crashing input to <work dir>/crash-*. Exit status: 0 when
# the time ran out without a broken property, else libFuzzer's.
set -euo pipefail
target=$1 seeds=$2 work=$3
seconds=${GCOMP_FUZZ_SECONDS:-30}
mkdir -p "$work/corpus"
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
echo "fuzzing $(basename "$target") for ${seconds}s from $seeds"
"$target" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 -max_len=8192 -print_final_stats=1 \
    -artifact_prefix="$work/" "$work/corpus" "$seeds" 2>&1 | grep -v '^#[0-9]*.*\(NEW\|REDUCE\|pulse\)' || true
status=${PIPESTATUS[0]}
if ls "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$work"/oom-* >/dev/null 2>&1; then
    echo "run_fuzz: a broken property left its input in $work" >&2
    exit 1
fi
exit "$status"
