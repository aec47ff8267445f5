"""Errors of the pure MAG engine."""

from __future__ import annotations


class LocalProtocolError(RuntimeError):
    """Our own bug: the engine was asked for a transition its table does not allow.

    A peer's nonsense never raises this (it is counted and logged instead), so
    seeing it means the code driving the state table is wrong.
    """
