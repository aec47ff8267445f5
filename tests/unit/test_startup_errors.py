"""Start-up OSErrors become messages with the key, the value and the fix."""

from __future__ import annotations

import errno
from ipaddress import IPv4Address, IPv6Address

import pytest

from mag_ap.runtime.startup_errors import mh_socket_error, path_error

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
