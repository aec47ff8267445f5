"""OpenWrt UCI (``/etc/config/mag-ap``) -> the TOML configuration :mod:`mag_ap.config` reads.

Pure: text in, dict / TOML text out. uci itself parses ``/etc/config/mag-ap``
(comments, escapes, ``;``, empty values, repeated options: uci's rules, not a
second reader's); this module reads only what uci prints, ``uci export``
(:func:`parse_export`) or ``ubus call uci get`` (:func:`parse_ubus`), and gives
the values their types. The procd init script runs ``mag-ap uci-to-toml >
/var/run/mag-ap.toml``; every error names the UCI option
(``mag-ap.main.lifetime_s: must be a multiple of 4``), including the errors
:func:`mag_ap.config.parse_config` finds in the result.

Uncommitted changes: the service sees the configuration as ``uci`` shows it,
committed values plus changes staged with ``uci set`` (under /tmp/.uci), which
is what ``config_load`` gives every OpenWrt init script; a ``uci commit``
triggers the reload. The init script, mag-ap-setup and this translation all
read through uci, so they never disagree.

OpenWrt defaults differ from the TOML ones where the platform asks for it:
``state_dir`` is ``/etc/mag-ap`` (flash: /var is RAM, and the RFC 5847 restart
counter must survive a reboot), ``log_target`` is ``syslog`` (logd keeps the
levels; procd would log stderr as daemon.err) and ``status_port`` is 5439 on
127.0.0.1 (``ubus call mag-ap status`` through a shell rpcd plugin and busybox nc).

UCI values are text; the schema below gives each known option its TOML type.
Section types (the full schema is documented in openwrt/README.md):

``daemon``  (one)  [daemon] keys, plus the OpenWrt-only ``enabled``,
                   ``access_interface``, ``uplink_interface``, ``firewall_zone``
``mag``/``lma`` (one)  [mag] / [lma]
``plugins`` (one)  [plugins]: ``list disabled``, ``list enabled_extra``
``plugin 'NAME'``  [plugin.NAME]; types from :data:`PLUGIN_SCHEMAS`, else inferred
``profile``        [[plugin.localpolicy.profile]]; the one named ``default`` is
                   [plugin.localpolicy.default]
``static_attach``  [[static_attach]]
``ipsec``   (one)  [ipsec]: ``mode`` (off/static), ``algorithm``
``ipsec_peer``     [[ipsec.peer]]: address, spi_in, spi_out (decimal or 0x...),
                   key_in/key_out (hex) or key_in_file/key_out_file
``plugin_table``   generic nested plugin table: ``option plugin``, ``option table``,
                   ``option array`` (default 1: [[plugin.P.T]], 0: [plugin.P.T])

Size (about 600 lines, on purpose): the UCI schema table and its translation
read together; the table is most of the file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from ..config import Config, ConfigError, parse_config

__all__ = [
    "OPENWRT_DEFAULTS",
    "OPENWRT_ONLY",
    "PLUGIN_SCHEMAS",
    "SCHEMAS",
    "Translation",
    "UciDocument",
    "UciError",
    "UciSection",
    "parse_export",
    "parse_ubus",
    "to_toml",
    "translate",
    "uci_to_config",
]

Kind = Literal["str", "bool", "int", "float", "list", "str_or_false", "infer"]


class UciError(ValueError):
    """A UCI file that cannot become a configuration; ``option`` names where."""

    def __init__(self, option: str, reason: str) -> None:
        super().__init__(f"{option}: {reason}")
        self.option = option
        self.reason = reason


# --- parsing the UCI syntax -------------------------------------------------------


@dataclass
class UciSection:
    """One ``config TYPE ['NAME']`` block; ``options`` hold str, ``lists`` hold lists."""

    type: str
    name: str | None  # None: anonymous
    index: int  # position among the sections of its type (UCI's @type[index])
    line: int
    values: dict[str, str | list[str]] = field(default_factory=dict)

    def ref(self, package: str) -> str:
        """``package.name`` or ``package.@type[i]``, as ``uci show`` spells it."""
        return f"{package}.{self.name}" if self.name else f"{package}.@{self.type}[{self.index}]"


@dataclass
class UciDocument:
    package: str
    sections: list[UciSection]

    def of_type(self, kind: str) -> list[UciSection]:
        return [s for s in self.sections if s.type == kind]


_NAME = re.compile(r"^[A-Za-z0-9_]+$")

# `uci export` prints one statement per line: ``package NAME``, ``config TYPE ['NAME']``,
# ``<TAB>option NAME 'VALUE'``, ``<TAB>list NAME 'VALUE'``; a value is single-quoted with
# ``'`` written as ``'\''`` and may span lines. Names are quoted by some versions only.
_QUOTED = r"'(?:[^']|'\\'')*'"
_WORD = rf"(?:{_QUOTED}|[^\s']+)"
_STATEMENT = re.compile(
    rf"[ \t]*(?P<kw>package|config|option|list)(?P<args>(?:[ \t]+{_WORD})*)[ \t]*(?:\n|$)"
)
_ARG = re.compile(rf"[ \t]+({_WORD})")
_SKIP = re.compile(r"[ \t]*(?:#[^\n]*)?\n")  # blank lines; whole-line comments of hand copies


def _unquote(word: str) -> str:
    if word.startswith("'"):
        return word[1:-1].replace("'\\''", "'")
    return word


def parse_export(text: str, package: str = "mag-ap") -> UciDocument:
    """Read what ``uci export CONFIG`` prints (uci has already parsed the file).

    This is not a reader of hand-written files: uci resolves comments, escapes,
    ``;``, empty values and repeated options, and prints one normal form, which
    is all this accepts. A line in any other form is an error naming the line.
    """
    sections: list[UciSection] = []
    counts: dict[str, int] = {}
    current: UciSection | None = None
    pos, line = 0, 1
    while pos < len(text):
        skip = _SKIP.match(text, pos)
        if skip:
            pos, line = skip.end(), line + 1
            continue
        match = _STATEMENT.match(text, pos)
        if match is None:
            bad = text[pos:].split("\n", 1)[0]
            raise UciError(f"uci export {package}:{line}", f"not uci export output: {bad!r}")
        keyword = match["kw"]
        args = [_unquote(a) for a in _ARG.findall(match["args"])]
        at = f"uci export {package}:{line}"
        start, pos, line = line, match.end(), line + match.group(0).count("\n")
        if keyword == "package":
            if len(args) != 1:
                raise UciError(at, "'package' takes one name")
            package = args[0]
        elif keyword == "config":
            if not 1 <= len(args) <= 2:
                raise UciError(at, "'config' takes a type and an optional name")
            kind, name = args[0], (args[1] if len(args) == 2 else None)
            index = counts.get(kind, 0)
            counts[kind] = index + 1
            current = UciSection(kind, name or None, index, start)
            sections.append(current)
        else:
            if current is None or len(args) != 2:
                raise UciError(at, f"'{keyword}' outside a section or without one value")
            name, value = args
            if keyword == "option":
                current.values[name] = value
            else:
                listed = current.values.setdefault(name, [])
                if isinstance(listed, list):
                    listed.append(value)
                else:  # uci prints a merged list as one; tolerate it anyway
                    current.values[name] = [listed, value]
    return UciDocument(package, sections)


def _ubus_index(entry: Mapping[str, Any], package: str) -> int:
    """A section's ``.index``; anything not a number is a UciError (found by make fuzz)."""
    raw = entry.get(".index", 0)
    try:
        return int(raw)
    except (TypeError, ValueError, OverflowError):
        raise UciError(package, f"ubus uci get answered a section .index {raw!r}") from None


