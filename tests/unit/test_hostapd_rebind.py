"""hostapd plugin: a station that re-authenticates as another user is bound anew.

hostapd keeps an authorized port open across a re-authentication, so it sends
no second ``AP-STA-CONNECTED``; the EAP success (and a re-sync) must notice the
new name (seen with real hostapd + freeradius in tests/netns/test_8021x_aaa.py).
The watcher's event handling runs here against ``FakeControl``, a stand-in for
hostapd's control socket that answers ``STA`` requests from a table (no socket).
"""

from __future__ import annotations

import asyncio
from typing import cast

from lab.hostapd_lab import RecordingSink
from mag_ap.stations import StationTable
from mag_ap_hostapd import HostapdSettings
from mag_ap_hostapd._ctrl_io import ControlSocket
from mag_ap_hostapd._events import parse_sta
from mag_ap_hostapd._watch_io import HostapdWatcher

MAC = "02:00:00:00:0a:01"
PATH = "/run/hostapd/wlan0"


def sta(name: str, pae_state: int = 5, mac: str = MAC) -> bytes:
    """A ``STA`` reply as hostapd 2.10 prints it (abridged)."""
    return (
        f"{mac}\nflags=[AUTH][ASSOC][AUTHORIZED]\ndot1xAuthPaeState={pae_state}\n"
        f"dot1xAuthSessionUserName={name}\n"
    ).encode()


class FakeControl:
    """Stands in for hostapd's request socket: canned replies by command."""

    def __init__(self) -> None:
        self.replies: dict[str, bytes] = {}

    async def request(self, command: str, timeout_s: float) -> bytes:
        del timeout_s
        return self.replies.get(command, b"FAIL\n")


def watcher(identity: bool = True) -> tuple[HostapdWatcher, FakeControl, RecordingSink]:
    settings = HostapdSettings(enabled=True, control_sockets=(PATH,), identity=identity)
    return HostapdWatcher(settings), FakeControl(), RecordingSink()


def event(w: HostapdWatcher, ctl: FakeControl, sink: RecordingSink, line: str) -> None:
    cmd = cast(ControlSocket, ctl)
    assert asyncio.run(w._handle(PATH, cmd, f"<3>{line}".encode(), sink))


def test_user_name_only_from_a_finished_authentication() -> None:
    assert parse_sta(sta("alice@example.net")).user_name == "alice@example.net"  # type: ignore[union-attr]
    # re-authenticating (AUTHENTICATING = 4): hostapd shows the new outer identity for now
    mid = parse_sta(sta("anonymous@example.net", pae_state=4))
    assert mid is not None and mid.authorized and mid.user_name is None
    # OpenWrt builds print no MIB at all
    assert parse_sta(f"{MAC}\nflags=[AUTHORIZED]\n".encode()).user_name is None  # type: ignore[union-attr]


def test_station_table_reports_a_new_name_of_an_attached_station() -> None:
    t = StationTable()
    assert not t.note_identity(MAC, "alice@example.net")  # not attached yet
    t.connected("wlan0", MAC)
    assert not t.note_identity(MAC, "alice@example.net")  # same name
    assert not t.note_identity(MAC, None)  # no name: keep the old one
    assert t.note_identity(MAC, "bob@example.net")
    assert t.identity(MAC) == "bob@example.net"
    other = "02:00:00:00:0a:02"
    t.connected("wlan0", other)  # attached under the MAC-based NAI (no name known)
    assert t.note_identity(other, "carol@example.net")


def test_eap_success_under_another_name_rebinds() -> None:
    w, ctl, sink = watcher()
    ctl.replies[f"STA {MAC}"] = sta("alice@example.net")
    event(w, ctl, sink, f"CTRL-EVENT-EAP-SUCCESS2 {MAC}")
    event(w, ctl, sink, f"AP-STA-CONNECTED {MAC}")
    event(w, ctl, sink, f"CTRL-EVENT-EAP-SUCCESS2 {MAC}")  # re-authenticated, same user
    assert sink.calls == [("attach", MAC, "alice@example.net")]

    ctl.replies[f"STA {MAC}"] = sta("bob@example.net")
    event(w, ctl, sink, f"CTRL-EVENT-EAP-SUCCESS2 {MAC}")
    assert sink.calls[1:] == [
        ("detach", MAC, "hostapd-identity-changed"),
        ("attach", MAC, "bob@example.net"),
    ]
    assert w.counters["identity_changes"] == 1
    assert w.table.attached() == [MAC]
    assert asyncio.run(w.identity_for(MAC)) == "bob@example.net"


def test_resync_rebinds_a_station_renamed_while_hostapd_was_out_of_sight() -> None:
    w, ctl, sink = watcher()
    cmd = cast(ControlSocket, ctl)
    ctl.replies["STA-FIRST"] = sta("alice@example.net")
    asyncio.run(w._resync(PATH, cmd, sink))
    ctl.replies["STA-FIRST"] = sta("alice@example.net", pae_state=4)  # mid-re-authentication
    asyncio.run(w._resync(PATH, cmd, sink))
    assert sink.calls == [("attach", MAC, "alice@example.net")]
    ctl.replies["STA-FIRST"] = sta("bob@example.net")
    asyncio.run(w._resync(PATH, cmd, sink))
    assert sink.calls[1:] == [
        ("detach", MAC, "hostapd-identity-changed"),
        ("attach", MAC, "bob@example.net"),
    ]


def test_no_rebind_when_another_plugin_names_the_station() -> None:
    w, ctl, sink = watcher(identity=False)
    ctl.replies[f"STA {MAC}"] = sta("alice@example.net")
    event(w, ctl, sink, f"AP-STA-CONNECTED {MAC}")
    ctl.replies[f"STA {MAC}"] = sta("bob@example.net")
    event(w, ctl, sink, f"CTRL-EVENT-EAP-SUCCESS2 {MAC}")
    assert sink.calls == [("attach", MAC, None)]
    assert w.counters["identity_changes"] == 0
