"""A QEMU guest with a stock Debian kernel that runs commands on this machine's own files.

The host kernel here lacks ip6tnl, ip6gre, gre and ipip, and nested KVM does not
work, so the real tunnel data path is tested in software emulation (TCG): a
Debian kernel boots with a tiny busybox initramfs that mounts the host's ``/``
read-only over virtio-9p under a tmpfs overlay, binds the kernel's own modules,
and switches root. The project's code, ``.venv``, iproute2, ping and tshark then
run inside at the same paths as on the host. A second, writable 9p share (the
``share_dir``, mounted at the same path in the guest) carries results back.

``prepare()`` downloads (``apt-get download``) and builds everything once per
kernel version into a cache (the kernel is kept as an uncompressed ELF that
qemu boots through PVH, ~8 s faster than a bzImage under TCG); ``run_in_vm()``
boots, runs one command as root and always powers the guest off. Used by
tests/vm (see tests/vm/README.md) and by packaging smoke tests.
"""

from __future__ import annotations

import compileall
import contextlib
import fcntl
import gzip
import hashlib
import io
import lzma
import os
import shlex
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# The meta package whose one dependency is the current stock kernel package.
KERNEL_META_PACKAGE = "linux-image-amd64"
BUSYBOX_PACKAGE = "busybox-static"
# What the initramfs loads (dependencies are resolved from modules.dep).
INITRAMFS_MODULES = ("virtio_pci", "9pnet_virtio", "9p", "overlay")
# Bumped when the layout of a prepared image changes, so stale caches are rebuilt.
RECIPE_VERSION = "4"  # with the hash of /init (see _recipe()): a changed init rebuilds
REPO_ROOT = Path(__file__).resolve().parents[1]
# A 9p mount option set that makes Python imports over 9p bearable.
ROOT_9P_OPTIONS = "trans=virtio,version=9p2000.L,msize=512000,cache=loose,ro"
SHARE_9P_OPTIONS = "trans=virtio,version=9p2000.L,msize=512000"
CONTROL_DIR = ".vm"  # inside share_dir: the guest's scripts, stdout, stderr, exit code
CONSOLE_TAIL_LINES = 40
# The project's packages the guest imports (daemons, labs, guest tests): see compile_sources().
GUEST_SOURCES = ("mag_ap", "plugins", "lab", "tests")


class VmError(RuntimeError):
    """The guest could not be prepared, did not boot, or did not finish in time."""


@dataclass(frozen=True)
class VmImage:
    """A prepared kernel: what ``run_in_vm`` boots."""

    kernel_version: str  # e.g. "6.1.0-56-amd64"
    kernel: Path  # ELF vmlinux (PVH boot) or bzImage
    initramfs: Path
    modules_dir: Path  # extracted lib/modules/<version>, bound into the guest


@dataclass(frozen=True)
class VmResult:
    """What one guest run produced."""

    exit_code: int
    stdout: str
    stderr: str
    console: str  # serial console log (kernel and init messages)
    results_dir: Path  # the writable share, same path inside the guest
    boot_s: float  # guest uptime when the command started
    command_s: float  # guest time the command took
    wall_s: float  # host time from qemu start to its exit


