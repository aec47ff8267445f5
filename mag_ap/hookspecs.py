"""Every ``mag_*`` hook a plugin can implement, documented like pytest's.

Hooks are synchronous and run once at start-up (pluggy does not await). They
return *providers*: objects with async methods that the runtime calls with a
timeout, turning failures into events (DESIGN.md rule 4). Built-in plugins mark
their implementations ``trylast=True`` so that any third-party plugin wins the
``firstresult`` hooks without having to disable the default. Identity is a chain
instead (:func:`mag_identity_provider`): every provider is asked in priority order.

A plugin is a module (or any object) with functions named after these specs and
decorated with :data:`hookimpl`; it may accept any subset of the arguments::

    from mag_ap.hookspecs import hookimpl

    @hookimpl
    def mag_policy_provider(config):
        return MyRadiusPolicy(config.plugin_section("radius"))

Start-up order, as :class:`mag_ap.plugins.PluginHost` calls them:
``mag_config_sections`` and ``mag_validate_config`` (refuse a wrong config
before anything runs), then the provider hooks. ``mag_status_extra`` is called
again on every status request.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._pluggy import pluggy

if TYPE_CHECKING:
    from .address_service import AddressServiceProvider
    from .config import Config
    from .providers import (
        DatapathProvider,
        IdentityProvider,
        LmaDiscoveryProvider,
        PolicyProvider,
        TriggerProvider,
    )

PROJECT_NAME = "mag_ap"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


# --- configuration -------------------------------------------------------------


@hookspec
def mag_config_sections() -> Sequence[str]:
    """Names of the ``[plugin.<name>]`` sections this plugin owns.

    Called at start-up before :func:`mag_validate_config`. A ``[plugin.<name>]``
    section that no loaded plugin claims is refused as a typo (unless the
    plugin named ``mag_ap_<name>`` is disabled, so disabling one keeps its
    settings). Convention: a plugin ``mag_ap_foo`` owns ``[plugin.foo]``.

    :return: the section names, e.g. ``["localpolicy"]``.
    """
    raise NotImplementedError


@hookspec
def mag_validate_config(config: Config) -> None:
    """Validate this plugin's own section of ``config``; raise to refuse it.

    Called once at start-up, before any provider hook, so a wrong config fails
    before any packet is sent (DESIGN.md rule 7). Read the section with
    ``config.plugin_section("<name>")`` and check it with
    :class:`mag_ap.config.Table`, which refuses unknown keys.

    :param config: the validated core configuration, with the raw plugin tables.
    :raises mag_ap.config.ConfigError: with the full key path, e.g.
        ``plugin.localpolicy.profile[2].mac``.
    """


# --- providers (called once at start-up, after validation) ------------------------


@hookspec
def mag_trigger_providers(config: Config) -> Sequence[TriggerProvider]:
    """Triggers that report stations attaching and detaching.

    Every plugin may contribute (hostapd control socket, ubus, DHCP, RS,
    neighbour table); all of them run, each reporting into the runtime's sink.

    :param config: the validated configuration.
    :return: zero or more :class:`mag_ap.providers.TriggerProvider`.
    """
    raise NotImplementedError


@hookspec
def mag_identity_provider(config: Config) -> IdentityProvider | None:
    """A provider that maps a station's MAC to its MN identifier (an NAI).

    Not ``firstresult``: every plugin's provider joins one chain
    (:class:`mag_ap.providers.IdentityChain`), asked in order of its ``priority``
    (lower first; see :data:`mag_ap.providers.IDENTITY_PRIORITY`). A provider that
    does not know the station returns None from ``identity_for`` and the next one
    is asked; the built-in MAC-based NAI (``mag_ap_macnai``) is the last resort.

    :param config: the validated configuration.
    :return: a :class:`mag_ap.providers.IdentityProvider`, or None to stay out.
    """


@hookspec(firstresult=True)
def mag_policy_provider(config: Config) -> PolicyProvider | None:
    """The provider that fetches a mobile node's profile (LMA, HNP/IPv4 wishes, APN).

    ``firstresult``: the first non-None wins; the built-in local TOML policy
    (``mag_ap_localpolicy``) is ``trylast``.

    :param config: the validated configuration.
    :return: a :class:`mag_ap.providers.PolicyProvider`, or None to pass.
    """


@hookspec(firstresult=True)
def mag_lma_discovery(config: Config) -> LmaDiscoveryProvider | None:
    """The provider that resolves an LMA named by FQDN in a profile (RFC 6097).

    Asked by the MAG when a profile carries ``lma_fqdn``; the first address is
    used and the next ones are tried when the LMA does not answer.
    ``firstresult``: the first non-None wins; the built-in DNS resolver
    (``mag_ap_dns``, the only importer of dnslib) is ``trylast``.

    :param config: the validated configuration.
    :return: a :class:`mag_ap.providers.LmaDiscoveryProvider`, or None to pass.
    """


@hookspec(firstresult=True)
def mag_datapath_provider(config: Config) -> DatapathProvider | None:
    """The provider that turns binding actions into tunnels, routes and rules.

    ``firstresult``: the first non-None wins. The placeholder
    ``mag_ap_nulldatapath`` (installs nothing) is ``trylast``.

    :param config: the validated configuration.
    :return: a :class:`mag_ap.providers.DatapathProvider`, or None to pass.
    """


@hookspec
def mag_address_services(config: Config) -> Sequence[AddressServiceProvider]:
    """Access-side address services: collocated DHCPv4 server, router advertisements.

    Every plugin may contribute; all of them receive every binding action, after
    the datapath when a binding comes up and before it (in reverse order) when it
    goes down (:mod:`mag_ap.runtime.consumers` says why).

    :param config: the validated configuration.
    :return: zero or more :class:`mag_ap.address_service.AddressServiceProvider`.
    """
    raise NotImplementedError


# --- status -----------------------------------------------------------------------


@hookspec
def mag_status_extra(config: Config) -> Mapping[str, Any] | None:
    """Extra JSON-ready fields for ``mag-ap status``, under the plugin's name.

    The one hook called after start-up: on every control-socket status request.
    It must be quick and must not block (no IO): report counters the plugin's
    providers already keep.

    :param config: the validated configuration.
    :return: a JSON-ready mapping, or None for nothing.
    """