def parse_ubus(answer: Mapping[str, Any], package: str = "mag-ap") -> UciDocument:
    """Read ``ubus call uci get '{"config": CONFIG}'``: sections by ``.index``, lists as arrays."""
    values = answer.get("values")
    if not isinstance(values, Mapping):
        raise UciError(package, "ubus uci get answered no 'values' object")
    raw = sorted(
        (s for s in values.values() if isinstance(s, Mapping)),
        key=lambda s: _ubus_index(s, package),
    )
    counts: dict[str, int] = {}
    sections: list[UciSection] = []
    for entry in raw:
        kind = str(entry.get(".type", ""))
        index = counts.get(kind, 0)
        counts[kind] = index + 1
        name = None if entry.get(".anonymous") else str(entry.get(".name"))
        section = UciSection(kind, name, index, 0)
        for key, value in entry.items():
            if key.startswith("."):
                continue
            if isinstance(value, list):
                section.values[key] = [str(v) for v in value]
            else:
                section.values[key] = str(value)
        sections.append(section)
    return UciDocument(package, sections)


# --- the schema -------------------------------------------------------------------

# OpenWrt-only options of the daemon section: used by the init script and the
# uci-defaults script, never passed to the daemon.
OPENWRT_ONLY: Final = ("enabled", "access_interface", "uplink_interface", "firewall_zone")

