"""``python -m mag_ap`` is the ``mag-ap`` command (OpenWrt runs it this way)."""

from .cli import main

raise SystemExit(main())
