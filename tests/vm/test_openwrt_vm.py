"""CI's stand-in for an OpenWrt device: the .ipk payload installed into a scratch root in a guest.

OpenWrt images cannot be downloaded here (openwrt/qemu-smoke.sh runs a real one
when given its path), so the Debian-kernel guest of lab/vm.py unpacks
the main package's data.tar.gz into a tmpfs root, translates its UCI file and
runs the daemon from that layout with ``python -S`` (only the payload and
pluggy on the path), then asks ``mag-ap status``.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import tarfile
from pathlib import Path

import pluggy
import pytest

from lab import vm
from openwrt.tools import feed, ipk
from tests.conftest import ROOT, require_tool
from tests.vm.conftest import boot

GUEST_SCRIPT = r"""
set -eu
share=$1
py=$2
ip link set lo up
root=$(mktemp -d)
tar -xzf "$share/data.tar.gz" -C "$root"
export PYTHONPATH="$share/site" PYTHONDONTWRITEBYTECODE=1
cat >"$root/etc/config/mag-ap" <<UCI
config daemon 'daemon'
	option role 'mag'
	option transport 'ipv4'
	option control_socket '$root/mag.sock'
	option state_dir '$root/state'
	option log_target 'stderr'
config mag 'main'
	option own_address '127.0.0.2'
config plugin 'localpolicy'
	option lma_address '127.0.0.1'
UCI
"$py" -S "$root/usr/bin/mag-ap" uci-to-toml --export "$root/etc/config/mag-ap" >"$root/run.toml"
"$py" -S "$root/usr/bin/mag-ap" run -c "$root/run.toml" >"$share/daemon.log" 2>&1 &
pid=$!
i=0
while [ ! -S "$root/mag.sock" ]; do
	i=$((i + 1))
	[ "$i" -lt 600 ] || { echo "daemon did not start" >&2; exit 3; }
	kill -0 "$pid" || { echo "daemon died" >&2; exit 4; }
	sleep 0.2
done
grep VmRSS "/proc/$pid/status" >"$share/rss"
"$py" -S "$root/usr/bin/mag-ap" status --json -s "$root/mag.sock" >"$share/status.json"
"$py" -S "$root/usr/bin/mag-ap" stop -s "$root/mag.sock"
wait "$pid"
"""


@pytest.fixture(scope="module")
def guest(vm_image: vm.VmImage, tmp_path_factory: pytest.TempPathFactory) -> vm.VmResult:
    share = tmp_path_factory.mktemp("vm-openwrt")
    blob = ipk.build_ipk(feed.feed_packages()[0], "0-r1", 0)
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as outer:
        member = outer.extractfile("./data.tar.gz")
        assert member is not None
        (share / "data.tar.gz").write_bytes(member.read())
    (share / "site").mkdir()
    (share / "site/pluggy").symlink_to(Path(pluggy.__file__).parent)
    (share / "guest.sh").write_text(GUEST_SCRIPT)
    return boot(
        vm_image, ["sh", str(share / "guest.sh"), str(share), sys.executable], share,
        timeout_s=600,
    )  # fmt: skip


def test_installed_payload_answers_status_in_the_guest(guest: vm.VmResult) -> None:
    share = guest.results_dir
    assert guest.exit_code == 0, guest.stderr + (share / "daemon.log").read_text()
    status = json.loads((share / "status.json").read_text())
    assert status["ok"] is True and status["role"] == "mag"
    assert "mag_ap_localpolicy" in status["runtime"]["plugins"]
    assert "mag_ap_datapath" not in status["runtime"]["plugins"]  # its package is not installed
    sys.stderr.write(f"vm: {(share / 'rss').read_text().strip()} (guest, installed layout)\n")


def test_qemu_smoke_fails_loudly_on_an_image_that_does_not_boot(tmp_path: Path) -> None:
    """A disk with a boot signature but no OS: SeaBIOS hangs, the script must say so."""
    require_tool("qemu-system-x86_64")
    image = tmp_path / "bogus.img"
    disk = bytearray(1 << 20)
    disk[510:512] = b"\x55\xaa"
    image.write_bytes(bytes(disk))
    ipks = tmp_path / "ipk"
    ipk.build_all(ipks, mtime=0, only=["openwrt-24.10"])
    release_dir = str(ipks / "openwrt-24.10")
    out = subprocess.run(
        [str(ROOT / "openwrt/qemu-smoke.sh"), str(image), release_dir, "--boot-timeout", "20"],
        check=False, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert out.returncode == 1
    assert "qemu-smoke: FAILED: no b'Please press Enter to activate this console.'" in out.stderr
    assert "Booting from Hard Disk" in out.stderr  # the console's tail is shown
