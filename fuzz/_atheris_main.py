"""One target under atheris (a child of ``python -m fuzz``: libFuzzer owns its process).

``python -m fuzz._atheris_main NAME [libFuzzer flags] [corpus dirs]``. The target and
the project's decoders are imported inside ``instrument_imports`` so their branches
(and tomllib's, for the config) guide the mutations.
"""

from __future__ import annotations

import importlib
import sys

import atheris

from fuzz import TARGETS

# top-level packages whose code gets coverage instrumentation
INSTRUMENTED = [
    "fuzz",
    "mag_ap",
    "mag_ap_dhcp4",
    "mag_ap_ra",
    "mag_ap_radius",
    "mag_ap_linkwatch",
    "mag_ap_hostapd",
    "mag_ap_ubus",
    "tomllib",
]


def main() -> None:
    """Instrument, import the target, hand over to libFuzzer (which exits the process)."""
    name = sys.argv[1]
    module_name, _ = TARGETS[name]
    with atheris.instrument_imports(include=INSTRUMENTED):
        module = importlib.import_module(module_name)
    atheris.Setup([sys.argv[0], *sys.argv[2:]], module.one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
