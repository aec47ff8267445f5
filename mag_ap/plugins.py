"""The plugin manager: which plugins load, and a typed facade over the hooks.

``DEFAULT_PLUGINS`` is an explicit list of module names, imported with
:func:`importlib.import_module`, because ``importlib.metadata`` (and with it
entry points) is absent on small OpenWrt images; setuptools entry points in the
``mag_ap`` group are loaded too when the runtime has them. Importing this module
costs pluggy and nothing heavier: plugins import pyroute2/dnslib lazily.

Typical start-up::

    config = load_config(path)
    host = PluginHost.from_config(config)   # load, then validate: ConfigError on any fault
    policy = host.policy_provider()
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, cast

from . import hookspecs
from ._pluggy import pluggy
from .address_service import AddressServiceProvider
from .config import Config, ConfigError, PluginsConfig
from .packages import missing_hint, package_of_plugin
from .providers import (
    DatapathProvider,
    IdentityChain,
    IdentityProvider,
    LmaDiscoveryProvider,
    PolicyProvider,
    TriggerProvider,
)

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

__all__ = [
    "DEFAULT_PLUGINS",
    "ENTRY_POINT_GROUP",
    "PluginError",
    "PluginHost",
    "section_name",
]

DEFAULT_PLUGINS: Final[tuple[str, ...]] = (
    "mag_ap_localpolicy",
    "mag_ap_macnai",
    "mag_ap_nulldatapath",
    "mag_ap_datapath",
    "mag_ap_ra",
    "mag_ap_linkwatch",
    "mag_ap_dhcp4",
    "mag_ap_hostapd",
    "mag_ap_radacct",
    "mag_ap_ubus",
    "mag_ap_radius",
    "mag_ap_dns",
)
ENTRY_POINT_GROUP: Final = "mag_ap"
PLUGIN_PREFIX: Final = "mag_ap_"


class PluginError(RuntimeError):
    """A plugin could not be loaded or broke its hook contract (a bug, not a config fault)."""


def section_name(plugin_name: str) -> str:
    """The ``[plugin.<name>]`` section a plugin owns by convention: ``mag_ap_foo`` -> ``foo``."""
    base = plugin_name.rsplit(".", 1)[-1]
    return base.removeprefix(PLUGIN_PREFIX)


def _entry_points() -> list[EntryPoint]:
    """Entry points of the ``mag_ap`` group (``[plugins] entry_points = true``).

    :raises ConfigError: importlib.metadata cannot load (OpenWrt: its ``email``
        is python3-email, which mag-ap does not depend on): names the package.
    """
    try:
        from importlib import metadata
    except ImportError as exc:
        raise ConfigError("plugins.entry_points", f"entry points: {missing_hint(exc)}") from exc
    try:
        return list(metadata.entry_points(group=ENTRY_POINT_GROUP))
    except Exception:  # pragma: no cover - broken dist metadata must not stop the daemon
        return []


class PluginHost:
    """The loaded plugins, and typed calls of every ``mag_*`` hook.

    Provider methods need a validated configuration: call :meth:`validate`
    (or build with :meth:`from_config`) first.
    """

    def __init__(self) -> None:
        self._pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self._pm.add_hookspecs(hookspecs)
        self._config: Config | None = None
        self._disabled: tuple[str, ...] = ()
        self._missing: list[str] = []  # default plugins whose package is not installed

    # --- loading -------------------------------------------------------------

    @classmethod
    def load(
        cls,
        plugins: PluginsConfig | None = None,
        *,
        defaults: Sequence[str] = DEFAULT_PLUGINS,
        entry_points: bool = True,
    ) -> PluginHost:
        """Import ``defaults`` + ``plugins.enabled_extra`` (+ entry points), minus disabled.

        :raises ConfigError: a disabled name is no known plugin, or an extra
            module cannot be imported (key path ``plugins.*[i]``).
        :raises PluginError: a default plugin or an entry point fails to load.
        """
        plugins = plugins if plugins is not None else PluginsConfig()
        host = cls()
        eps = _entry_points() if entry_points else []
        known = [*defaults, *plugins.enabled_extra, *(ep.name for ep in eps)]
        for i, name in enumerate(plugins.disabled):
            if name not in known:
                raise ConfigError(
                    f"plugins.disabled[{i}]",
                    f"no plugin named {name!r} (known: {', '.join(sorted(set(known)))})",
                )
            host._pm.set_blocked(name)
        host._disabled = plugins.disabled

        for name in defaults:
            if host._pm.is_blocked(name):
                continue
            try:
                module = importlib.import_module(name)
            except ModuleNotFoundError as exc:
                if exc.name == name:  # its package is not installed: fine until configured
                    host._missing.append(name)
                    continue
                raise PluginError(f"default plugin {name!r}: {missing_hint(exc)}") from exc
            except Exception as exc:
                raise PluginError(f"default plugin {name!r} failed to load: {exc}") from exc
            host.register(module, name)
        for i, name in enumerate(plugins.enabled_extra):
            key_path = f"plugins.enabled_extra[{i}]"
            if host._pm.has_plugin(name) or name in defaults:
                raise ConfigError(key_path, f"{name!r} is already a default plugin")
            try:
                module = importlib.import_module(name)
            except ImportError as exc:
                raise ConfigError(key_path, f"plugin {name!r}: {missing_hint(exc)}") from exc
            except Exception as exc:
                raise ConfigError(key_path, f"cannot import {name!r}: {exc}") from exc
            host.register(module, name)
        for ep in eps:
            if host._pm.is_blocked(ep.name) or host._pm.has_plugin(ep.name):
                continue
            try:
                plugin = ep.load()
            except Exception as exc:
                raise PluginError(f"entry point plugin {ep.name!r} failed to load: {exc}") from exc
            host.register(plugin, ep.name)
        return host

    @classmethod
    def from_config(
        cls,
        config: Config,
        *,
        defaults: Sequence[str] = DEFAULT_PLUGINS,
        entry_points: bool = True,
    ) -> PluginHost:
        """Load the plugins ``config`` asks for and validate it: ready for provider calls."""
        host = cls.load(config.plugins, defaults=defaults, entry_points=entry_points)
        host.validate(config)
        return host

    def register(self, plugin: object, name: str | None = None) -> None:
        """Add a plugin (a module or any object with hookimpls) at run time.

        A name listed in ``[plugins] disabled`` stays out. When a configuration
        was already validated, it is validated again so the newcomer checks
        its own section.
        """
        try:
            self._pm.register(plugin, name)
        except ValueError as exc:  # duplicate name or object
            raise PluginError(f"cannot register plugin {name!r}: {exc}") from exc
        except pluggy.PluginValidationError as exc:
            raise PluginError(f"plugin {exc.plugin!r} is not valid: {exc}") from exc
        try:  # a hookimpl named after no hookspec is a typo: it would never be called
            self._pm.check_pending()
        except pluggy.PluginValidationError as exc:
            self._pm.unregister(plugin)
            raise PluginError(f"plugin {name or plugin!r} is not valid: {exc}") from exc
        if self._config is not None:
            try:
                self.validate(self._config)
            except ConfigError:
                self._pm.unregister(plugin)
                self.validate(self._config)  # the others passed before; keep them valid
                raise

    def names(self) -> list[str]:
        """Names of the loaded plugins, in registration order (disabled ones excluded)."""
        return [name for name, plugin in self._pm.list_name_plugin() if plugin is not None]

    def disabled(self) -> tuple[str, ...]:
        """Names refused by ``[plugins] disabled``."""
        return self._disabled

    # --- configuration -------------------------------------------------------

    def validate(self, config: Config) -> None:
        """Refuse unowned ``[plugin.*]`` sections, then let each plugin check its own.

        :raises ConfigError: with the key path of the fault.
        """
        claimed = {name for names in self._pm.hook.mag_config_sections() for name in names}
        parked = {section_name(name) for name in self._disabled}
        missing = {section_name(name): name for name in self._missing}
        for name in config.plugin_sections:
            if name in claimed or name in parked:
                continue
            if name in missing:
                raise ConfigError(
                    f"plugin.{name}",
                    f"plugin {missing[name]} is not installed: install the OpenWrt package "
                    f"{package_of_plugin(missing[name])}",
                    source=config.source,
                )
            owners = ", ".join(sorted(claimed)) or "none"
            raise ConfigError(
                f"plugin.{name}",
                f"no loaded plugin uses this section (sections in use: {owners})",
                source=config.source,
            )
        try:
            self._pm.hook.mag_validate_config(config=config)
        except ConfigError as exc:
            if exc.source is None:
                exc.source = config.source
            raise
        self._config = config

    @property
    def config(self) -> Config:
        """The validated configuration the provider hooks receive."""
        if self._config is None:
            raise RuntimeError("PluginHost.validate(config) must run before the provider hooks")
        return self._config

    # --- providers -----------------------------------------------------------

    def trigger_providers(self) -> list[TriggerProvider]:
        """Every trigger of every plugin, in hook call order."""
        found = self._pm.hook.mag_trigger_providers(config=self.config)
        return _flatten(found, TriggerProvider, "mag_trigger_providers")

    def identity_providers(self) -> list[IdentityProvider]:
        """Every identity provider, in the order the chain asks them (priority, then hooks)."""
        found = self._pm.hook.mag_identity_provider(config=self.config)
        return list(
            IdentityChain(_flatten([found], IdentityProvider, "mag_identity_provider")).providers
        )

    def identity_provider(self) -> IdentityChain | None:
        """The identity chain (:class:`mag_ap.providers.IdentityChain`), None without providers."""
        providers = self.identity_providers()
        return IdentityChain(providers) if providers else None

    def policy_provider(self) -> PolicyProvider | None:
        """The winning policy provider (a third-party one before the local TOML policy)."""
        found = self._pm.hook.mag_policy_provider(config=self.config)
        if found is not None:
            _check(found, PolicyProvider, "mag_policy_provider")
        return cast(PolicyProvider | None, found)

    def lma_discovery_provider(self) -> LmaDiscoveryProvider | None:
        """The winning resolver of LMA names (RFC 6097); the DNS plugin is the fallback."""
        found = self._pm.hook.mag_lma_discovery(config=self.config)
        if found is not None:
            _check(found, LmaDiscoveryProvider, "mag_lma_discovery")
        return cast(LmaDiscoveryProvider | None, found)

    def datapath_provider(self) -> DatapathProvider | None:
        """The winning datapath provider (anything before the null datapath)."""
        found = self._pm.hook.mag_datapath_provider(config=self.config)
        if found is not None:
            _check(found, DatapathProvider, "mag_datapath_provider")
        return cast(DatapathProvider | None, found)

    def address_services(self) -> list[AddressServiceProvider]:
        """Every access-side address service (DHCPv4 server, RAs)."""
        found = self._pm.hook.mag_address_services(config=self.config)
        return _flatten(found, AddressServiceProvider, "mag_address_services")

    def status_extra(self) -> dict[str, Any]:
        """Status fields by plugin name; non-blocking, for the control socket."""
        out: dict[str, Any] = {}
        for impl in self._pm.hook.mag_status_extra.get_hookimpls():
            if impl.hookwrapper or impl.wrapper:
                continue
            result = impl.function(**{arg: self.config for arg in impl.argnames})
            if result is None:
                continue
            if not isinstance(result, Mapping):
                raise PluginError(f"mag_status_extra of {impl.plugin_name!r} returned {result!r}")
            if result:
                out[impl.plugin_name] = dict(result)
        return out


def _check(found: object, kind: type, hook: str) -> None:
    if not isinstance(found, kind):
        raise PluginError(f"{hook} returned {found!r}, which is no {kind.__name__}")


def _flatten(found: Iterable[Iterable[object]], kind: type, hook: str) -> list[Any]:
    out: list[Any] = []
    for group in found:
        if group is None:
            continue
        for item in group:
            _check(item, kind, hook)
            out.append(item)
    return out
