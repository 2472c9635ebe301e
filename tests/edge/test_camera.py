"""Camera sources against a real RTSP server (GStreamer) with TCP transport."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

import pytest

from anju.clock import SystemClock
from edge.camera import CameraSource, probe
from edge.config import CameraConfig
from edge.rtsp_server import RtspServer, RtspServerError, launch_description

pytestmark = pytest.mark.slow


class States:
    def __init__(self) -> None:
        self.seen: list[str] = []
        self.cond = threading.Condition()

    def __call__(self, cam: str, state: str, detail: str) -> None:
        with self.cond:
            self.seen.append(state)
            self.cond.notify_all()

    def wait(self, state: str, after: int = 0, timeout: float = 60) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: state in self.seen[after:], timeout)


def rtsp_cam(url: str, **kw: object) -> CameraConfig:
    return CameraConfig(
        id="cam-1",
        source="rtsp",
        url=url,
        reconnect_initial_s=0.2,
        reconnect_max_s=1.0,
        # The test server prepares a pipeline per client, which takes seconds on a busy 2-core box.
        open_timeout_s=20.0,
        **kw,
    )  # type: ignore[arg-type]


def test_opencv_reads_the_rtsp_server_over_tcp(rtsp: RtspServer) -> None:
    ok, detail = probe(rtsp_cam(rtsp.url))
    assert ok, detail
    assert detail.startswith("640x360")


def test_newest_frame_only_and_drops_counted(rtsp: RtspServer) -> None:
    states = States()
    src = CameraSource(rtsp_cam(rtsp.url), SystemClock(), on_status=states)
    src.start()
    try:
        assert states.wait("online")
        indexes = []
        for _ in range(5):
            frame = src.latest(timeout_s=10)
            assert frame is not None and frame.image.shape == (360, 640, 3)
            indexes.append(frame.index)
            threading.Event().wait(0.3)  # a slow analyser: frames pile up and are dropped
        assert indexes == sorted(indexes) and len(set(indexes)) == 5
        assert src.stats.dropped > 0
        assert src.stats.decoded >= src.stats.delivered + src.stats.dropped
    finally:
        src.stop()
    assert states.seen[-1] == "offline"


def test_stream_cut_and_restored(rtsp: RtspServer) -> None:
    states = States()
    src = CameraSource(rtsp_cam(rtsp.url, stall_timeout_s=2.0), SystemClock(), on_status=states)
    src.start()
    try:
        assert states.wait("online")
        assert src.latest(10) is not None
        n = len(states.seen)
        rtsp.stop()  # the camera goes away
        assert states.wait("reconnecting", after=n)
        rtsp.start()  # and comes back on the same address
        assert states.wait("online", after=n)
        assert src.latest(10) is not None
        assert src.stats.reconnects >= 1
    finally:
        src.stop()


def test_watchdog_restarts_a_stalled_stream(rtsp: RtspServer) -> None:
    states = States()
    src = CameraSource(rtsp_cam(rtsp.url, stall_timeout_s=1.0), SystemClock(), on_status=states)
    src.start()
    assert rtsp._proc is not None
    pid = rtsp._proc.pid
    try:
        assert states.wait("online")
        os.kill(pid, signal.SIGSTOP)  # the server hangs: TCP stays open, no frames come
        for _ in range(100):  # the supervisor's watchdog loop (the capture's read timeout may fire first)
            if src.check_stall() or "stalled" in states.seen:
                break
            threading.Event().wait(0.1)
        assert states.wait("stalled", timeout=10)
        os.kill(pid, signal.SIGCONT)
        n = len(states.seen)
        assert states.wait("online", after=n - 1)
        assert src.latest(10) is not None
    finally:
        os.kill(pid, signal.SIGCONT)
        src.stop()


def test_server_refuses_bad_input(tmp_path: Path) -> None:
    with pytest.raises(RtspServerError, match="not found"):
        RtspServer(tmp_path / "nope.mp4").start()
    with pytest.raises(RtspServerError, match="loopback"):
        RtspServer(tmp_path / "x.mp4", host="0.0.0.0")
    assert launch_description(Path("/v.mp4"), 2).count("filesrc") == 2
