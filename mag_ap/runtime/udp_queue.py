"""A UDP request/answer helper for plugins that ask a server (RADIUS, DNS)."""

from __future__ import annotations

import asyncio
from typing import Any

QUEUE_LIMIT = 64  # answers beyond this (a flood) are dropped, not buffered


class DatagramQueue(asyncio.DatagramProtocol):
    """Queues every datagram and ICMP error of one exchange's socket, bounded."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[bytes | OSError] = asyncio.Queue(maxsize=QUEUE_LIMIT)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if not self.queue.full():
            self.queue.put_nowait(data)

    def error_received(self, exc: Exception) -> None:
        if isinstance(exc, OSError) and not self.queue.full():
            self.queue.put_nowait(exc)

    async def next_before(self, deadline_at: float) -> bytes | OSError | None:
        """The next datagram or ICMP error queued before ``deadline_at`` (loop time); None after."""
        remaining_s = deadline_at - asyncio.get_running_loop().time()
        if remaining_s <= 0:
            return None
        try:
            return await asyncio.wait_for(self.queue.get(), remaining_s)
        except TimeoutError:
            return None
