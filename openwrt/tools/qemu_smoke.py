"""Smoke test on a real OpenWrt x86-64 image: boot, install the .ipk files, start, ask status.

OpenWrt images cannot be downloaded on the build machines, so the image is given
by path (``openwrt-*-x86-64-generic-ext4-combined.img[.gz]``, with python3-light,
python3-asyncio, python3-logging and python3-pluggy already in it, or their .ipk
files next to ours: the guest has no network). The .ipk files reach the guest
on a second, read-only virtio disk holding a plain tar. Everything runs on the
serial console; anything unexpected (no boot, no shell prompt, a failing step)
ends with a non-zero exit and the console's tail.

    openwrt/qemu-smoke.sh IMAGE [IPK_DIR]     # IPK_DIR defaults to build/ipk
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import zlib
from pathlib import Path

BOOT_TIMEOUT_S = float(os.environ.get("SMOKE_BOOT_TIMEOUT_S", "240"))
STEP_TIMEOUT_S = float(os.environ.get("SMOKE_STEP_TIMEOUT_S", "120"))
CONSOLE_READY = b"Please press Enter to activate this console."
MARK = "__MAGAP_RC__"

# The steps run in the guest, in order; each must exit 0.
STEPS = (
    "mkdir -p /tmp/magap && tar -x -f /dev/vdb -C /tmp/magap && ls /tmp/magap",
    "opkg install /tmp/magap/*.ipk",
    "uci set mag-ap.daemon.enabled=1 && uci set mag-ap.daemon.transport=ipv4"
    " && uci set mag-ap.main.own_address=127.0.0.1"
    " && uci set mag-ap.localpolicy.lma_address=127.0.0.2 && uci commit mag-ap",
    "/etc/init.d/mag-ap restart; sleep 5; pgrep -f 'mag-ap run'",
    "for i in 1 2 3 4 5 6 7 8 9 10; do mag-ap status && break; sleep 3; done",
    "mag-ap status --json",
    "ubus call mag-ap status || true",
)


class SmokeError(RuntimeError):
    """The image did not boot or a step failed; the message carries the console's tail."""


def _image_copy(image: Path, work: Path) -> Path:
    """A private raw copy (the guest writes to it); .gz images are unpacked."""
    if not image.is_file() or image.stat().st_size < 64:
        raise SmokeError(f"{image}: not an OpenWrt disk image (missing or too small)")
    with image.open("rb") as f:
        magic = f.read(2)
    out = work / "openwrt.img"
    if magic == b"\x1f\x8b":
        _gunzip_first_member(image, out)
    else:
        shutil.copyfile(image, out)
    with out.open("rb") as f:
        f.seek(510)
        if f.read(2) != b"\x55\xaa":
            raise SmokeError(f"{image}: no boot sector (not a combined disk image)")
    return out


def _gunzip_first_member(src: Path, dst: Path) -> None:
    """Unpack one gzip member; OpenWrt appends a signature block after it, which is ignored."""
    unpacker = zlib.decompressobj(wbits=31)
    try:
        with src.open("rb") as fin, dst.open("wb") as fout:
            while not unpacker.eof:
                chunk = fin.read(1 << 20)
                if not chunk:
                    raise SmokeError(f"{src}: truncated gzip data")
                fout.write(unpacker.decompress(chunk))
    except zlib.error as exc:
        raise SmokeError(f"{src}: cannot gunzip: {exc}") from None


def _payload_disk(ipk_dir: Path, work: Path) -> Path:
    ipks = sorted(ipk_dir.glob("*.ipk"))
    if not ipks:
        raise SmokeError(f"{ipk_dir}: no .ipk files (run make ipk; give build/ipk/<release>)")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for ipk in ipks:
            tar.add(ipk, arcname=ipk.name)
    data = buf.getvalue()
    data += b"\0" * (-len(data) % (1 << 20))
    disk = work / "payload.tar"
    disk.write_bytes(data)
    return disk


