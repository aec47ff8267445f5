"""``mag-ap uci-to-toml FILE``: the IO around :mod:`mag_ap.openwrt.uci` for the procd init script.

Reads the UCI file, leaves out the default plugins whose package is not
installed (``mag-ap-datapath`` and friends are separate OpenWrt packages), lets
the loaded plugins validate their sections, and prints the TOML. Every error
names the UCI option.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any, TextIO

from ..config import ConfigError, parse_config
from .uci import Translation, UciError, to_toml, uci_to_config


def missing_default_plugins() -> list[str]:
    """Default plugins whose module is not installed here."""
    from ..plugins import DEFAULT_PLUGINS

    return [name for name in DEFAULT_PLUGINS if importlib.util.find_spec(name) is None]


def disable_missing(tr: Translation, missing: list[str]) -> None:
    """Add ``missing`` to ``[plugins] disabled`` (a package that is not installed is off)."""
    if not missing:
        return
    plugins: dict[str, Any] = tr.data.setdefault("plugins", {})
    disabled: list[str] = plugins.setdefault("disabled", [])
    disabled.extend(name for name in missing if name not in disabled)


def uci_to_toml(path: str, *, check_plugins: bool = True, out: TextIO = sys.stdout) -> int:
    """The sub-command; returns the exit code (errors on stderr as ``mag-ap: OPTION: reason``)."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"mag-ap: cannot read {path}: {exc}", file=sys.stderr)
        return 1
    package = "mag-ap" if path == "-" else Path(path).name
    try:
        tr, config = uci_to_config(text, package, where=package)
        disable_missing(tr, missing_default_plugins())
        config = parse_config(tr.data, path)
        if check_plugins:
            from ..plugins import PluginError, PluginHost

            try:
                PluginHost.from_config(config)
            except PluginError as exc:
                print(f"mag-ap: {path}: {exc}", file=sys.stderr)
                return 1
    except ConfigError as exc:
        err = UciError(tr.uci_path(exc.key_path), exc.reason)
        print(f"mag-ap: {err}", file=sys.stderr)
        return 1
    except UciError as exc:
        print(f"mag-ap: {exc}", file=sys.stderr)
        return 1
    out.write(to_toml(tr.data, header=f"generated from {path} by mag-ap uci-to-toml: edit that"))
    return 0
