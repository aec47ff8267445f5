"""16-bit Binding Update sequence numbers (RFC 6275 section 9.5.1 arithmetic)."""

from __future__ import annotations

SEQUENCE_MODULO = 1 << 16
_HALF_WINDOW = SEQUENCE_MODULO // 2


def sequence_newer(a: int, b: int) -> bool:
    """True when ``a`` comes after ``b`` modulo 2**16 (less than half the space ahead)."""
    return 0 < (a - b) % SEQUENCE_MODULO < _HALF_WINDOW


class SequenceCounter:
    """One counter per MAG: every PBU (retransmissions too) gets a fresh number.

    A fresh number per transmission is what RFC 6275 section 11.8 asks for, and
    a per-MAG counter makes a number identify one PBU among all mobile nodes.
    """

    def __init__(self, initial: int = 0) -> None:
        self._next = initial % SEQUENCE_MODULO

    @property
    def peek(self) -> int:
        """The number the next PBU will carry."""
        return self._next

    def take(self) -> int:
        """Hand out the next number; 65535 wraps to 0."""
        value = self._next
        self._next = (value + 1) % SEQUENCE_MODULO
        return value

    def resync(self, last_accepted: int) -> None:
        """Status 135: jump past the LMA's last accepted number, never backwards.

        Never moving back keeps the other mobile nodes' numbers valid at the same LMA.
        """
        wanted = (last_accepted + 1) % SEQUENCE_MODULO
        if sequence_newer(wanted, self._next):
            self._next = wanted
