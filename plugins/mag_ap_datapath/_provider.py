"""The netlink DatapathProvider: binding actions -> plan -> diff -> kernel, with rollback.

The provider keeps three things: the MN entries (what the protocol said), the
objects it believes are installed (updated after every successful operation),
and the facts the IO side resolved (peer paths, supported encapsulations).
Each action recomputes the whole desired plan (pure) and applies only the
diff, so handover is a route *replace*; what the next MN would build again
stays until stop (the seg6 endpoint, built at start, and the unkeyed tunnel
devices: ``keep_endpoint``, ``keep_idle_links``). A failure rolls that one MN
back out of the kernel and raises :class:`DatapathError`, which the runtime logs
and counts; other MNs keep working.
"""

from __future__ import annotations

import contextlib
import logging
from collections import deque
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Final

from mag_ap.config import ConfigError
from mag_ap.core.types import Action, BindingDown, BindingUp, MobileRouteDown, MobileRouteUp

from ._plan import (
    ENCAPSULATIONS,
    KernelObject,
    MobileEntry,
    Op,
    PeerPath,
    Plan,
    PlanError,
    PlanSettings,
    TunnelKey,
    apply_action,
    assign_slots,
    batches,
    describe,
    diff,
    endpoint,
    keep_endpoint,
    keep_idle_links,
    link_name,
    plan,
    tunnel_keys,
    tunnel_mtu,
    without,
)

if TYPE_CHECKING:
    from ._kernel_io import Kernel

__all__ = ["DatapathError", "NetlinkDatapath"]

log = logging.getLogger("mag_ap_datapath")
FAILURE_LOG: Final = 32  # recent failures kept for status (bounded)


class DatapathError(RuntimeError):
    """An action could not be applied; that MN's objects were rolled back."""


def _wanted_kinds(settings: PlanSettings) -> set[str]:
    """The encapsulations worth probing for this configuration."""
    v6 = settings.local.version == 6
    gre = "ip6gre" if v6 else "gre"
    if settings.encapsulation == "auto":
        return {"ip6tnl", "ip6gre", "seg6"} if v6 else {"ipip", "gre"}
    if settings.encapsulation == "seg6":
        return {"seg6"}
    return {settings.encapsulation, gre}


