"""REAL 802.1X with a REAL AAA server: hostapd (driver=wired) -> FreeRADIUS -> EAP.

What this module adds to :mod:`lab.hostapd_lab` (whose access point and
provider runner it reuses):

* :func:`make_certificates`: a throw-away CA and a server certificate signed by
  it (openssl, EC P-256, into the test's temporary directory), so PEAP and TTLS
  run real TLS and the supplicant verifies the server against that CA;
* :class:`EapRadius`: ``freeradius -X`` with its own config tree (nothing under
  /etc/freeradius is read), EAP-MD5, PEAP (inner EAP-MSCHAPv2) and TTLS (inner
  PAP or MSCHAPv2) through an ``inner-tunnel`` virtual server, users from a
  ``users`` file. With ``send_inner_user_name`` the inner tunnel's post-auth
  stores the inner User-Name in the outer session-state and the outer post-auth
  copies it into the Access-Accept: hostapd then replaces the station's EAP
  identity (the outer, often anonymous one) with it, and ``STA <mac>`` shows the
  inner name as ``dot1xAuthSessionUserName``. Without it, hostapd keeps the
  outer identity;
* :func:`supplicant`: a wired :class:`Station` for one of :data:`METHODS`,
  with an anonymous outer identity for the tunnelled methods.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Final

from .hostapd_lab import Station
from .radius_lab import RADIUSD_HEAD
from .topology import Host, require_tool, wait_for

SECRET: Final = "aaa-lab-s3cret"
USERS: Final = {
    "alice@example.net": "alice-secret",
    "bob@example.net": "bob-secret",
}
ANONYMOUS: Final = "anonymous@example.net"  # the outer identity of PEAP and TTLS

# method -> (wpa_supplicant eap=, phase2=, tunnelled)
METHODS: Final = {
    "MD5": ("MD5", "", False),
    "PEAP": ("PEAP", "auth=MSCHAPV2", True),
    "TTLS-PAP": ("TTLS", "auth=PAP", True),
    "TTLS-MSCHAPV2": ("TTLS", "auth=MSCHAPV2", True),
}


def make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """(CA certificate, server certificate, server key), made with openssl."""
    openssl = require_tool("openssl")
    ca_key, ca = directory / "ca.key", directory / "ca.pem"
    key, csr, cert = directory / "server.key", directory / "server.csr", directory / "server.pem"
    ext = directory / "server.ext"
    ext.write_text("basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for argv in (
        [openssl, "req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "2",
         "-subj", "/CN=mag-ap lab CA"],
        [openssl, "req", "-new", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=aaa.example.net"],
        [openssl, "x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
         "-out", cert, "-days", "2", "-extfile", ext],
    ):  # fmt: skip
        subprocess.run([str(a) for a in argv], check=True, capture_output=True, timeout=60)
    return ca, cert, key


_RADIUSD_CONF: Final = (
    RADIUSD_HEAD
    + """\
client nas {{
	ipaddr = {client}
	secret = {secret}
	require_message_authenticator = yes
}}
modules {{
	files {{
		filename = {dir}/users
	}}
	pap {{
	}}
	mschap {{
	}}
	eap {{
		default_eap_type = md5
		timer_expire = 60
		ignore_unknown_eap_types = no
		max_sessions = 64
		md5 {{
		}}
		tls-config tls-common {{
			private_key_file = {key}
			certificate_file = {cert}
			ca_file = {ca}
			cipher_list = "DEFAULT"
			tls_min_version = "1.2"
			tls_max_version = "1.2"
			ecdh_curve = "prime256v1"
		}}
		peap {{
			tls = tls-common
			default_eap_type = mschapv2
			virtual_server = "inner-tunnel"
		}}
		ttls {{
			tls = tls-common
			default_eap_type = md5
			virtual_server = "inner-tunnel"
		}}
		mschapv2 {{
		}}
	}}
}}
server default {{
	listen {{
		type = auth
		ipaddr = {listen}
		port = {port}
	}}
	authorize {{
		files
		eap
	}}
	authenticate {{
		eap
	}}
	post-auth {{
		# the eap module already put the outer User-Name into the reply, and hostapd
		# takes the first User-Name: replace it with the inner one when the inner
		# tunnel left that in session-state
		if (&session-state:User-Name) {{
			update reply {{
				&User-Name := &session-state:User-Name
			}}
		}}
		Post-Auth-Type REJECT {{
			eap
		}}
	}}
}}
server inner-tunnel {{
	authorize {{
		files
		mschap
		eap
		pap
	}}
	authenticate {{
		Auth-Type PAP {{
			pap
		}}
		Auth-Type MS-CHAP {{
			mschap
		}}
		eap
	}}
	post-auth {{
{inner_post_auth}	}}
}}
"""
)

_INNER_USER_NAME: Final = """\
		update outer.session-state {
			User-Name := &User-Name
		}
