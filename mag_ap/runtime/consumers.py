"""Which providers apply an action, and in which order: one table for the whole daemon.

The protocol objects say what changed (``mag_ap.core.types`` actions); the
datapath (tunnels, routes, rules) and the address services (DHCPv4 server,
router advertisements, link watch) make it true. Their order is part of the
design, so it is written here once rather than left to the order of a loop:

- **Bind** (``BindingUp``: a first registration, a handover onto this MAG, a
  re-registration after an LMA restart, a refresh; ``MobileRouteUp`` on the
  LMA): the datapath first, then the address services in their configured
  order. A station is offered its prefix or address (unicast RA, DHCPv4 ACK)
  only once the tunnel and routes that carry its traffic exist, so its first
  packets are not dropped; if the datapath fails, the daemon de-registers the
  binding (``MagDaemon.apply_failed``) and the services see it go down again.
- **Teardown** (``BindingDown``: detach, handover away, revocation, expiry, a
  changed grant; ``MobileRouteDown`` on the LMA): the address services first,
  in reverse order, then the datapath. The station is told to stop using the
  address (prefix withdrawn, lease dropped) while its traffic still flows, and
  the routes go last: the mirror of bind, as the providers' stop order is the
  mirror of their start.
- **Notice** (``BindingRejected``, ``PeerRestarted``): nothing was installed;
  every provider sees it in bind order (none of the built-in ones acts on it).
- **Log** (``LogEvent``): no provider. The driver writes log lines at once, so
  they never queue behind datapath work (``mag_ap.runtime.driver``).

A handover inside one MAG (a new profile for an attached station) is a
teardown of the old binding followed by a bind of the new one: actions are
applied one at a time in the order the protocol emitted them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import Enum
from typing import TypeVar

from ..core.types import (
    Action,
    BindingDown,
    BindingRejected,
    BindingUp,
    LogEvent,
    MobileRouteDown,
    MobileRouteUp,
    PeerRestarted,
)

P = TypeVar("P")


class Order(Enum):
    BIND = "datapath, then address services in order"
    TEARDOWN = "address services in reverse order, then datapath"
    NOTICE = "every provider, in bind order"
    LOG = "no provider: logged by the driver at once"


ORDER: Mapping[type, Order] = {
    BindingUp: Order.BIND,
    MobileRouteUp: Order.BIND,
    BindingDown: Order.TEARDOWN,
    MobileRouteDown: Order.TEARDOWN,
    BindingRejected: Order.NOTICE,
    PeerRestarted: Order.NOTICE,
    LogEvent: Order.LOG,
}


def consumers(action: Action, datapath: P | None, address_services: Sequence[P]) -> list[P]:
    """The providers that apply ``action``, in the order they must apply it."""
    order = ORDER[type(action)]
    first = [datapath] if datapath is not None else []
    if order is Order.LOG:
        return []
    if order is Order.TEARDOWN:
        return [*reversed(address_services), *first]
    return [*first, *address_services]