class Console:
    """The guest's serial console on qemu's stdio."""

    def __init__(self, argv: list[str]) -> None:
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.log = bytearray()
        self._step = 0

    def expect(self, needle: bytes, timeout_s: float, start: int = 0) -> int:
        """Wait for ``needle`` after offset ``start``; returns the offset after it."""
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout_s
        while True:
            at = self.log.find(needle, start)
            if at >= 0:
                return at + len(needle)
            left = deadline - time.monotonic()
            if left <= 0:
                raise SmokeError(f"no {needle!r} within {timeout_s:g} s\n{self.tail()}")
            ready, _, _ = select.select([self.proc.stdout], [], [], min(left, 1.0))
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if not chunk:
                    raise SmokeError(f"qemu exited ({self.proc.wait()})\n{self.tail()}")
                self.log += chunk

    def send(self, text: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(text.encode())
        self.proc.stdin.flush()

    def run(self, command: str, timeout_s: float = STEP_TIMEOUT_S) -> str:
        """Run one shell command in the guest; raises on a non-zero exit."""
        self._step += 1
        start = len(self.log)
        # the terminal echoes our line with a literal $?; only the real output has digits
        self.send(f'{command}; echo "{MARK}{self._step}_$?_"\n')
        done = re.compile(rf"{MARK}{self._step}_([0-9]+)_".encode())
        deadline = time.monotonic() + timeout_s
        while True:
            hit = done.search(self.log, start)
            if hit is not None:
                if hit.group(1) != b"0":
                    code = hit.group(1).decode()
                    raise SmokeError(f"step failed ({code}): {command}\n{self.tail()}")
                return self.log[start : hit.start()].decode(errors="replace")
            self.expect(b"\n", max(deadline - time.monotonic(), 0.01), len(self.log))

    def tail(self, lines: int = 40) -> str:
        text = self.log.decode(errors="replace").replace("\r", "")
        return "--- console (last lines) ---\n" + "\n".join(text.splitlines()[-lines:])

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)


def smoke(image: Path, ipk_dir: Path, boot_timeout_s: float = BOOT_TIMEOUT_S) -> str:
    """Boot ``image``, install and start mag-ap; returns the transcript or raises SmokeError."""
    qemu = shutil.which("qemu-system-x86_64")
    if qemu is None:
        raise SmokeError("qemu-system-x86_64 is not installed")
    with tempfile.TemporaryDirectory(prefix="mag-ap-smoke-") as tmp:
        work = Path(tmp)
        disk = _image_copy(image, work)
        payload = _payload_disk(ipk_dir, work)
        argv = [
            qemu, "-accel", "tcg,thread=multi", "-m", "512", "-smp", "2",
            "-nographic", "-no-reboot", "-net", "none",
            "-drive", f"file={disk},format=raw,if=virtio",
            "-drive", f"file={payload},format=raw,if=virtio,readonly=on",
        ]  # fmt: skip
        console = Console(argv)
        try:
            console.expect(CONSOLE_READY, boot_timeout_s)
            time.sleep(2)  # let procd finish the boot scripts
            console.send("\n")
            for step in STEPS:
                console.run(step)
            console.send("poweroff\n")
            return console.log.decode(errors="replace")
        finally:
            console.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="qemu-smoke.sh", description=__doc__.splitlines()[0])
    parser.add_argument("image", type=Path, help="OpenWrt x86-64 combined image (.img or .img.gz)")
    parser.add_argument("ipk_dir", type=Path, nargs="?", default=Path("build/ipk"))
    parser.add_argument("--boot-timeout", type=float, default=BOOT_TIMEOUT_S, metavar="S")
    args = parser.parse_args(argv)
    try:
        transcript = smoke(args.image, args.ipk_dir, args.boot_timeout)
    except SmokeError as exc:
        print(f"qemu-smoke: FAILED: {exc}", file=sys.stderr)
        return 1
    print(transcript)
    print("qemu-smoke: OK (mag-ap installed, started and answered status)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
