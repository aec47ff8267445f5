"""One TOML file -> frozen dataclasses; every error names its key path.

A wrong configuration is refused at start, before any packet is sent
(DESIGN.md rule 7). Unknown keys are errors so a typo never passes silently.
This module imports no pluggy and no heavy dependency: ``check-config`` and the
tests use it on their own, and plugins reuse :class:`Table` and the ``parse_*``
converters to validate their ``[plugin.<name>]`` sections the same way.

Size (over 600 lines, on purpose): the whole TOML schema of the core with its
converters, so every key path and refusal is found in one file.
"""

from __future__ import annotations

import math
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import (
    IPv4Interface,
    IPv4Network,
    IPv6Network,
    ip_address,
    ip_network,
)
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final, Literal, TypeVar, cast

from .core.types import Address, LmaSettings, MagSettings
from .ipsec import AEADS, SPI_MAX, SPI_MIN, IpsecPeer, IpsecSettings
from .mac import parse_mac

if sys.version_info >= (3, 11):  # noqa: UP036 - tomli on older OpenWrt Pythons
    import tomllib
else:  # pragma: no cover - OpenWrt images with an older Python
    import tomli as tomllib

__all__ = [
    "DEFAULT_CONTROL_SOCKET",
    "DEFAULT_STATE_DIR",
    "LOG_FORMATS",
    "LOG_LEVELS",
    "LOG_TARGETS",
    "MAX_LIFETIME_S",
    "MISSING",
    "Config",
    "ConfigError",
    "LogFormat",
    "LogTarget",
    "PluginsConfig",
    "Role",
    "StaticAttachment",
    "Table",
    "Transport",
    "load_config",
    "normalize_mac",
    "parse_address",
    "parse_config",
    "parse_config_text",
    "parse_ipv4_interface",
    "parse_lifetime",
    "parse_network",
]

Role = Literal["mag", "lma"]
Transport = Literal["ipv6", "ipv4"]
LogFormat = Literal["text", "json"]
LogTarget = Literal["stderr", "syslog"]

MAX_LIFETIME_S: Final = 0xFFFF * 4  # the Lifetime field counts 4-second units (RFC 6275 6.1.7)
DEFAULT_CONTROL_SOCKET: Final[Mapping[str, str]] = MappingProxyType(
    {"mag": "/var/run/mag-ap.sock", "lma": "/var/run/mag-ap-lma.sock"}
)
DEFAULT_STATE_DIR: Final = "/var/lib/mag-ap"
LOG_LEVELS: Final = ("debug", "info", "warning", "error")
LOG_FORMATS: Final = ("text", "json")
LOG_TARGETS: Final = ("stderr", "syslog")
DEFAULT_SYSLOG_SOCKET: Final = "/dev/log"

_MODULE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


class ConfigError(ValueError):
    """A configuration value is wrong; ``key_path`` says where, ``reason`` says why.

    ``str(exc)`` is ``config error at mag.lifetime_s: must be a multiple of 4``;
    ``source`` is the file (or ``<string>``) so the CLI can prefix it.
    """

    def __init__(self, key_path: str, reason: str, *, source: str | None = None) -> None:
        where = f" at {key_path}" if key_path else ""
        super().__init__(f"config error{where}: {reason}")
        self.key_path = key_path
        self.reason = reason
        self.source = source


# --- the configuration ------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class PluginsConfig:
    """Which plugins run: defaults minus ``disabled``, plus ``enabled_extra`` modules."""

    disabled: tuple[str, ...] = ()
    enabled_extra: tuple[str, ...] = ()
    # setuptools entry points (group "mag_ap"): off by default, since importlib.metadata
    # pulls in the email package (~2 MB RSS) and small OpenWrt images lack it anyway.
    entry_points: bool = False


@dataclass(frozen=True, kw_only=True)
class StaticAttachment:
    """A statically attached host: reported as attached at start, never detached."""

    mac: str  # normalised: lower-case, colon separated
    mn_id: str | None = None  # None: ask the identity provider


