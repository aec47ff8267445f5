"""Coverage-guided fuzz targets (issue 13 item 5): one per decoder that reads outside bytes.

Every target module has ``one_input(data: bytes) -> None``: it feeds ``data`` to its
decoder and lets through only what no documented error covers, so any exception that
escapes ``one_input`` is a finding. ``python -m fuzz`` (``make fuzz``) drives them with
atheris; ``tests/unit/test_fuzz_corpus.py`` runs each over its corpus so they cannot rot.
"""

from __future__ import annotations

from typing import Final

# target name -> (module under fuzz/, the longest input libFuzzer may make)
TARGETS: Final[dict[str, tuple[str, int]]] = {
    "mh": ("fuzz.target_mh", 1024),
    "dhcp4": ("fuzz.target_dhcp4", 1500),
    "nd": ("fuzz.target_nd", 1500),
    "radius": ("fuzz.target_radius", 4096),
    "netlink": ("fuzz.target_netlink", 4096),
    "hostapd": ("fuzz.target_hostapd", 4096),
    "ubus": ("fuzz.target_ubus", 2048),
    "uci": ("fuzz.target_uci", 2048),
    "control": ("fuzz.target_control", 8192),
    "config": ("fuzz.target_config", 4096),
}
