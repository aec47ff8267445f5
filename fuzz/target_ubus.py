"""``ubus subscribe`` / ``get_clients`` output: the parsers never raise."""

from __future__ import annotations

from mag_ap_ubus._notify import Notification, NotificationStream, authorized_clients


def one_input(data: bytes) -> None:
    """Feed the bytes line by line as the subscriber does, then as one get_clients reply."""
    text = data.decode("utf-8", "replace")  # what _subscribe_io does with the CLI's output
    stream = NotificationStream()
    for line in text.splitlines(keepends=True):
        for item in stream.feed(line):
            if isinstance(item, Notification):
                item.action()
    authorized_clients(text)
