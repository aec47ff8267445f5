"""Pure station table of the hostapd-based triggers (control socket and ubus): who is where.

Which stations are authorized on which hostapd interface, shared by ``mag_ap_hostapd``
and ``mag_ap_ubus`` (one home: neither plugin imports the other).
Kept apart from the sockets so that reconnects, re-syncs and roaming between two
interfaces of one access point are tested without hostapd. A station is
*attached* while at least one interface reports it authorized; every method
returns what the trigger must tell the sink, so a station is never attached
twice nor detached when it was never attached.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["StationTable", "SyncResult"]


@dataclass(frozen=True)
class SyncResult:
    """What a re-sync of one interface changed: MACs to attach and to detach."""

    attached: tuple[str, ...] = ()
    detached: tuple[str, ...] = ()


@dataclass
class StationTable:
    """MAC -> interfaces that have it authorized, plus the 802.1X identities seen."""

    where: dict[str, set[str]] = field(default_factory=dict)
    identities: dict[str, str] = field(default_factory=dict)

    def note_identity(self, mac: str, user_name: str | None) -> bool:
        """Remember (or, with None, keep) the identity hostapd reported for ``mac``.

        True when ``mac`` is attached and now has another name: it re-authenticated
        as someone else. hostapd keeps the port open across a re-authentication and
        so sends no new ``AP-STA-CONNECTED``; the binding must be redone under the
        new name or it would stay with the previous user's MN-ID.
        """
        if not user_name:
            return False
        old = self.identities.get(mac)
        self.identities[mac] = user_name
        return mac in self.where and old != user_name

    def forget_identity(self, mac: str) -> None:
        """A failed authentication: the old name must not outlive it."""
        if mac not in self.where:
            self.identities.pop(mac, None)

    def identity(self, mac: str) -> str | None:
        return self.identities.get(mac)

    def connected(self, iface: str, mac: str) -> bool:
        """``mac`` is authorized on ``iface``; True when the station is newly attached."""
        places = self.where.setdefault(mac, set())
        new = not places
        places.add(iface)
        return new

    def disconnected(self, iface: str, mac: str) -> bool:
        """``mac`` left ``iface``; True when no interface has it any more (detach)."""
        places = self.where.get(mac)
        if places is None or iface not in places:
            return False
        places.discard(iface)
        if places:
            return False
        del self.where[mac]
        self.identities.pop(mac, None)
        return True

    def resync(self, iface: str, authorized: Iterable[str]) -> SyncResult:
        """Replace what ``iface`` has with hostapd's current list of authorized stations."""
        now = set(authorized)
        before = {mac for mac, places in self.where.items() if iface in places}
        attached = tuple(sorted(mac for mac in now - before if self.connected(iface, mac)))
        detached = tuple(sorted(mac for mac in before - now if self.disconnected(iface, mac)))
        return SyncResult(attached=attached, detached=detached)

    def on(self, iface: str) -> list[str]:
        """MACs authorized on ``iface`` (sorted)."""
        return sorted(mac for mac, places in self.where.items() if iface in places)

    def attached(self) -> list[str]:
        """Every attached MAC (sorted)."""
        return sorted(self.where)
