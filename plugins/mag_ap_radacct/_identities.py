"""Pure accounting state: Accounting-Request -> MAC -> identity map, and what to do.

RFC 2866 section 5.1: Start (and Interim-Update) name a session of
``User-Name`` for the station in ``Calling-Station-Id`` (hostapd writes the MAC
as ``02-00-00-00-00-01``); Stop ends it; Accounting-On/Off mean the NAS
(re)started, so its stations' names are void.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from mag_ap.mac import parse_mac
from mag_ap_radius.packet import AcctStatusType, Packet

STOPPED_MAX: Final = 4096  # ended sessions remembered for a change of user (oldest go first)


@dataclass(frozen=True)
class Outcome:
    """What one valid Accounting-Request changed: ``kind`` is the status name or a refusal."""

    kind: str
    mac: str | None = None
    user_name: str | None = None
    detach: bool = False  # a Stop for a station we knew
    previous: str | None = None  # Start/Interim: the other name this MAC had until now

    @property
    def user_changed(self) -> bool:
        """The station's session now belongs to another user (re-authenticated)."""
        return self.previous is not None and self.previous != self.user_name


@dataclass
class IdentityMap:
    """MAC -> (User-Name, NAS address) from accounting; the IdentityProvider's memory."""

    entries: dict[str, tuple[str, str]] = field(default_factory=dict)
    # MAC -> the name its last session ended with: a Start as another user after a
    # Stop (the station stays attached unless detach_on_stop) is a change of user too
    stopped: dict[str, str] = field(default_factory=dict)

    def get(self, mac: str) -> str | None:
        found = self.entries.get(mac)
        return found[0] if found else None

    def apply(self, packet: Packet, nas: str) -> Outcome:
        """Apply an authenticated Accounting-Request from ``nas`` (its source address)."""
        status = packet.integer("Acct-Status-Type")
        if status in (AcctStatusType.ACCOUNTING_ON, AcctStatusType.ACCOUNTING_OFF):
            for gone in [m for m, (_, src) in self.entries.items() if src == nas]:
                del self.entries[gone]
            return Outcome("accounting-on-off")
        if status not in (AcctStatusType.START, AcctStatusType.INTERIM_UPDATE, AcctStatusType.STOP):
            return Outcome("ignored-status")
        calling = packet.text("Calling-Station-Id")
        mac = parse_mac(calling) if calling is not None else None
        if mac is None:
            return Outcome("no-mac")
        if status == AcctStatusType.STOP:
            known = self.entries.pop(mac, None)
            if known is not None:
                self.stopped.pop(mac, None)
                self.stopped[mac] = known[0]
                while len(self.stopped) > STOPPED_MAX:
                    del self.stopped[next(iter(self.stopped))]
            return Outcome("stop", mac, known[0] if known else None, detach=known is not None)
        name = packet.text("User-Name")
        if not name:
            return Outcome("no-user-name", mac)
        if parse_mac(name) == mac:  # hostapd's stand-in when it knows no EAP identity
            return Outcome("mac-user-name", mac)
        known = self.entries.get(mac)
        before = known[0] if known else self.stopped.get(mac)
        self.stopped.pop(mac, None)
        self.entries[mac] = (name, nas)
        kind = "start" if status == AcctStatusType.START else "interim"
        return Outcome(kind, mac, name, previous=before)
