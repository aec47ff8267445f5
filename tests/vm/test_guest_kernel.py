"""One guest boot: the stock Debian kernel with the tunnel modules the host lacks.

Also the contract of ``run_in_vm`` itself: exit code and both output streams
come back, the host's files are only read, a hung guest is killed on timeout,
and a second ``prepare`` reuses the cache.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
from pathlib import Path

import pytest

from lab import vm
from tests.vm.conftest import GUEST, boot, key_values, link_details


@pytest.fixture(scope="module")
def guest(vm_image: vm.VmImage, tmp_path_factory: pytest.TempPathFactory) -> vm.VmResult:
    share = tmp_path_factory.mktemp("vm-kernel")
    return boot(vm_image, ["sh", str(GUEST / "kernel_check.sh"), str(share)], share)


@pytest.fixture(scope="module")
def facts(guest: vm.VmResult) -> dict[str, str]:
    return key_values(guest.stdout)


def test_exit_code_and_both_streams_come_back(guest: vm.VmResult) -> None:
    assert guest.exit_code == 7, guest.stderr
    assert guest.stderr.strip() == "to stderr"
    assert "kernel=" in guest.stdout


def test_guest_runs_the_downloaded_kernel_not_the_hosts(
    facts: dict[str, str], vm_image: vm.VmImage
) -> None:
    assert facts["kernel"] == vm_image.kernel_version
    assert facts["kernel"] != os.uname().release


def test_guest_starts_with_no_namespaces_and_cleans_its_own(facts: dict[str, str]) -> None:
    assert (facts["netns_before"], facts["netns_after"]) == ("0", "0")


def test_tunnel_modules_load(facts: dict[str, str]) -> None:
    assert facts["modprobe"] == "0"
    loaded = set(facts["modules"].split())
    assert {"ip6_tunnel", "ip6_gre", "gre", "ipip", "tunnel4", "tunnel6"} <= loaded


@pytest.mark.parametrize("kind", ["veth", "ip6tnl", "ip6gre", "gre", "ipip"])
def test_every_link_type_can_be_created_in_a_namespace(facts: dict[str, str], kind: str) -> None:
    assert facts[kind] == "0"


def test_ip6tnl_mode_any_has_no_encapsulation_limit(guest: vm.VmResult) -> None:
    links = link_details((guest.results_dir / "links.txt").read_text())
    assert "ip6tnl any remote 2001:db8:1::2 local 2001:db8:1::1 " in links["tnl6"]
    assert " encaplimit none " in links["tnl6"]
    assert " encaplimit none " in links["gre6"]
    # iproute2 prints GRE keys as dotted quads: 4097 = 0.0.16.1, 8194 = 0.0.32.2.
    assert " ikey 0.0.16.1 okey 0.0.32.2 " in links["gre6"]


def test_writes_to_host_files_stay_in_the_guest(facts: dict[str, str]) -> None:
    assert facts["overlay_write"] == "0"
    assert not Path(facts["overlay_probe"]).exists()


def _qemu_pids_for(share: Path) -> list[int]:
    out = subprocess.run(["pgrep", "-f", str(share)], capture_output=True, text=True, check=False)
    return [int(pid) for pid in out.stdout.split()]


def test_a_guest_past_its_timeout_is_killed_with_the_console_tail(
    vm_image: vm.VmImage, tmp_path: Path
) -> None:
    with pytest.raises(vm.VmError, match="did not finish within 3 s") as err:
        vm.run_in_vm("sleep 600", timeout_s=3, share_dir=tmp_path, image=vm_image)
    assert "console tail:" in str(err.value)
    assert _qemu_pids_for(tmp_path) == []


def test_a_guest_that_does_not_boot_fails_loudly(vm_image: vm.VmImage, tmp_path: Path) -> None:
    bogus = tmp_path / "initramfs.img"
    bogus.write_bytes(b"not an initramfs")
    broken = dataclasses.replace(vm_image, initramfs=bogus)
    share = tmp_path / "share"
    with pytest.raises(vm.VmError, match="before the command finished") as err:
        vm.run_in_vm("true", timeout_s=120, share_dir=share, image=broken)
    assert "Kernel panic" in str(err.value)
    assert _qemu_pids_for(share) == []


def test_prepare_again_reuses_the_cache(vm_image: vm.VmImage) -> None:
    stamp = vm_image.kernel.parent / "ready"
    before = stamp.stat().st_mtime_ns
    again = vm.prepare(vm_image.kernel.parent.parent)
    assert again == vm_image
    assert stamp.stat().st_mtime_ns == before
