"""The only asyncio/socket code of the core: MH sockets, driver, daemons, control socket.

The runtime's one import of asyncio is here, with ``ssl`` hidden: the daemons never
speak TLS, and asyncio imports ssl only to offer it (``ssl = None`` when it is
missing, as on OpenWrt without python3-openssl); ssl maps libssl and libcrypto,
about 5 MB of an idle MAG's RSS (bench/idle.py). Every module of the runtime
imports this package first, and plugins take asyncio from here
(``from mag_ap.runtime import asyncio``), so the daemons, the LMA and tests all get
this asyncio, whatever they import first; ssl stays importable afterwards.
"""

from mag_ap.imports import hiding

with hiding("ssl"):
    import asyncio as asyncio  # the runtime's asyncio: `from mag_ap.runtime import asyncio`
