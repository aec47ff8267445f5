#!/bin/sh
# Runs inside the VM guest: a MAG and an LMA namespace joined by a veth, an
# ip6tnl (mode any, encaplimit none) and a keyed ip6gre between them, pings
# through both, and a dumpcap capture of the transport link for the host's tshark.
# Prints "name=exit code" lines; writes wan.pcapng and links.txt into OUT_DIR.
set -u
out=${1:?usage: tunnels.sh OUT_DIR}
here=$(dirname "$0")
p=mvt$$
mag=$p-mag
lma=$p-lma
step() { name=$1; shift; "$@"; echo "$name=$?"; }
cleanup() {
    [ -n "${cap:-}" ] && kill "$cap" 2>/dev/null
    ip netns del "$mag" 2>/dev/null
    ip netns del "$lma" 2>/dev/null
}
trap cleanup EXIT

for ns in "$mag" "$lma"; do
    ip netns add "$ns"
    # No DAD delay, and no router solicitations through the tunnels (only echoes are counted).
    ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 \
        net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.default.router_solicitations=0
    ip -n "$ns" link set lo up
done
ip link add "$p-a" type veth peer name "$p-b"
ip link set "$p-a" netns "$mag" name wan0
ip link set "$p-b" netns "$lma" name wan0
ip -n "$mag" addr add 2001:db8:1::1/64 dev wan0
ip -n "$lma" addr add 2001:db8:1::2/64 dev wan0
ip -n "$mag" link set wan0 up
ip -n "$lma" link set wan0 up

step ip6tnl_mag ip -n "$mag" link add tnl6 type ip6tnl mode any \
    local 2001:db8:1::1 remote 2001:db8:1::2 encaplimit none
step ip6tnl_lma ip -n "$lma" link add tnl6 type ip6tnl mode any \
    local 2001:db8:1::2 remote 2001:db8:1::1 encaplimit none
step ip6gre_pyroute2 "${PYTHON:?set PYTHON to the venv python}" "$here/make_ip6gre.py" "$mag" "$lma"

i=1
for ns in "$mag" "$lma"; do
    ip -n "$ns" addr add "2001:db8:10::$i/64" dev tnl6
    ip -n "$ns" addr add "198.51.100.$i/30" dev tnl6
    ip -n "$ns" addr add "2001:db8:20::$i/64" dev gre6
    ip -n "$ns" addr add "198.51.100.$((i + 4))/30" dev gre6
    ip -n "$ns" link set tnl6 up
    ip -n "$ns" link set gre6 up
    i=2
done
ip -n "$mag" -d link show > "$out/links.txt"

ip netns exec "$lma" dumpcap -i wan0 -f "not icmp6" -w "$out/wan.pcapng" 2> "$out/dumpcap.log" &
cap=$!
n=0
until grep -q "Capturing on" "$out/dumpcap.log" 2>/dev/null; do
    n=$((n + 1))
    [ $n -gt 600 ] && break
    sleep 0.1
done

ping_from_mag() { ip netns exec "$mag" ping -q -c 2 -i 0.2 -W 5 "$@" > /dev/null; }
step ping_ip6tnl_v6 ping_from_mag -6 2001:db8:10::2
step ping_ip6tnl_v4 ping_from_mag -4 198.51.100.2
step ping_ip6gre_v6 ping_from_mag -6 2001:db8:20::2
step ping_ip6gre_v4 ping_from_mag -4 198.51.100.6

# dumpcap stops without draining its buffer: wait until it has written all
# 16 echoes (it reports "Packets: N" on stderr as it goes).
n=0
until [ "$(tr '\r' '\n' < "$out/dumpcap.log" | sed -n 's/^Packets: \([0-9]*\).*/\1/p' \
        | tail -n 1)" -ge 16 ] 2>/dev/null; do
    n=$((n + 1))
    [ $n -gt 600 ] && break
    sleep 0.1
done
kill -INT "$cap"
wait "$cap"
echo "dumpcap=$?"
cap=