# [daemon] defaults on OpenWrt (see the module docstring): flash for the restart
# counter, syslog for levels. An explicit option wins.
# The status port serves the shell rpcd plugin (mag_ap.runtime.status_port).
OPENWRT_DEFAULTS: Final[Mapping[str, str | int]] = {
    "state_dir": "/etc/mag-ap",
    "log_target": "syslog",
    "status_port": 5439,
}

_F: Final[Kind] = "float"
_I: Final[Kind] = "int"
_B: Final[Kind] = "bool"
_S: Final[Kind] = "str"
_L: Final[Kind] = "list"
SCHEMAS: Final[Mapping[str, Mapping[str, Kind]]] = {
    "daemon": {
        "role": _S,
        "control_socket": _S,
        "log_level": _S,
        "log_format": _S,
        "log_target": _S,
        "syslog_socket": _S,
        "status_port": _I,
        "state_dir": _S,
        "transport": _S,
        **dict.fromkeys(OPENWRT_ONLY, _S),
        "enabled": _B,
    },
    "mag": {
        "own_address": _S,
        "use_timestamps": _B,
        "lifetime_s": _I,
        "refresh_before_s": _F,
        "max_refresh_interval_s": _F,
        "initial_bindack_timeout_first_reg_s": _F,
        "initial_bindack_timeout_s": _F,
        "max_bindack_timeout_s": _F,
        "heartbeat_interval_s": _F,
        "missing_heartbeats_allowed": _I,
        "hnp_prefix_length_min": _I,
        "hnp_prefix_length_max": _I,
        "local_networks": _L,
    },
    "lma": {
        "own_address": _S,
        "hnp_pool": "str_or_false",
        "hnp_length": _I,
        "ipv4_pool": "str_or_false",
        "authorized_mags": _L,
        "max_lifetime_s": _I,
        "min_delay_before_bce_delete_s": _F,
        "max_delay_before_new_bce_assign_s": _F,
        "timestamp_validity_window_s": _F,
        "use_timestamps": _B,
        "gre_keys": _B,
        "pba_timestamps": _B,
        "echo_requested_hnp": _B,
        "heartbeats": _S,
        "revocation": _B,
        "heartbeat_interval_s": _F,
        "missing_heartbeats_allowed": _I,
    },
    "plugins": {"disabled": _L, "enabled_extra": _L, "entry_points": _B},
    "profile": {
        "mn_id": _S,
        "mac": _S,
        "realm": _S,
        "lma_address": _S,
        "ipv6": _B,
        "ipv4": _B,
        "hnp": _S,
        "ipv4_address": _S,
        "service_selection": _S,
        "gre_key": _B,
        "lifetime_s": _I,
        "dns_servers": _L,
    },
    "static_attach": {"mac": _S, "mn_id": _S},
    "ipsec": {"mode": _S, "algorithm": _S},
    # keys stay text (hex digits can look like a number); SPIs take 0x... too
    "ipsec_peer": {
        "address": _S,
        "spi_in": _I,
        "spi_out": _I,
        "key_in": _S,
        "key_out": _S,
        "key_in_file": _S,
        "key_out_file": _S,
    },
}
# Typed options of plugin sections; a plugin not listed gets inferred types
# (integer, decimal, true/false, else text; lists stay lists of text).
PLUGIN_SCHEMAS: Final[Mapping[str, Mapping[str, Kind]]] = {
    "localpolicy": {"lma_address": _S},
    "macnai": {"realm": _S, "format": _S},
    # what mag-ap-setup writes: a hex secret could look like a number, '0' like an integer
    "radacct": {"address": _S, "port": _I, "secret": _S, "detach_on_stop": _B, "enabled": _B},
    "hostapd": {"identity": _B, "enabled": _B},
    "datapath": {"access_interface": _S, "transport_interface": _S, "enabled": _B},
}
SINGLE: Final = ("daemon", "mag", "lma", "plugins", "ipsec")
KNOWN_TYPES: Final = (*SINGLE, "plugin", "profile", "static_attach", "plugin_table", "ipsec_peer")

