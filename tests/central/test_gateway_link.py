"""End to end over a real Mosquitto: edge node → gateway → central ingest → alert on a WebSocket and on
MQTT; a consent withdrawal reaches the edge as a signed whitelist delta."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import Engine

from anju.clock import FakeClock
from central.app import create_app
from central.ingest import ops_runtime
from central.keys import key_path
from central.models.alerts import AlertRule
from central.models.biometrics import Consent
from central.models.registry import Person, Site
from central.models.zones import AccessRule
from central.services.whitelist import mark_person_changed
from central.settings import CentralSettings, MqttLinkSettings
from contracts import StrangerEvent, WhitelistDelta, WhitelistSnapshot
from gateway.config import BrokerConfig, EdgeLinkConfig
from gateway.edge_link import EdgeLink
from gateway.outbox import Outbox
from gateway.signing import Signer, generate_private_key, save_private_key, save_public_key
from tests.central.conftest import SECRET
from tests.central.test_whitelist import MODEL, enrol

pytestmark = pytest.mark.slow


def ids(message: WhitelistSnapshot | WhitelistDelta) -> set[str]:
    people = message.persons if isinstance(message, WhitelistSnapshot) else message.upserts
    return {p.person_id for p in people}


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_edge_event_to_console_and_mqtt(engine: Engine, tmp_path: Path, clock: FakeClock, login) -> None:
    site_id = f"site-{uuid.uuid4().hex[:8]}"
    node_keys = tmp_path / "node-keys"
    node_keys.mkdir()
    node_key = generate_private_key()
    save_private_key(node_key, tmp_path / "node-1.pem")
    save_public_key(node_key.public_key(), node_keys / "node-1.sign.pub.pem")
    settings = CentralSettings(
        environment="test",
        secret_key=SECRET,
        data_dir=tmp_path / "data",
        database_url="sqlite://",
        mqtt=MqttLinkSettings(
            enabled=True,
            client_id=f"central-{uuid.uuid4().hex[:6]}",
            extra={"node_keys": {site_id: str(node_keys)}, "model_id": MODEL},
        ),
    )
    app = create_app(settings, clock=clock, engine=engine)
    from central.db import make_session_factory

    with make_session_factory(engine)() as db:
        now = clock.now()
        db.add(Site(id=site_id, name="端到端", code=site_id, created_at=now, updated_at=now))
        db.flush()
        db.add(
            AlertRule(
                site_id=site_id,
                name="s",
                type="stranger",
                params={"count": 1},
                created_at=now,
                updated_at=now,
            )
        )
        db.commit()
    _, headers = login("guard", [site_id])

    alerts_seen: list[dict[str, object]] = []
    got_alert = threading.Event()
    sub = mqtt.Client(callback_api_version=CallbackAPIVersion.VERSION2, client_id=f"t-{uuid.uuid4().hex[:6]}")

    def on_message(_c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        alerts_seen.append(json.loads(msg.payload))
        got_alert.set()

    sub.on_message = on_message
    sub.connect("127.0.0.1", 1883)
    sub.subscribe(f"anju/v1/{site_id}/central/alerts", qos=1)
    sub.loop_start()
    with TestClient(app) as client:  # lifespan starts the gateway link
        central_pub = key_path(settings).with_suffix(".pub.pem")
        if not central_pub.exists():
            from central.keys import app_signer

            save_public_key(app_signer(app).public_key, central_pub)
        edge = EdgeLink(
            EdgeLinkConfig(
                site_id=site_id,
                node_id="node-1",
                broker=BrokerConfig(),
                signing_key=tmp_path / "node-1.pem",
                central_public_keys=[central_pub],
            ),
            Outbox(tmp_path / "outbox.db", 64 * 1024 * 1024, clock, synchronous="NORMAL"),
            Signer("node-1", node_key),
            clock,
        )
        received: list[WhitelistSnapshot | WhitelistDelta] = []
        edge.on_whitelist(received.append)
        edge.start()
        try:
            assert edge.wait_ready(30)
            token = headers["Authorization"][7:]
            with client.websocket_connect(f"/api/v1/ws/alerts?token={token}") as ws:
                assert ws.receive_json()["notice"] == "hello"
                event = edge.events.make(
                    StrangerEvent, camera_id="gate-1", ring=1, track_id=1, best_score=0.1, quality=0.9
                )
                edge.publish(event)
                msg = ws.receive_json()
                assert msg["notice"] == "alert.created" and str(event.event_id) in msg["event_ids"]
            assert got_alert.wait(30)
            assert alerts_seen[0]["site_id"] == site_id and alerts_seen[0]["title_en"].startswith("Stranger")  # type: ignore[union-attr]
            assert edge.wait_drained(30)  # central acknowledged the event: the outbox is empty
            assert ops_runtime(app).ingestor.events_recorded >= 1

            # whitelist: a resident is on the list; consent withdrawal reaches the edge as a signed delta
            with make_session_factory(engine)() as db:
                now = clock.now()
                db.add(
                    AccessRule(
                        site_id=site_id,
                        subject_type="group",
                        subject_value="owner",
                        created_at=now,
                        updated_at=now,
                    )
                )
                resident = Person(site_id=site_id, name="住户", kind="owner", created_at=now, updated_at=now)
                db.add(resident)
                db.commit()
                consent = enrol(db, resident, now, 5)
                mark_person_changed(db, site_id, resident.id, "enrolled")
                db.commit()
            ops_runtime(app).worker.tick()
            wait_for(lambda: any(resident.id in ids(m) for m in received))
            with make_session_factory(engine)() as db:
                db.get(Consent, consent.id).withdrawn_at = clock.now()  # type: ignore[union-attr]
                mark_person_changed(db, site_id, resident.id, "consent_withdrawn")
                db.commit()
            ops_runtime(app).worker.tick()
            wait_for(lambda: any(m.type == "delta" and resident.id in m.removals for m in received))  # type: ignore[union-attr]
        finally:
            edge.stop()
            edge.outbox.close()
            sub.loop_stop()
            sub.disconnect()