def default_cache_dir() -> Path:
    """``$MAG_AP_VM_CACHE``, else ``$XDG_CACHE_HOME/mag-ap-vm`` (``~/.cache/mag-ap-vm``)."""
    explicit = os.environ.get("MAG_AP_VM_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mag-ap-vm"


def _run(argv: Sequence[str], cwd: Path | None = None, timeout_s: float = 600.0) -> str:
    try:
        proc = subprocess.run(
            list(argv), cwd=cwd, capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except FileNotFoundError as exc:
        raise VmError(f"{argv[0]} is not installed (scripts/setup.sh installs it)") from exc
    if proc.returncode != 0:
        raise VmError(f"{shlex.join(argv)}: exit {proc.returncode}: {proc.stderr.strip()}")
    return proc.stdout


def resolve_kernel_package() -> str:
    """The exact package ``linux-image-amd64`` depends on (refreshing apt lists if needed)."""

    def depends() -> str | None:
        try:
            out = _run(["apt-cache", "depends", KERNEL_META_PACKAGE])
        except VmError:
            return None
        for line in out.splitlines():
            kind, _, name = line.strip().partition(":")
            if kind.endswith("Depends") and name.strip().startswith("linux-image-"):
                return name.strip()
        return None

    package = depends()
    if package is None:
        _run(["apt-get", "update", "-qq"])
        package = depends()
    if package is None:
        raise VmError(f"apt-cache depends {KERNEL_META_PACKAGE} names no linux-image package")
    return package


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def prepare(cache_dir: Path | None = None, kernel_package: str | None = None) -> VmImage:
    """Download and extract the kernel and busybox and build the initramfs, once.

    Cached under ``cache_dir/<kernel package>``; a warm call only asks apt-cache
    which kernel is current. Raises ``VmError`` when apt cannot fetch a package.
    """
    cache = (cache_dir or default_cache_dir()).resolve()
    package = kernel_package or resolve_kernel_package()
    target = cache / package
    with _locked(cache / ".lock"):
        image = _load(target)
        if image is not None:
            return image
        work = Path(tempfile.mkdtemp(prefix=f".{package}.", dir=cache))
        try:
            _build(work, package)
            shutil.rmtree(target, ignore_errors=True)
            work.rename(target)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    image = _load(target)
    if image is None:
        raise VmError(f"prepared image at {target} is incomplete")
    return image


def _recipe() -> str:
    """Cache key of a built image: the recipe version and the initramfs /init it holds."""
    digest = hashlib.sha256(_INIT.encode()).hexdigest()[:12]
    return f"{RECIPE_VERSION}-{digest}"


def _load(target: Path) -> VmImage | None:
    stamp = target / "ready"
    if not stamp.is_file():
        return None
    fields = dict(line.split("=", 1) for line in stamp.read_text().splitlines() if "=" in line)
    if fields.get("recipe") != _recipe():
        return None
    version = fields["kernel_version"]
    return VmImage(
        kernel_version=version,
        kernel=target / "kernel",
        initramfs=target / "initramfs.img",
        modules_dir=target / "root" / "lib" / "modules" / version,
    )


def _apt_download(package: str, dest: Path) -> Path:
    # Sandbox=root: the _apt user cannot write into root's cache directory.
    try:
        _run(["apt-get", "download", "-o", "APT::Sandbox::User=root", package], cwd=dest)
    except VmError as exc:
        raise VmError(f"cannot fetch {package} with apt-get download: {exc}") from exc
    debs = sorted(dest.glob(f"{package}_*.deb"))
    if len(debs) != 1:
        raise VmError(f"apt-get download {package} left {len(debs)} .deb files in {dest}")
    return debs[0]


def _build(work: Path, package: str) -> None:
    downloads = work / "downloads"
    downloads.mkdir()
    root = work / "root"
    busybox_root = work / "busybox"
    _run(["dpkg-deb", "-x", str(_apt_download(package, downloads)), str(root)])
    _run(["dpkg-deb", "-x", str(_apt_download(BUSYBOX_PACKAGE, downloads)), str(busybox_root)])
    versions = sorted(p.name for p in (root / "lib" / "modules").iterdir())
    if len(versions) != 1:
        raise VmError(f"{package} holds modules for {versions}, expected exactly one version")
    version = versions[0]
    _run(["depmod", "-b", str(root), version])
    _bootable_kernel(root / "boot", version, work / "kernel")
    modules = _initramfs_modules(root / "lib" / "modules" / version, INITRAMFS_MODULES)
    busybox = (busybox_root / "bin" / "busybox").read_bytes()
    (work / "initramfs.img").write_bytes(_initramfs(busybox, modules))
    shutil.rmtree(downloads)
    shutil.rmtree(busybox_root)
    (work / "ready").write_text(
        f"recipe={_recipe()}\npackage={package}\nkernel_version={version}\n"
    )


def _bootable_kernel(boot: Path, version: str, dest: Path) -> None:
    """The uncompressed ELF when the kernel can boot it through PVH, else the bzImage.

    Under TCG, SeaBIOS's loader plus xz decompression cost ~8 s per boot;
    qemu starts an ELF vmlinux with a PVH entry point directly.
    """
    bzimage = (boot / f"vmlinuz-{version}").read_bytes()
    config = (boot / f"config-{version}").read_text()
    start = bzimage.find(b"\xfd7zXZ\x00")
    if "CONFIG_PVH=y" in config.splitlines() and start >= 0:
        decompressor = lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
        elf = decompressor.decompress(bzimage[start:])
        if decompressor.eof and elf.startswith(b"\x7fELF"):
            dest.write_bytes(elf)
            return
    dest.write_bytes(bzimage)


def _initramfs_modules(modules_dir: Path, wanted: Sequence[str]) -> list[tuple[str, bytes]]:
    """(file name, uncompressed .ko) for ``wanted`` and their dependencies, in load order."""
    deps: dict[str, list[str]] = {}
    for line in (modules_dir / "modules.dep").read_text().splitlines():
        path, _, rest = line.partition(":")
        deps[path] = rest.split()
    by_name = {_module_name(path): path for path in deps}
    builtin = {
        _module_name(line)
        for line in (modules_dir / "modules.builtin").read_text().splitlines()
        if line
    }
    order: list[str] = []

    def visit(path: str) -> None:
        if path in order:
            return
        for dep in deps[path]:
            visit(dep)
        order.append(path)

    for name in wanted:
        if name in by_name:
            visit(by_name[name])
        elif name not in builtin:
            raise VmError(f"kernel module {name} is neither in modules.dep nor built in")
    result = []
    for path in order:
        data = (modules_dir / path).read_bytes()
        if path.endswith(".xz"):
            data = lzma.decompress(data)
        elif path.endswith(".zst"):
            raise VmError(f"{path}: zstd-compressed modules are not supported")
        result.append((_module_name(path) + ".ko", data))
    return result


def _module_name(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    for suffix in (".xz", ".zst", ".gz", ".ko"):
        name = name.removesuffix(suffix)
    return name.replace("-", "_")


# The initramfs /init: mount the host's / (read-only 9p) under a tmpfs overlay,
# (/tmp stays the overlay's: a checkout under the host's /tmp, as CI may use, must
# be visible in the guest; the guest's own writes there land in the tmpfs upper)
# bind the guest kernel's modules, mount the writable share at its host path,
# then hand over to the run's stage-2 script (from the share) as PID 1.
# MAGVM_* come from the kernel command line (unknown key=value become init's env).
_INIT = r"""#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
fail() {
    echo "mag-ap-vm: init: $*"
    echo o > /proc/sysrq-trigger
    while :; do :; done
}
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for ko in $(cat /modules.order); do
    insmod "/modules/$ko" || fail "insmod $ko"
done
mount -t 9p -o "$MAGVM_ROOT_OPTS" root /lower || fail "mount of the host's / over 9p"
mount -t tmpfs -o mode=0755 tmpfs /rw
mkdir -p /rw/upper /rw/work
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot \
    || fail "overlay mount"
mkdir -p "/newroot/lib/modules/$MAGVM_KVER"
mount --bind "/newroot$MAGVM_MODULES" "/newroot/lib/modules/$MAGVM_KVER" || fail "modules bind"
mount -t tmpfs -o mode=0755 tmpfs /newroot/run
mkdir -p "/newroot$MAGVM_SHARE"
mount -t 9p -o "$MAGVM_SHARE_OPTS" results "/newroot$MAGVM_SHARE" || fail "results share"
mount --move /proc /newroot/proc
mount --move /sys /newroot/sys
mount --move /dev /newroot/dev
exec switch_root /newroot /bin/sh "$MAGVM_SHARE/.vm/stage2.sh"
"""

# Stage 2 runs as PID 1 on the host's files; it must never exit (that panics
# the kernel): it records the exit code, then powers off and spins on a builtin.
_STAGE2 = r"""export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root LANG=C.UTF-8
ctl="$MAGVM_SHARE/.vm"
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mkdir -p /run/netns /run/lock
ip link set lo up
hostname mag-ap-vm
read boot_s _ < /proc/uptime
echo "$boot_s" > "$ctl/boot_s"
echo "mag-ap-vm: command starts at ${boot_s} s"
(cd "$MAGVM_CWD" && exec /bin/sh "$ctl/command.sh") \
    > "$ctl/stdout" 2> "$ctl/stderr" < /dev/null
code=$?
read end_s _ < /proc/uptime
echo "$end_s" > "$ctl/end_s"
echo "$code" > "$ctl/exit_code"
echo "mag-ap-vm: command exit $code at ${end_s} s"
sync
echo o > /proc/sysrq-trigger
while :; do :; done
"""


def _initramfs(busybox: bytes, modules: Sequence[tuple[str, bytes]]) -> bytes:
    """A gzip'ed newc cpio archive: busybox, /init and the modules (no cpio tool needed)."""
    archive = _Cpio()
    for directory in ("bin", "dev", "proc", "sys", "lower", "rw", "newroot", "modules"):
        archive.add(directory, stat.S_IFDIR | 0o755)
    archive.add("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1))
    archive.add("bin/busybox", stat.S_IFREG | 0o755, busybox)
    archive.add("init", stat.S_IFREG | 0o755, _INIT.encode())
    order = "".join(f"{name}\n" for name, _ in modules)
    archive.add("modules.order", stat.S_IFREG | 0o644, order.encode())
    for name, data in modules:
        archive.add(f"modules/{name}", stat.S_IFREG | 0o644, data)
    return gzip.compress(archive.finish(), compresslevel=9, mtime=0)


class _Cpio:
    """Writer for the 'newc' cpio format the kernel unpacks into its rootfs."""

    def __init__(self) -> None:
        self._out = io.BytesIO()
        self._inode = 1

    def add(self, name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0)) -> None:
        encoded = name.encode() + b"\0"
        fields = (
            self._inode, mode, 0, 0, 2 if stat.S_ISDIR(mode) else 1, 0, len(data),
            0, 0, rdev[0], rdev[1], len(encoded), 0,
        )  # fmt: skip
        self._inode += 1
        self._out.write(b"070701" + b"".join(b"%08x" % value for value in fields))
        self._out.write(encoded)
        self._pad()
        self._out.write(data)
        self._pad()

    def _pad(self) -> None:
        self._out.write(b"\0" * (-self._out.tell() % 4))

    def finish(self) -> bytes:
        self.add("TRAILER!!!", 0)
        return self._out.getvalue()


def _guest_path(path: Path, what: str) -> str:
    text = str(path)
    if not path.is_absolute() or any(c.isspace() or c in "\"'," for c in text):
        raise VmError(f"{what} {text!r} must be an absolute path without spaces, quotes, commas")
    return text


def compile_sources(root: Path = REPO_ROOT, packages: Sequence[str] = GUEST_SOURCES) -> None:
    """Write the bytecode of the project's sources next to them, on the host, before a boot.

    Why: the guest's root is a read-only 9p mount, so without ``__pycache__`` on
    the host (PYTHONDONTWRITEBYTECODE, a fresh checkout) every guest process
    compiles every module it imports, under TCG, into its own tmpfs. The first
    datapath domain starts four daemons at once on two vCPUs, each compiling the
    same ~150 modules: on a loaded host that took the LMA past its 240 s start
    budget. Compiling here takes about a second and up-to-date files are skipped.
    """
    for name in packages:
        if not compileall.compile_dir(root / name, quiet=1, workers=1):
            raise VmError(f"cannot byte-compile {root / name} for the guest (syntax error?)")


def run_in_vm(
    command: str | Sequence[str],
    timeout_s: float = 300.0,
    share_dir: Path | None = None,
    *,
    image: VmImage | None = None,
    cwd: Path = REPO_ROOT,
    env: Mapping[str, str] | None = None,
    memory_mb: int = 1024,
    cpus: int = 2,
) -> VmResult:
    """Boot the guest, run ``command`` as root (a shell string or an argv), power off.

    ``share_dir`` (when None, a new temporary directory the caller removes) is
    writable by the guest at the same path; the command's exit code, stdout and
    stderr come back through it. Raises ``VmError`` with the console's tail when the guest does
    not boot, dies, or runs past ``timeout_s``; qemu never outlives this call.
    """
    qemu = shutil.which("qemu-system-x86_64")
    if qemu is None:
        raise VmError("qemu-system-x86_64 is not installed (scripts/setup.sh installs it)")
    image = image or prepare()
    if cwd == REPO_ROOT:
        compile_sources()
    share = (share_dir or Path(tempfile.mkdtemp(prefix="mag-ap-vm-"))).resolve()
    control = share / CONTROL_DIR
    shutil.rmtree(control, ignore_errors=True)
    control.mkdir(parents=True)
    script = command if isinstance(command, str) else shlex.join(command)
    env = env or {}
    if not all(name.isidentifier() for name in env):
        raise VmError(f"environment names must be shell identifiers: {sorted(env)}")
    exports = "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items())
    (control / "command.sh").write_text(exports + script + "\n")
    (control / "stage2.sh").write_text(_STAGE2)
    append = " ".join(
        [
            "console=ttyS0 quiet panic=-1 mitigations=off",
            f"MAGVM_KVER={image.kernel_version}",
            f"MAGVM_MODULES={_guest_path(image.modules_dir, 'modules dir')}",
            f"MAGVM_SHARE={_guest_path(share, 'share_dir')}",
            f"MAGVM_CWD={_guest_path(cwd, 'cwd')}",
            f"MAGVM_ROOT_OPTS={ROOT_9P_OPTIONS}",
            f"MAGVM_SHARE_OPTS={SHARE_9P_OPTIONS}",
        ]
    )
    argv = [
        qemu,
        "-accel", "tcg,thread=multi",
        "-m", str(memory_mb),
        "-smp", str(cpus),
        "-nographic", "-no-reboot", "-net", "none",
        "-kernel", str(image.kernel),
        "-initrd", str(image.initramfs),
        "-append", append,
        "-virtfs", "local,path=/,mount_tag=root,security_model=none,readonly=on,multidevs=remap",
        "-virtfs", f"local,path={share},mount_tag=results,security_model=none,multidevs=remap",
    ]  # fmt: skip
    console_path = control / "console.log"
    started = time.monotonic()
    with console_path.open("wb") as console:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill(proc)
            raise VmError(
                f"guest did not finish within {timeout_s} s\n{_tail(console_path)}"
            ) from None
        finally:
            _kill(proc)  # also on KeyboardInterrupt; a no-op when qemu has exited
    wall_s = time.monotonic() - started
    exit_file = control / "exit_code"
    if not exit_file.is_file():
        raise VmError(
            f"guest stopped (qemu exit {proc.returncode}) before the command finished"
            f"\n{_tail(console_path)}"
        )
    boot_s = float((control / "boot_s").read_text())
    return VmResult(
        exit_code=int(exit_file.read_text()),
        stdout=(control / "stdout").read_text(errors="replace"),
        stderr=(control / "stderr").read_text(errors="replace"),
        console=console_path.read_text(errors="replace"),
        results_dir=share,
        boot_s=boot_s,
        command_s=float((control / "end_s").read_text()) - boot_s,
        wall_s=wall_s,
    )


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def _tail(console_path: Path) -> str:
    lines = console_path.read_text(errors="replace").splitlines()
    return "console tail:\n" + "\n".join(lines[-CONSOLE_TAIL_LINES:])