_TRUE: Final = ("1", "true", "yes", "on", "enabled")
_FALSE: Final = ("0", "false", "no", "off", "disabled")
_INT = re.compile(r"^[+-]?[0-9]+$")
_HEX = re.compile(r"^0[xX][0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[+-]?([0-9]+\.[0-9]*|\.[0-9]+|[0-9]+)([eE][+-]?[0-9]+)?$")


def _convert(kind: Kind, value: str | list[str], where: str) -> Any:
    if kind == "list":
        return list(value) if isinstance(value, list) else [value]
    if isinstance(value, list):
        if kind == "infer":
            return [_infer(v) for v in value]
        raise UciError(where, "must be an 'option', not a 'list'")
    text = value.strip()
    if kind == "str":
        return value
    if kind == "bool":
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise UciError(where, f"must be a boolean (1/0, true/false, yes/no, on/off), not {value!r}")
    if kind == "int":
        if _HEX.fullmatch(text):
            return int(text, 16)
        if not _INT.fullmatch(text):
            raise UciError(where, f"must be an integer, not {value!r}")
        return int(text)
    if kind == "float":
        if _INT.fullmatch(text):
            return int(text)
        if not _FLOAT.fullmatch(text):
            raise UciError(where, f"must be a number, not {value!r}")
        return float(text)
    if kind == "str_or_false":
        return False if text.lower() in _FALSE else value
    return _infer(value)


def _infer(value: str) -> Any:
    if _INT.fullmatch(value):
        return int(value)
    if _FLOAT.fullmatch(value):
        return float(value)
    if value in ("true", "false"):
        return value == "true"
    return value


# --- translation ------------------------------------------------------------------


@dataclass
class Translation:
    """The TOML document and, for every key path in it, the UCI option it came from."""

    data: dict[str, Any]
    origins: dict[str, str]
    package: str = "mag-ap"
    openwrt: dict[str, Any] = field(default_factory=dict)  # the OpenWrt-only daemon options

    def uci_path(self, key_path: str) -> str:
        """The UCI spelling of a TOML key path: ``mag.lifetime_s`` -> ``mag-ap.main.lifetime_s``."""
        if key_path in self.origins:
            return self.origins[key_path]
        probe = key_path
        while probe:
            cut = max(probe.rfind("."), probe.rfind("["))
            if cut <= 0:
                break
            probe = probe[:cut]
            if probe in self.origins:
                return self.origins[probe] + key_path[len(probe) :]
        return f"{self.package}.{key_path}" if key_path else self.package


