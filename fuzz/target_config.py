"""The TOML config file: only ConfigError may escape (syntax errors included)."""

from __future__ import annotations

from mag_ap.config import ConfigError, parse_config_text


def one_input(data: bytes) -> None:
    """What ``load_config`` does with the file's bytes."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return  # load_config turns this into a ConfigError before parsing
    try:
        parse_config_text(text, "fuzz.toml")
    except ConfigError:
        return