"""


class EapRadius:
    """freeradius with EAP in a lab namespace, one NAS client, its own config tree."""

    def __init__(
        self,
        host: Host,
        workdir: Path,
        *,
        listen: str,
        client: str,
        send_inner_user_name: bool = True,
        users: dict[str, str] = USERS,
        port: int = 1812,
    ) -> None:
        require_tool("freeradius")
        self.host = host
        self.dir = workdir / f"raddb-{host.name}"
        self.dir.mkdir(parents=True)
        self.ca, cert, key = make_certificates(self.dir)
        (self.dir / "radiusd.conf").write_text(
            _RADIUSD_CONF.format(
                dir=self.dir,
                client=client,
                secret=SECRET,
                key=key,
                cert=cert,
                ca=self.ca,
                listen=listen,
                port=port,
                inner_post_auth=_INNER_USER_NAME if send_inner_user_name else "",
            )
        )
        (self.dir / "users").write_text(
            "".join(f'"{name}"\tCleartext-Password := "{pw}"\n\n' for name, pw in users.items())
        )
        self.log = self.dir / "radiusd.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = self.host.spawn(["freeradius", "-X", "-f", "-d", str(self.dir)], self.log)
        proc = self.proc
        wait_for(
            lambda: "Ready to process requests" in self.log_text() or proc.poll() is not None,
            20,
            "freeradius ready",
        )
        if proc.poll() is not None:
            raise RuntimeError(f"freeradius exited: {self.log_text()[-3000:]}")

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def accepts(self) -> list[str]:
        """The attribute blocks of every Access-Accept freeradius sent (from ``-X``)."""
        return re.findall(r"Sent Access-Accept[^\n]*\n((?:\(\d+\) {2,}[^\n]*\n)*)", self.log_text())


def hostapd_radius_lines(radius: str, own: str) -> str:
    """hostapd.conf lines that send EAP to ``radius`` (no internal EAP server)."""
    return (
        f"own_ip_addr={own}\nauth_server_addr={radius}\nauth_server_port=1812\n"
        f"auth_server_shared_secret={SECRET}\n"
    )


def supplicant(
    host: Host,
    ifname: str,
    workdir: Path,
    *,
    method: str,
    identity: str,
    password: str,
    ca_cert: Path,
) -> Station:
    """A wired supplicant for one of :data:`METHODS`; tunnelled ones check the server."""
    eap, phase2, tunnelled = METHODS[method]
    return Station(
        host,
        ifname,
        workdir,
        identity,
        password,
        eap=eap,
        phase2=phase2 if tunnelled else "",
        anonymous_identity=ANONYMOUS if tunnelled else "",
        ca_cert=ca_cert if tunnelled else None,
        options=("-t", "-d"),
        stem=f"wpa-{host.name}",
    )


def hostapd_events(log: Path, name: str, mac: str) -> int:
    """How often hostapd's ``-d`` log shows the control event ``name`` for ``mac``."""
    text = log.read_text(errors="replace") if log.exists() else ""
    return len(re.findall(rf"{re.escape(name)} {re.escape(mac)}\b", text))