def _section_values(
    section: UciSection,
    schema: Mapping[str, Kind] | None,
    ref: str,
    skip: Sequence[str] = (),
) -> tuple[dict[str, Any], dict[str, str]]:
    """Typed values of one section and the UCI option of each key."""
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for key, raw in section.values.items():
        if key in skip:
            continue
        where = f"{ref}.{key}"
        # a plugin's options outside its schema are typed by their look, as without one
        fallback: Kind = "infer" if section.type == "plugin" else "str"
        kind: Kind = "infer" if schema is None else schema.get(key, fallback)
        values[key] = _convert(kind, raw, where)
        origins[key] = where
    return values, origins


def translate(doc: UciDocument) -> Translation:
    """UCI sections -> the TOML structure of :mod:`mag_ap.config` (types only; no validation)."""
    pkg = doc.package
    data: dict[str, Any] = {}
    origins: dict[str, str] = {}
    tr = Translation(data, origins, pkg)

    for section in doc.sections:
        if section.type not in KNOWN_TYPES:
            known = ", ".join(KNOWN_TYPES)
            raise UciError(
                section.ref(pkg), f"unknown section type {section.type!r} (known: {known})"
            )
    for kind in SINGLE:
        found = doc.of_type(kind)
        if len(found) > 1:
            raise UciError(found[1].ref(pkg), f"only one 'config {kind}' section is allowed")

    def put(
        table: dict[str, Any], path: str, section: UciSection, skip: Sequence[str] = ()
    ) -> None:
        ref = section.ref(pkg)
        origins.setdefault(path, ref)
        values, where = _section_values(section, _schema_for(section), ref, skip)
        for key, value in values.items():
            table[key] = value
            origins[f"{path}.{key}"] = where[key]

    daemons = doc.of_type("daemon")
    if not daemons:
        raise UciError(pkg, "needs a 'config daemon' section (with option role 'mag' or 'lma')")
    daemon = daemons[0]
    table: dict[str, Any] = {}
    put(table, "daemon", daemon, skip=OPENWRT_ONLY)
    for key, value in OPENWRT_DEFAULTS.items():
        table.setdefault(key, value)
    data["daemon"] = table
    for key in OPENWRT_ONLY:
        if key in daemon.values:
            kind = SCHEMAS["daemon"][key]
            tr.openwrt[key] = _convert(kind, daemon.values[key], f"{daemon.ref(pkg)}.{key}")

    role = table.get("role")
    for kind in ("mag", "lma"):
        found = doc.of_type(kind)
        if found:
            if role != kind:
                raise UciError(
                    found[0].ref(pkg),
                    f"'config {kind}' is only allowed when the daemon role is '{kind}'",
                )
            data[kind] = {}
            put(data[kind], kind, found[0])
        elif role == kind:
            raise UciError(pkg, f"needs a 'config {kind}' section when the daemon role is '{kind}'")

    if doc.of_type("plugins"):
        data["plugins"] = {}
        put(data["plugins"], "plugins", doc.of_type("plugins")[0])

    plugin_root: dict[str, Any] = {}
    for section in doc.of_type("plugin"):
        if section.name is None:
            raise UciError(
                section.ref(pkg), "a 'config plugin' section needs a name: config plugin 'macnai'"
            )
        if section.name in plugin_root:
            raise UciError(section.ref(pkg), "is configured twice")
        plugin_root[section.name] = {}
        put(plugin_root[section.name], f"plugin.{section.name}", section)

    profiles = doc.of_type("profile")
    if profiles:
        policy = plugin_root.setdefault("localpolicy", {})
        entries: list[dict[str, Any]] = []
        for section in profiles:
            if section.name == "default":
                policy["default"] = {}
                put(policy["default"], "plugin.localpolicy.default", section)
            else:
                entry: dict[str, Any] = {}
                put(entry, f"plugin.localpolicy.profile[{len(entries)}]", section)
                entries.append(entry)
        if entries:
            policy["profile"] = entries

    for section in doc.of_type("plugin_table"):
        ref = section.ref(pkg)
        plugin = section.values.get("plugin")
        tname = section.values.get("table")
        for key, val in (("plugin", plugin), ("table", tname)):
            if not isinstance(val, str) or not _NAME.fullmatch(val):
                raise UciError(f"{ref}.{key}", "is required (a name of letters, digits, '_')")
        assert isinstance(plugin, str) and isinstance(tname, str)
        is_array = _convert("bool", section.values.get("array", "1"), f"{ref}.array")
        owner = plugin_root.setdefault(plugin, {})
        if is_array:
            items = owner.setdefault(tname, [])
            if not isinstance(items, list):
                raise UciError(ref, f"plugin.{plugin}.{tname} is a table elsewhere")
            item: dict[str, Any] = {}
            put(
                item,
                f"plugin.{plugin}.{tname}[{len(items)}]",
                section,
                ("plugin", "table", "array"),
            )
            items.append(item)
        else:
            if tname in owner:
                raise UciError(ref, f"plugin.{plugin}.{tname} is configured twice")
            owner[tname] = {}
            put(owner[tname], f"plugin.{plugin}.{tname}", section, ("plugin", "table", "array"))
    if plugin_root:
        data["plugin"] = plugin_root

    attach: list[dict[str, Any]] = []
    for section in doc.of_type("static_attach"):
        entry = {}
        put(entry, f"static_attach[{len(attach)}]", section)
        attach.append(entry)
    if attach:
        data["static_attach"] = attach

    if doc.of_type("ipsec"):
        data["ipsec"] = {}
        put(data["ipsec"], "ipsec", doc.of_type("ipsec")[0])
    peers: list[dict[str, Any]] = []
    for section in doc.of_type("ipsec_peer"):
        entry = {}
        put(entry, f"ipsec.peer[{len(peers)}]", section)
        peers.append(entry)
    if peers:
        data.setdefault("ipsec", {})["peer"] = peers
    return tr


