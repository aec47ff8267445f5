"""Policy from the TOML file: local profiles for mobile nodes.

The default policy plugin (``trylast``: a RADIUS plugin, RFC 6572, overrides it)::

    [plugin.localpolicy]
    lma_address = "2001:db8::1"          # LMA for entries that name none

    [plugin.localpolicy.default]         # unknown MNs; omit it to refuse them
    ipv4 = true

    [[plugin.localpolicy.profile]]       # one of mn_id / mac / realm per entry
    realm = "staff.example.net"
    gre_key = true

    [[plugin.localpolicy.profile]]
    realm = "guests.example.net"
    lma_fqdn = "lma.example.net"         # resolved by the MAG (RFC 6097, plugin mag_ap_dns)

Precedence: ``mn_id`` > ``mac`` > ``realm`` > ``default``. The matching logic
lives in :mod:`._policy`, free of asyncio.
"""

from __future__ import annotations

from mag_ap.config import Config
from mag_ap.core.types import MobileNodeProfile
from mag_ap.hookspecs import hookimpl
from mag_ap.plugin_kit import section_hooks

from ._policy import SECTION, LocalPolicy, parse_policy, realm_of

__all__ = ["SECTION", "LocalPolicy", "LocalPolicyProvider", "parse_policy", "realm_of"]


class LocalPolicyProvider:
    """PolicyProvider answering from the parsed local profiles (no IO, never blocks)."""

    name = "localpolicy"

    def __init__(self, policy: LocalPolicy) -> None:
        self.policy = policy

    async def profile_for(self, mn_id: str, mac: str) -> MobileNodeProfile | None:
        return self.policy.lookup(mn_id, mac)


mag_config_sections, mag_validate_config = section_hooks(
    SECTION, lambda c: parse_policy(c.plugin_section(SECTION), c.transport)
)


@hookimpl(trylast=True)
def mag_policy_provider(config: Config) -> LocalPolicyProvider:
    return LocalPolicyProvider(parse_policy(config.plugin_section(SECTION), config.transport))
