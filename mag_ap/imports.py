"""Importing a module without the native libraries it would map for features we never use.

An idle MAG's RSS is mostly libraries mapped at import (bench/idle.py): ``asyncio``
imports ``ssl`` (libssl + libcrypto, about 4.4 MB on x86_64) only to offer TLS;
``hashlib`` imports ``_hashlib`` (libcrypto, 3.5 MB) although its built-in
``_md5``/``_sha*``/``_blake2`` serve the same digests; pyroute2 imports ``ssl`` for
a TLS probe and its package ``__init__`` every netlink API it has. Two tools, both
pure (no IO, importable from any layer):

- :func:`hiding`: import with some modules absent, so the importer takes its own
  fallback (``ssl = None``; hashlib's built-in digests). As on OpenWrt without
  python3-openssl, where those modules really are absent.
- :func:`deferred`: a module in ``sys.modules`` whose code runs when something
  first asks it for a name, so ``import ssl`` for a never-called function, or a
  submodule import under a heavy package ``__init__``, costs nothing until used.
  (importlib's ``LazyLoader`` does not do this: the ``import`` statement itself
  reads ``__spec__`` and so loads the module.)
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import Any

__all__ = ["deferred", "hiding", "standing_in"]


@contextmanager
def hiding(*names: str) -> Iterator[None]:
    """Within the block, ``import name`` raises ImportError for each of ``names``
    not imported yet; afterwards they import normally (for whoever needs them)."""
    hidden = [name for name in names if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # makes `import name` raise
    try:
        yield
    finally:
        for name in hidden:
            if sys.modules.get(name, 0) is None:
                del sys.modules[name]


@contextmanager
def standing_in(name: str, callables: tuple[str, ...]) -> Iterator[None]:
    """Within the block, ``import name`` gives a placeholder whose ``callables`` import
    the real module when called; afterwards ``name`` imports normally.

    For a library that imports a module at load time only to name some of its
    functions: the module (and the OpenWrt package holding it) is needed only if
    one of them is ever called. Nothing happens if ``name`` is already imported.
    """
    if name in sys.modules:
        yield
        return
    placeholder = ModuleType(name)
    for attr in callables:
        setattr(placeholder, attr, _call_through(name, attr))
    sys.modules[name] = placeholder
    try:
        yield
    finally:
        if sys.modules.get(name) is placeholder:
            del sys.modules[name]


def _call_through(name: str, attr: str) -> Any:
    """A stand-in for ``name.attr`` that imports ``name`` at the first call."""

    def call(*args: Any, **kwargs: Any) -> Any:
        return getattr(importlib.import_module(name), attr)(*args, **kwargs)

    call.__name__ = attr
    return call


def deferred(name: str) -> ModuleType | None:
    """Put ``name`` in sys.modules unexecuted; its code runs on the first name asked of it.

    For a package, asking for one of its submodules (what ``import pkg.sub`` and
    ``from pkg import sub`` do first) does not run its ``__init__``: submodules
    import without it. Returns the module in sys.modules (unchanged if already
    imported), or None when ``name`` is not installed (a later import fails as
    it would have).
    """
    found = sys.modules.get(name)
    if found is not None:
        return found
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    module.__getattr__ = _run_on_demand(module, spec)  # type: ignore[method-assign]
    sys.modules[name] = module
    return module


def _run_on_demand(module: ModuleType, spec: importlib.machinery.ModuleSpec) -> Any:
    """The deferred module's ``__getattr__`` (PEP 562): execute it, then answer."""
    path = list(spec.submodule_search_locations or ())
    state = {"ran": False}

    def module_getattr(attr: str) -> Any:
        finder = importlib.machinery.PathFinder
        if state["ran"] or (path and finder.find_spec(f"{spec.name}.{attr}", path) is not None):
            raise AttributeError(f"module {spec.name!r} has no attribute {attr!r}")
        state["ran"] = True
        del module.__getattr__
        assert spec.loader is not None
        spec.loader.exec_module(module)
        return getattr(module, attr)

    return module_getattr