@dataclass(frozen=True, kw_only=True)
class Config:
    """The whole validated configuration of one daemon (a MAG or a reference LMA)."""

    role: Role
    mag: MagSettings | None = None  # set when role == "mag"
    lma: LmaSettings | None = None  # set when role == "lma"
    control_socket: str
    log_level: str = "info"
    log_format: LogFormat = "text"
    # syslog: one datagram a line to syslog_socket with the record's level (OpenWrt's logd
    # keeps facility.level; stderr under procd is logged as daemon.err whatever the level)
    log_target: LogTarget = "stderr"
    syslog_socket: str = DEFAULT_SYSLOG_SOCKET
    # 127.0.0.1 TCP port answering one status line per connection (0: off), for
    # OpenWrt's shell rpcd plugin: see mag_ap.runtime.status_port
    status_port: int = 0
    state_dir: str = DEFAULT_STATE_DIR
    transport: Transport = "ipv6"  # family used to reach the LMA (MAG) or the MAGs (LMA)
    plugins: PluginsConfig = PluginsConfig()
    # raw [plugin.<name>] tables, read-only (tables are mappings, arrays are tuples)
    plugin_sections: Mapping[str, Mapping[str, Any]] = field(
        default_factory=lambda: MappingProxyType({})
    )
    static_attach: tuple[StaticAttachment, ...] = ()
    ipsec: IpsecSettings = IpsecSettings()  # [ipsec]: ESP for PBU/PBA (RFC 5213 section 4)
    source: str = "<string>"  # where it came from, for messages

    def plugin_section(self, name: str) -> Mapping[str, Any]:
        """The ``[plugin.<name>]`` table, empty when absent (so plugins need no None check)."""
        return self.plugin_sections.get(name, MappingProxyType({}))

    @property
    def own_address(self) -> Address:
        """The daemon's address on the transport network, whatever its role."""
        settings = self.mag if self.role == "mag" else self.lma
        assert settings is not None  # parse_config guarantees it
        return settings.own_address


# --- value converters (shared with plugins) --------------------------------------


