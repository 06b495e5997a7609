#!/bin/sh
# hydra's "ssh" into an emulated host: mpiexec -launcher ssh -launcher-exec bench/cluster/launch.sh
# runs this as `launch.sh [-x ...] HOST CMD...`. ssh would join CMD with spaces and give it to the
# remote shell; we do the same inside the host's network namespace. The environment passes through
# (hydra also forwards it to the ranks itself).
while [ $# -gt 0 ]; do
    case $1 in
    -*) shift ;;
    *) break ;;
    esac
done
[ $# -ge 2 ] || { echo "launch.sh: expected HOST CMD..." >&2; exit 255; }
host=$1
shift
exec ip netns exec "$host" sh -c "$*"
