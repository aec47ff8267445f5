#!/usr/bin/env bash
# Make this Debian/Ubuntu machine ready for mag-ap: Debian packages, then .venv.
# Idempotent and quick when everything is already there. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests and the demo drive for real.
APT_PACKAGES=(
    tshark          # independent decoder of our Mobility Header packets
    iproute2        # ip netns / link / route / rule
    iputils-ping    # reachability checks inside the lab namespaces
    nftables        # packet loss and filtering inside test namespaces (no netem here)
    python3-venv    # venv for the system python, when pyenv is absent
    hostapd         # real 802.1X authenticator (driver=wired) and RADIUS server
    wpasupplicant   # real 802.1X supplicant (-Dwired) for the hostapd tests
    openssl         # server certificate for PEAP in the hostapd tests
    ndisc6          # rdisc6: an independent Router Solicitation sender/RA printer
    busybox         # udhcpc: real DHCPv4 client against the MAG's DHCP server
    isc-dhcp-client # dhclient: real DHCPv4 client
    dhcpcd-base     # dhcpcd: real DHCPv4 client (binary only, no system service)
    shellcheck      # lints the OpenWrt init, setup and smoke scripts (tests/unit/test_openwrt_*)
    qemu-system-x86 # tests/vm: a stock Debian kernel (TCG) with ip6tnl/ip6gre/gre/ipip modules
    kmod            # depmod for that kernel's modules; modprobe inside the guest
    freeradius      # real AAA server for the RADIUS policy tests (RFC 6572 dictionary)
    freeradius-utils # radclient: an independent RADIUS client to cross-check the plugin
    binutils        # strip: make ipk models stripped OpenWrt binaries for the footprint report
    dnsmasq-base    # real DNS server in a namespace for LMA discovery (binary only, no service)
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
    [[ "$status" == "install ok installed" ]] || missing+=("$pkg")
done
if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        echo "setup: need root to apt-get install: ${missing[*]}" >&2
        exit 1
    fi
    echo "setup: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The virtual environment, rebuilt when pyproject.toml changes.
PYTHON=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
    echo "setup: creating .venv with $($PYTHON --version)"
    "$PYTHON" -m venv .venv
fi
stamp=.venv/.installed
if [[ ! -f $stamp || pyproject.toml -nt $stamp ]]; then
    echo "setup: installing Python dependencies into .venv"
    .venv/bin/python -m pip install -q --upgrade pip
    .venv/bin/python -m pip install -q -e '.[test]'
    touch "$stamp"
fi