class _Missing:
    """Marks a required key (no default)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()
D = TypeVar("D")


def _type_name(value: object) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, Sequence) and not isinstance(value, str):
        return "an array"
    return names.get(type(value), type(value).__name__)


def parse_address(value: object, key_path: str, *, family: int | None = None) -> Address:
    """A unicast IPv4 or IPv6 address given as text; ``family`` 4 or 6 restricts it."""
    if not isinstance(value, str):
        raise ConfigError(key_path, f"must be an address as a string, not {_type_name(value)}")
    try:
        addr = ip_address(value)
    except ValueError:
        raise ConfigError(key_path, f"{value!r} is not an IPv4 or IPv6 address") from None
    if family is not None and addr.version != family:
        raise ConfigError(key_path, f"must be an IPv{family} address, not {value!r}")
    if addr.is_unspecified or addr.is_multicast:
        raise ConfigError(key_path, f"must be a unicast address, not {value!r}")
    return addr


def parse_network(
    value: object, key_path: str, *, family: int | None = None
) -> IPv4Network | IPv6Network:
    """A prefix such as ``2001:db8::/48`` (a bare address is a host route); host bits refused."""
    if not isinstance(value, str):
        raise ConfigError(key_path, f"must be a prefix as a string, not {_type_name(value)}")
    try:
        net = ip_network(value, strict=True)
    except ValueError as exc:
        raise ConfigError(key_path, f"{value!r} is not a valid prefix: {exc}") from None
    if family is not None and net.version != family:
        raise ConfigError(key_path, f"must be an IPv{family} prefix, not {value!r}")
    return net


def parse_ipv4_interface(value: object, key_path: str) -> IPv4Interface:
    """An IPv4 address with its prefix length, such as ``10.200.0.1/16``."""
    if not isinstance(value, str):
        raise ConfigError(key_path, f"must be address/length as a string, not {_type_name(value)}")
    try:
        iface = IPv4Interface(value)
    except ValueError as exc:
        raise ConfigError(key_path, f"{value!r} is not an IPv4 address/length: {exc}") from None
    if "/" not in value:
        raise ConfigError(key_path, f"{value!r} needs a prefix length, such as 10.200.0.1/16")
    return iface


def parse_lifetime(value: int, key_path: str) -> int:
    """A binding lifetime in seconds: the wire carries 4-second units in 16 bits."""
    if value % 4:
        raise ConfigError(key_path, "must be a multiple of 4")
    if not 4 <= value <= MAX_LIFETIME_S:
        raise ConfigError(key_path, f"must be between 4 and {MAX_LIFETIME_S}")
    return value


def normalize_mac(value: object, key_path: str) -> str:
    """A MAC address in any usual spelling -> ``aa:bb:cc:dd:ee:ff``."""
    if not isinstance(value, str):
        raise ConfigError(key_path, f"must be a MAC address as a string, not {_type_name(value)}")
    normal = parse_mac(value)
    if normal is None:
        raise ConfigError(key_path, f"{value!r} is not a MAC address")
    return normal


class Table:
    """One TOML table being read; ``finish()`` refuses the keys nobody asked for.

    Each ``get_*`` takes ``default``: omitted means the key is required, any
    other value (often ``None``) is returned when the key is absent.
    """

    def __init__(self, data: Mapping[str, Any], path: str = "") -> None:
        self.data = data
        self.path = path
        self._asked: set[str] = set()

    @classmethod
    def of(cls, value: object, path: str) -> Table:
        """Wrap ``value``, which must be a table."""
        if not isinstance(value, Mapping):
            raise ConfigError(path, f"must be a table, not {_type_name(value)}")
        return cls(value, path)

    def key_path(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def error(self, key: str, reason: str) -> ConfigError:
        return ConfigError(self.key_path(key), reason)

    def has(self, key: str) -> bool:
        self._asked.add(key)
        return key in self.data

    def _get(self, key: str, default: object) -> object:
        self._asked.add(key)
        if key in self.data:
            return self.data[key]
        if isinstance(default, _Missing):
            raise self.error(key, "is required")
        return default

    def get_any(self, key: str, default: D | _Missing = MISSING) -> Any | D:
        """The raw value, for keys whose type depends on the value."""
        return self._get(key, default)

    def get_str(
        self,
        key: str,
        default: D | _Missing = MISSING,
        *,
        choices: Sequence[str] | None = None,
        max_len: int | None = None,
    ) -> str | D:
        value = self._get(key, default)
        if key not in self.data:
            return cast(D, value)
        if not isinstance(value, str):
            raise self.error(key, f"must be a string, not {_type_name(value)}")
        if choices is not None and value not in choices:
            allowed = ", ".join(repr(c) for c in choices)
            raise self.error(key, f"must be one of {allowed}, not {value!r}")
        if not value:
            raise self.error(key, "must not be empty")
        if max_len is not None and len(value.encode()) > max_len:
            raise self.error(key, f"must be at most {max_len} bytes long")
        return value

    def get_bool(self, key: str, default: D | _Missing = MISSING) -> bool | D:
        value = self._get(key, default)
        if key not in self.data:
            return cast(D, value)
        if not isinstance(value, bool):
            raise self.error(key, f"must be true or false, not {_type_name(value)}")
        return value

    def get_int(
        self,
        key: str,
        default: D | _Missing = MISSING,
        *,
        min: int | None = None,
        max: int | None = None,
    ) -> int | D:
        value = self._get(key, default)
        if key not in self.data:
            return cast(D, value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"must be an integer, not {_type_name(value)}")
        if min is not None and value < min:
            raise self.error(key, f"must be at least {min}")
        if max is not None and value > max:
            raise self.error(key, f"must be at most {max}")
        return value

    def get_lifetime(self, key: str, default: D | _Missing = MISSING) -> int | D:
        """Seconds, a multiple of 4, at most :data:`MAX_LIFETIME_S`."""
        value = self.get_int(key, default)
        if key not in self.data:
            return value
        return parse_lifetime(cast(int, value), self.key_path(key))

    def get_float(
        self,
        key: str,
        default: D | _Missing = MISSING,
        *,
        min: float | None = None,
        above: float | None = None,
        max: float | None = None,
    ) -> float | D:
        """A finite number (integers accepted); ``above`` is an exclusive lower bound."""
        value = self._get(key, default)
        if key not in self.data:
            return cast(D, value)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.error(key, f"must be a number, not {_type_name(value)}")
        number = float(value)
        if not math.isfinite(number):
            raise self.error(key, "must be a finite number")
        if above is not None and number <= above:
            raise self.error(key, f"must be greater than {above:g}")
        if min is not None and number < min:
            raise self.error(key, f"must be at least {min:g}")
        if max is not None and number > max:
            raise self.error(key, f"must be at most {max:g}")
        return number

    def get_address(
        self, key: str, default: D | _Missing = MISSING, *, family: int | None = None
    ) -> Address | D:
        value = self._get(key, default)
        if key not in self.data:
            return cast(D, value)
        return parse_address(value, self.key_path(key), family=family)

    def get_list(self, key: str, default: D | _Missing = MISSING) -> Sequence[Any] | D:
        """An array; check items with :meth:`item_path` for their key paths."""
        value = self._get(key, default)
        if key not in self.data:
            return cast(D, value)
        if isinstance(value, str) or not isinstance(value, Sequence):
            raise self.error(key, f"must be an array, not {_type_name(value)}")
        return value

    def get_str_list(self, key: str, *, unique: bool = True) -> tuple[str, ...]:
        """An array of non-empty strings (absent: empty); duplicates refused when ``unique``."""
        items = self.get_list(key, ())
        seen: set[str] = set()
        for i, item in enumerate(items):
            if not isinstance(item, str) or not item:
                raise ConfigError(self.item_path(key, i), "must be a non-empty string")
            if unique and item in seen:
                raise ConfigError(self.item_path(key, i), f"{item!r} is listed twice")
            seen.add(item)
        return tuple(items)

    def item_path(self, key: str, index: int) -> str:
        return f"{self.key_path(key)}[{index}]"

    def get_table(self, key: str) -> Table | None:
        """A sub-table, or None when absent."""
        value = self._get(key, None)
        if value is None:
            return None
        return Table.of(value, self.key_path(key))

    def get_tables(self, key: str) -> list[Table]:
        """An array of tables (``[[key]]``), empty when absent."""
        items = self.get_list(key, ())
        return [Table.of(item, self.item_path(key, i)) for i, item in enumerate(items)]

    def finish(self) -> None:
        """Refuse unknown keys, suggesting the nearest known one (typos fail here)."""
        for key in self.data:
            if key in self._asked:
                continue
            reason = "unknown key"
            import difflib  # only for this message: not at every start

            close = difflib.get_close_matches(key, sorted(self._asked), n=1)
            if close:
                reason += f" (did you mean {close[0]!r}?)"
            raise self.error(key, reason)


# --- parsing ----------------------------------------------------------------------


def _freeze(value: Any) -> Any:
    """Read-only copy of a TOML value: tables -> mappingproxy, arrays -> tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value


