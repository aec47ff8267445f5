#!/bin/sh
# Runs inside the VM guest: which kernel booted, whether the tunnel modules
# load and each tunnel type can be created in a namespace, and that writes to
# the host's files stay in the guest's tmpfs overlay. Prints "name=value"
# lines, writes links.txt into OUT_DIR, and exits 7 so the host sees the code.
set -u
out=${1:?usage: kernel_check.sh OUT_DIR}
p=mvk$$
ns=$p-a
step() { name=$1; shift; "$@"; echo "$name=$?"; }

echo "kernel=$(uname -r)"
echo "netns_before=$(ip netns list | wc -l)"
step modprobe modprobe -a ip6_tunnel ip6_gre gre ipip
echo "modules=$(lsmod | awk 'NR > 1 { print $1 }' | sort | tr '\n' ' ')"
ip netns add "$ns"
step veth ip -n "$ns" link add v0 type veth peer name v1
step ip6tnl ip -n "$ns" link add tnl6 type ip6tnl mode any \
    local 2001:db8:1::1 remote 2001:db8:1::2 encaplimit none
step ip6gre ip -n "$ns" link add gre6 type ip6gre \
    local 2001:db8:1::1 remote 2001:db8:1::2 ikey 4097 okey 8194 encaplimit none
step gre ip -n "$ns" link add gre4 type gre local 192.0.2.1 remote 192.0.2.2 key 5
step ipip ip -n "$ns" link add ipip4 type ipip local 192.0.2.1 remote 192.0.2.2
ip -n "$ns" -d link show > "$out/links.txt"
ip netns del "$ns"
echo "netns_after=$(ip netns list | wc -l)"

probe=$PWD/.vm-overlay-probe-$p
step overlay_write touch "$probe"
echo "overlay_probe=$probe"
echo "to stderr" >&2
exit 7
