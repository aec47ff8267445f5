"""Start-up failures that name the cause, the config key and the fix.

"[Errno 99] Cannot assign requested address" says nothing to someone who just
ran ``mag-ap lma -c examples/lma.toml``: which address, set where, and what to
do? Each function here turns one OSError of the start-up sequence into a
``StartupError`` whose text says what failed, the key path it came from and how
to fix it. They only read /proc to list this host's addresses.
"""

from __future__ import annotations

import errno
import os
from ipaddress import IPv6Address

from ..core.types import Address

UDP_CONTROL_PORT = 5436  # RFC 5844 section 4 (pmip6-cntl)


class StartupError(Exception):
    """The daemon cannot start; the message says why and how to fix it."""

    def __init__(self, message: str, *, key_path: str | None = None) -> None:
        super().__init__(message)
        self.key_path = key_path


def _ipv6_addresses() -> list[str]:
    """Global IPv6 addresses of this host (network namespace), from /proc."""
    try:
        with open("/proc/net/if_inet6", encoding="ascii") as proc:
            lines = proc.read().splitlines()
    except OSError:
        return []
    out: list[str] = []
    for line in lines:
        fields = line.split()
        if len(fields) < 6:
            continue
        try:
            address = IPv6Address(bytes.fromhex(fields[0]))
        except ValueError:
            continue
        if not (address.is_link_local or address.is_loopback):
            out.append(str(address))
    return out


def _privilege_fix(what: str) -> str:
    return (
        f"{what} needs root or CAP_NET_RAW: run it as root (sudo), or give the "
        "interpreter the capability (setcap cap_net_raw,cap_net_admin+ep on the python "
        "binary of .venv), or start it from a procd/systemd unit that grants it"
    )


def mh_socket_error(exc: OSError, *, role: str, address: Address, source: str) -> StartupError:
    """The Mobility Header socket (raw protocol 135, or UDP 5436) could not be opened."""
    key = f"{role}.own_address"
    v6 = isinstance(address, IPv6Address)
    what = (
        "raw Mobility Header socket (IPv6 protocol 135)" if v6 else f"UDP port {UDP_CONTROL_PORT}"
    )
    if exc.errno == errno.EADDRNOTAVAIL:
        known = _ipv6_addresses() if v6 else []
        choices = f" ({', '.join(known[:6])})" if known else ""
        add = (
            f"ip addr add {address}/64 dev IFACE nodad"
            if v6
            else f"ip addr add {address}/24 dev IFACE"
        )
        message = (
            f"{key} = {address} (in {source}) is not an address of this host or network "
            f"namespace, so the {what} cannot bind to it. Fix: put it on an interface "
            f"(`{add}`), or set {key} to one of this host's addresses{choices}"
            + (
                "; an address added just now may still be in duplicate address detection "
                "(add it with nodad, or wait a second)"
                if v6
                else ""
            )
            + ". To try both daemons on one machine, `sudo examples/netns.sh` runs the "
            "examples' LMA and MAG in two network namespaces."
        )
        return StartupError(message, key_path=key)
    if exc.errno == errno.EADDRINUSE:
        return StartupError(
            f"{what} at {address} is already in use (another mag-ap or PMIPv6 daemon on "
            f"this host?). Fix: stop it (`mag-ap stop` for ours; "
            f"`ss -lunp | grep {UDP_CONTROL_PORT}` finds the process), "
            f"or set {key} in {source} to another address",
            key_path=key,
        )
    if exc.errno in (errno.EPERM, errno.EACCES):
        return StartupError(f"permission denied: {_privilege_fix(f'the {what}')}", key_path=key)
    if exc.errno in (errno.EAFNOSUPPORT, errno.EPROTONOSUPPORT):
        return StartupError(
            f"the kernel refuses the {what} ({exc.strerror}): enable IPv6 "
            f'(sysctl net.ipv6.conf.all.disable_ipv6=0), or use daemon.transport = "ipv4" '
            f"with an IPv4 {key}",
            key_path=key,
        )
    return StartupError(f"cannot open the {what} on {key} = {address}: {exc}", key_path=key)


def path_error(exc: OSError, *, key: str, path: str, what: str) -> StartupError:
    """A file or socket path from the config could not be created or written."""
    if exc.errno in (errno.EPERM, errno.EACCES, errno.EROFS):
        fix = f"run as root, or set {key} to a directory you can write (e.g. under /tmp)"
    elif exc.errno == errno.ENOENT:
        fix = f"create the directory, or set {key} to an existing one"
    else:
        fix = f"check {key}"
    return StartupError(
        f"cannot use {key} = {path} for {what}: {exc.strerror or exc}. Fix: {fix}", key_path=key
    )


def kernel_module_error(
    encapsulation: str, *, key: str, available: frozenset[str] | set[str]
) -> StartupError:
    """The kernel cannot build ``encapsulation`` (netlink said "Unknown device type").

    Names the kernel module and the OpenWrt package that ships it, and whether
    /sys/module shows the module loaded (a module that is loaded and still
    refused points at a kernel built without that link kind).
    """
    from ..packages import ENCAPSULATION_LINK_KINDS, KERNEL_MODULES, kernel_module_fix

    kind = ENCAPSULATION_LINK_KINDS.get(encapsulation, encapsulation)
    seen = ""
    if kind is not None and kind in KERNEL_MODULES:
        module = KERNEL_MODULES[kind][0]
        loaded = os.path.isdir(f"/sys/module/{module}")
        seen = f", /sys/module/{module} {'present' if loaded else 'absent'}"
    what = f"{kind} links" if kind else "SRv6 routes (seg6)"
    others = ", ".join(sorted(available)) or "none"
    return StartupError(
        f"{key} = {encapsulation!r}: this kernel cannot create {what} "
        f"('Unknown device type'{seen}). Fix: {kernel_module_fix(encapsulation)}; or set "
        f'{key} = "auto" (available here: {others})',
        key_path=key,
    )


__all__ = ["StartupError", "kernel_module_error", "mh_socket_error", "path_error"]