def _family(transport: Transport) -> int:
    return 4 if transport == "ipv4" else 6


def _put(kwargs: dict[str, Any], key: str, value: object) -> None:
    if value is not None:
        kwargs[key] = value


def _parse_mag(t: Table, transport: Transport) -> MagSettings:
    kw: dict[str, Any] = {"own_address": t.get_address("own_address", family=_family(transport))}
    _put(kw, "use_timestamps", t.get_bool("use_timestamps", None))
    _put(kw, "lifetime_s", t.get_lifetime("lifetime_s", None))
    _put(kw, "refresh_before_s", t.get_float("refresh_before_s", None, above=0))
    _put(kw, "max_refresh_interval_s", t.get_float("max_refresh_interval_s", None, min=0))
    for key in (
        "initial_bindack_timeout_first_reg_s",
        "initial_bindack_timeout_s",
        "max_bindack_timeout_s",
    ):
        _put(kw, key, t.get_float(key, None, above=0))
    _put(kw, "heartbeat_interval_s", t.get_float("heartbeat_interval_s", None, min=0))
    _put(kw, "missing_heartbeats_allowed", t.get_int("missing_heartbeats_allowed", None, min=1))
    for key in ("hnp_prefix_length_min", "hnp_prefix_length_max"):
        _put(kw, key, t.get_int(key, None, min=1, max=128))
    kw["local_networks"] = tuple(
        parse_network(item, t.item_path("local_networks", i))
        for i, item in enumerate(t.get_list("local_networks", ()))
    )
    t.finish()
    mag = MagSettings(**kw)
    if mag.hnp_prefix_length_min > mag.hnp_prefix_length_max:
        raise t.error(
            "hnp_prefix_length_min",
            f"must not exceed mag.hnp_prefix_length_max ({mag.hnp_prefix_length_max})",
        )
    if mag.refresh_before_s >= mag.lifetime_s:
        raise t.error("refresh_before_s", f"must be less than mag.lifetime_s ({mag.lifetime_s})")
    longest_initial = max(mag.initial_bindack_timeout_first_reg_s, mag.initial_bindack_timeout_s)
    if mag.max_bindack_timeout_s < longest_initial:
        raise t.error(
            "max_bindack_timeout_s",
            f"must be at least the initial timeouts ({longest_initial:g})",
        )
    return mag


