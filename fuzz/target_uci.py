"""UCI (``uci export`` text or ``ubus call uci get`` JSON) -> Config -> TOML: only UciError.

``uci_to_config`` turns a ConfigError into a UciError naming the UCI option.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping

from mag_ap.openwrt.uci import (
    UciDocument,
    UciError,
    parse_export,
    parse_ubus,
    to_toml,
    uci_to_config,
)


def _translate(doc: UciDocument) -> None:
    try:
        tr, _ = uci_to_config(doc)
    except UciError:
        return
    to_toml(tr.data)


def one_input(data: bytes) -> None:
    """What ``mag-ap uci-to-toml`` does with uci's output (read as the CLI reads it)."""
    text = data.decode("utf-8", "replace")
    with contextlib.suppress(UciError):
        _translate(parse_export(text, "mag-ap"))
    try:
        answer = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return
    if isinstance(answer, Mapping):
        try:
            _translate(parse_ubus(answer, "mag-ap"))
        except UciError:
            return
