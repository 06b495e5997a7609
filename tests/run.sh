#!/usr/bin/env bash
# Build gcomp and run every test suite this machine can run: unit and mpi always; gpu and verbs run
# their programs too, which exit 77 (skipped, with the reason) where there is no GPU or RDMA device.
# Usage: tests/run.sh [meson test arguments, e.g. --suite unit]
set -euo pipefail
cd "$(dirname "$0")/.."

tools/install-deps.sh

build=${GCOMP_BUILD_DIR:-build/test}
if [ ! -f "$build/build.ninja" ]; then
    meson setup "$build" -Dmpi=mpich -Dbuildtype=debugoptimized >/dev/null
fi
ninja -C "$build"

status=0
meson test -C "$build" --print-errorlogs --num-processes 2 "$@" || status=$?

# One closing line that any CI reader understands, from meson's own log.
python3 - "$build/meson-logs/testlog.json" <<'PY'
import json, sys
counts = {"passed": 0, "failed": 0, "skipped": 0}
with open(sys.argv[1]) as f:
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
