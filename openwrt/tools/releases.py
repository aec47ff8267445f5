"""OpenWrt releases as data: Python version, stdlib split, third-party versions, and device roots.

``python-split.json`` (next to this file) is OpenWrt's python3 package split of
each supported branch (openwrt/packages lang/python, commits inside), kept as
data: no OpenWrt code. From it this module answers, per release, which
``python3-*`` package ships a standard-library module, the DEPENDS closure of a
set of packages, and builds a *device root*: the interpreter, only the stdlib
files that closure installs, the third-party packages at the release's versions
(wheels from PyPI, cached under ``build/``) and our packages' payload. The
interpreter is a pyenv CPython of the release's minor version (x86_64, not
stripped, so sizes are upper bounds); ``master`` ships 3.14, for which 3.13
stands in until pyenv has it.
"""

from __future__ import annotations

import fnmatch
import functools
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parents[2]
SPLIT: Final[dict[str, Any]] = json.loads(
    (Path(__file__).with_name("python-split.json")).read_text(encoding="utf-8")
)
WHEELS: Final = ROOT / "build" / "owrt-wheels"  # pip download cache (setup.sh fills it)
DNSLIB_VERSION: Final = "0.9.26"  # our feed's python3-dnslib (openwrt/lang/python3-dnslib)


@dataclass(frozen=True)
class Release:
    """One OpenWrt branch and the CPython that stands for its interpreter here."""

    branch: str
    python: str  # the release's own X.Y.Z
    pyenv_minor: str  # the pyenv X.Y used here
    pluggy: str
    pyroute2: str

    @property
    def stand_in(self) -> bool:
        """True when the host interpreter is not the release's minor version."""
        return not self.python.startswith(self.pyenv_minor + ".")

    @property
    def tag(self) -> str:
        """``py311``: the bytecode tag of the interpreter the packages are compiled for."""
        return "py" + self.pyenv_minor.replace(".", "")

    @property
    def libpython(self) -> str:
        """OpenWrt's libpython3 package carries the ABI (X.Y) in its name: the .pyc's one."""
        return f"libpython3-{self.pyenv_minor}"

    @property
    def python_minor(self) -> str:
        return ".".join(self.python.split(".")[:2])


def _release(branch: str) -> Release:
    rel = SPLIT["releases"][branch]
    third = rel["third_party"]
    minor = rel["python_minor"]
    have = _pyenv_minors()
    return Release(
        branch=branch,
        python=rel["python"],
        pyenv_minor=minor if minor in have or not have else max(have, key=_vkey),
        pluggy=third["python3-pluggy"]["version"],
        pyroute2=third["python3-pyroute2"]["version"],
    )


def _vkey(minor: str) -> tuple[int, ...]:
    return tuple(int(x) for x in minor.split("."))


def pyenv_root() -> Path:
    return Path(os.environ.get("PYENV_ROOT") or Path.home() / ".pyenv")


@functools.cache
def _pyenv_minors() -> frozenset[str]:
    """X.Y of every pyenv CPython >= 3.11 installed here."""
    out = set()
    for d in (pyenv_root() / "versions").glob("3.*"):
        parts = d.name.split(".")
        if len(parts) == 3 and all(p.isdigit() for p in parts) and int(parts[1]) >= 11:
            out.add(".".join(parts[:2]))
    return frozenset(out)


RELEASE_NAMES: Final = ("openwrt-24.10", "openwrt-25.12", "master")


def releases() -> list[Release]:
    return [_release(b) for b in RELEASE_NAMES]


def release(branch: str) -> Release:
    if branch not in SPLIT["releases"]:
        raise KeyError(f"unknown OpenWrt release {branch!r}: one of {', '.join(RELEASE_NAMES)}")
    return _release(branch)


def pyroot(rel: Release) -> Path:
    """The pyenv prefix standing for the release's interpreter; RuntimeError when missing."""
    found = sorted(
        (pyenv_root() / "versions").glob(f"{rel.pyenv_minor}.*"),
        key=lambda p: _vkey(p.name) if p.name.replace(".", "").isdigit() else (0,),
    )
    found = [p for p in found if (p / "bin" / f"python{rel.pyenv_minor}").exists()]
    if not found:
        raise RuntimeError(
            f"{rel.branch} needs CPython {rel.pyenv_minor} from pyenv under {pyenv_root()}"
            " (pyenv install " + rel.pyenv_minor + ")"
        )
    return found[-1]


def interpreter(rel: Release) -> Path:
    return pyroot(rel) / "bin" / f"python{rel.pyenv_minor}"


# --- the split ------------------------------------------------------------------------


