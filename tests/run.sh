#!/usr/bin/env bash
# Build gcomp and run every test suite this machine can run (CI runs this through .ci/run).
#
# Stages (all by default; with meson test arguments, e.g. `tests/run.sh --suite unit`, only the
# first, with those arguments):
#   1. build/test   gcc, MPICH, fault injection compiled in: every suite (gpu programs exit 77,
#                   skipped with the reason, where there is no GPU; no verbs suite exists yet);
#                   GCOMP_SKIP_SLOW=1 leaves out the slow suite
#   2. build/asan   the same under AddressSanitizer + UndefinedBehaviorSanitizer, LeakSanitizer on
#                   every rank at exit: suites unit and mpi
#   3. build/fuzz   clang + libFuzzer: each fuzz target for GCOMP_FUZZ_SECONDS (default 30) from its
#                   seed corpus (suite fuzz)
#   4. build/openmpi the second MPI: gcomp built against Open MPI (-Dmpi=openmpi), suites mpi and
#                   train (both trainers of examples/, the PyTorch one through mpi4py and LD_PRELOAD,
#                   which needs Open MPI because Debian's mpi4py is built on it); GCOMP_SKIP_SLOW=1
#                   leaves out train
# Build folders are reused when they exist; GCOMP_BUILD_DIR renames the first.
set -euo pipefail
cd "$(dirname "$0")/.."

tools/install-deps.sh

status=0
logs=()

# stage NAME DIR "SETUP OPTIONS" [meson test arguments...]
stage() {
    local name=$1 dir=$2 setup=$3
    shift 3
    echo "== stage $name ($dir)"
    if [ ! -f "$dir/build.ninja" ]; then
        # shellcheck disable=SC2086  # setup is a list of options
        meson setup "$dir" $setup >/dev/null
    else
        # shellcheck disable=SC2086
        meson configure "$dir" $setup >/dev/null
    fi
    ninja -C "$dir"
    rm -f "$dir/meson-logs/testlog.json"
    meson test -C "$dir" --print-errorlogs --num-processes 2 "$@" || status=1
    logs+=("$dir/meson-logs/testlog.json")
}

main_build=${GCOMP_BUILD_DIR:-build/test}
main_setup="-Dmpi=mpich -Dbuildtype=debugoptimized -Dfault_injection=true"
if [ $# -gt 0 ]; then
    stage main "$main_build" "$main_setup" "$@"
else
    if [ "${GCOMP_SKIP_SLOW:-0}" = 1 ]; then
        stage main "$main_build" "$main_setup" --no-suite slow
    else
        stage main "$main_build" "$main_setup"
    fi
    CC=gcc stage sanitizers build/asan \
        "-Dmpi=mpich -Dbuildtype=debugoptimized -Dfault_injection=true -Dcuda=disabled -Db_sanitize=address,undefined -Db_lundef=false" \
        --suite unit --suite mpi --no-suite slow
    CC=clang stage fuzz build/fuzz \
        "-Dmpi=disabled -Dbuildtype=debugoptimized -Dfuzz=true -Dcuda=disabled -Db_sanitize=address,undefined -Db_lundef=false" \
        --suite fuzz
    # Open MPI refuses to run as root unless told; the tests set the two variables themselves.
    train=(--suite train)
    [ "${GCOMP_SKIP_SLOW:-0}" = 1 ] && train=()
    CC=gcc stage openmpi build/openmpi \
        "-Dmpi=openmpi -Dbuildtype=debugoptimized -Dfault_injection=true -Dcuda=disabled" \
        --suite mpi "${train[@]}"
fi

# One closing line that any CI reader understands, from meson's own logs.
python3 - "${logs[@]}" <<'PY'
import json, os, sys
counts = {"passed": 0, "failed": 0, "skipped": 0}
for path in sys.argv[1:]:
    if not os.path.exists(path):
        counts["failed"] += 1  # a stage that could not run its tests at all
        continue
    with open(path) as f:
        for line in f:
            r = json.loads(line).get("result")
            if r in ("OK", "EXPECTEDFAIL"):
                counts["passed"] += 1
            elif r == "SKIP":
                counts["skipped"] += 1
            else:
                counts["failed"] += 1
print(f"tests: {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped")
PY
exit $status
