"""The real event path for the simulation: edge outbox → Mosquitto → central consumer → store → hooks.

A private Mosquitto runs on an ephemeral loopback port for the run; each simulated edge
node has its own signing key, durable outbox and :class:`gateway.edge_link.EdgeLink`;
central runs a :class:`gateway.central_link.CentralConsumer` over a
:class:`gateway.store.SqlEventStore` whose ``on_events`` hook feeds the central ingestor
and the reconciliation service, exactly as the central service wires them.
"""

from __future__ import annotations

import getpass
import logging
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from anju.clock import Clock
from anju.errors import AnjuError

log = logging.getLogger(__name__)

MOSQUITTO_CANDIDATES = ("/usr/sbin/mosquitto", "/usr/bin/mosquitto")
DELIVERY_TIMEOUT_S = 120.0


class GatewayPathError(AnjuError):
    """The broker or the gateway could not be started or did not deliver."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateBroker:
    """A Mosquitto process on a loopback ephemeral port, owned by this run."""

    def __init__(self, workdir: Path) -> None:
        exe = next((p for p in MOSQUITTO_CANDIDATES if Path(p).exists()), shutil.which("mosquitto"))
        if exe is None:
            raise GatewayPathError("mosquitto not found (install the Debian package 'mosquitto')")
        self.exe = exe
        self.workdir = workdir
        self.port = _free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 15.0) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(
            "\n".join(
                [
                    f"user {getpass.getuser()}",
                    f"listener {self.port} 127.0.0.1",
                    "allow_anonymous true",
                    "persistence false",
                    "max_inflight_messages 1000",
                    "max_queued_messages 1000000",
                    f"log_dest file {self.workdir / 'mosquitto.log'}",
                    "",
                ]
            )
        )
        self.proc = subprocess.Popen(
            [self.exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.proc.stderr.read().decode(errors="replace") if self.proc.stderr else ""
                raise GatewayPathError(f"mosquitto exited at start: {err.strip()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.05)
        raise GatewayPathError(f"mosquitto did not listen on 127.0.0.1:{self.port} within {timeout_s:.0f}s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None


class _Counter:
    def __init__(self, hook: Callable[[list[Any]], None]) -> None:
        self.hook = hook
        self.seen = 0
        self.cond = threading.Condition()

    def __call__(self, events: list[Any]) -> None:
        try:
            self.hook(events)
        finally:
            with self.cond:
                self.seen += len(events)
                self.cond.notify_all()


class GatewayTransport:
    """Sends simulated edge events over the real gateway and waits until central ingested them."""

    def __init__(
        self,
        workdir: Path,
        site_id: str,
        node_ids: list[str],
        engine: Any,
        on_events: Callable[[list[Any]], None],
        clock: Clock,
    ) -> None:
        from prometheus_client import CollectorRegistry

        from gateway.central_link import CentralConsumer
        from gateway.config import BrokerConfig, CentralLinkConfig, EdgeLinkConfig
        from gateway.edge_link import EdgeLink
        from gateway.metrics import GatewayMetrics
        from gateway.outbox import Outbox
        from gateway.signing import (
            CENTRAL_SIGNER_ID,
            NodeKey,
            Signer,
            StaticKeyRegistry,
            generate_private_key,
            save_private_key,
            save_public_key,
        )
        from gateway.store import SqlEventStore

        self.broker = PrivateBroker(workdir / "broker")
        self.broker.start()
        keys = workdir / "keys"
        central_key = generate_private_key()
        save_private_key(central_key, keys / "central.sign.pem")
        save_public_key(central_key.public_key(), keys / "central.sign.pub.pem")
        registry = StaticKeyRegistry()
        broker = BrokerConfig(
            host="127.0.0.1", port=self.broker.port, reconnect_min_s=0.2, reconnect_max_s=1.0
        )
        self.store = SqlEventStore(engine)
        self.store.create_tables()
        self.counter = _Counter(on_events)
        self.consumer = CentralConsumer(
            CentralLinkConfig(broker=broker, signing_key=keys / "central.sign.pem", site_id=site_id),
            self.store,
            registry,
            self.counter,
            clock,
            signer=Signer(CENTRAL_SIGNER_ID, central_key),
            metrics=GatewayMetrics(CollectorRegistry()),
        )
        self.links: dict[str, Any] = {}
        for node in node_ids:
            node_key = generate_private_key()
            save_private_key(node_key, keys / f"{node}.sign.pem")
            signer = Signer(node, node_key)
            registry.add(NodeKey(site_id=site_id, signer_id=node, public_key=signer.public_key))
            cfg = EdgeLinkConfig(
                site_id=site_id,
                node_id=node,
                broker=broker,
                signing_key=keys / f"{node}.sign.pem",
                central_public_keys=[keys / "central.sign.pub.pem"],
                # Simulated time jumps an hour per step: keep the link's timers from treating
                # every jump as a lost ack or a stale whitelist (no whitelist is published here).
                ack_timeout_s=3600.0,
                max_whitelist_age_s=400.0 * 86400,
                heartbeat_interval_s=3600.0,
            )
            outbox = Outbox(workdir / f"outbox-{node}.db", 256 * 1024 * 1024, clock, synchronous="NORMAL")
            self.links[node] = EdgeLink(cfg, outbox, signer, clock)
        self.consumer.start(wait_connected_s=15)
        for link in self.links.values():
            link.start()
        self.sent = 0

    def send(self, events: list[Any]) -> None:
        by_node: dict[str, list[Any]] = {}
        for ev in events:
            link = self.links[ev.node_id]
            # The outbox owns the per-node sequence; the event id (ground truth key) is kept.
            by_node.setdefault(ev.node_id, []).append(ev.model_copy(update={"seq": link.outbox.next_seq()}))
        for node, evs in by_node.items():
            self.links[node].publish_many(evs)
        self.sent += len(events)
        deadline = time.monotonic() + DELIVERY_TIMEOUT_S
        with self.counter.cond:
            while self.counter.seen < self.sent:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise GatewayPathError(
                        f"central ingested {self.counter.seen} of {self.sent} events "
                        f"within {DELIVERY_TIMEOUT_S:.0f}s"
                    )
                self.counter.cond.wait(min(left, 0.5))

    def close(self) -> None:
        for link in self.links.values():
            link.stop()
        self.consumer.stop()
        self.broker.stop()
