"""Device identity against a real TLS Mosquitto configured by ``anju gateway broker-config``."""

from __future__ import annotations

import getpass
import ssl
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client import CollectorRegistry

from anju.clock import SystemClock
from contracts.messages import PassEvent, PersonKind
from contracts.whitelist import DoorCommand, WhitelistSnapshot
from gateway import broker_config, topics
from gateway.central_link import CentralConsumer, WhitelistPublisher
from gateway.config import BrokerConfig, CentralLinkConfig, EdgeLinkConfig, TlsConfig
from gateway.edge_link import EdgeLink
from gateway.metrics import GatewayMetrics
from gateway.outbox import Outbox
from gateway.signing import CENTRAL_SIGNER_ID, Signer, StaticKeyRegistry
from gateway.store import SqlEventStore

SITE = "site-1"


@dataclass
class TlsSite:
    files: broker_config.BrokerFiles
    broker: Any

    def tls(self, identity: str) -> TlsConfig:
        return TlsConfig(
            ca_file=self.files.ca_cert,
            cert_file=self.files.client_cert(identity),
            key_file=self.files.client_key(identity),
        )

    def broker_cfg(self, identity: str) -> BrokerConfig:
        return BrokerConfig(host="127.0.0.1", port=self.files.port, tls=self.tls(identity), reconnect_max_s=1)


@pytest.fixture
def tls_site(tmp_path: Path) -> Iterator[TlsSite]:
    from anju_gateway_tests_broker import Broker, free_port  # type: ignore[import-not-found]  # conftest loads it

    port = free_port()
    files = broker_config.generate(
        SITE,
        tmp_path / "site",
        ["gate-a", "gate-b"],
        port=port,
        bind_address="127.0.0.1",
        broker_user=getpass.getuser(),
    )
    b = Broker(files.conf, port)
    b.start()
    yield TlsSite(files, b)
    b.stop()


def raw_client(site: TlsSite, identity: str, ca: Path | None = None) -> mqtt.Client:
    c = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=f"raw-{uuid.uuid4().hex[:6]}",
        protocol=mqtt.MQTTv5,
    )
    ctx = ssl.create_default_context(cafile=str(ca or site.files.ca_cert))
    ctx.load_cert_chain(str(site.files.client_cert(identity)), str(site.files.client_key(identity)))
    c.tls_set_context(ctx)
    return c


class Seen:
    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.events: list[Any] = []

    def __call__(self, events: list[Any]) -> None:
        with self.cond:
            self.events.extend(events)
            self.cond.notify_all()

    def wait_for(self, event_id: uuid.UUID, timeout: float = 30) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: any(e.event_id == event_id for e in self.events), timeout)


def start_central(site: TlsSite, tmp_path: Path) -> tuple[CentralConsumer, Seen, SqlEventStore]:
    import sqlalchemy as sa

    store = SqlEventStore(sa.create_engine(f"sqlite:///{tmp_path / 'c.db'}"))
    store.create_tables()
    seen = Seen()
    cfg = CentralLinkConfig(
        broker=site.broker_cfg("central"), signing_key=site.files.signing_key("central"), site_id=SITE
    )
    registry = StaticKeyRegistry.from_directory(site.files.out_dir / "keys", SITE)
    consumer = CentralConsumer(
        cfg, store, registry, seen, SystemClock(), metrics=GatewayMetrics(CollectorRegistry())
    )
    consumer.start(wait_connected_s=15)
    return consumer, seen, store


def start_edge(site: TlsSite, tmp_path: Path, node: str) -> EdgeLink:
    cfg = EdgeLinkConfig(
        site_id=SITE,
        node_id=node,
        broker=site.broker_cfg(node),
        signing_key=site.files.signing_key(node),
        central_public_keys=[site.files.signing_public_key("central")],
    )
    link = EdgeLink(cfg, Outbox(tmp_path / f"{node}.db", 1 << 24, SystemClock()), None, SystemClock())
    link.start()
    return link


def _pass(link: EdgeLink) -> PassEvent:
    return link.events.make(PassEvent, camera_id="cam-1", person_id="p-1", person_kind=PersonKind.owner)


def test_generated_tls_config_carries_signed_events_end_to_end(tls_site: TlsSite, tmp_path: Path) -> None:
    consumer, seen, store = start_central(tls_site, tmp_path)
    link = start_edge(tls_site, tmp_path, "gate-a")
    try:
        ev = _pass(link)
        link.publish(ev)
        assert seen.wait_for(ev.event_id)
        assert link.wait_drained(30)
        assert store.count_events(node_id="gate-a") == 1
    finally:
        link.stop()
        consumer.stop()


def _publish_and_wait(client: mqtt.Client, topic: str, payload: bytes, retain: bool = False) -> Any:
    codes: dict[int, Any] = {}
    done = threading.Condition()

    def on_publish(_c: Any, _u: Any, mid: int, reason: Any, _p: Any) -> None:
        with done:
            codes[mid] = reason
            done.notify_all()

    client.on_publish = on_publish
    info = client.publish(topic, payload, qos=1, retain=retain)
    with done:
        assert done.wait_for(lambda: info.mid in codes, 15)
    return codes[info.mid]