def _patterns(rel: Release) -> tuple[dict[str, list[str]], list[str]]:
    """(package -> path patterns incl. python3-base, python3-light excludes) for ``rel``."""
    split = SPLIT["releases"][rel.branch]["split"]
    ver = rel.pyenv_minor
    so = f"cpython-{ver.replace('.', '')}-*.so"

    def sub(p: str) -> str:
        return p.replace("$(PYTHON3_VERSION)", ver).replace("$(PYTHON3_SO_SUFFIX)", so)

    pkgs = {k: [sub(p) for p in v] for k, v in split["packages"].items()}
    pkgs["python3-base"] = [sub(p) for p in split["python3-base files"]]
    return pkgs, [sub(p) for p in split["python3-light excludes"]]


def _matches(path: str, pattern: str) -> bool:
    return (
        fnmatch.fnmatch(path, pattern)
        or fnmatch.fnmatch(path, pattern + "/*")
        or path.startswith(pattern + "/")
    )


def stdlib_package(rel: Release, module: str) -> str:
    """The ``python3-*`` package of ``rel`` that ships stdlib ``module`` (dotted)."""
    pkgs, _ = _patterns(rel)
    base = f"/usr/lib/python{rel.pyenv_minor}/" + module.replace(".", "/")
    so = f"/usr/lib/python{rel.pyenv_minor}/lib-dynload/{module}.cpython-"
    so += f"{rel.pyenv_minor.replace('.', '')}-x86_64-linux-gnu.so"
    for name, pats in pkgs.items():
        for cand in (base, base + ".py", base + "/__init__.py", so):
            if any(_matches(cand, p) for p in pats):
                return "python3-light" if name == "python3-base" else name
    return "python3-light"


def packages(rel: Release) -> frozenset[str]:
    """Every python3-* package name of the release (python3-light and the split ones)."""
    pkgs, _ = _patterns(rel)
    return frozenset({*pkgs, "python3-light", "python3"}) - {"python3-base"}


def depends(rel: Release) -> dict[str, list[str]]:
    """OpenWrt DEPENDS of the release's python packages, without ``+`` and conditionals."""
    data = SPLIT["releases"][rel.branch]
    out: dict[str, list[str]] = {}
    for k, v in data["depends"].items():
        out[k] = [d.lstrip("+") for d in v if d.startswith("+") and ":" not in d]
    for k, v in data["third_party"].items():
        out[k] = [d.lstrip("+") for d in v["depends"]]
    out["python3"] = list(data["python3 meta package"])
    return out


def closure(rel: Release, want: Iterable[str], extra: Mapping[str, Iterable[str]]) -> list[str]:
    """Transitive DEPENDS of ``want`` (``extra``: DEPENDS of packages not in the split data)."""
    deps = depends(rel)
    seen: list[str] = []
    todo = list(want)
    while todo:
        p = todo.pop(0)
        if p in seen:
            continue
        seen.append(p)
        todo += [d for d in [*deps.get(p, []), *extra.get(p, ())] if d not in seen]
    return seen


# Under CPython's --disable-test-modules (OpenWrt's configure) these are not installed.
_TEST_DIRS: Final = ("test", "idlelib/idle_test", "tkinter/test", "lib2to3/tests", "ctypes/test",
                     "distutils/tests", "sqlite3/test", "unittest/test")  # fmt: skip
_NOT_BUILT_SO: Final = ("_test*", "_ctypes_test*", "xxlimited*", "_xxtestfuzz*", "xxsubtype*",
                        "_xxsubinterpreters*", "_tkinter*", "nis*")  # fmt: skip


@functools.cache
def stdlib_owner(rel: Release) -> dict[str, list[str]]:
    """package -> stdlib files (relative to lib/pythonX.Y) of the pyenv install, by the split."""
    lib = pyroot(rel) / "lib" / f"python{rel.pyenv_minor}"
    pkgs, light_ex = _patterns(rel)
    owner: dict[str, list[str]] = {k: [] for k in [*pkgs, "python3-light", "(excluded)"]}
    for p in sorted(lib.rglob("*")):
        if p.is_dir():
            continue
        rel_path = p.relative_to(lib).as_posix()
        if "__pycache__" in rel_path or rel_path.startswith("site-packages/"):
            continue
        if any(rel_path == d or rel_path.startswith(d + "/") for d in _TEST_DIRS):
            continue
        if rel_path.startswith("lib-dynload/") and any(
            fnmatch.fnmatch(rel_path.split("/", 1)[1], g) for g in _NOT_BUILT_SO
        ):
            continue
        full = f"/usr/lib/python{rel.pyenv_minor}/{rel_path}"
        hit = next((n for n, pats in pkgs.items() if any(_matches(full, x) for x in pats)), None)
        if hit is None and any(_matches(full, x) for x in light_ex):
            hit = "(excluded)"
        owner[hit or "python3-light"].append(rel_path)
    owner["python3-light"] += owner.pop("python3-base")
    return owner


