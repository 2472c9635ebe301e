"""The demo's embedded broker (amqtt, MQTT 3.1.1, no shared subscriptions) carries the gateway.

Real parts: ``python -m anju.embedded_broker`` as a child process, the gateway's EdgeLink
with its durable outbox, CentralConsumer over a SQLite SqlEventStore, WhitelistPublisher;
all in ``protocol="3.1.1"`` mode with ``share_group=None``.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from prometheus_client import CollectorRegistry

from anju.clock import SystemClock
from contracts import Event
from contracts.messages import PassEvent, PersonKind
from contracts.whitelist import WhitelistDelta, WhitelistPerson, WhitelistSnapshot
from gateway import topics
from gateway.central_link import CentralConsumer, WhitelistPublisher
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

SITE = "site-1"
NODE = "gate-a"

pytestmark = pytest.mark.timeout(180)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def embedded_port(tmp_path: Path) -> Iterator[int]:
    port = _free_port()
    log = (tmp_path / "broker.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "anju.embedded_broker", "--port", str(port)], stdout=log, stderr=log
    )
    deadline = time.monotonic() + 30
    while True:
        assert proc.poll() is None, (tmp_path / "broker.log").read_text()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            assert time.monotonic() < deadline, "embedded broker did not listen"
            time.sleep(0.1)
    yield port
    proc.terminate()
    proc.wait(15)
    log.close()


def test_topics_without_share_group_are_plain() -> None:
    assert topics.central_event_subscription("s", None) == "anju/v1/s/+/events/#"
    assert topics.central_event_subscription("s") == "$share/anju-central/anju/v1/s/+/events/#"
    assert all(not t.startswith("$share") for t in topics.central_node_subscriptions(None, None))


def test_gateway_delivery_and_whitelist_over_embedded_broker(tmp_path: Path, embedded_port: int) -> None:
    broker = BrokerConfig(port=embedded_port, protocol="3.1.1", reconnect_min_s=0.2, reconnect_max_s=1.0)
    keys = tmp_path / "keys"
    central_key, node_key = generate_private_key(), generate_private_key()
    save_private_key(central_key, keys / "central.sign.pem")
    save_public_key(central_key.public_key(), keys / "central.sign.pub.pem")
    save_private_key(node_key, keys / f"{NODE}.sign.pem")
    registry = StaticKeyRegistry()
    node_signer = Signer(NODE, node_key)
    registry.add(NodeKey(site_id=SITE, signer_id=NODE, public_key=node_signer.public_key))
    central_signer = Signer(CENTRAL_SIGNER_ID, central_key)

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'central.db'}")
    store = SqlEventStore(engine)
    store.create_tables()
    seen: list[Event] = []
    cond = threading.Condition()

    def on_events(events: list[Event]) -> None:
        with cond:
            seen.extend(events)
            cond.notify_all()

    central_cfg = CentralLinkConfig(
        broker=broker, signing_key=keys / "central.sign.pem", site_id=SITE, share_group=None
    )
    consumer = CentralConsumer(
        central_cfg,
        store,
        registry,
        on_events,
        SystemClock(),
        signer=central_signer,
        metrics=GatewayMetrics(CollectorRegistry()),
    )
    publisher = WhitelistPublisher(central_cfg, central_signer)
    edge_cfg = EdgeLinkConfig(
        site_id=SITE,
        node_id=NODE,
        broker=broker,
        signing_key=keys / f"{NODE}.sign.pem",
        central_public_keys=[keys / "central.sign.pub.pem"],
        ack_timeout_s=2,
    )
    outbox = Outbox(tmp_path / "outbox.db", 64 * 1024 * 1024, SystemClock(), synchronous="NORMAL")
    edge = EdgeLink(edge_cfg, outbox, node_signer, SystemClock())
    lists: list[WhitelistSnapshot | WhitelistDelta] = []

    def apply(msg: WhitelistSnapshot | WhitelistDelta) -> None:
        lists.append(msg)
        edge.report_whitelist_version(msg.version)

    edge.on_whitelist(apply)
    consumer.start(wait_connected_s=20)
    publisher.start()
    edge.start()
    try:
        assert edge.wait_ready(30), "edge did not connect/subscribe over MQTT 3.1.1"
        sent = []
        for i in range(300):
            ev = edge.events.make(
                PassEvent, camera_id="cam-1", person_id=f"p-{i}", person_kind=PersonKind.owner
            )
            edge.publish(ev)
            sent.append(str(ev.event_id))
        assert edge.wait_drained(60), "central did not acknowledge every event"
        with cond:
            assert cond.wait_for(lambda: len(seen) >= len(sent), 30)
        assert sorted(str(e.event_id) for e in seen) == sorted(sent)  # each handed to central once
        assert store.count_events(SITE, NODE) == len(sent)  # stored once

        snapshot = WhitelistSnapshot(
            site_id=SITE,
            version=1,
            issued_at=SystemClock().now(),
            model_id="m",
            persons=[WhitelistPerson(person_id="p-1", kind=PersonKind.owner)],
        )
        publisher.publish_snapshot(snapshot)
        deadline = time.monotonic() + 30
        while not lists and time.monotonic() < deadline:
            time.sleep(0.1)
        assert lists, "the signed whitelist snapshot did not reach the edge"
        got = lists[-1]
        assert isinstance(got, WhitelistSnapshot)
        assert got.version == 1 and [p.person_id for p in got.persons] == ["p-1"]
    finally:
        edge.stop()
        outbox.close()
        publisher.stop()
        consumer.stop()
        engine.dispose()


@pytest.mark.slow
@pytest.mark.timeout(500)
def test_demo_runs_on_the_embedded_broker(tmp_path: Path) -> None:
    """``anju demo --broker embedded`` (what a machine without Mosquitto gets): live events arrive."""
    summary = tmp_path / "summary.json"
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "anju.cli",
            "demo",
            "--data-dir",
            str(tmp_path / "demo"),
            "--fresh",
            "--port",
            "0",
            "--broker",
            "embedded",
            "--duration",
            "45",
            "--summary",
            str(summary),
        ],
        cwd=Path(__file__).resolve().parents[2],
        capture_output=True,
        text=True,
        timeout=450,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "embedded Python broker" in out.stderr
    events = json.loads(summary.read_text(encoding="utf-8"))["events"]
    kinds = {e["kind"] for e in events}
    assert "pass" in kinds and "stranger" in kinds, kinds
