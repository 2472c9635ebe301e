"""Remote door open end to end over a real Mosquitto on an ephemeral port: the guard's request → central
signs and publishes the DoorCommand → the edge's EdgeLink verifies it and releases a simulated door → the
edge's DoorStateEvent (with command_id) reaches central → the command is listed as executed."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
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
from gateway.signing import Signer, generate_private_key, load_private_key, save_private_key, save_public_key
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


@dataclass
class Rig:
    app: FastAPI
    settings: CentralSettings
    site_id: str
    device_id: str
    node_key: Path


def central_with_door(engine: Engine, tmp_path: Path, clock: FakeClock, broker: Broker) -> Rig:
    """Central (its gateway link on ``broker``) with one site, door ``door-1`` on node ``node-1``,
    and that node's signing key registered."""
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
        return Rig(app, settings, site_id, device.id, tmp_path / "node-1.pem")


def central_public_key(rig: Rig) -> Path:
    path = key_path(rig.settings).with_suffix(".pub.pem")
    save_public_key(app_signer(rig.app).public_key, path)
    return path


def test_remote_open_reaches_the_door_and_is_confirmed(
    engine: Engine, tmp_path: Path, clock: FakeClock, login, broker: Broker
) -> None:
    rig = central_with_door(engine, tmp_path, clock, broker)
    app, site_id, device_id = rig.app, rig.site_id, rig.device_id
    user, guard = login("guard", [site_id])

    door = SimulatedDoor("door-1", clock)
    commands: list[DoorCommand] = []
    with TestClient(app) as client:  # the lifespan starts central's gateway link on the broker
        central_pub = central_public_key(rig)
        edge = EdgeLink(
            EdgeLinkConfig(
                site_id=site_id,
                node_id="node-1",
                broker=BrokerConfig(port=broker.port),
                signing_key=tmp_path / "node-1.pem",
                central_public_keys=[central_pub],
            ),
            Outbox(tmp_path / "outbox.db", 64 * 1024 * 1024, clock, synchronous="NORMAL"),
            Signer("node-1", load_private_key(rig.node_key)),
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


def test_remote_open_through_a_real_edge_node(
    engine: Engine, tmp_path: Path, clock: FakeClock, login, broker: Broker
) -> None:
    """The real edge node (``edge.app.EdgeNode``, its own gateway link from its config) verifies the
    command, releases its simulated door and reports the state with the command's id."""
    from edge.app import EdgeNode
    from edge.config import EdgeConfig
    from recognition.config import RecognitionConfig
    from recognition.pipeline import FacePipeline

    rig = central_with_door(engine, tmp_path, clock, broker)
    _, guard = login("guard", [rig.site_id])
    _, pm = login("property_manager", [rig.site_id])
    door = SimulatedDoor("door-1", clock)
    with TestClient(rig.app) as client:
        cfg = EdgeConfig.model_validate(
            {
                "site_id": rig.site_id,
                "node_id": "node-1",
                "data_dir": str(tmp_path / "edge"),
                "cameras": [],
                "doors": [{"id": "door-1", "open_time_s": 1.0, "held_open_s": 2.0}],
                "metrics": {"port": 0},
                "gateway": {
                    "site_id": rig.site_id,
                    "node_id": "node-1",
                    "broker": {"host": "127.0.0.1", "port": broker.port},
                    "signing_key": str(rig.node_key),
                    "central_public_keys": [str(central_public_key(rig))],
                },
            }
        )
        pipeline = FacePipeline.from_config(RecognitionConfig())
        node = EdgeNode(cfg, clock=clock, pipeline_factory=lambda: pipeline, door_drivers={"door-1": door})
        node.start()
        try:
            assert node.link is not None and node.link.wait_ready(30)
            r = client.post(
                f"{API}/doors/{rig.device_id}/open", json={"reason": "住户忘带门卡"}, headers=guard
            )
            assert r.status_code == 202, r.text
            assert door.opened.wait(30), "the edge node did not release the door"

            def status(command_id: str) -> str:
                listed = client.get(
                    f"{API}/doors/commands", params={"site_id": rig.site_id}, headers=guard
                ).json()
                return str(next(c["status"] for c in listed if c["id"] == command_id))

            wait_for(lambda: status(r.json()["id"]) == "executed")
            # a property manager may open it too; each command is confirmed on its own
            clock.advance(5)  # past open_time_s: the controller relocks the door
            wait_for(lambda: not door.released)
            door.opened.clear()
            r2 = client.post(f"{API}/doors/{rig.device_id}/open", json={"reason": "维修进场"}, headers=pm)
            assert r2.status_code == 202 and r2.json()["id"] != r.json()["id"]
            assert door.opened.wait(30)
            wait_for(lambda: status(r2.json()["id"]) == "executed")
            assert door.open_count == 2
        finally:
            node.stop()
