"""The only asyncio/socket code of the core: MH sockets, driver, daemons, control socket."""
