"""``mag-ap uci-to-toml [CONFIG]``: the IO around :mod:`mag_ap.openwrt.uci` for the init script.

Asks uci for the configuration (``uci -q export CONFIG``: uci parses the file,
with the changes staged under /tmp/.uci, the view every OpenWrt init script
gets from ``config_load``), leaves out the default plugins whose package is
not installed (``mag-ap-datapath`` and friends are separate OpenWrt packages),
lets the loaded plugins validate their sections, and prints the TOML. Every
error names the UCI option. ``--export FILE`` reads saved ``uci export``
output instead (``-``: stdin), for tests and for machines without uci.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any, TextIO

from ..config import ConfigError, parse_config
from .uci import Translation, UciDocument, UciError, parse_export, to_toml, uci_to_config


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


def read_uci(config: str, export: str | None = None, uci: str = "uci") -> UciDocument:
    """The configuration as uci prints it: from ``uci -q export CONFIG``, or a saved copy."""
    if export is not None:
        try:
            text = sys.stdin.read() if export == "-" else Path(export).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UciError(config, f"cannot read {export}: {exc}") from None
        return parse_export(text, config)
    try:
        done = subprocess.run(
            [uci, "-q", "export", config], capture_output=True, check=False, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UciError(config, f"cannot run {uci} export: {exc}") from None
    if done.returncode != 0:
        said = done.stderr.decode("utf-8", "replace").strip()
        raise UciError(
            config,
            f"uci export {config} failed (exit {done.returncode}"
            f"{': ' + said if said else ''}): is /etc/config/{config} there and valid?",
        )
    return parse_export(done.stdout.decode("utf-8", "replace"), config)


def uci_to_toml(
    config: str = "mag-ap",
    *,
    export: str | None = None,
    uci: str = "uci",
    check_plugins: bool = True,
    out: TextIO = sys.stdout,
) -> int:
    """The sub-command; returns the exit code (errors on stderr as ``mag-ap: OPTION: reason``)."""
    source = f"uci export {config}" if export is None else export
    tr: Translation | None = None
    try:
        tr, checked = uci_to_config(read_uci(config, export, uci))
        disable_missing(tr, missing_default_plugins())
        checked = parse_config(tr.data, source)
        if check_plugins:
            from ..plugins import PluginError, PluginHost

            try:
                PluginHost.from_config(checked, entry_points=checked.plugins.entry_points)
            except PluginError as exc:
                print(f"mag-ap: {config}: {exc}", file=sys.stderr)
                return 1
    except ConfigError as exc:
        where = tr.uci_path(exc.key_path) if tr is not None else config
        print(f"mag-ap: {UciError(where, exc.reason)}", file=sys.stderr)
        return 1
    except UciError as exc:
        print(f"mag-ap: {exc}", file=sys.stderr)
        return 1
    out.write(to_toml(tr.data, header=f"generated from {source} by mag-ap uci-to-toml: edit that"))
    return 0
