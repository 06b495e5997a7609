#!/usr/bin/env bash
# An emulated cluster on one machine: N hosts as network namespaces, each joined to one bridge (the
# switch) by a veth pair whose two ends are shaped with tc tbf, so every host has a full-duplex link of
# RATE Gbit/s. Compression only pays where the network is the bottleneck; on one machine MPI would use
# shared memory, so the ranks are put in separate hosts and made to talk TCP over these links.
#
#   bench/cluster/cluster.sh up N RATE [DELAY]   N hosts gch1..gchN, RATE in Gbit/s (e.g. 1, 10, 2.5),
#                                                optional one-way DELAY per link (e.g. 100us, 1ms: netem)
#   bench/cluster/cluster.sh down                remove everything `up` made, and only that
#   bench/cluster/cluster.sh status              what is up, with the qdiscs' counters
#   bench/cluster/cluster.sh check               exit 0 when this machine can make the cluster (root,
#                                                namespaces, veth, bridge, tbf), else say why and exit 1
#
# Layout (GCOMP_CLUSTER_NET=10.77.0 by default, a private /24 used by nothing else):
#   bridge gcbr0 10.77.0.254 (in this namespace: mpiexec listens here, the proxies call back to it)
#   namespace gchI: lo, eth0 = 10.77.0.I/24   <-veth->   gcvI enslaved to gcbr0
#   tbf RATE on eth0 (host egress) and on gcvI (the switch port's egress = host ingress)
#   /etc/hosts: "10.77.0.I gchI  # gcomp-cluster"
# What `up` made is recorded in /run/gcomp-cluster/state; `down` reads it and removes those items.
set -euo pipefail

state_dir=/run/gcomp-cluster
state=$state_dir/state
net=${GCOMP_CLUSTER_NET:-10.77.0}
bridge=gcbr0
bridge_addr=$net.254
hosts_mark="# gcomp-cluster"

die() { echo "cluster: $*" >&2; exit 1; }

usage() {
    sed -n '7,12p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
}

require_root() {
    [ "$(id -u)" -eq 0 ] || die "needs root (network namespaces, veth, bridge, tc); run it as root or use the local benchmark"
    for tool in ip tc; do
        command -v "$tool" >/dev/null || die "'$tool' not found: apt-get install iproute2"
    done
}

# Rate in Mbit/s from a number of Gbit/s; tc takes integer mbit everywhere.
rate_mbit() {
    awk -v r="$1" 'BEGIN { if (r !~ /^[0-9]*\.?[0-9]+$/ || r <= 0) exit 1; printf "%d", r * 1000 + 0.5 }'
}

# tbf needs a bucket at least one GSO packet (64 KiB) deep; a 1 ms bucket keeps short bursts honest.
tbf_args() {
    local mbit=$1 burst
    burst=$(( mbit * 1000 / 8 / 1000 ))   # bytes in 1 ms
    [ "$burst" -lt 131072 ] && burst=131072
    echo "rate ${mbit}mbit burst $burst latency 25ms"
}

write_hosts() {
    # /etc/hosts may be a bind mount: rewrite it in place rather than rename over it.
    local tmp
    tmp=$(mktemp)
    grep -v -- "$hosts_mark\$" /etc/hosts >"$tmp" || true
    if [ "${1:-}" = add ]; then
        for i in $(seq 1 "$2"); do
            printf '%s.%d gch%d  %s\n' "$net" "$i" "$i" "$hosts_mark" >>"$tmp"
        done
    fi
    cat "$tmp" >/etc/hosts
    rm -f "$tmp"
}

# Clean up after a failed `up`: whatever the state file already lists.
on_up_error() {
    echo "cluster: up failed; removing what it made" >&2
    cmd_down >/dev/null 2>&1 || true
}

cmd_check() {
    require_root
    local ns=gcchk$$
    ip netns add "$ns" 2>/dev/null || die "cannot create a network namespace here"
    local ok=1
    ip link add gcchka$$ type veth peer name gcchkb$$ netns "$ns" 2>/dev/null || ok=0
    local tbf
    read -ra tbf <<<"$(tbf_args 1000)"
    [ $ok -eq 1 ] && { ip netns exec "$ns" tc qdisc add dev gcchkb$$ root tbf "${tbf[@]}" 2>/dev/null || ok=0; }
    [ $ok -eq 1 ] && { ip link add gcchkbr$$ type bridge 2>/dev/null && ip link del gcchkbr$$ || ok=0; }
    ip link del gcchka$$ 2>/dev/null || true
    ip netns del "$ns"
    [ $ok -eq 1 ] || die "veth, bridge or tc tbf is not available in this kernel"
    echo "cluster: this machine can make the emulated cluster"
}

