"""Camera sources: a reader thread per camera that keeps only the newest frame.

Decoding must keep up with the camera or the RTSP buffer grows and decisions
lag seconds behind reality, so a dedicated thread reads continuously and
overwrites a single slot; the analyser takes whatever is newest and every frame
it never saw counts as a drop. A stream that fails to open is retried with
exponential backoff; one that stops delivering frames for ``stall_timeout_s``
is closed and reopened by the watchdog. Status changes (online, reconnecting,
stalled, offline) go to a callback so the node can publish CameraStatusEvent.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

import cv2
import numpy as np

from anju.clock import Clock
from edge.config import CameraConfig
from recognition.types import Frame

log = logging.getLogger(__name__)

_OPEN_LOCK = threading.Lock()
CameraState = Literal["online", "offline", "reconnecting", "stalled"]
StatusCallback = Callable[[str, CameraState, str], None]


class Capture(Protocol):
    """The part of ``cv2.VideoCapture`` a source uses (lets a test feed frames from memory)."""

    def isOpened(self) -> bool: ...
    def read(self) -> tuple[bool, np.ndarray | None]: ...
    def release(self) -> None: ...
    def get(self, prop: int) -> float: ...


def open_capture(cfg: CameraConfig) -> Capture:
    """Open the camera through OpenCV's FFmpeg backend (V4L2 for USB)."""
    if cfg.source == "usb":
        return cv2.VideoCapture(int(cfg.url))
    if cfg.source == "rtsp":
        # OpenCV reads FFmpeg options from this process-wide variable at open time, so cameras
        # with different transports open one at a time; the timeouts (µs) keep a dead server
        # from blocking the reader thread forever.
        us = int(cfg.open_timeout_s * 1_000_000)
        with _OPEN_LOCK:
            os.environ["OPENCV_FFMPEG_CAPTURE_OPTIONS"] = (
                f"rtsp_transport;{cfg.rtsp_transport}|stimeout;{us}|timeout;{us}"
            )
            return _open_rtsp(cfg)
    return cv2.VideoCapture(cfg.url, cv2.CAP_FFMPEG)


def _open_rtsp(cfg: CameraConfig) -> Capture:
    return cv2.VideoCapture(
        cfg.url,
        cv2.CAP_FFMPEG,
        [
            cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
            int(cfg.open_timeout_s * 1000),
            cv2.CAP_PROP_READ_TIMEOUT_MSEC,
            int(cfg.stall_timeout_s * 1000),
        ],
    )


@dataclass
class SourceStats:
    """Counters since start (read by metrics)."""

    decoded: int = 0
    delivered: int = 0
    dropped: int = 0
    reconnects: int = 0
    decode_seconds: float = 0.0


