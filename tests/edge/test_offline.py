"""Offline-first: with the broker down, gates keep deciding; the events reach the broker later.

A real Mosquitto on an ephemeral loopback port (the gateway tests' helper) stays down while the node
recognises a resident from the clip; then it starts, and the node's signed pass event arrives.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import threading
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest

from anju.clock import SystemClock
from contracts.link import EventBatch, SignedEnvelope
from contracts.messages import parse_event
from edge.app import EdgeNode
from edge.doors import SimulatedDoor
from gateway import topics
from gateway.signing import CENTRAL_SIGNER_ID, Signer, generate_private_key, save_private_key, save_public_key

pytestmark = pytest.mark.slow


def _broker_module() -> Any:
    path = Path(__file__).resolve().parents[1] / "gateway" / "broker.py"
    spec = importlib.util.spec_from_file_location("anju_edge_tests_broker", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


class Subscriber:
    def __init__(self, port: int, topic: str) -> None:
        self.messages: list[bytes] = []
        self.cond = threading.Condition()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="edge-test-sub")
        self.client.on_connect = lambda c, u, f, rc, p: c.subscribe(topic, qos=1)
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        with self.cond:
            self.messages.append(bytes(msg.payload))
            self.cond.notify_all()

    def events(self) -> list[Any]:
        with self.cond:
            return self._decode(list(self.messages))

    def wait_for(self, pred: Any, timeout: float) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: pred(self._decode(self.messages)), timeout)

    @staticmethod
    def _decode(raw: list[bytes]) -> list[Any]:
        out: list[Any] = []
        for m in raw:
            payload = json.loads(SignedEnvelope.model_validate_json(m).payload)
            if payload.get("type") == "event_batch":
                out.extend(EventBatch.model_validate(payload).events)
            else:
                out.append(payload)
        return [parse_event(json.dumps(e)) for e in out]

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_decisions_continue_offline_and_events_arrive_later(
    tmp_path: Path, h: Any, pipeline: Any, resident_persons: list[Any]
) -> None:
    broker = _broker_module().Broker.plain(tmp_path / "broker")  # configured, not started: offline
    node_key, central_key = generate_private_key(), generate_private_key()
    save_private_key(node_key, tmp_path / "node.pem")
    save_public_key(central_key.public_key(), tmp_path / "central.pub.pem")
    gateway = {
        "site_id": h.SITE,
        "node_id": h.NODE,
        "broker": {"host": "127.0.0.1", "port": broker.port, "reconnect_min_s": 0.2, "reconnect_max_s": 1.0},
        "signing_key": str(tmp_path / "node.pem"),
        "central_public_keys": [str(tmp_path / "central.pub.pem")],
        "ack_timeout_s": 2.0,
    }
    cam = {"id": "cam-1", "source": "file", "url": str(h.CLIP), "door_id": "door-1"}
    cfg = h.edge_config(tmp_path, [cam], gateway=gateway)
    door = SimulatedDoor("door-1", SystemClock())
    node = EdgeNode(cfg, door_drivers={"door-1": door})
    node.apply_whitelist(h.snapshot(pipeline, resident_persons))
    local = h.Collector()
    node.add_event_listener(local)
    node.start()
    sub = None
    try:
        assert local.wait_for(lambda ev: any(getattr(e, "person_id", "") == "p-lmm" for e in ev), 90)
        assert door.open_count >= 1  # the gate opened with no broker
        assert node.link is not None and not node.link.connected
        assert node.outbox.depth() >= 2  # the camera status and the pass wait on disk
        broker.start()
        sub = Subscriber(broker.port, f"anju/v1/{h.SITE}/{h.NODE}/events/#")
        assert sub.wait_for(lambda ev: any(getattr(e, "person_id", "") == "p-lmm" for e in ev), 60)
        arrived = next(e for e in sub.events() if getattr(e, "person_id", "") == "p-lmm")
        sent = next(e for e in local.events if getattr(e, "person_id", "") == "p-lmm")
        assert arrived.event_id == sent.event_id and arrived.seq == sent.seq

        # Back online, central's signed snapshot reaches the node through the broker and replaces the list.
        central = Signer(CENTRAL_SIGNER_ID, central_key)
        update = h.snapshot(pipeline, resident_persons[:1], version=2)
        sub.client.publish(
            topics.whitelist_topic(h.SITE, None, "snapshot"), central.seal(update), qos=1, retain=True
        )
        deadline = threading.Event()
        for _ in range(200):
            if node.whitelist.version == 2:
                break
            deadline.wait(0.1)
        assert node.whitelist.version == 2 and set(node.whitelist.persons) == {"p-lmm"}
    finally:
        node.stop()
        if sub is not None:
            sub.close()
        broker.stop()
