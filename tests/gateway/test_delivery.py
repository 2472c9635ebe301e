"""Edge outbox → real Mosquitto → central store: at-least-once in, exactly-once counted."""

from __future__ import annotations

import json
import threading
from collections import Counter
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from contracts.messages import OutboxOverflowEvent, PassEvent, Severity
from gateway import topics


def test_events_flow_end_to_end_and_leave_the_outbox(
    broker: Any, store: Any, make_consumer: Any, make_edge: Any, make_pass: Any
) -> None:
    _consumer, counted = make_consumer(broker.port, store)
    link = make_edge(broker.port)
    events = [make_pass(link, person_id=f"p-{i}") for i in range(200)]
    for ev in events:
        link.publish(ev)
    assert counted.wait_for(lambda seen: len(seen) >= 200)
    assert link.wait_drained(30)
    assert {e.event_id for e in counted.events} == {e.event_id for e in events}
    assert store.count_events(node_id="gate-a") == 200
    assert store.node_high_seq("site-1", "gate-a") == max(e.seq for e in events)
    assert link.outbox.depth() == 0


@pytest.mark.slow
def test_broker_sigkill_mid_stream_loses_nothing_and_counts_nothing_twice(
    broker: Any, store: Any, make_consumer: Any, make_edge: Any, make_pass: Any
) -> None:
    consumer, counted = make_consumer(broker.port, store, batch_max=2000)
    link = make_edge(broker.port, window=3000)
    total = 10_000
    events = [make_pass(link, person_id=f"p-{i}") for i in range(total)]
    link.publish_many(events[: total // 2])
    # Kill the broker while the first half is in flight (some stored, some acked, some not).
    assert counted.wait_for(lambda seen: len(seen) >= 500)
    broker.kill()
    link.publish_many(events[total // 2 :])  # produced during the outage: must wait in the outbox
    broker.start()
    assert counted.wait_for(lambda seen: len(seen) >= total, timeout=120)
    assert link.wait_drained(120)
    ids = Counter(e.event_id for e in counted.events)
    assert len(ids) == total, "lost events"
    assert max(ids.values()) == 1, "an event was counted twice"
    assert {e.event_id for e in events} == set(ids)
    assert store.count_events() == total
    print("stats", dict(consumer.stats), link.stats)


def test_database_outage_is_retried_without_loss_or_double_count(
    broker: Any, make_consumer: Any, make_edge: Any, make_pass: Any, tmp_path: Any
) -> None:
    import sqlite3
    import threading

    import sqlalchemy as sa

    from gateway.store import SqlEventStore

    db = tmp_path / "outage.db"
    store = SqlEventStore(sa.create_engine(f"sqlite:///{db}", connect_args={"timeout": 0.1}))
    store.create_tables()
    consumer, counted = make_consumer(broker.port, store)
    link = make_edge(broker.port)
    # Another writer holds the database: every insert fails until it lets go.
    blocker = sqlite3.connect(str(db), isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        events = [make_pass(link, person_id=f"p-{i}") for i in range(100)]
        link.publish_many(events)
        retried = threading.Event()
        for _ in range(600):
            if consumer.stats["store_retries"] >= 1:
                retried.set()
                break
            threading.Event().wait(0.05)
        assert retried.is_set()
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert counted.wait_for(lambda seen: len(seen) >= 100)
    assert link.wait_drained(60)
    assert sorted(e.seq for e in counted.events) == sorted(e.seq for e in events)
    assert store.count_events() == 100


def test_unacknowledged_events_are_resent_after_the_ack_timeout(
    broker: Any, keys: Any, tmp_path: Any, sqlite_store: Any, make_pass: Any
) -> None:
    import threading

    from prometheus_client import CollectorRegistry

    from anju.clock import FakeClock, SystemClock
    from gateway.central_link import CentralConsumer
    from gateway.config import BrokerConfig, CentralLinkConfig, EdgeLinkConfig
    from gateway.edge_link import EdgeLink
    from gateway.metrics import GatewayMetrics
    from gateway.outbox import Outbox

    clock = FakeClock(SystemClock().now())
    bcfg = BrokerConfig(port=broker.port, reconnect_max_s=1)
    cfg = EdgeLinkConfig(
        site_id="site-1",
        node_id="gate-a",
        broker=bcfg,
        signing_key=tmp_path / "unused",
        central_public_keys=[keys.central_pub],
        ack_timeout_s=30,
    )
    link = EdgeLink(cfg, Outbox(tmp_path / "o.db", 1 << 24, clock), keys.node("gate-a"), clock)
    link.start()
    consumer = None
    try:
        assert link.wait_ready(30)
        events = [make_pass(link, person_id=f"p-{i}") for i in range(10)]
        link.publish_many(events)  # nobody subscribed yet: the broker drops them
        for _ in range(600):
            if link.inflight() == 10:
                break
            threading.Event().wait(0.05)
        assert link.inflight() == 10
        seen: list[Any] = []
        got = threading.Condition()

        def on_events(evs: list[Any]) -> None:
            with got:
                seen.extend(evs)
                got.notify_all()

        # A consumer for every site announces nothing, so only the ack timeout can bring them.
        consumer = CentralConsumer(
            CentralLinkConfig(broker=bcfg, signing_key=tmp_path / "unused"),
            sqlite_store,
            keys.registry,
            on_events,
            SystemClock(),
            signer=keys.central,
            metrics=GatewayMetrics(CollectorRegistry()),
        )
        consumer.start(wait_connected_s=15)
        assert link.stats["resends"] == 0
        clock.advance(31)
        with got:
            assert got.wait_for(lambda: len(seen) == 10, 30)
        assert link.wait_drained(30)
        assert link.stats["resends"] == 1
    finally:
        link.stop()
        if consumer is not None:
            consumer.stop()


def test_two_central_instances_split_the_load_and_count_once(
    broker: Any, store: Any, make_consumer: Any, make_edge: Any, make_pass: Any
) -> None:
    first, counted_a = make_consumer(broker.port, store)
    second, counted_b = make_consumer(broker.port, store)
    link = make_edge(broker.port, batch_max_events=20)
    events = [make_pass(link, person_id=f"p-{i}") for i in range(2000)]
    for i in range(0, 2000, 100):
        link.publish_many(events[i : i + 100])
    assert link.wait_drained(60)
    assert counted_a.wait_for(lambda seen: len(seen) + len(counted_b.events) >= 2000)
    ids = [e.event_id for e in counted_a.events + counted_b.events]
    assert len(ids) == len(set(ids)) == 2000
    # The broker shares the subscription: both instances did part of the work.
    assert first.stats["stored"] > 0 and second.stats["stored"] > 0
    assert store.count_events() == 2000


class _Observer:
    """A plain MQTT client with a persistent session on one node's event topics.

    Its subscription survives a broker restart (clean stop, persistence on), so the
    broker queues for it, in arrival order, everything the node sends after the
    restart: it sees the order in which the node drained its outbox.
    """

    def __init__(self, port: int, node: str) -> None:
        self.seqs: list[int] = []
        self.cond = threading.Condition()
        self.subscribed = threading.Event()
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2, client_id="observer", protocol=mqtt.MQTTv5
        )
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_a: self.subscribed.set()
        self.client.reconnect_delay_set(1, 1)
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = 3600
        self.client.connect("127.0.0.1", port, clean_start=False, properties=props)
        self.client.subscribe(topics.event_topic("site-1", node, "#"), qos=1)
        self.client.loop_start()

    def _on_message(self, _c: Any, _u: Any, msg: Any) -> None:
        inner = json.loads(json.loads(msg.payload)["payload"])
        seqs = [e["seq"] for e in inner["events"]] if inner.get("type") == "event_batch" else [inner["seq"]]
        with self.cond:
            self.seqs.extend(seqs)
            self.cond.notify_all()

    def first_seen(self) -> list[int]:
        """Each seq in the order it first arrived (later copies are resends)."""
        with self.cond:
            return list(dict.fromkeys(self.seqs))

    def wait_for(self, n: int, timeout: float = 60.0) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: len(set(self.seqs)) >= n, timeout)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_backlog_from_a_broker_outage_drains_in_order(
    broker: Any, sqlite_store: Any, make_consumer: Any, make_edge: Any, make_pass: Any
) -> None:
    consumer, counted = make_consumer(broker.port, sqlite_store)
    link = make_edge(broker.port)
    observer = _Observer(broker.port, "gate-a")
    try:
        assert observer.subscribed.wait(30)
        broker.stop()  # a clean stop keeps the observer's session (and subscription) on disk
        events = [make_pass(link, person_id=f"p-{i}") for i in range(300)]
        for i in range(0, 300, 30):
            link.publish_many(events[i : i + 30])
        assert link.outbox.depth() == 300  # nowhere to go: all of it waits in the outbox
        broker.start()
        assert counted.wait_for(lambda seen: len(seen) >= 300)
        assert link.wait_drained(60)
        assert observer.wait_for(300)
        assert observer.first_seen() == [e.seq for e in events]
    finally:
        observer.close()
    assert sorted(e.seq for e in counted.events) == [e.seq for e in events]
    assert consumer.stats["stored"] == 300


def test_outbox_overflow_during_an_outage_reaches_central_as_an_alert(
    broker: Any, sqlite_store: Any, make_consumer: Any, make_edge: Any, make_pass: Any
) -> None:
    _consumer, counted = make_consumer(broker.port, sqlite_store)
    link = make_edge(broker.port, outbox_bytes=64 * 1024)
    broker.kill()
    events = [make_pass(link, person_id=f"p-{i}") for i in range(400)]
    for i in range(0, 400, 40):
        link.publish_many(events[i : i + 40])
    dropped = link.outbox.dropped_total()
    waiting = link.outbox.depth()
    assert dropped > 0 and link.outbox.bytes_used() <= 64 * 1024
    broker.start()
    assert counted.wait_for(lambda seen: len(seen) >= waiting)
    assert link.wait_drained(60)
    passes = [e for e in counted.events if isinstance(e, PassEvent)]
    alerts = [e for e in counted.events if isinstance(e, OutboxOverflowEvent)]
    # Nothing vanished silently: every event either arrived or is counted in an alert that arrived.
    assert alerts and all(a.severity is Severity.high for a in alerts)
    assert sum(a.dropped for a in alerts) == dropped
    assert len(passes) + dropped == len(events)
    # The oldest went first: what arrived is the newest part of the stream.
    assert sorted(e.seq for e in passes) == [e.seq for e in events[dropped:]]
    assert min(a.oldest_dropped_at for a in alerts) == events[0].captured_at
