"""A real Mosquitto on an ephemeral loopback port that tests can start, SIGKILL and restart."""

from __future__ import annotations

import getpass
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

MOSQUITTO = "/usr/sbin/mosquitto"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def plain_conf(workdir: Path, port: int) -> str:
    """Plain TCP, anonymous, persistent: for delivery tests (TLS/ACL tests use broker-config's output)."""
    data = workdir / "data"
    data.mkdir(parents=True, exist_ok=True)
    return "\n".join(
        [
            f"user {getpass.getuser()}",
            f"listener {port} 127.0.0.1",
            "allow_anonymous true",
            "persistence true",
            f"persistence_location {data}/",
            "autosave_interval 1",
            "max_inflight_messages 1000",
            "max_queued_messages 1000000",
            "max_packet_size 67108864",
            "set_tcp_nodelay true",
            f"log_dest file {workdir / 'mosquitto.log'}",
            "",
        ]
    )


class Broker:
    """One mosquitto process bound to ``port``; ``conf`` is its configuration file."""

    def __init__(self, conf: Path, port: int) -> None:
        self.conf = conf
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def plain(cls, workdir: Path) -> Broker:
        workdir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        conf = workdir / "mosquitto.conf"
        conf.write_text(plain_conf(workdir, port))
        return cls(conf, port)

    def start(self, timeout: float = 15.0) -> None:
        assert self.proc is None or self.proc.poll() is not None, "broker already running"
        self.proc = subprocess.Popen(
            [MOSQUITTO, "-c", str(self.conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                raise RuntimeError(f"mosquitto exited with {self.proc.returncode}: {err}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not listen on {self.port} within {timeout}s")

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, no final persistence save."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def restart(self) -> None:
        self.kill()
        self.start()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        if self.proc is not None and self.proc.stderr is not None:
            self.proc.stderr.close()
