"""What every built-in plugin's hooks have in common, written once (DESIGN.md rule 9).

A plugin owns one ``[plugin.<section>]``, validates it at start-up, builds at most one
provider per :class:`~mag_ap.config.Config` (its trigger, identity, address-service and
status hooks must share that object) and reports the provider's ``status()``.
:class:`PluginKit` holds those parts; :meth:`PluginKit.standard_hooks` returns the
three boilerplate hookimpls for the plugin module to bind by name::

    kit: PluginKit[MyService] = PluginKit(SECTION, validate=_validate, build=_build)
    mag_config_sections, mag_validate_config, mag_status_extra = kit.standard_hooks()

pluggy finds hookimpls by module attribute name, so those three names are the hooks.
Built-in defaults are ``trylast=True`` (a third-party plugin overrides them).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, Protocol, TypeVar

from .config import Config
from .hookspecs import hookimpl

__all__ = ["PerConfig", "PluginKit", "StatusSource", "section_hooks"]


class StatusSource(Protocol):
    def status(self) -> Mapping[str, Any]: ...


T = TypeVar("T")
P = TypeVar("P", bound=StatusSource)


class PerConfig(Generic[T]):
    """One object per loaded :class:`Config`, shared by a plugin's hooks.

    ``Config`` is not hashable, so instances are kept by ``id`` and checked by
    identity (a later config reusing the id gets its own).
    """

    def __init__(self) -> None:
        self._items: dict[int, tuple[Config, T]] = {}

    def get(self, config: Config) -> T | None:
        """The object made for ``config``, if any (status hooks must not create one)."""
        found = self._items.get(id(config))
        return found[1] if found is not None and found[0] is config else None

    def get_or_create(self, config: Config, factory: Callable[[], T]) -> T:
        found = self.get(config)
        if found is None:
            found = factory()
            self._items[id(config)] = (config, found)
        return found


class PluginKit(Generic[P]):
    """A plugin's section, its validation and its one shared provider per configuration.

    ``validate(config)`` raises :class:`~mag_ap.config.ConfigError` for a wrong section;
    ``build(config)`` returns the provider, or None when the configuration leaves the
    plugin inert (then nothing is kept and the next call asks again).
    """

    def __init__(
        self,
        section: str,
        *,
        validate: Callable[[Config], object],
        build: Callable[[Config], P | None],
    ) -> None:
        self.section = section
        self._validate = validate
        self._build = build
        self._providers: PerConfig[P] = PerConfig()

    def provider_for(self, config: Config) -> P | None:
        """The shared provider of ``config`` (built on first use), or None when inert."""
        found = self._providers.get(config)
        if found is not None:
            return found
        built = self._build(config)
        return None if built is None else self._providers.get_or_create(config, lambda: built)

    def existing(self, config: Config) -> P | None:
        """The provider already built for ``config``, if any (status never builds one)."""
        return self._providers.get(config)

    def providers(self, config: Config) -> list[P]:
        """``[provider]`` or ``[]``: the shape of the list-returning provider hooks."""
        found = self.provider_for(config)
        return [found] if found is not None else []

    def standard_hooks(
        self,
    ) -> tuple[
        Callable[[], Sequence[str]],
        Callable[[Config], None],
        Callable[[Config], Mapping[str, Any] | None],
    ]:
        """``mag_config_sections``, ``mag_validate_config`` and ``mag_status_extra``."""
        existing = self.existing

        @hookimpl(trylast=True)
        def mag_status_extra(config: Config) -> Mapping[str, Any] | None:
            found = existing(config)
            return found.status() if found is not None else None

        return (*section_hooks(self.section, self._validate), mag_status_extra)


def section_hooks(
    section: str, validate: Callable[[Config], object]
) -> tuple[Callable[[], Sequence[str]], Callable[[Config], None]]:
    """``mag_config_sections`` and ``mag_validate_config`` of a plugin owning ``section``.

    For a plugin without a shared provider (its provider hook builds a fresh,
    stateless one); :meth:`PluginKit.standard_hooks` uses it too.
    """

    @hookimpl(trylast=True)
    def mag_config_sections() -> Sequence[str]:
        return [section]

    @hookimpl(trylast=True)
    def mag_validate_config(config: Config) -> None:
        validate(config)

    return mag_config_sections, mag_validate_config
