"""mag-ap: a Proxy Mobile IPv6 Mobile Access Gateway for OpenWrt access points."""

import sys
import types

__version__ = "0.1.0"


def _import_pathlib_without_urllib() -> None:
    """Python 3.11's pathlib imports urllib.parse at load time, for ``Path.as_uri`` only.

    On OpenWrt 24.10 (3.11) that makes every mag-ap command need python3-urllib and,
    through its Depends, python3-email: 0.27 MB of flash for a method mag-ap never
    calls (3.12+ import it lazily). While pathlib loads, ``urllib.parse`` is a
    placeholder whose ``quote_from_bytes`` imports the real one when called.
    """
    if sys.version_info >= (3, 12) or "pathlib" in sys.modules or "urllib.parse" in sys.modules:
        return

    def quote_from_bytes(*args: object, **kwargs: object) -> str:
        try:
            from urllib.parse import quote_from_bytes as real
        except ImportError as exc:  # not a Depends of mag-ap: only as_uri needs it
            raise ImportError(f"Path.as_uri needs python3-urllib: {exc}", name=exc.name) from exc
        return real(*args, **kwargs)  # type: ignore[arg-type]

    placeholder = types.ModuleType("urllib.parse")
    placeholder.quote_from_bytes = quote_from_bytes  # type: ignore[attr-defined]
    sys.modules["urllib.parse"] = placeholder
    try:
        import pathlib  # noqa: F401
    finally:
        if sys.modules.get("urllib.parse") is placeholder:
            del sys.modules["urllib.parse"]


_import_pathlib_without_urllib()
