"""pyroute2 as mag-ap ships it: submodules, no re-exports.

Upstream's __init__ imports every pyroute2 API (NDB, IPDB, ...) and with them
sqlite3, ssl, uuid, ...: the full python3 on OpenWrt. mag-ap imports the
submodules it uses (pyroute2.iproute.linux, pyroute2.netlink.exceptions).
"""

try:
    from pyroute2.config.version import __version__
except ImportError:
    __version__ = "unknown"
