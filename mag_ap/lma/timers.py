"""The LMA's timer heap: the shared one of ``mag_ap.core.timers`` (kept for imports)."""

from __future__ import annotations

from ..core.timers import COMPACT_MIN_ENTRIES, Rank, Scheduled, TimerHeap

__all__ = ["COMPACT_MIN_ENTRIES", "Rank", "Scheduled", "TimerHeap"]
