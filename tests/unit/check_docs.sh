#!/usr/bin/env bash
# Keeps the README true to the code: every variable gcomp_info knows must be documented there.
set -u
info=$1 readme=$2
missing=0
for name in $("$info" -c | cut -d= -f1); do
    if ! grep -q "\`$name\`" "$readme"; then
        echo "README.md does not document $name"
        missing=1
    fi
done
n=$("$info" -c | wc -l)
[ "$n" -gt 0 ] || { echo "gcomp_info listed no variables"; exit 1; }
[ $missing -eq 0 ] && echo "all $n variables documented"
exit $missing
