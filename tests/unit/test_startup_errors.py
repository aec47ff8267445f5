"""Start-up OSErrors become messages with the key, the value and the fix."""

from __future__ import annotations

import errno
from ipaddress import IPv4Address, IPv6Address

import pytest

from mag_ap.runtime.startup_errors import kernel_module_error, mh_socket_error, path_error

V6, V4 = IPv6Address("2001:db8:ffff::1"), IPv4Address("192.0.2.1")

CASES = [
    # (errno, address, words the message must contain)
    (errno.EADDRNOTAVAIL, V6, ["mag.own_address = 2001:db8:ffff::1", "ip addr add", "nodad"]),
    (errno.EADDRNOTAVAIL, V4, ["mag.own_address = 192.0.2.1", "ip addr add 192.0.2.1/24"]),
    (errno.EADDRINUSE, V4, ["UDP port 5436 at 192.0.2.1 is already in use", "mag-ap stop"]),
    (errno.EPERM, V6, ["permission denied", "CAP_NET_RAW", "root"]),
    (errno.EACCES, V4, ["permission denied", "CAP_NET_RAW"]),
    (errno.EAFNOSUPPORT, V6, ["enable IPv6", 'daemon.transport = "ipv4"']),
    (errno.ENOBUFS, V6, ["cannot open the raw Mobility Header socket", "mag.own_address"]),
]


@pytest.mark.parametrize(("code", "address", "words"), CASES)
def test_socket_errors_name_the_key_and_the_fix(
    code: int, address: IPv4Address | IPv6Address, words: list[str]
) -> None:
    error = mh_socket_error(
        OSError(code, "x"), role="mag", address=address, source="/etc/mag-ap/mag.toml"
    )
    assert error.key_path == "mag.own_address"
    for word in words:
        assert word in str(error), str(error)


@pytest.mark.parametrize(
    ("code", "fix"),
    [(errno.EACCES, "run as root"), (errno.EROFS, "run as root"), (errno.ENOENT, "create")],
)
def test_path_errors_name_the_key_and_the_fix(code: int, fix: str) -> None:
    error = path_error(
        OSError(code, "nope"), key="daemon.state_dir", path="/x", what="the Restart Counter"
    )
    assert error.key_path == "daemon.state_dir"
    assert str(error).startswith("cannot use daemon.state_dir = /x for the Restart Counter")
    assert fix in str(error)


# --- missing kernel modules ---------------------------------------------------------------

MODULE_CASES = [
    # (encapsulation, kernel module, OpenWrt package)
    ("ip6tnl", "ip6_tunnel", "kmod-ip6-tunnel"),
    ("ip6gre", "ip6_gre", "kmod-gre6"),
    ("gre", "ip_gre", "kmod-gre"),
    ("ipip", "sit", "kmod-sit"),  # the "ipip" encapsulation is a sit device in mode any
]


@pytest.mark.parametrize(("encapsulation", "module", "package"), MODULE_CASES)
def test_a_missing_tunnel_module_names_the_module_and_the_openwrt_package(
    encapsulation: str, module: str, package: str
) -> None:
    key = "plugin.datapath.encapsulation"
    error = kernel_module_error(encapsulation, key=key, available={"seg6"})
    text = str(error)
    assert error.key_path == key and "\n" not in text
    assert f"{key} = {encapsulation!r}" in text
    assert f"kernel module {module}" in text and f"/sys/module/{module}" in text
    assert f"opkg install {package}" in text and f"apk add {package}" in text
    assert f"modprobe {module}" in text and "available here: seg6" in text


def test_every_link_kind_the_datapath_creates_has_a_module_and_a_package() -> None:
    from mag_ap.packages import ENCAPSULATION_LINK_KINDS, KERNEL_MODULES
    from mag_ap_datapath._plan import ENCAPSULATIONS, LINK_KINDS

    assert set(ENCAPSULATIONS) - {"auto"} == set(ENCAPSULATION_LINK_KINDS)
    assert {k for k in ENCAPSULATION_LINK_KINDS.values() if k} == set(LINK_KINDS)
    for kind in LINK_KINDS:
        module, package = KERNEL_MODULES[kind]
        assert module and package.startswith("kmod-")


def test_seg6_is_no_module_and_says_what_kernel_it_needs() -> None:
    text = str(kernel_module_error("seg6", key="k", available=set()))
    assert "CONFIG_IPV6_SEG6_LWTUNNEL" in text and "kmod" not in text
    assert "available here: none" in text
