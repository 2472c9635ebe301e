"""The node's analysis load: how much of the box's CPU the camera workers use right now.

A camera is analysed at its ``detect_fps`` whatever the load; above that (up to
``max_detect_fps``, so that a face walking in is seen within a frame or two)
only while the workers together use less than a budget share of the cores.
Other cameras on the same box thus keep their guaranteed rate: the spare CPU is
what the extra frames take, not theirs. CPU time is measured per thread
(``time.thread_time``), so time spent waiting for the GIL or a core does not
count; the window runs on the injected clock.
"""

from __future__ import annotations

import os
import threading
from collections import deque

from anju.clock import Clock


class AnalysisLoad:
    """Thread-safe sliding-window sum of the CPU seconds the workers spent analysing."""

    def __init__(self, clock: Clock, cores: int | None = None, window_s: float = 1.0) -> None:
        self.clock = clock
        self.cores = max(1, cores or os.cpu_count() or 1)
        self.window_s = window_s
        self._lock = threading.Lock()
        self._samples: deque[tuple[float, float]] = deque()
        self._sum = 0.0

    def add(self, cpu_seconds: float) -> None:
        now = self.clock.monotonic()
        with self._lock:
            self._samples.append((now, cpu_seconds))
            self._sum += cpu_seconds
            self._expire(now)

    def fraction(self) -> float:
        """Share of all cores the workers used over the last window (0 … 1, more if oversubscribed)."""
        now = self.clock.monotonic()
        with self._lock:
            self._expire(now)
            return max(0.0, self._sum) / (self.window_s * self.cores)

    def _expire(self, now: float) -> None:
        while self._samples and now - self._samples[0][0] > self.window_s:
            _t, s = self._samples.popleft()
            self._sum -= s
        if not self._samples:
            self._sum = 0.0  # no rounding residue once the window is empty
