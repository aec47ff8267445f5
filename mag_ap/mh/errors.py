"""The one error type the Mobility Header decoder raises."""

from __future__ import annotations


class DecodeError(ValueError):
    """A packet (or part of it) is not a well-formed Mobility Header.

    ``offset`` is the byte offset from the start of the Mobility Header where
    the problem was found, so a log line points at the bad byte of a capture.
    """

    def __init__(self, reason: str, offset: int) -> None:
        super().__init__(f"{reason} (at offset {offset})")
        self.reason = reason
        self.offset = offset
