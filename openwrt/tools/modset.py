"""Which modules of a vendored library the project can load: the import closure, by ``ast``.

mag-ap-pyroute2 and python3-dnslib ship only the modules reachable from the
project's own imports of pyroute2 / dnslib, following every import of each
reached module (lazy ones in functions too, relative ones, parent packages),
minus what a package's ``__init__`` we replace would have pulled. Measured in
the device roots with an import hook (``-X importtime``, the matrix test's MAG
with the datapath): for pyroute2 0.7.9 and 0.9.6 the closure is exactly what
the datapath loads, apart from the other platforms' modules (BSD, Darwin,
Windows) that ``pyroute2.iproute`` picks by ``sys.platform``, listed in
``NOT_ON_LINUX`` (0.7.9 gets its emscripten mock too: 0.9.6 loads it).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path
from typing import Final

# pyroute2.iproute imports these on other platforms only (by sys.platform / uname).
NOT_ON_LINUX: Final = (
    "pyroute2.bsd",
    "pyroute2.iproute.bsd",
    "pyroute2.iproute.darwin",
    "pyroute2.iproute.windows",
)


def module_file(lib: Path, name: str) -> Path | None:
    """The source of module ``name`` under ``lib`` (the directory holding the top package)."""
    base = lib / name.replace(".", "/")
    for cand in (base.with_suffix(".py"), base / "__init__.py"):
        if cand.is_file():
            return cand
    return None


def _imported(name: str, path: Path) -> set[str]:
    """Every dotted name an import statement of ``path`` may load (``from m import x``: m.x too)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_bytes(), filename=str(path))):
        if isinstance(node, ast.Import):
            out.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                mod = f"{base}.{node.module}" if node.module else base
            else:
                mod = node.module or ""
            out.add(mod)
            out.update(f"{mod}.{alias.name}" for alias in node.names)
    return out


def closure(
    lib: Path, entries: Iterable[str], *, skip_imports_of: Iterable[str] = (),
    exclude: Iterable[str] = (),
) -> list[str]:  # fmt: skip
    """Sorted module names of ``lib``'s top package reachable from ``entries``.

    ``skip_imports_of``: modules whose imports are not followed (a replaced
    ``__init__``); ``exclude``: modules (and their submodules) never added.
    """
    skip = set(skip_imports_of)
    excluded = tuple(exclude)

    def wanted(name: str) -> bool:
        return not any(name == e or name.startswith(e + ".") for e in excluded)

    seen: set[str] = set()
    todo = list(entries)
    while todo:
        name = todo.pop()
        parts = name.split(".")
        for n in range(1, len(parts) + 1):  # the parent packages load first
            mod = ".".join(parts[:n])
            if mod in seen or not wanted(mod):
                continue
            path = module_file(lib, mod)
            if path is None:
                continue
            seen.add(mod)
            if mod not in skip:
                top = parts[0]
                todo += [m for m in _imported(mod, path) if m.split(".")[0] == top]
    return sorted(seen)
