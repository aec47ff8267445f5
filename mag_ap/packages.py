"""Which OpenWrt package provides a module: for one clear line when something is not installed.

The plugin table is THE table of the feed (openwrt/tools/feed.py builds the
packages from it); the module table names the packages of the standard library
split and the third-party libraries, so a missing import at run time becomes
"install the OpenWrt package X" instead of a traceback.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

MAIN_PACKAGE: Final = "mag-ap"

# Plugin module -> OpenWrt package. Light plugins every MAG uses ride in the main
# package; one with a heavy or optional dependency gets its own, so a 16 MB-flash AP
# installs only what it uses. A plugin missing here is packaged as mag-ap-<name>.
PLUGIN_PACKAGES: Final[Mapping[str, str]] = {
    "mag_ap_localpolicy": MAIN_PACKAGE,
    "mag_ap_macnai": MAIN_PACKAGE,
    "mag_ap_nulldatapath": MAIN_PACKAGE,
    "mag_ap_dhcp4": MAIN_PACKAGE,  # collocated DHCPv4 server (RFC 5844): stdlib sockets
    "mag_ap_ra": MAIN_PACKAGE,  # router advertisements to the stations: stdlib sockets
    "mag_ap_linkwatch": MAIN_PACKAGE,  # link-down / neighbour-inactivity detach: netlink
    "mag_ap_datapath": "mag-ap-datapath",  # the kernel datapath: pyroute2
    "mag_ap_dns": "mag-ap-dns",  # dnslib
    "mag_ap_radius": "mag-ap-radius",  # RADIUS client: policy (RFC 6572 style)
    "mag_ap_radacct": "mag-ap-radius",  # identity from RADIUS accounting (hostapd acct_server)
    "mag_ap_hostapd": "mag-ap-hostapd",  # hostapd control socket trigger (not on every AP)
    "mag_ap_ubus": "mag-ap-ubus",  # hostapd ubus events (OpenWrt's own hostapd)
}

# Top-level modules of other packages (OpenWrt's python3 split, third-party libraries).
MODULE_PACKAGES: Final[Mapping[str, str]] = {
    "pyroute2": "mag-ap-pyroute2",
    "dnslib": "python3-dnslib",
    "pluggy": "python3-pluggy",
    "asyncio": "python3-asyncio",
    "logging": "python3-logging",
    "email": "python3-email",
    "urllib": "python3-urllib",
    "multiprocessing": "python3-multiprocessing",
    "ctypes": "python3-ctypes",
    "ssl": "python3-openssl",
    "_ssl": "python3-openssl",
    "sqlite3": "python3-sqlite3",
    "unittest": "python3-unittest",
    "uuid": "python3-uuid",
    "decimal": "python3-decimal",
    "xml": "python3-xml",
}


# Datapath encapsulation (plugin.datapath.encapsulation) -> kernel link kind it creates.
# seg6 creates no link: SRv6 lightweight tunnels are built into the kernel or absent.
ENCAPSULATION_LINK_KINDS: Final[Mapping[str, str | None]] = {
    "ip6tnl": "ip6tnl",
    "ip6gre": "ip6gre",
    "gre": "gre",
    "ipip": "sit",  # one sit device in mode any carries IPv4 and IPv6 over IPv4
    "seg6": None,
}

# Kernel link kind -> (kernel module, OpenWrt package that ships it): what a start-up
# error names when the kernel answers "Unknown device type" (EOPNOTSUPP).
KERNEL_MODULES: Final[Mapping[str, tuple[str, str]]] = {
    "ip6tnl": ("ip6_tunnel", "kmod-ip6-tunnel"),
    "ip6gre": ("ip6_gre", "kmod-gre6"),
    "gre": ("ip_gre", "kmod-gre"),
    "sit": ("sit", "kmod-sit"),
    "ipip": ("ipip", "kmod-ipip"),
    "vrf": ("vrf", "kmod-vrf"),
}


def kernel_module_fix(encapsulation: str) -> str:
    """What to install so the kernel can build ``encapsulation`` (one clause, no IO)."""
    if encapsulation == "seg6":
        return (
            "SRv6 (seg6) is no loadable module: it needs a kernel built with "
            "CONFIG_IPV6_SEG6_LWTUNNEL, or choose a tunnel encapsulation"
        )
    kind = ENCAPSULATION_LINK_KINDS.get(encapsulation, encapsulation)
    module, package = KERNEL_MODULES.get(kind or "", (kind or encapsulation, ""))
    if not package:
        return f"load the kernel module for {encapsulation!r} links"
    return (
        f"{encapsulation!r} needs the kernel module {module} (link kind {kind}): on OpenWrt "
        f"install the package {package} (`opkg install {package}`, 25.x: "
        f"`apk add {package}`), elsewhere `modprobe {module}`"
    )


def package_of_plugin(module: str) -> str:
    """The OpenWrt package that ships plugin ``module`` (default: its own package)."""
    top = module.split(".", 1)[0]
    if top in PLUGIN_PACKAGES:
        return PLUGIN_PACKAGES[top]
    return "mag-ap-" + top.removeprefix("mag_ap_").replace("_", "-")


def package_of_module(module: str) -> str | None:
    """The OpenWrt package providing top-level ``module``; None when unknown."""
    top = module.split(".", 1)[0]
    if top.startswith("mag_ap_"):
        return package_of_plugin(top)
    return MODULE_PACKAGES.get(top)


def missing_hint(exc: ImportError) -> str:
    """One line for a module that is not installed, naming the package to install."""
    name = exc.name or ""
    pkg = package_of_module(name) if name else None
    if pkg is None:
        return f"cannot import {name or exc}: {exc}"
    return f"module {name!r} is not installed: install the OpenWrt package {pkg}"