class CameraSource:
    """Reads one camera on its own thread; :meth:`latest` returns the newest unseen frame."""

    def __init__(
        self,
        cfg: CameraConfig,
        clock: Clock,
        *,
        on_status: StatusCallback | None = None,
        opener: Callable[[CameraConfig], Capture] = open_capture,
    ) -> None:
        self.cfg = cfg
        self.clock = clock
        self._on_status = on_status
        self._opener = opener
        self._stop = threading.Event()
        self._restart = threading.Event()
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._fresh = False
        self._index = 0
        self._last_frame_at: float | None = None
        self._state: CameraState = "offline"
        self._thread: threading.Thread | None = None
        self._cap: Capture | None = None
        self._cap_lock = threading.Lock()
        self.stats = SourceStats()
        self.fps_estimate = 0.0

    @property
    def state(self) -> CameraState:
        return self._state

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name=f"cam-{self.cfg.id}", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None
        self._set_state("offline", "stopped")

    def latest(self, timeout_s: float) -> Frame | None:
        """Wait up to ``timeout_s`` for a frame newer than the last one returned."""
        with self._cond:
            if not self._fresh:
                self._cond.wait(timeout_s)
            if not self._fresh or self._frame is None:
                return None
            self._fresh = False
            self.stats.delivered += 1
            return self._frame

    def interrupt(self) -> None:
        """Wake a :meth:`latest` waiting for a frame (it returns None): the analyser has other work."""
        with self._cond:
            self._cond.notify_all()

    def check_stall(self) -> bool:
        """Watchdog: if online and no frame for ``stall_timeout_s``, force a reconnect. True if it did."""
        last = self._last_frame_at
        if self._state != "online" or last is None:
            return False
        if self.clock.monotonic() - last < self.cfg.stall_timeout_s:
            return False
        self._set_state("stalled", f"no frame for {self.cfg.stall_timeout_s:.1f}s")
        # The reader reopens the stream once its current read returns (the capture's read timeout
        # bounds that): releasing the capture from this thread while FFmpeg reads it is not safe.
        self._restart.set()
        return True

    # -- reader thread ---------------------------------------------------------------------------

    def _set_state(self, state: CameraState, detail: str) -> None:
        if state == self._state:
            return
        self._state = state
        log.info("camera %s: %s %s", self.cfg.id, state, detail)
        if self._on_status is not None:
            try:
                self._on_status(self.cfg.id, state, detail)
            except Exception:  # a failing listener must not kill the reader
                log.exception("camera %s: status listener failed", self.cfg.id)

    def _close(self) -> None:
        with self._cap_lock:
            cap, self._cap = self._cap, None
        if cap is not None:
            cap.release()

    def _run(self) -> None:
        backoff = self.cfg.reconnect_initial_s
        first = True
        while not self._stop.is_set():
            if not first:
                self._set_state("reconnecting", f"retry in {backoff:.1f}s")
                if self._stop.wait(backoff):
                    break
                backoff = min(backoff * 2, self.cfg.reconnect_max_s)
                self.stats.reconnects += 1
            first = False
            try:
                cap = self._opener(self.cfg)
            except Exception as exc:
                log.warning("camera %s: open failed: %s", self.cfg.id, exc)
                continue
            if not cap.isOpened():
                cap.release()
                log.warning("camera %s: cannot open %s", self.cfg.id, self._redacted_url())
                continue
            with self._cap_lock:
                self._cap = cap
            got_any = self._read_loop(cap)
            self._close()
            if got_any:
                backoff = self.cfg.reconnect_initial_s
            if self.cfg.source == "file" and got_any and not self._stop.is_set():
                if not self.cfg.loop:
                    self._set_state("offline", "end of file")
                    break
                first = True  # a looping file is reopened at once, without a status change
        self._close()

    def _read_loop(self, cap: Capture) -> bool:
        src_fps = cap.get(cv2.CAP_PROP_FPS) or 0.0
        pace = self.cfg.source == "file" and self.cfg.realtime and src_fps > 0
        period = 1.0 / src_fps if pace else 0.0
        got_any = False
        next_due = self.clock.monotonic()
        window_start = self.clock.monotonic()
        window_count = 0
        self._restart.clear()
        while not self._stop.is_set():
            t0 = self.clock.monotonic()
            ok, image = cap.read()
            t1 = self.clock.monotonic()
            if not ok or image is None or self._restart.is_set():
                if got_any and t1 - t0 >= 0.9 * self.cfg.stall_timeout_s:
                    # The read timed out on a stream that stays connected: the same as the watchdog's stall.
                    self._set_state("stalled", f"no frame for {t1 - t0:.1f}s")
                return got_any
            if not got_any:
                self._set_state("online", self._redacted_url())
            got_any = True
            self.stats.decoded += 1
            self.stats.decode_seconds += t1 - t0
            self._index += 1
            frame = Frame(image=image, source_id=self.cfg.id, index=self._index, timestamp=t1)
            with self._cond:
                if self._fresh:
                    self.stats.dropped += 1  # the analyser never saw the previous frame
                self._frame = frame
                self._fresh = True
                self._last_frame_at = t1
                self._cond.notify_all()
            window_count += 1
            if t1 - window_start >= 2.0:
                self.fps_estimate = window_count / (t1 - window_start)
                window_start, window_count = t1, 0
            if pace:
                next_due += period
                delay = next_due - self.clock.monotonic()
                if delay > 0 and self._stop.wait(delay):
                    break
                if delay < -1.0:
                    next_due = self.clock.monotonic()
        return got_any

    def _redacted_url(self) -> str:
        # RTSP URLs often carry the camera password; never log it.
        url = self.cfg.url
        if "@" in url and "://" in url:
            scheme, rest = url.split("://", 1)
            return f"{scheme}://***@{rest.split('@', 1)[1]}"
        return url


def probe(cfg: CameraConfig, timeout_s: float | None = None) -> tuple[bool, str]:
    """Open a camera once and read a frame: (ok, human-readable detail). For ``anju edge check``.

    By default the probe waits as long as opening and a first read may take under the camera's config."""
    if timeout_s is None:
        timeout_s = cfg.open_timeout_s + cfg.stall_timeout_s + 1.0
    result: list[tuple[bool, str]] = []

    def attempt() -> None:
        cap = open_capture(cfg)
        try:
            if not cap.isOpened():
                result.append((False, "cannot open"))
                return
            ok, image = cap.read()
            if not ok or image is None:
                result.append((False, "opened but no frame decoded"))
                return
            fps = cap.get(cv2.CAP_PROP_FPS)
            result.append((True, f"{image.shape[1]}x{image.shape[0]} @ {fps:.1f} fps"))
        finally:
            cap.release()

    thread = threading.Thread(target=attempt, daemon=True)
    thread.start()
    thread.join(timeout_s)
    if not result:
        return False, f"no answer within {timeout_s:.0f}s"
    return result[0]
