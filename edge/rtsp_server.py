"""A real RTSP server that streams an H.264 video file on a loopback port.

Used by the demo (a "camera" without a camera) and by the edge tests. It runs
GStreamer's RTSP server (Debian packages ``gir1.2-gst-rtsp-server-1.0``,
``python3-gi``, ``gstreamer1.0-plugins-{base,good,bad}``) in a child process
under the *system* Python, because PyGObject lives there and not in the
project's virtual environment. This file is therefore both the launcher
(:class:`RtspServer`, imported by the product) and the child's program
(``/usr/bin/python3 edge/rtsp_server.py …``): it imports only the standard
library at module level.

The file is re-packetised, not re-encoded (``qtdemux ! h264parse !
rtph264pay``), so serving costs almost no CPU; ``loops`` chains the file that
many times with ``concat`` so timestamps keep increasing. Each client gets its
own media and sees the file from its beginning.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType

log = logging.getLogger(__name__)

SYSTEM_PYTHON = "/usr/bin/python3"
MAX_LOOPS = 200


class RtspServerError(Exception):
    """The RTSP server could not be started; the message names the reason."""


def free_port(host: str = "127.0.0.1") -> int:
    """An unused TCP port on ``host`` (bound and released; fine for tests and the demo)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def launch_description(video: Path, loops: int) -> str:
    """The gst-rtsp-server launch line for ``video`` chained ``loops`` times."""
    loc = str(video).replace('"', '\\"')
    branch = f'filesrc location="{loc}" ! qtdemux ! h264parse ! c. '
    return (
        "( concat name=c ! h264parse config-interval=-1 ! rtph264pay name=pay0 pt=96 config-interval=1 "
        + branch * loops
        + ")"
    )


class RtspServer:
    """Serve ``video`` at ``rtsp://host:port/path`` until :meth:`stop` (or context exit).

    ``start`` waits until the port accepts connections. Stopping and starting
    again on the same port is how tests cut and restore a camera stream.
    """

    def __init__(
        self,
        video: Path,
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        path: str = "cam",
        loops: int = 1,
        python: str = SYSTEM_PYTHON,
    ) -> None:
        if not 1 <= loops <= MAX_LOOPS:
            raise RtspServerError(f"loops must be 1..{MAX_LOOPS}, got {loops}")
        if not host.startswith("127.") and host != "localhost":
            raise RtspServerError(f"the RTSP test server binds loopback only, not {host}")
        self.video = Path(video).resolve()
        self.host = host
        self.port = port if port is not None else free_port(host)
        self.path = path.strip("/")
        self.loops = loops
        self.python = python
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"rtsp://{self.host}:{self.port}/{self.path}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout_s: float = 15.0) -> None:
        if self.running:
            return
        if not self.video.is_file():
            raise RtspServerError(f"{self.video}: video file not found")
        if shutil.which(self.python) is None and not Path(self.python).exists():
            raise RtspServerError(f"{self.python} not found (install python3-gi)")
        cmd = [
            self.python,
            str(Path(__file__).resolve()),
            "--video",
            str(self.video),
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--path",
            self.path,
            "--loops",
            str(self.loops),
        ]
        # A clean environment: the venv's variables must not leak into the system Python.
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
        self._proc = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, start_new_session=True
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
                self._proc = None
                raise RtspServerError(f"RTSP server exited at start: {err.strip()[-800:]}")
            # Ready = the stream can be described, not just the port open: a cold server's first media
            # (plugin loading, preroll) can take seconds on a busy box, longer than a client's timeout.
            if self._describes(max(0.2, deadline - time.monotonic())):
                log.info("RTSP server serving %s at %s", self.video.name, self.url)
                return
            time.sleep(0.05)
        self.stop()
        raise RtspServerError(f"RTSP server did not serve {self.url} within {timeout_s}s")

    def _describes(self, timeout_s: float) -> bool:
        """One RTSP DESCRIBE of the stream answered 200 (the media could be prepared)."""
        request = f"DESCRIBE {self.url} RTSP/1.0\r\nCSeq: 1\r\nAccept: application/sdp\r\n\r\n"
        try:
            with socket.create_connection((self.host, self.port), 0.2) as sock:
                sock.settimeout(timeout_s)
                sock.sendall(request.encode("ascii"))
                return sock.recv(64).startswith(b"RTSP/1.0 200")
        except OSError:
            return False

    def stop(self, timeout_s: float = 5.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout_s)
        if proc.stderr is not None:
            proc.stderr.close()
        log.info("RTSP server on port %d stopped", self.port)

    def __enter__(self) -> RtspServer:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _serve(video: Path, host: str, port: int, path: str, loops: int) -> int:  # pragma: no cover - child
    import gi  # type: ignore[import-not-found,import-untyped,unused-ignore]

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer  # type: ignore[import-not-found,unused-ignore]

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address(host)
    server.set_service(str(port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(launch_description(video, loops))
    factory.set_shared(False)
    # TCP-interleaved and UDP both allowed; the edge uses TCP.
    server.get_mount_points().add_factory("/" + path, factory)
    if server.attach(None) == 0:
        sys.stderr.write(f"cannot bind {host}:{port}\n")
        return 1
    loop = GLib.MainLoop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    loop.run()
    return 0


def main(argv: list[str] | None = None) -> int:  # pragma: no cover - child entry
    parser = argparse.ArgumentParser(description="serve a video file over RTSP (GStreamer)")
    parser.add_argument("--video", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="cam")
    parser.add_argument("--loops", type=int, default=1)
    args = parser.parse_args(argv)
    return _serve(args.video, args.host, args.port, args.path, args.loops)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