def _schema_for(section: UciSection) -> Mapping[str, Kind] | None:
    if section.type == "plugin":
        return PLUGIN_SCHEMAS.get(section.name or "")
    if section.type == "plugin_table":
        return None
    return SCHEMAS[section.type]


def uci_to_config(
    doc: UciDocument,
) -> tuple[Translation, Config]:
    """Translate and validate the core sections; a ConfigError is re-raised as UciError."""
    tr = translate(doc)
    try:
        config = parse_config(tr.data, doc.package)
    except ConfigError as exc:
        raise UciError(tr.uci_path(exc.key_path), exc.reason) from None
    return tr, config


# --- TOML output ------------------------------------------------------------------

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_ESCAPES: Final = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def _toml_str(value: str) -> str:
    out = []
    for ch in value:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else _toml_str(key)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)  # inf, -inf and nan are TOML spellings too
    if isinstance(value, str):
        return _toml_str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _emit(path: list[str], table: Mapping[str, Any], out: list[str]) -> None:
    for key, value in table.items():
        if not isinstance(value, dict) and not _is_table_array(value):
            out.append(f"{_toml_key(key)} = {_toml_value(value)}")
    for key, value in table.items():
        sub = [*path, _toml_key(key)]
        if isinstance(value, dict):
            nested_only = value and all(
                isinstance(v, dict) or _is_table_array(v) for v in value.values()
            )
            if not nested_only:  # a table holding only tables needs no header of its own
                out += ["", f"[{'.'.join(sub)}]"]
            _emit(sub, value, out)
        elif _is_table_array(value):
            for item in value:
                out += ["", f"[[{'.'.join(sub)}]]"]
                _emit(sub, item, out)


def to_toml(data: Mapping[str, Any], header: str = "") -> str:
    """TOML text for a document of tables, arrays of tables and scalar values."""
    out = [f"# {line}" if line else "#" for line in header.splitlines()]
    _emit([], data, out)
    return "\n".join(out).lstrip("\n") + "\n"