def test_node_may_not_publish_or_read_outside_its_own_topics(tls_site: TlsSite, tmp_path: Path) -> None:
    consumer, seen, store = start_central(tls_site, tmp_path)
    link = start_edge(tls_site, tmp_path, "gate-a")
    raw = raw_client(tls_site, "gate-a")
    raw.connect("127.0.0.1", tls_site.files.port)
    raw.loop_start()
    try:
        # gate-a forges an event as gate-b (signed with gate-a's own key, on gate-b's topic).
        signer = Signer.from_file("gate-a", tls_site.files.signing_key("gate-a"))
        forged = _pass(link).model_copy(update={"node_id": "gate-b", "event_id": uuid.uuid4()})
        reason = _publish_and_wait(raw, topics.event_topic(SITE, "gate-b", "pass"), signer.seal(forged))
        assert reason.is_failure and reason.value == 0x87  # not authorised

        # …nor may it write its site's whitelist (only central may).
        fake = WhitelistSnapshot(
            site_id=SITE, version=99, issued_at=SystemClock().now(), model_id="m", persons=[]
        )
        reason = _publish_and_wait(
            raw, topics.whitelist_topic(SITE, None, "snapshot"), signer.seal(fake), retain=True
        )
        assert reason.is_failure

        # …nor read another node's door commands (the broker grants the subscription but never delivers).
        received: list[str] = []
        got_own = threading.Event()

        def on_message(_c: Any, _u: Any, msg: Any) -> None:
            received.append(msg.topic)
            if msg.topic == topics.door_command_topic(SITE, "gate-a"):
                got_own.set()

        raw.on_message = on_message
        raw.subscribe(
            [(topics.door_command_topic(SITE, "gate-b"), 1), (topics.door_command_topic(SITE, "gate-a"), 1)]
        )
        cfg = CentralLinkConfig(
            broker=tls_site.broker_cfg("central"),
            signing_key=tls_site.files.signing_key("central"),
            site_id=SITE,
        )
        pub = WhitelistPublisher(cfg)
        pub.start()
        try:
            now = SystemClock().now()
            for node in ("gate-b", "gate-a"):
                pub.send_door_command(
                    DoorCommand(
                        command_id=uuid.uuid4(),
                        site_id=SITE,
                        node_id=node,
                        door_id="d-1",
                        requested_by="guard-1",
                        issued_at=now,
                        expires_at=now + timedelta(seconds=30),
                    )
                )
            assert got_own.wait(15)
        finally:
            pub.stop()
        assert received == [topics.door_command_topic(SITE, "gate-a")]

        # A legitimate event sent after the forgery arrives; the forgery never does.
        ev = _pass(link)
        link.publish(ev)
        assert seen.wait_for(ev.event_id)
        assert all(e.event_id != forged.event_id for e in seen.events)
        assert store.count_events(node_id="gate-b") == 0
    finally:
        raw.loop_stop()
        raw.disconnect()
        link.stop()
        consumer.stop()


def test_central_publisher_may_write_whitelists_and_nodes_receive_them(
    tls_site: TlsSite, tmp_path: Path
) -> None:
    link = start_edge(tls_site, tmp_path, "gate-a")
    got: list[Any] = []
    ready = threading.Event()

    def on_whitelist(msg: Any) -> None:
        got.append(msg)
        ready.set()

    link.on_whitelist(on_whitelist)
    cfg = CentralLinkConfig(
        broker=tls_site.broker_cfg("central"), signing_key=tls_site.files.signing_key("central"), site_id=SITE
    )
    pub = WhitelistPublisher(cfg, Signer.from_file(CENTRAL_SIGNER_ID, tls_site.files.signing_key("central")))
    pub.start()
    try:
        snap = WhitelistSnapshot(
            site_id=SITE, version=3, issued_at=SystemClock().now(), model_id="m", persons=[]
        )
        pub.publish_snapshot(snap)
        assert ready.wait(30)
        assert got == [snap]
    finally:
        pub.stop()
        link.stop()


@pytest.mark.parametrize("who", ["foreign_ca", "no_certificate"])
def test_wrong_or_missing_certificate_is_refused(tls_site: TlsSite, tmp_path: Path, who: str) -> None:
    c = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2, client_id="intruder", protocol=mqtt.MQTTv5
    )
    ctx = ssl.create_default_context(cafile=str(tls_site.files.ca_cert))
    if who == "foreign_ca":
        other = broker_config.generate(
            SITE, tmp_path / "other", ["gate-a"], port=1, broker_user=getpass.getuser()
        )
        ctx.load_cert_chain(str(other.client_cert("gate-a")), str(other.client_key("gate-a")))
    c.tls_set_context(ctx)
    refused = False
    try:
        c.connect("127.0.0.1", tls_site.files.port)
        # TLS 1.3 reports a refused client certificate on the first read, not in the handshake.
        for _ in range(50):
            rc = c.loop(timeout=0.2)
            if rc != mqtt.MQTT_ERR_SUCCESS:
                refused = True
                break
            if c.is_connected():
                break
    except (ssl.SSLError, OSError):
        refused = True
    assert refused and not c.is_connected()