# --- third-party wheels -----------------------------------------------------------------


def wheel(name: str, version: str) -> Path:
    """The cached wheel ``name==version``, downloaded with pip on first use."""
    WHEELS.mkdir(parents=True, exist_ok=True)
    stem = name.replace("-", "_")
    for found in WHEELS.glob(f"{stem}-{version}-*.whl"):
        return found
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
         "-d", str(WHEELS), f"{name}=={version}"],
        check=True,
    )  # fmt: skip
    for found in WHEELS.glob(f"{stem}-{version}-*.whl"):
        return found
    raise RuntimeError(f"pip download {name}=={version} gave no wheel in {WHEELS}")


def unpack_wheel(whl: Path, dest: Path, *, metadata: bool = True) -> list[Path]:
    """Extract a pure wheel into ``dest``; returns the files written."""
    out = []
    with zipfile.ZipFile(whl) as z:
        for info in z.infolist():
            if info.is_dir() or (not metadata and ".dist-info/" in info.filename):
                continue
            target = dest / info.filename
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(z.read(info))
            out.append(target)
    return out


# --- device roots -----------------------------------------------------------------------


def _needed_libs(elf: Path) -> list[Path]:
    """Shared libraries ``elf`` loads (ldd), host paths: libc, zlib, libffi... as the AP's."""
    out = subprocess.run(["ldd", str(elf)], capture_output=True, text=True, check=False).stdout
    libs = []
    for line in out.splitlines():
        parts = line.split()
        if "=>" in parts and len(parts) >= 3 and parts[2].startswith("/"):
            libs.append(Path(parts[2]))
        elif parts and parts[0].startswith("/"):
            libs.append(Path(parts[0]))  # the dynamic loader
    return libs


def copy_native_libs(dest: Path) -> None:
    """Copy every shared library the root's ELF files need (native DEPENDS: libc, zlib, ...)."""

    def elf_like(p: Path) -> bool:
        shared = p.suffix == ".so" or ".so." in p.name
        return p.is_file() and (shared or p.parent.name in ("bin", "sbin"))

    todo = [p for p in dest.rglob("*") if elf_like(p)]
    done: set[Path] = set()
    # glibc loads libgcc_s with dlopen when a thread exits (ldd cannot see it); OpenWrt's
    # musl does not, and its libgcc package is in every image anyway
    for name in ("libgcc_s.so.1",):
        for d in (Path("/lib/x86_64-linux-gnu"), Path("/usr/lib/x86_64-linux-gnu")):
            if (d / name).exists() and not (dest / d.relative_to("/") / name).exists():
                (dest / d.relative_to("/")).mkdir(parents=True, exist_ok=True)
                shutil.copy2((d / name).resolve(), dest / d.relative_to("/") / name)
                break
    while todo:
        elf = todo.pop()
        if elf.read_bytes()[:4] != b"\x7fELF":
            continue
        for lib in _needed_libs(elf):
            if lib in done or str(lib).startswith(str(pyenv_root())):
                continue
            done.add(lib)
            target = dest / lib.relative_to("/")
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(lib.resolve(), target)
                todo.append(target)


def install_stdlib(rel: Release, dest: Path, pkgs: Iterable[str]) -> int:
    """The interpreter, libpython and the stdlib files of ``pkgs``; returns files copied."""
    ver = rel.pyenv_minor
    src = pyroot(rel)
    owner = stdlib_owner(rel)
    lib = dest / "usr" / "lib" / f"python{ver}"
    n = 0
    tag = f"cpython-{ver.replace('.', '')}"
    for p in pkgs:
        for f in owner.get(p, []):
            source = src / "lib" / f"python{ver}" / f
            target = lib / f
            # OpenWrt ships the stdlib as sourceless .pyc and never writes bytecode
            pyc = source.parent / "__pycache__" / f"{source.stem}.{tag}.pyc"
            if source.suffix == ".py" and pyc.exists():
                source, target = pyc, target.with_suffix(".pyc")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
            n += 1
    (lib / "lib-dynload").mkdir(parents=True, exist_ok=True)
    (lib / "site-packages").mkdir(parents=True, exist_ok=True)
    (dest / "usr" / "bin").mkdir(parents=True, exist_ok=True)
    shutil.copy2(src / "bin" / f"python{ver}", dest / "usr" / "bin" / f"python{ver}")
    for link in ("python3", "python"):
        (dest / "usr" / "bin" / link).unlink(missing_ok=True)
        (dest / "usr" / "bin" / link).symlink_to(f"python{ver}")
    shutil.copy2(
        src / "lib" / f"libpython{ver}.so.1.0", dest / "usr/lib" / f"libpython{ver}.so.1.0"
    )
    return n


