"""The OpenWrt feed in one table: which plugin goes in which package, and what each one needs.

Everything else is computed from the sources: the plugin packages found under
``plugins/``, their Python imports (read with :mod:`ast`, lazy imports
included), the OpenWrt ``python3-*`` sub-package that provides each standard
library module, and so the ``Depends`` of every package. The OpenWrt SDK
Makefile ``openwrt/net/mag-ap/Makefile`` is generated from here
(``python -m openwrt.tools.feed --write``; a unit test fails when it is
stale), and :mod:`openwrt.tools.ipk` builds the same packages without the SDK.

Installed layout (the same for every Python version, so one ``.ipk`` serves
OpenWrt 24.10 / Python 3.11 and 25.x / 3.13): the packages live in
``/usr/lib/mag-ap/`` and ``/usr/bin/mag-ap`` puts that directory first on
``sys.path``. Sources only: no ``.pyc`` (Python writes none in a read-only
squashfs and compiles in memory).
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from mag_ap.packages import PLUGIN_PACKAGES as _PLUGIN_PACKAGES

from .releases import Release, stdlib_package

if sys.version_info >= (3, 11):  # noqa: UP036 - build hosts only; kept symmetric with config.py
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT: Final = Path(__file__).resolve().parents[2]
FEED_DIR: Final = "openwrt/net/mag-ap"  # the package directory inside the feed
MAKEFILE: Final = f"{FEED_DIR}/Makefile"
LIB_DIR: Final = "/usr/lib/mag-ap"  # version-independent home of the Python packages
MAIN: Final = "mag-ap"
RELEASE: Final = 1  # PKG_RELEASE: bump when the packaging changes but the version does not
SECTION: Final = "net"
LICENSE: Final = "GPL-2.0-or-later"

# --- THE TABLE: plugin module -> OpenWrt package --------------------------------------
# Light plugins every MAG uses ride in the main package; a plugin with a heavy or
# optional dependency gets its own package so a 16 MB-flash AP installs only what it
# uses. A plugin found under plugins/ but missing here gets its own package
# ``mag-ap-<name>`` (so nothing heavy ever slips into the main package unnoticed).
# THE TABLE lives in the product (mag_ap/packages.py): the daemon names the package to
# install when a plugin is missing.
PLUGIN_PACKAGES: Final = _PLUGIN_PACKAGES

# Non-Python dependencies by package. The datapath builds the tunnels, so the tunnel
# modules go with it (mag_ap.packages.KERNEL_MODULES: ip6tnl, ip6gre, gre, and sit,
# which the "ipip" encapsulation uses in mode any). Programs the code runs come from
# here too: uci-to-toml runs `uci` (package uci), the ubus trigger runs `ubus`
# (package ubus). Nothing runs `ip` in the default paths (netlink); the opt-in SRv6
# datapath mode needs ip-full and says so when it is missing.
EXTRA_DEPENDS: Final[Mapping[str, tuple[str, ...]]] = {
    MAIN: ("uci",),
    "mag-ap-datapath": ("kmod-ip6-tunnel", "kmod-gre6", "kmod-gre", "kmod-sit"),
    "mag-ap-ubus": ("ubus",),
}
# Programs each package's code executes (the release matrix gives the device root only
# the programs of declared packages): program -> the OpenWrt package providing it.
PROGRAMS: Final[Mapping[str, str]] = {"uci": "uci", "ubus": "ubus"}

TITLES: Final[Mapping[str, str]] = {
    MAIN: "Proxy Mobile IPv6 Mobile Access Gateway (RFC 5213, RFC 5844)",
    "mag-ap-datapath": "mag-ap kernel datapath (tunnels and routes via pyroute2)",
    "mag-ap-dns": "mag-ap DNS plugin (dnslib)",
    "mag-ap-radius": "mag-ap RADIUS plugins (policy and accounting identity)",
    "mag-ap-hostapd": "mag-ap hostapd control-socket trigger",
    "mag-ap-ubus": "mag-ap hostapd ubus trigger",
}

# Top-level packages of the checkout that are never shipped (lab rigs and demo, benchmarks,
# tests, this builder): shipped code that imports one is a packaging error.
CHECKOUT_ONLY: Final = frozenset({"lab", "bench", "tests", "openwrt"})

# Standard library modules that OpenWrt splits out of python3-light (packages/lang/python/
# python3/files/python3-package-*.mk). Longest dotted prefix wins; the rest of the
# standard library is in python3-light.
STDLIB_PACKAGES: Final[Mapping[str, str]] = {
    "asyncio": "python3-asyncio",
    "logging": "python3-logging",
    # email is python3-email up to 25.12 and part of python3-urllib on master; python3-urllib
    # depends on python3-email where that exists, so it provides email on every release.
    "email": "python3-urllib",
    "urllib": "python3-urllib",
    "xml": "python3-xml",
    "xmlrpc": "python3-xml",
    "pyexpat": "python3-xml",
    "ctypes": "python3-ctypes",
    "decimal": "python3-decimal",
    "dbm": "python3-dbm",
    "lzma": "python3-lzma",
    "multiprocessing": "python3-multiprocessing",
    "curses": "python3-ncurses",
    "ssl": "python3-openssl",
    "sqlite3": "python3-sqlite3",
    "unittest": "python3-unittest",
    "uuid": "python3-uuid",
    "cgi": "python3-cgi",
    "cgitb": "python3-cgi",
    "pydoc": "python3-pydoc",
    "distutils": "python3-distutils",
    "lib2to3": "python3-lib2to3",
    "readline": "python3-readline",
    "venv": "python3-venv",
    "webbrowser": "python3-webbrowser",
    "unicodedata": "python3-codecs",
}
NOT_ON_OPENWRT: Final = frozenset({"tkinter", "idlelib", "turtle", "turtledemo", "ensurepip"})
THIRD_PARTY: Final[Mapping[str, str]] = {
    "pluggy": "python3-pluggy",
    # Our own package: pyroute2 at the release's version without its re-exporting
    # __init__ (which imports sqlite3, ssl, ... and so needs the full python3).
    "pyroute2": "mag-ap-pyroute2",
    "dnslib": "python3-dnslib",  # not in openwrt/packages: built by this feed
    "tomli": "python3-tomli",
}

# Standard library modules that a module loads at import time on some release: the
# ast scan cannot see them. (module, loaded module, which releases).
IMPLIED_IMPORTS: Final[tuple[tuple[str, str, Callable[[Release], bool]], ...]] = (
    # 3.11's pathlib imports urllib.parse at load time, but mag_ap/__init__.py imports it
    # with a placeholder there (Path.as_uri only): no python3-urllib (+ -email) on 24.10
    # pluggy 1.3 (24.10, 25.12) imports importlib.metadata at load time, but mag-ap
    # imports it with a placeholder there (mag_ap/_pluggy.py): no python3-email needed
    ("importlib.metadata", "email", lambda r: True),
)
BASE_PYTHON: Final = "python3-light"
# Dependencies that would defeat the point of the main package on a 16 MB AP.
HEAVY: Final = frozenset(
    {"python3", "python3-pyroute2", "mag-ap-pyroute2", "python3-dnslib", "python3-openssl",
     "python3-sqlite3"}
)  # fmt: skip


class FeedError(ValueError):
    """The sources need something the table cannot express (unknown module, excluded import)."""


# --- files of each package ----------------------------------------------------------


@dataclass(frozen=True)
class Payload:
    """One file of a package: where it goes on the AP, where it comes from, its mode."""

    dest: str  # absolute path on the AP
    source: Path
    mode: int


# Fixed files of the main package: files/<name> -> destination, mode.
MAIN_FILES: Final[tuple[tuple[str, str, int], ...]] = (
    ("mag-ap.bin", "/usr/bin/mag-ap", 0o755),
    ("mag-ap.init", "/etc/init.d/mag-ap", 0o755),
    ("mag-ap.config", "/etc/config/mag-ap", 0o600),
    ("mag-ap.uci-defaults", "/etc/uci-defaults/90-mag-ap", 0o755),
    ("mag-ap.setup", "/usr/libexec/mag-ap-setup", 0o755),
    ("mag-ap.rpcd", "/usr/libexec/rpcd/mag-ap", 0o755),
    ("mag-ap.acl.json", "/usr/share/rpcd/acl.d/mag-ap.json", 0o644),
    # sysupgrade keeps the RFC 5847 restart counter (state_dir /etc/mag-ap)
    ("mag-ap.keep", "/lib/upgrade/keep.d/mag-ap", 0o644),
)
CONFFILES: Final[Mapping[str, tuple[str, ...]]] = {MAIN: ("/etc/config/mag-ap",)}


@dataclass(frozen=True)
class FeedPackage:
    """One OpenWrt package of the feed."""

    name: str
    title: str
    description: str
    modules: tuple[str, ...]  # repo-relative dirs of the Python packages it ships
    depends: tuple[str, ...] = ()
    optional_imports: tuple[str, ...] = ()  # guarded imports: not in Depends, noted
    conffiles: tuple[str, ...] = ()
    files: tuple[Payload, ...] = field(default=(), repr=False)
    version: str | None = None  # a third-party package's own version; None: the project's
    license: str = LICENSE


def plugin_dirs(root: Path = ROOT) -> list[Path]:
    """Every plugin package under ``plugins/``: a ``mag_ap_*`` dir holding Python files.

    ``__init__.py`` is not required: Python imports such a dir as a namespace package.
    """
    return sorted(
        d for d in (root / "plugins").glob("mag_ap_*") if d.is_dir() and any(d.glob("*.py"))
    )


def package_of_plugin(module: str) -> str:
    """The OpenWrt package that ships plugin ``module`` (default: its own package)."""
    return PLUGIN_PACKAGES.get(module, "mag-ap-" + module.removeprefix("mag_ap_").replace("_", "-"))


def _python_files(root: Path, module_dir: str) -> Iterator[Path]:
    base = root / module_dir
    for path in sorted(base.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts or path.suffix in (".pyc", ".pyo"):
            continue
        yield path


def _python_payload(root: Path, module_dirs: tuple[str, ...]) -> list[Payload]:
    out: list[Payload] = []
    for module_dir in module_dirs:
        top = Path(module_dir).name
        for path in _python_files(root, module_dir):
            rel = path.relative_to(root / module_dir).as_posix()
            out.append(Payload(f"{LIB_DIR}/{top}/{rel}", path, 0o644))
    return out


# --- imports -> OpenWrt packages -------------------------------------------------------


@dataclass(frozen=True)
class Import:
    """One absolute import as written; ``optional`` when guarded by ImportError or a version."""

    module: str
    optional: bool
    where: str


def _catches_import_error(node: ast.Try | ast.TryStar) -> bool:
    for handler in node.handlers:
        names = []
        if handler.type is None:
            return True
        elts = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        names = [e.id for e in elts if isinstance(e, ast.Name)]
        if {"ImportError", "ModuleNotFoundError", "Exception"} & set(names):
            return True
    return False


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _is_main_test(test: ast.expr) -> bool:
    """``if __name__ == "__main__":``"""
    return (
        isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
        and any(isinstance(c, ast.Constant) and c.value == "__main__" for c in test.comparators)
    )


def _is_version_test(test: ast.expr) -> bool:
    return any(
        isinstance(n, ast.Attribute) and n.attr in ("version_info", "hexversion")
        for n in ast.walk(test)
    )


def imports_of(source: str, where: str = "<string>") -> list[Import]:
    """Every absolute import of a module, lazy ones included; ``TYPE_CHECKING`` ones left out.

    Imports inside ``try: ... except ImportError`` (and its handlers), in the
    ``else`` of an ``if sys.version_info ...`` test and under ``if __name__ ==
    "__main__"`` are optional.
    """
    found: list[Import] = []

    def visit(node: ast.AST, optional: bool) -> None:
        if isinstance(node, ast.Try | ast.TryStar):
            guarded = optional or _catches_import_error(node)
            for child in [*node.body, *node.handlers]:
                visit(child, guarded)
            for child in [*node.orelse, *node.finalbody]:
                visit(child, optional)
            return
        if isinstance(node, ast.If):
            if _is_main_test(node.test):  # a module's self-test or demo: not run on import
                for child in [*node.body, *node.orelse]:
                    visit(child, True)
                return
            if _is_type_checking(node.test):
                for child in node.orelse:
                    visit(child, optional)
                return
            for child in node.body:
                visit(child, optional)
            for child in node.orelse:
                visit(child, optional or _is_version_test(node.test))
            return
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append(Import(alias.name, optional, f"{where}:{node.lineno}"))
        elif (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and node.module
            and node.module != "__future__"
        ):
            found.append(Import(node.module, optional, f"{where}:{node.lineno}"))
            for alias in node.names:
                dotted = f"{node.module}.{alias.name}"
                found.append(Import(dotted, optional, f"{where}:{node.lineno}"))
        for child in ast.iter_child_nodes(node):
            visit(child, optional)

    visit(ast.parse(source, filename=where), False)
    return found


def _first_party(root: Path) -> dict[str, str]:
    """Top-level first-party module -> the package shipping it."""
    owners = {"mag_ap": MAIN}
    for d in plugin_dirs(root):
        owners[d.name] = package_of_plugin(d.name)
    return owners


def openwrt_package_for(
    module: str, first_party: Mapping[str, str], release: Release | None = None
) -> str | None:
    """The OpenWrt package providing ``module``; None for a name that is no module.

    ``from x import name`` records ``x.name`` too; that is no module unless a
    table names it, so the caller gets None for it.
    """
    top = module.split(".", 1)[0]
    if top in CHECKOUT_ONLY:
        raise FeedError(f"{module} is not shipped in any package (checkout only)")
    if top in first_party:
        return first_party[top]
    if top in NOT_ON_OPENWRT:
        raise FeedError(f"{module} does not exist on OpenWrt")
    if top in sys.stdlib_module_names:
        if release is not None:
            return stdlib_package(release, module)
        parts = module.split(".")
        for n in range(len(parts), 0, -1):
            hit = STDLIB_PACKAGES.get(".".join(parts[:n]))
            if hit is not None:
                return hit
        return BASE_PYTHON
    if top in THIRD_PARTY:
        return THIRD_PARTY[top]
    return None


@dataclass(frozen=True)
class Needs:
    """What the code of one package imports, as OpenWrt packages."""

    required: frozenset[str]
    optional: frozenset[str]  # guarded imports (module names): never in Depends


def implied(modules: set[str], release: Release | None) -> set[str]:
    """``modules`` plus what they load at import time (IMPLIED_IMPORTS; all releases if None)."""
    out = set(modules)
    todo = list(modules)
    while todo:
        m = todo.pop()
        for mod, loads, when in IMPLIED_IMPORTS:
            hit = m == mod or m.startswith(mod + ".")
            if hit and (release is None or when(release)) and loads not in out:
                out.add(loads)
                todo.append(loads)
    return out


def needs_of(root: Path, module_dirs: tuple[str, ...], release: Release | None = None) -> Needs:
    """The OpenWrt packages the sources import (their own package included).

    With ``release``, standard-library modules map by that release's split and the
    import-time loads of IMPLIED_IMPORTS for it are added; without, the union over
    releases (the SDK Makefile serves every release).
    """
    first_party = _first_party(root)
    required: set[str] = set()
    optional: set[str] = set()
    for module_dir in module_dirs:
        for path in _python_files(root, module_dir):
            if path.suffix != ".py":
                continue
            rel = path.relative_to(root).as_posix()
            found = imports_of(path.read_text(encoding="utf-8"), rel)
            loads = implied({i.module for i in found if not i.optional}, release)
            found += [Import(m, False, f"{rel} (loaded by an import)") for m in sorted(loads)]
            for imp in found:
                if imp.optional:
                    optional.add(imp.module)
                    continue
                try:
                    pkg = openwrt_package_for(imp.module, first_party, release)
                except FeedError as exc:
                    raise FeedError(f"{imp.where}: {exc}") from None
                if pkg is None:
                    raise FeedError(
                        f"{imp.where}: import {imp.module!r} is no standard module and not in "
                        "THIRD_PARTY (openwrt/tools/feed.py): add its OpenWrt package"
                    )
                if pkg is not None:
                    required.add(pkg)
    return Needs(frozenset(required), frozenset(optional))


# --- the packages -------------------------------------------------------------------


def _order(deps: set[str], extras: tuple[str, ...] = ()) -> tuple[str, ...]:
    """Stable order: packages of this feed, python3-light, python3-*, the rest, extras."""
    feed = sorted(d for d in deps if d.startswith(MAIN))
    base = [BASE_PYTHON] if BASE_PYTHON in deps else []
    py = sorted(d for d in deps if d.startswith("python3-") and d != BASE_PYTHON)
    rest = sorted(d for d in deps if d not in {*feed, *base, *py})
    return (*feed, *base, *py, *rest, *extras)


def _docstring_title(init: Path) -> str:
    if not init.is_file():
        return init.parent.name
    doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
    return doc.splitlines()[0].rstrip(".") if doc else init.parent.name


def feed_packages(root: Path = ROOT, release: Release | None = None) -> list[FeedPackage]:
    """The main package then each plugin package, with computed Depends and files.

    ``release``: Depends exactly for that OpenWrt release (its split, its pluggy), plus
    its ``libpython3-X.Y``, so a package built for one release cannot be installed on
    another; None: for every release (the SDK Makefile).
    """
    groups: dict[str, list[str]] = {MAIN: ["mag_ap"]}
    for d in plugin_dirs(root):
        groups.setdefault(package_of_plugin(d.name), []).append(f"plugins/{d.name}")

    main_modules = tuple(groups[MAIN])
    main_needs = needs_of(root, main_modules, release)
    main_deps = set(main_needs.required) - {MAIN}
    abi = (release.libpython,) if release is not None else ()
    files_dir = root / FEED_DIR / "files"
    main_files = [Payload(dest, files_dir / name, mode) for name, dest, mode in MAIN_FILES]
    packages = [
        FeedPackage(
            name=MAIN,
            title=TITLES[MAIN],
            description=(
                "A Proxy Mobile IPv6 Mobile Access Gateway for access points, with the\n"
                "local policy, MAC-based identity and the light built-in plugins. Install\n"
                "mag-ap-datapath for the kernel datapath."
            ),
            modules=main_modules,
            depends=_order(main_deps, (*abi, *EXTRA_DEPENDS.get(MAIN, ()))),
            optional_imports=tuple(sorted(main_needs.optional)),
            conffiles=CONFFILES.get(MAIN, ()),
            files=tuple(
                sorted([*main_files, *_python_payload(root, main_modules)], key=lambda p: p.dest)
            ),
        )
    ]
    for name in sorted(groups):
        if name == MAIN:
            continue
        modules = tuple(groups[name])
        needs = needs_of(root, modules, release)
        deps = (set(needs.required) - main_deps - {BASE_PYTHON, name}) | {MAIN}
        title = TITLES.get(name) or _docstring_title(root / modules[0] / "__init__.py")
        shipped = ", ".join(Path(m).name for m in modules)
        packages.append(
            FeedPackage(
                name=name,
                title=title,
                description=f"{title}.\nPlugin package of mag-ap: {shipped}.",
                modules=modules,
                depends=_order(deps, EXTRA_DEPENDS.get(name, ())),
                optional_imports=tuple(sorted(needs.optional)),
                conffiles=CONFFILES.get(name, ()),
                files=tuple(sorted(_python_payload(root, modules), key=lambda p: p.dest)),
            )
        )
    return packages


def project_version(root: Path = ROOT) -> str:
    """``[project] version`` of pyproject.toml."""
    data = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    return str(data["project"]["version"])


def package_version(root: Path = ROOT) -> str:
    """The OpenWrt version: ``<version>-r<release>``."""
    return f"{project_version(root)}-r{RELEASE}"


# --- third-party packages this feed builds ----------------------------------------------

# pyroute2's __init__ as mag-ap-pyroute2 ships it (the SDK Makefile installs the same file).
SLIM_PYROUTE2_INIT: Final = "openwrt/net/mag-ap-pyroute2/files/__init__.py"
# Imports of vendored modules that mag-ap serves with a stand-in while they load
# (mag_ap.imports.standing_in, in plugins/mag_ap_datapath/_kernel_io.py): not Depends.
# pyroute2.config names multiprocessing's Pipe/Queue/Process only, for APIs not shipped.
HIDDEN_IMPORTS: Final[Mapping[str, frozenset[str]]] = {
    "pyroute2.config": frozenset({"multiprocessing"}),
}


def project_imports_of(top: str, root: Path = ROOT) -> list[str]:
    """Modules of third-party package ``top`` the shipped code imports (guarded ones too)."""
    found: set[str] = set()
    for module_dir in ("mag_ap", *(d.relative_to(root).as_posix() for d in plugin_dirs(root))):
        for path in _python_files(root, module_dir):
            if path.suffix == ".py":
                found.update(
                    i.module for i in imports_of(path.read_text(encoding="utf-8"))
                    if i.module.split(".")[0] == top
                )  # fmt: skip
    return sorted(found)


def vendored_modules(lib: Path, top: str, root: Path = ROOT) -> list[str]:
    """The modules of a vendored library we ship: the import closure of the project's uses.

    pyroute2's own ``__init__`` is replaced by ``SLIM_PYROUTE2_INIT``: its imports
    are followed instead of upstream's (which load every API).
    """
    from .modset import NOT_ON_LINUX, _imported, closure

    entries = project_imports_of(top, root)
    skip: tuple[str, ...] = ()
    if top == "pyroute2":
        entries += sorted(_imported("pyroute2", root / SLIM_PYROUTE2_INIT))
        skip = ("pyroute2",)
    return closure(lib, entries, skip_imports_of=skip, exclude=NOT_ON_LINUX)


def vendored_needs(lib: Path, modules: list[str], release: Release) -> tuple[str, ...]:
    """python3-* packages the shipped modules of a vendored library import (unguarded)."""
    from .modset import module_file

    top = modules[0].split(".")[0]
    needs = {BASE_PYTHON}
    for name in modules:
        path = module_file(lib, name)
        assert path is not None
        for imp in imports_of(path.read_text(encoding="utf-8"), f"{top}:{name}"):
            if imp.optional or imp.module.split(".")[0] == top:
                continue
            if imp.module.split(".")[0] in HIDDEN_IMPORTS.get(name, ()):
                continue
            if imp.module.split(".")[0] not in sys.stdlib_module_names:
                continue  # another library's optional feature (pyroute2: none unguarded)
            needs.add(stdlib_package(release, imp.module))
            # ssl.py is python3-light's on OpenWrt, its _ssl python3-openssl's: the same
            # for ctypes, sqlite3, ... (the C part of a module `x` is `_x`)
            needs.add(stdlib_package(release, "_" + imp.module.split(".")[0]))
    return _order(needs)


def vendored_packages(release: Release) -> list[FeedPackage]:
    """``mag-ap-pyroute2`` and ``python3-dnslib``: the modules the project can load, no more.

    Each ships the import closure of the project's own imports of it (``vendored_modules``;
    the rest of the library is not used by mag-ap), with the Depends those modules import.
    """
    from .modset import module_file
    from .releases import DNSLIB_VERSION, site_dir, unpacked_wheel

    pr2 = unpacked_wheel("pyroute2", release.pyroute2)
    init = ROOT / SLIM_PYROUTE2_INIT
    pr2_modules = vendored_modules(pr2, "pyroute2")
    pr2_paths = [module_file(pr2, m) for m in pr2_modules]
    pr2_files = [
        Payload(f"{LIB_DIR}/{f.relative_to(pr2).as_posix()}", init if f.name == "__init__.py"
                and f.parent == pr2 / "pyroute2" else f, 0o644)
        for f in sorted(p for p in pr2_paths if p is not None)
    ]  # fmt: skip
    dns = unpacked_wheel("dnslib", DNSLIB_VERSION)
    site = site_dir(release)
    dns_modules = vendored_modules(dns, "dnslib")
    dns_paths = [module_file(dns, m) for m in dns_modules]
    dns_files = [
        Payload(f"{site}/{f.relative_to(dns).as_posix()}", f, 0o644)
        for f in sorted(p for p in dns_paths if p is not None)
    ]
    pr2_needs = vendored_needs(pr2, pr2_modules, release)
    return [
        FeedPackage(
            name="mag-ap-pyroute2",
            title="pyroute2 netlink library for mag-ap (without the full python3)",
            description=(
                f"pyroute2 {release.pyroute2} (PyPI) in {LIB_DIR}, for mag-ap's datapath: the\n"
                "python3-* it imports only, not the full python3 of python3-pyroute2."
            ),
            modules=(),
            depends=(*pr2_needs, release.libpython),
            files=tuple(pr2_files),
            version=f"{release.pyroute2}-r{RELEASE}",
            license="GPL-2.0-or-later OR Apache-2.0",
        ),
        FeedPackage(
            name="python3-dnslib",
            title="dnslib: DNS library (PyPI dnslib)",
            description=f"dnslib {DNSLIB_VERSION}: DNS message encoding and decoding.",
            modules=(),
            depends=(*vendored_needs(dns, dns_modules, release), release.libpython),
            files=tuple(dns_files),
            version=f"{DNSLIB_VERSION}-r{RELEASE}",
            license="BSD-2-Clause",
        ),
    ]


# --- the SDK Makefile ---------------------------------------------------------------


def render_makefile(root: Path = ROOT) -> str:
    """The OpenWrt SDK Makefile of the feed, generated from the table above."""
    packages = feed_packages(root)
    out = [
        "# GENERATED by `python -m openwrt.tools.feed --write` from the table in",
        "# openwrt/tools/feed.py: edit the table there, not this file.",
        "#",
        "# Use as a feed: `src-link magap /path/to/mag-ap/openwrt` in feeds.conf, then",
        "# ./scripts/feeds update magap && ./scripts/feeds install -a -p magap.",
        "",
        "include $(TOPDIR)/rules.mk",
        "",
        "PKG_NAME:=mag-ap",
        f"PKG_VERSION:={project_version(root)}",
        f"PKG_RELEASE:={RELEASE}",
        f"PKG_LICENSE:={LICENSE}",
        "",
        "include $(INCLUDE_DIR)/package.mk",
        "# python3 variables and conventions; this feed lives outside openwrt/packages,",
        "# hence the path through feeds/packages instead of ../../lang/python.",
        "include $(TOPDIR)/feeds/packages/lang/python/python3-package.mk",
        "",
        "# The sources are the checkout this feed is linked from (src-link).",
        "MAG_AP_SRC:=$(abspath $(CURDIR)/../../..)",
        f"MAG_AP_LIB:={LIB_DIR}",
        "",
        "define Build/Prepare",
        "\t$(INSTALL_DIR) $(PKG_BUILD_DIR)",
        "\t$(CP) $(MAG_AP_SRC)/mag_ap $(MAG_AP_SRC)/plugins $(PKG_BUILD_DIR)/",
        "endef",
        "",
        "# Pure Python: compiled at install time by the SDK's host Python, which is the",
        "# target's version, into sourceless .pyc like OpenWrt's python3 packages.",
        "define Build/Compile",
        "endef",
        "",
        "define Package/mag-ap/Default",
        f"  SECTION:={SECTION}",
        "  CATEGORY:=Network",
        "  PKGARCH:=all",
        "endef",
    ]
    for pkg in packages:
        deps = " ".join(f"+{d}" for d in pkg.depends)
        out += [
            "",
            f"define Package/{pkg.name}",
            "$(call Package/mag-ap/Default)",
            f"  TITLE:={pkg.title}",
            f"  DEPENDS:={deps}",
            "endef",
            "",
            f"define Package/{pkg.name}/description",
            *pkg.description.splitlines(),
            "endef",
        ]
        if pkg.conffiles:
            out += ["", f"define Package/{pkg.name}/conffiles", *pkg.conffiles, "endef"]
        out += ["", f"define Package/{pkg.name}/install", "\t$(INSTALL_DIR) $(1)$(MAG_AP_LIB)"]
        for module in pkg.modules:
            out.append(f"\t$(CP) $(PKG_BUILD_DIR)/{module} $(1)$(MAG_AP_LIB)/")
        out.append(
            "\tfind $(1)$(MAG_AP_LIB) \\( -name __pycache__ -o -name '*.py[co]' \\) "
            "-prune -exec rm -rf {} +"
        )
        out.append(
            "\t$(HOST_PYTHON3_BIN) -X no_debug_ranges -m compileall -q -b -d $(MAG_AP_LIB) "
            "--invalidation-mode unchecked-hash $(1)$(MAG_AP_LIB)"
        )
        out.append("\tfind $(1)$(MAG_AP_LIB) -name '*.py' -delete")
        if pkg.name == MAIN:
            made: set[str] = set()
            for name, dest, mode in MAIN_FILES:
                parent = str(Path(dest).parent)
                if parent not in made:
                    out.append(f"\t$(INSTALL_DIR) $(1){parent}")
                    made.add(parent)
                tool = {0o755: "INSTALL_BIN", 0o600: "INSTALL_CONF"}.get(mode, "INSTALL_DATA")
                out.append(f"\t$({tool}) ./files/{name} $(1){dest}")
        out.append("endef")
    out.append("")
    out += [f"$(eval $(call BuildPackage,{pkg.name}))" for pkg in packages]
    return "\n".join(out) + "\n"


PYROUTE2_SDK_MAKEFILE: Final = "openwrt/net/mag-ap-pyroute2/Makefile"
PYROUTE2_SDK_LIST: Final = "openwrt/net/mag-ap-pyroute2/files/modules.txt"


def render_pyroute2_list(root: Path = ROOT) -> str:
    """The pyroute2 files the SDK's mag-ap-pyroute2 installs (its PKG_VERSION's closure)."""
    import re

    from .modset import module_file
    from .releases import unpacked_wheel

    text = (root / PYROUTE2_SDK_MAKEFILE).read_text(encoding="utf-8")
    hit = re.search(r"^PKG_VERSION:=(\S+)$", text, re.M)
    assert hit is not None, f"{PYROUTE2_SDK_MAKEFILE}: no PKG_VERSION"
    lib = unpacked_wheel("pyroute2", hit.group(1))
    files = [module_file(lib, m) for m in vendored_modules(lib, "pyroute2", root)]
    lines = [
        f.relative_to(lib).as_posix() for f in files
        if f is not None and f.relative_to(lib).as_posix() != "pyroute2/__init__.py"
    ]  # fmt: skip
    header = (
        f"# GENERATED by `python -m openwrt.tools.feed --write`: the pyroute2 {hit.group(1)}\n"
        "# modules mag-ap can load (openwrt/tools/modset.py), installed by the Makefile.\n"
    )
    return header + "\n".join(sorted(lines)) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m openwrt.tools.feed",
        description="show the feed's packages, or (re)write the OpenWrt SDK Makefile",
    )
    parser.add_argument("--write", action="store_true", help=f"write {MAKEFILE} and the list")
    parser.add_argument("--check", action="store_true", help="fail when they are stale")
    args = parser.parse_args(argv)
    generated = {MAKEFILE: render_makefile(), PYROUTE2_SDK_LIST: render_pyroute2_list()}
    if args.write:
        for name, text in generated.items():
            path = ROOT / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {name}")
        return 0
    if args.check:
        for name, text in generated.items():
            path = ROOT / name
            current = path.read_text(encoding="utf-8") if path.exists() else ""
            if current != text:
                print(f"{name} is stale: run python -m openwrt.tools.feed --write")
                return 1
        print("ok")
        return 0
    for pkg in feed_packages():
        print(f"{pkg.name}: {', '.join(pkg.depends)}")
        print(f"  modules: {', '.join(Path(m).name for m in pkg.modules)}")
        if pkg.optional_imports:
            print(f"  optional imports (not in Depends): {', '.join(pkg.optional_imports)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
