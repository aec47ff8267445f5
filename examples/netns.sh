#!/usr/bin/env bash
# Try mag-ap on one machine: the reference LMA (examples/lma.toml) and the MAG
# (examples/mag.toml) in two network namespaces joined by a veth that carries
# the addresses those files name (2001:db8:ffff::1 and ::10). The control
# sockets stay where the configs put them, so `mag-ap status`, `attach`,
# `detach` and `lma revoke` work from any shell of this host. Ctrl-C (or
# SIGTERM) stops both daemons cleanly and removes the namespaces.
#
#   sudo examples/netns.sh            # from the checkout, after `make setup`
#
# RUN_DIR=/some/dir puts the control sockets, state and logs there instead of
# the configs' /var/run and /var/lib defaults (then pass -s to the CLI).
set -euo pipefail
cd "$(dirname "$0")/.."

MAG_AP=${MAG_AP:-$PWD/.venv/bin/mag-ap}
if [[ $(id -u) -ne 0 ]]; then
    echo "netns.sh: needs root (network namespaces, raw sockets): sudo $0" >&2
    exit 1
fi
if [[ ! -x $MAG_AP ]]; then
    echo "netns.sh: $MAG_AP is missing: run 'make setup' first" >&2
    exit 1
fi

prefix="mapex$$"
lma_ns="$prefix-lma"
mag_ns="$prefix-mag"
run_dir=${RUN_DIR:-}
lma_cfg=examples/lma.toml
mag_cfg=examples/mag.toml
log_dir=$(mktemp -d)
lma_sock=/var/run/mag-ap-lma.sock
mag_sock=/var/run/mag-ap.sock
if [[ -n $run_dir ]]; then
    mkdir -p "$run_dir"
    log_dir=$run_dir
    lma_sock=$run_dir/lma.sock
    mag_sock=$run_dir/mag.sock
    for role in lma mag; do
        sock=$run_dir/$role.sock
        sed "s|^\[daemon\]|[daemon]\ncontrol_socket = \"$sock\"\nstate_dir = \"$run_dir/state\"|" \
            "examples/$role.toml" >"$run_dir/$role.toml"
    done
    lma_cfg=$run_dir/lma.toml
    mag_cfg=$run_dir/mag.toml
fi

pids=()
cleanup() {
    trap - EXIT INT TERM
    for pid in "${pids[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    ip netns delete "$mag_ns" 2>/dev/null || true
    ip netns delete "$lma_ns" 2>/dev/null || true
    echo "netns.sh: stopped; namespaces $lma_ns and $mag_ns removed (logs in $log_dir)"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ip netns add "$lma_ns"
ip netns add "$mag_ns"
ip -n "$lma_ns" link set lo up
ip -n "$mag_ns" link set lo up
ip link add "${prefix}l" netns "$lma_ns" type veth peer name "${prefix}m" netns "$mag_ns"
ip -n "$lma_ns" addr add 2001:db8:ffff::1/64 dev "${prefix}l" nodad
ip -n "$mag_ns" addr add 2001:db8:ffff::10/64 dev "${prefix}m" nodad
ip -n "$lma_ns" link set "${prefix}l" up
ip -n "$mag_ns" link set "${prefix}m" up

wait_ready() {  # role socket pid
    for _ in $(seq 100); do
        if ! kill -0 "$3" 2>/dev/null; then
            echo "netns.sh: the $1 exited; its log ($log_dir/$1.log):" >&2
            cat "$log_dir/$1.log" >&2
            exit 1
        fi
        if "$MAG_AP" status -s "$2" >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.1
    done
    echo "netns.sh: the $1 did not answer on $2 within 10 s" >&2
    exit 1
}

ip netns exec "$lma_ns" "$MAG_AP" lma -c "$lma_cfg" >"$log_dir/lma.log" 2>&1 &
pids+=($!)
wait_ready lma "$lma_sock" "${pids[0]}"
ip netns exec "$mag_ns" "$MAG_AP" run -c "$mag_cfg" >"$log_dir/mag.log" 2>&1 &
pids+=($!)
wait_ready mag "$mag_sock" "${pids[1]}"

cat <<EOF
LMA (namespace $lma_ns) and MAG (namespace $mag_ns) are running; logs in $log_dir.
From another shell:
  $MAG_AP status -s $mag_sock
  $MAG_AP attach 02:00:00:00:00:01 --mn-id alice@example.net --wait 5 -s $mag_sock
  $MAG_AP detach 02:00:00:00:00:01 -s $mag_sock
  $MAG_AP lma revoke alice@example.net -s $lma_sock
Ctrl-C stops both and removes the namespaces.
EOF
wait "${pids[@]}"
