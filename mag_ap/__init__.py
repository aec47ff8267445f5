"""mag-ap: a Proxy Mobile IPv6 Mobile Access Gateway for OpenWrt access points."""

__version__ = "0.1.0"
