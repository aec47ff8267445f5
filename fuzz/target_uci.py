"""UCI text -> TOML structure -> Config -> TOML text: only UciError may escape.

``uci_to_config`` turns a ConfigError into a UciError naming the UCI option.
"""

from __future__ import annotations

from mag_ap.openwrt.uci import UciError, to_toml, uci_to_config


def one_input(data: bytes) -> None:
    """What ``mag-ap uci-to-toml`` does with /etc/config/mag-ap (read as UTF-8)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return  # the CLI reports an unreadable file before parsing
    try:
        tr, _ = uci_to_config(text, "mag-ap", where="mag-ap")
    except UciError:
        return
    to_toml(tr.data)
