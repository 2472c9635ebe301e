"""Central refuses what it cannot trust, keeps the reason, counts it, and keeps going."""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from anju.clock import SystemClock
from contracts.messages import PassEvent, PersonKind, StrangerEvent
from gateway import topics
from gateway.central_link import CentralConsumer
from gateway.signing import Signer, generate_private_key

SITE = "site-1"


def _event(signer: Signer, node: str = "gate-a", seq: int = 1, **over: Any) -> PassEvent:
    fields: dict[str, Any] = dict(
        event_id=uuid.uuid4(),
        site_id=SITE,
        node_id=node,
        seq=seq,
        captured_at=SystemClock().now(),
        camera_id="cam-1",
        person_id="p-1",
        person_kind=PersonKind.owner,
    )
    fields.update(over)
    return PassEvent(**fields)


def test_bad_messages_are_dead_lettered_with_reasons_and_the_consumer_keeps_going(
    broker: Any, sqlite_store: Any, make_consumer: Any, keys: Any
) -> None:
    consumer, counted = make_consumer(broker.port, sqlite_store, max_payload_bytes=4096, seq_window=100)
    a = keys.node("gate-a")
    keys.node("gate-b")
    raw = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="raw", protocol=mqtt.MQTTv5)
    raw.connect("127.0.0.1", broker.port)
    raw.loop_start()
    topic_a = topics.event_topic(SITE, "gate-a", "pass")

    def send(topic: str, payload: bytes) -> None:
        raw.publish(topic, payload, qos=1).wait_for_publish(10)

    try:
        good = _event(a, seq=1000)
        sealed = a.seal(good)
        send(topic_a, sealed)
        send(topic_a, sealed)  # replayed byte for byte: stored once, counted once

        send(topic_a, b"{not json")
        wrong_version = json.loads(_event(a, seq=1001).model_dump_json())
        wrong_version["schema_version"] = 2
        send(topic_a, a.envelope(json.dumps(wrong_version)).model_dump_json().encode())
        big = StrangerEvent(
            event_id=uuid.uuid4(),
            site_id=SITE,
            node_id="gate-a",
            seq=1002,
            captured_at=SystemClock().now(),
            camera_id="cam-1",
            track_id=1,
            best_score=0.2,
            quality=0.8,
            embedding_b64="A" * 6000,
        )
        send(topics.event_topic(SITE, "gate-a", "stranger"), a.seal(big))
        altered = json.loads(a.seal(_event(a, seq=1003)))
        altered["payload"] = altered["payload"].replace('"p-1"', '"p-2"')
        send(topic_a, json.dumps(altered).encode())
        # gate-a's key used on gate-b's topic, and gate-a's event claiming to be gate-b's.
        send(topics.event_topic(SITE, "gate-b", "pass"), a.seal(_event(a, node="gate-b", seq=1004)))
        send(topic_a, a.seal(_event(a, node="gate-b", seq=1005)))
        stranger_key = Signer("gate-a", generate_private_key())
        send(topic_a, stranger_key.seal(_event(stranger_key, seq=1006)))
        old = _event(a, seq=1007, captured_at=SystemClock().now() - timedelta(days=400))
        send(topic_a, a.seal(old))
        replayed_seq = _event(a, seq=5)  # far below the node's highest stored seq (window 100)
        send(topic_a, a.seal(replayed_seq))

        marker = _event(a, seq=1008)
        send(topic_a, a.seal(marker))
        assert counted.wait_for(lambda seen: any(e.event_id == marker.event_id for e in seen))
    finally:
        raw.loop_stop()
        raw.disconnect()

    assert [e.event_id for e in counted.events] == [good.event_id, marker.event_id]
    assert sqlite_store.count_events() == 2
    reasons = sorted(d.reason for d in sqlite_store.dead_letters())
    assert reasons == sorted(
        [
            "malformed",
            "schema_version",
            "oversized",
            "bad_signature",
            "identity_mismatch",
            "identity_mismatch",
            "unknown_key",
            "replay_window",
            "replay_seq",
        ]
    )
    letters = {d.reason: d for d in sqlite_store.dead_letters()}
    assert letters["malformed"].payload == b"{not json"
    assert "6" in letters["oversized"].detail and letters["oversized"].topic.endswith("/stranger")
    assert consumer.stats["duplicates"] == 1
    assert consumer.metrics.rejected.labels(reason="bad_signature")._value.get() == 1
    assert consumer.metrics.rejected.labels(reason="replay_seq")._value.get() == 1
    assert consumer.metrics.duplicates._value.get() == 1


class _SlowSubscriber(CentralConsumer):
    """A consumer whose network thread stalls after CONNACK, before its SUBSCRIBE goes out.

    On a busy machine the scheduler does this by itself now and then; here it always happens.
    """

    def _on_connect(self, client: mqtt.Client, *args: Any) -> None:
        super()._on_connect(client, *args)
        time.sleep(0.5)  # not an assertion: widens the window between CONNACK and SUBSCRIBE


def test_started_consumer_receives_the_very_next_message(
    broker: Any, sqlite_store: Any, make_consumer: Any, keys: Any
) -> None:
    """start() returns only once the broker routes events to the consumer, not at CONNACK.

    Regression: it returned at CONNACK, so a message published in the next few
    milliseconds could reach the broker before the consumer's SUBSCRIBE and was
    never delivered to it. In the test above that lost the first copy of the
    duplicated event: the second copy was stored as new and stats["duplicates"] read 0.
    """
    consumer, counted = make_consumer(broker.port, sqlite_store, consumer_class=_SlowSubscriber)
    a = keys.node("gate-a")
    raw = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id="raw", protocol=mqtt.MQTTv5)
    raw.connect("127.0.0.1", broker.port)
    raw.loop_start()
    try:
        first = _event(a, seq=1)
        raw.publish(topics.event_topic(SITE, "gate-a", "pass"), a.seal(first), qos=1).wait_for_publish(10)
        assert counted.wait_for(lambda seen: any(e.event_id == first.event_id for e in seen))
    finally:
        raw.loop_stop()
        raw.disconnect()
    assert consumer.stats["stored"] == 1