LMA_HEARTBEAT_MODES = ("answer", "drop", "binding_error")


def _parse_lma(t: Table, transport: Transport) -> LmaSettings:
    kw: dict[str, Any] = {"own_address": t.get_address("own_address", family=_family(transport))}

    hnp_length = t.get_int("hnp_length", None, min=1, max=128)
    _put(kw, "hnp_length", hnp_length)
    raw_hnp = t.get_any("hnp_pool", None)
    if raw_hnp is False:
        kw["hnp_pool"] = None
    elif raw_hnp is not None:
        pool = parse_network(raw_hnp, t.key_path("hnp_pool"), family=6)
        if not 8 <= pool.prefixlen <= 128:
            raise t.error("hnp_pool", "prefix length must be between 8 and 128")
        kw["hnp_pool"] = pool

    raw_v4 = t.get_any("ipv4_pool", None)
    if raw_v4 is False:
        kw["ipv4_pool"] = None
    elif raw_v4 is not None:
        iface = parse_ipv4_interface(raw_v4, t.key_path("ipv4_pool"))
        if not 8 <= iface.network.prefixlen <= 30:
            raise t.error("ipv4_pool", "prefix length must be between 8 and 30")
        if iface.ip in (iface.network.network_address, iface.network.broadcast_address):
            raise t.error(
                "ipv4_pool", "the address (the MNs' default router) must be a host of the pool"
            )
        kw["ipv4_pool"] = iface

    mags: list[IPv4Network | IPv6Network] = []
    for i, item in enumerate(t.get_list("authorized_mags", ())):
        path = t.item_path("authorized_mags", i)
        mags.append(parse_network(item, path, family=_family(transport)))
    kw["authorized_mags"] = tuple(mags)

    _put(kw, "max_lifetime_s", t.get_lifetime("max_lifetime_s", None))
    _put(
        kw,
        "min_delay_before_bce_delete_s",
        t.get_float("min_delay_before_bce_delete_s", None, min=0),
    )
    _put(
        kw,
        "max_delay_before_new_bce_assign_s",
        t.get_float("max_delay_before_new_bce_assign_s", None, min=0),
    )
    _put(
        kw,
        "timestamp_validity_window_s",
        t.get_float("timestamp_validity_window_s", None, above=0),
    )
    _put(kw, "use_timestamps", t.get_bool("use_timestamps", None))
    _put(kw, "gre_keys", t.get_bool("gre_keys", None))
    _put(kw, "pba_timestamps", t.get_bool("pba_timestamps", None))
    _put(kw, "echo_requested_hnp", t.get_bool("echo_requested_hnp", None))
    _put(kw, "heartbeats", t.get_str("heartbeats", None, choices=LMA_HEARTBEAT_MODES))
    _put(kw, "revocation", t.get_bool("revocation", None))
    _put(kw, "heartbeat_interval_s", t.get_float("heartbeat_interval_s", None, min=0))
    _put(kw, "missing_heartbeats_allowed", t.get_int("missing_heartbeats_allowed", None, min=1))
    t.finish()
    lma = LmaSettings(**kw)
    if lma.hnp_pool is not None and lma.hnp_length < lma.hnp_pool.prefixlen:
        raise t.error(
            "hnp_length", f"must be at least the hnp_pool prefix length ({lma.hnp_pool.prefixlen})"
        )
    if lma.hnp_pool is None and lma.ipv4_pool is None:
        raise t.error("hnp_pool", "lma.hnp_pool and lma.ipv4_pool are both disabled")
    return lma