cmd_up() {
    [ $# -ge 2 ] || usage
    local n=$1 rate=$2 delay=${3:-}
    require_root
    if ! [[ "$n" =~ ^[0-9]+$ ]] || [ "$n" -lt 2 ] || [ "$n" -gt 64 ]; then
        die "N must be 2..64, got '$n'"
    fi
    local mbit
    mbit=$(rate_mbit "$rate") || die "RATE is Gbit/s as a number (e.g. 1, 10, 2.5), got '$rate'"
    [ -e "$state" ] && die "a cluster is already up (see '$0 status'); run '$0 down' first"
    if ip route show | grep -q "^$net\.0/24"; then
        die "$net.0/24 is already routed on this machine; choose another with GCOMP_CLUSTER_NET"
    fi
    if [ -n "$delay" ]; then
        # netem is a separate kernel option; find out before making anything.
        ip netns add gcchk$$ && ip netns exec gcchk$$ ip link set lo up
        if ! ip netns exec gcchk$$ tc qdisc add dev lo root netem delay "$delay" 2>/dev/null; then
            ip netns del gcchk$$
            die "cannot add 'netem delay $delay' (this kernel may lack CONFIG_NET_SCH_NETEM); bring it up without DELAY"
        fi
        ip netns del gcchk$$
    fi

    mkdir -p "$state_dir"
    printf 'n=%s\nrate_gbit=%s\ndelay=%s\nnet=%s\nbridge=%s\nbridge_addr=%s\n' \
        "$n" "$rate" "$delay" "$net" "$bridge" "$bridge_addr" >"$state"
    trap on_up_error ERR

    ip link add "$bridge" type bridge
    echo "made_bridge=1" >>"$state"
    ip addr add "$bridge_addr/24" dev "$bridge"
    ip link set "$bridge" up

    local tbf
    read -ra tbf <<<"$(tbf_args "$mbit")"
    for i in $(seq 1 "$n"); do
        local ns=gch$i veth=gcv$i
        ip netns add "$ns"
        echo "made_ns=$ns" >>"$state"
        ip link add "$veth" type veth peer name eth0 netns "$ns"
        ip link set "$veth" master "$bridge"
        ip link set "$veth" up
        ip netns exec "$ns" ip link set lo up
        ip netns exec "$ns" ip addr add "$net.$i/24" dev eth0
        ip netns exec "$ns" ip link set eth0 up
        # Host egress: tbf, behind netem when a delay is asked for (netem's own queue holds the
        # packets in flight, tbf below it sets the rate).
        if [ -n "$delay" ]; then
            ip netns exec "$ns" tc qdisc add dev eth0 root handle 1: netem delay "$delay" limit 100000
            ip netns exec "$ns" tc qdisc add dev eth0 parent 1: handle 2: tbf "${tbf[@]}"
        else
            ip netns exec "$ns" tc qdisc add dev eth0 root tbf "${tbf[@]}"
        fi
        # Host ingress: the switch port's egress, so a host cannot receive faster than its link.
        tc qdisc add dev "$veth" root tbf "${tbf[@]}"
    done
    write_hosts add "$n"
    echo "made_hosts=1" >>"$state"
    trap - ERR

    # Wait for the bridge ports to forward (no STP, so this is quick) and check every host answers
    # (iputils-ping; without it the first MPI run finds out).
    command -v ping >/dev/null || { echo "cluster: no ping here; hosts not checked" >&2; n_check=0; }
    for i in $(seq 1 "${n_check:-$n}"); do
        local tries=0
        until ip netns exec gch1 ping -c1 -W1 "$net.$i" >/dev/null 2>&1; do
            tries=$((tries + 1))
            [ $tries -lt 10 ] || { cmd_down >/dev/null; die "gch$i does not answer ping from gch1"; }
            sleep 0.3
        done
    done
    echo "cluster: up: $n hosts gch1..gch$n ($net.1-$n), ${rate} Gbit/s full-duplex links${delay:+, one-way delay $delay}, bridge $bridge $bridge_addr"
}

cmd_down() {
    require_root
    if [ ! -e "$state" ]; then
        echo "cluster: nothing is up"
        return 0
    fi
    local line
    # Processes still in a namespace (an MPI rank that never left MPI_Finalize) keep it alive.
    while IFS= read -r line; do
        case $line in
        made_ns=*)
            local ns=${line#made_ns=} pids
            mapfile -t pids < <(ip netns pids "$ns" 2>/dev/null || true)
            if [ ${#pids[@]} -gt 0 ]; then kill -9 "${pids[@]}" 2>/dev/null || true; fi
            ip netns del "$ns" 2>/dev/null || true
            ;;
        made_bridge=1) ip link del "$bridge" 2>/dev/null || true ;;
        made_hosts=1) write_hosts remove ;;
        esac
    done <"$state"
    # A failed `up` may have added hosts lines before recording it; ours are marked.
    grep -q -- "$hosts_mark\$" /etc/hosts && write_hosts remove
    rm -f "$state"
    rmdir "$state_dir" 2>/dev/null || true
    echo "cluster: down"
}

cmd_status() {
    if [ ! -e "$state" ]; then
        echo "cluster: down"
        return 1
    fi
    local n rate_gbit delay
    n=$(sed -n 's/^n=//p' "$state")
    rate_gbit=$(sed -n 's/^rate_gbit=//p' "$state")
    delay=$(sed -n 's/^delay=//p' "$state")
    echo "cluster: up: $n hosts, ${rate_gbit} Gbit/s${delay:+, delay $delay}, bridge $bridge $bridge_addr"
    for i in $(seq 1 "$n"); do
        local pids
        pids=$(ip netns pids "gch$i" 2>/dev/null | wc -l)
        printf '  gch%-3d %s.%-4d processes: %s\n' "$i" "$net" "$i" "$pids"
        ip netns exec "gch$i" tc -s qdisc show dev eth0 | sed -n 's/^ *\(Sent .*\)/      egress  \1/p;s/^ *\(backlog .*\)/      egress  \1/p'
        tc -s qdisc show dev "gcv$i" | sed -n 's/^ *\(Sent .*\)/      ingress \1/p'
    done
}

case "${1:-}" in
up) shift; cmd_up "$@" ;;
down) cmd_down ;;
status) cmd_status ;;
check) cmd_check ;;
*) usage ;;
esac
