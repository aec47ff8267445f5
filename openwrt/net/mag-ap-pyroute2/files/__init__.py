"""pyroute2 as mag-ap ships it: submodules, no re-exports.

Upstream's __init__ imports every pyroute2 API (NDB, IPDB, ...) and with them
sqlite3, ssl, uuid, ...: the full python3 on OpenWrt. mag-ap imports the
submodules it uses (pyroute2.iproute.linux, pyroute2.netlink.exceptions).

pyroute2.config imports multiprocessing at load time only to name Pipe, Queue
and Process for APIs not shipped here (NDB, remote, netns). While it loads,
multiprocessing is a placeholder whose three names import the real module when
called, so python3-multiprocessing is needed only by a pyroute2 that imports it
elsewhere itself (0.9's pyroute2.process does, and gets the real one).
"""

import sys
import types
from collections.abc import Callable
from typing import Any


def _load_config_without_multiprocessing() -> None:
    if "multiprocessing" in sys.modules or "pyroute2.config" in sys.modules:
        return

    def deferred(name: str) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            import multiprocessing

            return getattr(multiprocessing, name)(*args, **kwargs)

        call.__name__ = name
        return call

    placeholder = types.ModuleType("multiprocessing")
    for name in ("Pipe", "Queue", "Process"):
        setattr(placeholder, name, deferred(name))
    sys.modules["multiprocessing"] = placeholder
    try:
        import pyroute2.config  # noqa: F401
    finally:
        if sys.modules.get("multiprocessing") is placeholder:
            del sys.modules["multiprocessing"]


_load_config_without_multiprocessing()

try:
    from pyroute2.config.version import __version__
except ImportError:
    __version__ = "unknown"