class NetlinkDatapath:
    """DatapathProvider for the MAG and the reference LMA (pyroute2 + iproute2 for seg6)."""

    name = "datapath"

    def __init__(self, settings: PlanSettings, kernel: Kernel | None = None) -> None:
        self.settings = settings
        self._kernel = kernel
        self.entries: dict[str, MobileEntry] = {}
        self.installed: dict[tuple[object, ...], KernelObject] = {}
        self.slots: dict[TunnelKey, int] = {}
        self.tunnels: dict[str, TunnelKey] = {}
        self.paths: dict[str, PeerPath] = {}
        self.supported: frozenset[str] = frozenset()
        self.running = False
        self.failures: deque[dict[str, str]] = deque(maxlen=FAILURE_LOG)
        self.counters: dict[str, int] = {
            "actions": 0,
            "apply_failures": 0,
            "ops": 0,
            "op_failures": 0,
            "stale_removed": 0,
        }

    @property
    def kernel(self) -> Kernel:
        assert self._kernel is not None, "start() first"
        return self._kernel

    # --- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        """Probe the kernel, refuse a foreign link under our prefix, reconcile leftovers."""
        if self._kernel is None:
            from ._kernel_io import Kernel  # pyroute2 is imported here, not at plugin load

            self._kernel = Kernel(self.settings)
        await self.kernel.open()
        s = self.settings
        foreign = await self.kernel.foreign_links()
        if foreign:
            names = ", ".join(f"{n} ({k})" for n, k in foreign)
            raise ConfigError(
                "plugin.datapath.link_prefix",
                f"links {names} carry our prefix {s.link_prefix!r} but are not our tunnels: "
                "rename them or choose another prefix",
            )
        self.supported = await self.kernel.probe(_wanted_kinds(s))
        if s.encapsulation != "auto" and s.encapsulation not in self.supported:
            auto = replace(s, encapsulation="auto")  # what "auto" would find here
            available = await self.kernel.probe(_wanted_kinds(auto))
            raise self.kernel.missing_module(s.encapsulation, available)
        if s.encapsulation == "auto" and not self.supported - {"ip6gre", "gre"}:
            raise self.kernel.missing_module("ip6tnl" if s.local.version == 6 else "ipip", None)
        await self._reconcile_leftovers()
        await self._build_endpoint()
        self.running = True
        log.info(
            "netlink datapath started",
            extra={
                "fields": {
                    "encapsulation": self.default_kind(),
                    "supported": ",".join(sorted(self.supported)),
                    "stale_removed": self.counters["stale_removed"],
                }
            },
        )

    async def _reconcile_leftovers(self) -> None:
        """Objects of an earlier run (kill -9) are removed: the bindings start empty."""
        found = await self.kernel.snapshot()
        self.installed = dict(found)
        if found:
            log.warning(
                "removing %d objects left by an earlier run",
                len(found),
                extra={"fields": {"objects": "; ".join(describe(o) for o in found.values())}},
            )
        await self._converge({}, strict=False)
        self.counters["stale_removed"] += len(found) - len(self.installed)

    async def _build_endpoint(self) -> None:
        """The seg6 endpoint before the first station, so its install costs what later ones do.

        Kept until stop like any endpoint (:func:`keep_endpoint`); a failure here is a
        start failure, as it would fail every binding.
        """
        if self.default_kind() != "seg6":
            return
        dev = await self.kernel.endpoint_device()
        if dev is None:
            log.info("seg6 endpoint left for the first binding: our address is on no usable link")
            return
        await self._converge(endpoint(self.settings, dev))

    async def stop(self) -> None:
        """Remove everything we installed, then sweep anything still tagged as ours."""
        if self._kernel is None:
            return
        try:
            self.entries = {}
            await self._converge({}, strict=False)
            leftover = await self.kernel.snapshot()
            if leftover:
                self.installed = dict(leftover)
                await self._converge({}, strict=False)
            if self.installed:
                log.error(
                    "objects left after stop",
                    extra={
                        "fields": {"objects": "; ".join(map(describe, self.installed.values()))}
                    },
                )
        finally:
            self.running = False
            self.kernel.close()

    # --- actions --------------------------------------------------------------------------

    async def apply(self, action: Action) -> None:
        if not isinstance(action, BindingUp | BindingDown | MobileRouteUp | MobileRouteDown):
            return
        entries, changed = apply_action(self.entries, action)
        if not changed:
            return
        self.counters["actions"] += 1
        try:
            await self._converge_entries(entries)
        except (PlanError, OSError) as exc:
            self.counters["apply_failures"] += 1
            self.failures.append(
                {"mn_id": action.mn_id, "action": type(action).__name__, "error": str(exc)}
            )
            try:
                await self._converge_entries(without(entries, action.mn_id), strict=False)
            except (PlanError, OSError) as again:
                log.error("rollback failed: %s", again)
            raise DatapathError(
                f"{type(action).__name__} for {action.mn_id} failed and was rolled back: {exc}"
            ) from exc

    async def _converge_entries(self, entries: dict[str, MobileEntry], strict: bool = True) -> None:
        s = self.settings
        tunnels = tunnel_keys(s, entries.values(), self.supported)
        for peer in {key.peer for key in tunnels.values()} - set(self.paths):
            self.paths[peer] = await self.kernel.resolve(peer)
        slots = assign_slots(self.slots, tunnels.values(), s.max_tunnels)
        desired = plan(s, entries.values(), tunnels, slots, self.paths)
        kept = keep_idle_links(self.installed, keep_endpoint(s, self.installed, desired))
        await self._converge(kept, strict=strict)
        self.entries, self.tunnels, self.slots = entries, tunnels, slots

    async def _converge(self, desired: Plan, strict: bool = True) -> None:
        """Apply diff(installed, desired); ``strict`` stops at the first failure."""
        first: OSError | None = None
        ops = diff(self.installed, desired)
        started = self.kernel.now()
        for group in batches(ops):
            failures = await self.kernel.execute_batch(group)
            for op, exc in zip(group, failures, strict=True):
                if exc is None:
                    self.counters["ops"] += 1
                    self._record(op)
                    continue
                self.counters["op_failures"] += 1
                log.error("datapath operation failed: %s", exc)
                first = first or exc
            if first is not None and strict:
                raise first
        if first is not None and not strict:
            log.warning("some datapath objects could not be converged: %s", first)
        if ops:
            log.debug(
                "datapath converged",
                extra={
                    "fields": {
                        "ops": len(ops),
                        "took_ms": round((self.kernel.now() - started) * 1000, 3),
                        "what": "; ".join(f"{op.verb} {describe(op.obj)}" for op in ops[:12]),
                    }
                },
            )

    def _record(self, op: Op) -> None:
        if op.verb == "remove":
            self.installed.pop(op.obj.key, None)
        else:
            self.installed[op.obj.key] = op.obj

    # --- status ------------------------------------------------------------------------------

    def default_kind(self) -> str:
        """The encapsulation unkeyed MNs get here (what "auto" resolved to)."""
        s = self.settings
        if s.encapsulation != "auto":
            return s.encapsulation
        if s.local.version == 4:
            return "ipip"
        return "ip6tnl" if "ip6tnl" in self.supported else "seg6"

    def status(self) -> dict[str, Any]:
        """JSON-ready, no IO: encapsulation, tunnels with their MTU, counters."""
        users: dict[TunnelKey, int] = {}
        for key in self.tunnels.values():
            users[key] = users.get(key, 0) + 1
        tunnels = []
        for key, count in sorted(users.items()):
            path = self.paths.get(key.peer)
            entry: dict[str, Any] = {
                "peer": key.peer,
                "encapsulation": key.kind,
                "mobile_nodes": count,
                "transport_interface": path.dev if path else None,
            }
            if path is not None:
                with contextlib.suppress(PlanError):
                    entry["mtu"] = tunnel_mtu(self.settings, key.kind, path)
            if key.kind != "seg6":
                entry["link"] = link_name(self.settings.link_prefix, key, str(self.settings.local))
            if key.okey is not None or key.ikey is not None:
                entry.update(okey=key.okey, ikey=key.ikey)
            slot = self.slots.get(key)
            if self.settings.role == "mag" and slot is not None:
                entry["table"] = self.settings.tunnel_table(slot)
            tunnels.append(entry)
        return {
            "running": self.running,
            "role": self.settings.role,
            "encapsulation": self.default_kind(),
            "encapsulations_supported": sorted(self.supported),
            "encapsulations_known": list(ENCAPSULATIONS),
            "tunnel_source": str(self.settings.local),
            "mtu_configured": self.settings.mtu,
            "tunnels": tunnels,
            "mobile_nodes": len(self.entries),
            "mobile_node_ids": sorted(self.entries),
            "objects": len(self.installed),
            "counters": dict(self.counters),
            "recent_failures": list(self.failures)[-5:],
        }