def _parse_daemon_path(t: Table, key: str, default: str) -> str:
    value = t.get_str(key, default)
    if not value.startswith("/"):
        raise t.error(key, f"must be an absolute path, not {value!r}")
    return value


def _parse_plugins(t: Table | None) -> PluginsConfig:
    if t is None:
        return PluginsConfig()
    disabled = t.get_str_list("disabled")
    extra = t.get_str_list("enabled_extra")
    entry_points = bool(t.get_bool("entry_points", False))
    t.finish()
    for key, names in (("disabled", disabled), ("enabled_extra", extra)):
        for i, name in enumerate(names):
            if not _MODULE_NAME.match(name):
                raise ConfigError(t.item_path(key, i), f"{name!r} is not a module name")
    for i, name in enumerate(disabled):
        if name in extra:
            raise ConfigError(t.item_path("disabled", i), f"{name!r} is also in enabled_extra")
    return PluginsConfig(disabled=disabled, enabled_extra=extra, entry_points=entry_points)


def _parse_static_attach(root: Table) -> tuple[StaticAttachment, ...]:
    stations: list[StaticAttachment] = []
    seen: set[str] = set()
    for st in root.get_tables("static_attach"):
        mac = normalize_mac(st.get_any("mac"), st.key_path("mac"))
        if mac in seen:
            raise st.error("mac", f"{mac} is listed twice")
        seen.add(mac)
        mn_id = st.get_str("mn_id", None, max_len=255)
        st.finish()
        stations.append(StaticAttachment(mac=mac, mn_id=mn_id))
    return tuple(stations)


def _read_key_file(path: str, key_path: str) -> str:
    """The hex text of a key file only root (or the daemon's own user) can read, else refused."""
    if not path.startswith("/"):
        raise ConfigError(key_path, f"must be an absolute path, not {path!r}")
    try:
        st = os.stat(path)
        if st.st_uid not in (0, os.geteuid()) or st.st_mode & 0o077:
            raise ConfigError(
                key_path,
                f"key file {path} must be owned by root and readable by nobody else "
                f"(it is uid {st.st_uid}, mode {st.st_mode & 0o777:o}; fix: chown root "
                f"{path} && chmod 600 {path})",
            )
        with open(path, encoding="ascii") as f:
            return f.read().strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(key_path, f"cannot read key file {path}: {exc}") from None


def _ipsec_key(t: Table, key: str, length: int) -> bytes:
    """``key`` (hex) or ``key_file`` (a root-only file holding hex): exactly ``length`` bytes."""
    file_key = f"{key}_file"
    inline = t.get_str(key, None)
    path = t.get_str(file_key, None)
    if (inline is None) == (path is None):
        raise t.error(key, f"give either {t.key_path(key)} or {t.key_path(file_key)}")
    where = t.key_path(key) if inline is not None else t.key_path(file_key)
    text = inline if inline is not None else _read_key_file(cast(str, path), where)
    text = text.removeprefix("0x").replace(":", "")
    try:
        raw = bytes.fromhex(text)
    except ValueError:
        raise ConfigError(where, "the key is not hexadecimal") from None
    if len(raw) != length:
        raise ConfigError(
            where,
            f"the key is {len(raw)} bytes; the algorithm needs {length} "
            f"({2 * length} hex digits: the AES key and a 4-byte salt)",
        )
    return raw


def _parse_ipsec(t: Table | None, transport: Transport) -> IpsecSettings:
    if t is None:
        return IpsecSettings()
    mode = t.get_str("mode", "off", choices=("off", "static"))
    algorithm = t.get_str("algorithm", "aes-gcm-128", choices=tuple(AEADS))
    length = AEADS[algorithm].key_bytes
    peers: list[IpsecPeer] = []
    seen_in: dict[int, str] = {}
    for p in t.get_tables("peer"):
        address = p.get_address("address", family=_family(transport))
        spis = {k: p.get_int(k, min=SPI_MIN, max=SPI_MAX) for k in ("spi_in", "spi_out")}
        if spis["spi_in"] in seen_in:
            raise p.error("spi_in", f"is also the spi_in of {seen_in[spis['spi_in']]}")
        seen_in[spis["spi_in"]] = str(address)
        if any(q.address == address for q in peers):
            raise p.error("address", f"{address} is listed twice")
        key_in, key_out = (_ipsec_key(p, k, length) for k in ("key_in", "key_out"))
        p.finish()
        peers.append(IpsecPeer(address=address, key_in=key_in, key_out=key_out, **spis))
    t.finish()
    if mode == "static" and not peers:
        raise t.error("peer", 'mode = "static" needs at least one [[ipsec.peer]]')
    return IpsecSettings(mode=cast(Any, mode), algorithm=algorithm, peers=tuple(peers))