def site_packages(rel: Release, dest: Path) -> Path:
    return dest / "usr" / "lib" / f"python{rel.pyenv_minor}" / "site-packages"


def site_dir(rel: Release) -> str:
    """site-packages on the device (where OpenWrt's python3-* third-party packages go)."""
    return f"/usr/lib/python{rel.pyenv_minor}/site-packages"


def unpacked_wheel(name: str, version: str) -> Path:
    """The wheel ``name==version`` unpacked once under the cache; returns that directory."""
    whl = wheel(name, version)
    dest = WHEELS / whl.name.removesuffix(".whl")
    stamp = dest / ".unpacked"
    if not stamp.exists():
        shutil.rmtree(dest, ignore_errors=True)
        unpack_wheel(whl, dest)
        stamp.write_text("", encoding="ascii")
    return dest


# Programs of OpenWrt packages the host can stand in for: package -> (host path, device path).
HOST_PROGRAMS: Final[Mapping[str, tuple[tuple[str, str], ...]]] = {
    "ip-full": (("/usr/bin/ip", "/sbin/ip"), ("/bin/ip", "/sbin/ip")),
}


def _ipk_members(ipk: Path) -> tuple[dict[str, str], bytes]:
    """(control fields, data.tar.gz bytes) of one .ipk."""
    with tarfile.open(ipk, mode="r:gz") as outer:
        control = outer.extractfile("./control.tar.gz")
        data = outer.extractfile("./data.tar.gz")
        assert control is not None and data is not None
        data_bytes = data.read()
        with tarfile.open(fileobj=io.BytesIO(control.read()), mode="r:gz") as tar:
            f = tar.extractfile("./control")
            assert f is not None
            text = f.read().decode()
    fields = dict(line.split(": ", 1) for line in text.splitlines() if ": " in line)
    return fields, data_bytes


@dataclass(frozen=True)
class DeviceRoot:
    """A built device root: where, for which release, and which packages it holds."""

    path: Path
    release: Release
    packages: tuple[str, ...]  # the DEPENDS closure, in install order
    not_modelled: tuple[str, ...]  # native packages (libs from the host via ldd, kmods, ubus)


def device_root(rel: Release, dest: Path, ipks: Iterable[Path], want: Iterable[str]) -> DeviceRoot:
    """Install ``want`` and its DEPENDS closure into ``dest`` as opkg would on the release.

    ``ipks``: the feed's packages for ``rel`` (ours, mag-ap-pyroute2, python3-dnslib);
    OpenWrt's python3-* come from the stand-in CPython by the split, python3-pluggy
    from its wheel at the release's version. Native libraries are the host's, copied
    for what the ELF files load. Nothing else: no shell, no `ip`, no site-packages.
    """
    ours: dict[str, tuple[dict[str, str], bytes]] = {}
    for ipk in ipks:
        fields, data = _ipk_members(ipk)
        ours[fields["Package"]] = (fields, data)
    extra = {
        name: [d.strip() for d in f.get("Depends", "").split(",") if d.strip()]
        for name, (f, _) in ours.items()
    }
    pkgs = closure(rel, want, extra)
    missing = [
        p for p in want if p not in ours and p not in packages(rel) and p not in HOST_PROGRAMS
    ]
    if missing:
        raise RuntimeError(f"no package {', '.join(missing)} for {rel.branch}")
    install_stdlib(rel, dest, pkgs)
    site = site_packages(rel, dest)
    not_modelled = []
    for pkg in pkgs:
        if pkg in ours:
            with tarfile.open(fileobj=io.BytesIO(ours[pkg][1]), mode="r:gz") as tar:
                tar.extractall(dest, filter="data")
        elif pkg == "python3-pluggy":  # as OpenWrt ships it: sourceless .pyc
            unpack_wheel(wheel("pluggy", rel.pluggy), site)
            subprocess.run(
                [str(interpreter(rel)), "-I", "-m", "compileall", "-q", "-b",
                 "-d", "/" + str((site / "pluggy").relative_to(dest)), str(site / "pluggy")],
                check=True,
            )  # fmt: skip
            for src in (site / "pluggy").rglob("*.py"):
                src.unlink()
        elif pkg in HOST_PROGRAMS:
            for host, device in HOST_PROGRAMS[pkg]:
                if Path(host).exists():
                    target = dest / device.lstrip("/")
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(host, target)
                    break
        elif pkg not in stdlib_owner(rel) and pkg not in ("python3-base", rel.libpython):
            not_modelled.append(pkg)
    for d in ("tmp", "var/run", "var/lib", "proc", "sys", "dev", "etc"):
        (dest / d).mkdir(parents=True, exist_ok=True)
    copy_native_libs(dest)
    return DeviceRoot(dest, rel, tuple(pkgs), tuple(not_modelled))
