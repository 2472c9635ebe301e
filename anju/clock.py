"""An injectable clock.

Everything whose behaviour depends on time (tracking, retries, replay windows,
absence alerts, pass validity) takes a :class:`Clock` so tests can drive time
with :class:`FakeClock` instead of sleeping.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """Source of wall-clock (UTC) and monotonic time."""

    def now(self) -> datetime:
        """Current wall-clock time, timezone-aware UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin that never goes backwards."""
        ...

    def sleep(self, seconds: float) -> None:
        """Block for ``seconds`` of this clock's time."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class FakeClock:
    """A clock that only moves when told to (``advance``) or when slept on.

    Thread-safe so that a worker thread and a test can share it.
    """

    def __init__(self, start: datetime | None = None) -> None:
        if start is None:
            start = datetime(2026, 1, 1, tzinfo=timezone.utc)
        if start.tzinfo is None:
            raise ValueError("FakeClock start must be timezone-aware")
        self._now = start.astimezone(timezone.utc)
        self._mono = 0.0
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        with self._lock:
            return self._mono

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)

    def advance(self, seconds: float | timedelta) -> None:
        """Move time forward; negative steps are refused (clocks never go back)."""
        step = seconds.total_seconds() if isinstance(seconds, timedelta) else float(seconds)
        if step < 0:
            raise ValueError("FakeClock cannot go backwards")
        with self._lock:
            self._now += timedelta(seconds=step)
            self._mono += step

    def set(self, when: datetime) -> None:
        """Jump to an absolute time not earlier than now."""
        with self._lock:
            delta = (when.astimezone(timezone.utc) - self._now).total_seconds()
        self.advance(delta)


def utc_now() -> datetime:
    """Shorthand for code paths that are given no clock (CLI front ends only)."""
    return datetime.now(timezone.utc)