def _parse(data: Mapping[str, Any], source: str) -> Config:
    root = Table.of(data, "")
    daemon = root.get_table("daemon")
    if daemon is None:
        raise ConfigError("daemon", 'section [daemon] is required (with role = "mag" or "lma")')
    role = cast(Role, daemon.get_str("role", choices=("mag", "lma")))
    control_socket = _parse_daemon_path(daemon, "control_socket", DEFAULT_CONTROL_SOCKET[role])
    log_level = daemon.get_str("log_level", "info", choices=LOG_LEVELS)
    log_format = cast(LogFormat, daemon.get_str("log_format", "text", choices=LOG_FORMATS))
    log_target = cast(LogTarget, daemon.get_str("log_target", "stderr", choices=LOG_TARGETS))
    syslog_socket = _parse_daemon_path(daemon, "syslog_socket", DEFAULT_SYSLOG_SOCKET)
    status_port = daemon.get_int("status_port", 0, min=0, max=65535)
    state_dir = _parse_daemon_path(daemon, "state_dir", DEFAULT_STATE_DIR)
    transport = cast(Transport, daemon.get_str("transport", "ipv6", choices=("ipv6", "ipv4")))
    daemon.finish()

    other = "lma" if role == "mag" else "mag"
    if root.has(other):
        raise ConfigError(other, f'section [{other}] is only allowed when daemon.role = "{other}"')
    section = root.get_table(role)
    if section is None:
        raise ConfigError(role, f'section [{role}] is required when daemon.role = "{role}"')
    mag = _parse_mag(section, transport) if role == "mag" else None
    lma = _parse_lma(section, transport) if role == "lma" else None

    plugins = _parse_plugins(root.get_table("plugins"))
    sections: dict[str, Mapping[str, Any]] = {}
    plugin_root = root.get_table("plugin")
    if plugin_root is not None:
        for name, value in plugin_root.data.items():
            sections[name] = _freeze(Table.of(value, plugin_root.key_path(name)).data)

    static = _parse_static_attach(root)
    ipsec = _parse_ipsec(root.get_table("ipsec"), transport)
    if static and role != "mag":
        raise ConfigError("static_attach", 'is only allowed when daemon.role = "mag"')
    root.finish()
    return Config(
        role=role,
        mag=mag,
        lma=lma,
        control_socket=control_socket,
        log_level=log_level,
        log_format=log_format,
        log_target=log_target,
        syslog_socket=syslog_socket,
        status_port=status_port,
        state_dir=state_dir,
        transport=transport,
        plugins=plugins,
        plugin_sections=MappingProxyType(sections),
        static_attach=static,
        ipsec=ipsec,
        source=source,
    )


def parse_config(data: Mapping[str, Any], source: str = "<string>") -> Config:
    """Validate an already-parsed TOML document (a dict) into a :class:`Config`."""
    try:
        return _parse(data, source)
    except ConfigError as exc:
        if exc.source is None:
            exc.source = source
        raise


def parse_config_text(text: str, source: str = "<string>") -> Config:
    """Parse TOML text; syntax errors become :class:`ConfigError` too."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("", f"not valid TOML: {exc}", source=source) from None
    except RecursionError:  # tomllib recurses per nested array/table (found by make fuzz)
        raise ConfigError("", "not valid TOML: nested too deeply", source=source) from None
    return parse_config(data, source)


def load_config(path: str | Path) -> Config:
    """Read and validate one TOML file; every failure is a :class:`ConfigError`."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError("", f"cannot read {source}: {exc}", source=source) from None
    return parse_config_text(text, source)
