"""pluggy, imported without the ``importlib.metadata`` that pluggy < 1.5 loads at import time.

pluggy 1.3 (OpenWrt 24.10 and 25.12) imports ``importlib.metadata`` at load time
only for ``PluginManager.load_setuptools_entrypoints``, which mag-ap never calls
(its entry points go through :func:`mag_ap.plugins._entry_points`). That import
pulls email, zipfile, csv, tempfile, random, ...: on the 24.10 device root about
35 ms of the daemon's 0.22 s start-up CPU, and the python3-email package on
flash. An empty placeholder stands in while pluggy loads and is removed right
after, so a later ``import importlib.metadata`` loads the real module. pluggy
>= 1.5 defers that import itself: the placeholder is then unused.
"""

from __future__ import annotations

import sys
import types

__all__ = ["pluggy"]

_METADATA = "importlib.metadata"


def _import_pluggy() -> types.ModuleType:
    """``import pluggy`` with a placeholder for ``importlib.metadata`` when not loaded yet."""
    if "pluggy" in sys.modules or _METADATA in sys.modules:
        import pluggy as loaded

        return loaded
    placeholder = types.ModuleType(_METADATA)
    sys.modules[_METADATA] = placeholder
    try:
        import pluggy as loaded
    except ImportError:  # a pluggy that wants names from importlib.metadata at load time
        for name in [m for m in sys.modules if m == "pluggy" or m.startswith("pluggy.")]:
            del sys.modules[name]
        if sys.modules.get(_METADATA) is placeholder:
            del sys.modules[_METADATA]
        import pluggy as loaded
    finally:
        if sys.modules.get(_METADATA) is placeholder:
            del sys.modules[_METADATA]
    return loaded


_import_pluggy()

import pluggy  # noqa: E402  (loaded above; this binds the name for typing)
