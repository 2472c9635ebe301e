"""Remote door open end to end over a real Mosquitto on an ephemeral port: the guard's request → central
signs and publishes the DoorCommand → the edge's EdgeLink verifies it and releases a simulated door → the
edge's DoorStateEvent (with command_id) reaches central → the command is listed as executed."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from anju.clock import FakeClock
from central.app import create_app
from central.db import make_session_factory
from central.keys import app_signer, key_path
from central.models.registry import Site
from central.models.zones import Device, Zone
from central.settings import CentralSettings, MqttLinkSettings
from contracts import DoorState, DoorStateEvent
from contracts.whitelist import DoorCommand
from edge.doors import SimulatedDoor
from gateway.config import BrokerConfig, EdgeLinkConfig
from gateway.edge_link import EdgeLink
from gateway.outbox import Outbox
from gateway.signing import Signer, generate_private_key, save_private_key, save_public_key
from tests.central.conftest import SECRET
from tests.gateway.broker import Broker

pytestmark = pytest.mark.slow
API = "/api/v1"


def wait_for(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    b = Broker.plain(tmp_path / "broker")
    b.start()
    try:
        yield b
    finally:
        b.stop()


def test_remote_open_reaches_the_door_and_is_confirmed(
    engine: Engine, tmp_path: Path, clock: FakeClock, login, broker: Broker
) -> None:
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
            host="127.0.0.1",
            port=broker.port,
            client_id=f"central-{uuid.uuid4().hex[:6]}",
            extra={"node_keys": {site_id: str(node_keys)}},
        ),
    )
    app = create_app(settings, clock=clock, engine=engine)
    with make_session_factory(engine)() as db:
        now = clock.now()
        db.add(Site(id=site_id, name="开门小区", code=site_id, created_at=now, updated_at=now))
        db.flush()
        zone = Zone(site_id=site_id, code="gate", name="东门", ring=1, created_at=now, updated_at=now)
        db.add(zone)
        db.flush()
        device = Device(
            site_id=site_id,
            zone_id=zone.id,
            code="door-1",
            type="door",
            name="东门",
            node_id="node-1",
            created_at=now,
            updated_at=now,
        )
        db.add(device)
        db.commit()
        device_id = device.id
    user, guard = login("guard", [site_id])

    door = SimulatedDoor("door-1", clock)
    commands: list[DoorCommand] = []
    with TestClient(app) as client:  # the lifespan starts central's gateway link on the broker
        central_pub = key_path(settings).with_suffix(".pub.pem")
        save_public_key(app_signer(app).public_key, central_pub)
        edge = EdgeLink(
            EdgeLinkConfig(
                site_id=site_id,
                node_id="node-1",
                broker=BrokerConfig(port=broker.port),
                signing_key=tmp_path / "node-1.pem",
                central_public_keys=[central_pub],
            ),
            Outbox(tmp_path / "outbox.db", 64 * 1024 * 1024, clock, synchronous="NORMAL"),
            Signer("node-1", node_key),
            clock,
        )
        done = threading.Event()

        def on_command(cmd: DoorCommand) -> None:
            # what the edge node does (edge.app.EdgeNode._on_door_command): release the door and
            # report the new state with the command's id
            commands.append(cmd)
            door.set_released(True)
            edge.publish(
                edge.events.make(
                    DoorStateEvent,
                    door_id=cmd.door_id,
                    state=DoorState.opened,
                    reason=f"remote open by {cmd.requested_by}",
                    command_id=cmd.command_id,
                )
            )
            done.set()

        edge.on_door_command(on_command)
        edge.start()
        try:
            assert edge.wait_ready(30)
            r = client.post(f"{API}/doors/{device_id}/open", json={"reason": "快递员送货"}, headers=guard)
            assert r.status_code == 202, r.text
            sent = r.json()
            assert sent["status"] == "sent" and sent["door_code"] == "door-1"
            assert done.wait(30) and door.opened.is_set()
            cmd = commands[0]
            assert str(cmd.command_id) == sent["id"] and cmd.requested_by == user.username
            assert cmd.reason == "快递员送货" and cmd.site_id == site_id and cmd.node_id == "node-1"

            def status() -> str:
                listed = client.get(
                    f"{API}/doors/commands", params={"site_id": site_id}, headers=guard
                ).json()
                return str(listed[0]["status"])

            wait_for(lambda: status() == "executed")
            listed = client.get(f"{API}/doors/commands", params={"site_id": site_id}, headers=guard).json()
            assert listed[0]["door_state"] == "opened" and listed[0]["id"] == sent["id"]

            # the broker goes away: the next request is refused with 503 and recorded as failed
            broker.kill()
            clock.advance(1)
            r = client.post(f"{API}/doors/{device_id}/open", json={"reason": "再次开门"}, headers=guard)
            assert r.status_code == 503 and r.json()["code"] == "door_link_unavailable"
            listed = client.get(f"{API}/doors/commands", params={"site_id": site_id}, headers=guard).json()
            assert [c["status"] for c in listed] == ["failed", "executed"]
            assert len(commands) == 1
        finally:
            edge.stop()
            edge.outbox.close()
