"""Doors: grants and relock, held/forced open, fire release, tailgating count, HTTP relay, GPIO errors."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest

from anju.clock import FakeClock
from contracts.messages import DoorState
from edge.config import DoorConfig, TailgatingConfig
from edge.door_control import DoorController, OpeningSession
from edge.doors import DoorError, GpioRelayDoor, HttpRelayDoor, SimulatedDoor, SimulatedFireAlarm


class Rig:
    def __init__(self, n_doors: int = 2, **tail: Any) -> None:
        self.clock = FakeClock()
        self.fire = SimulatedFireAlarm()
        self.cfgs = [DoorConfig(id=f"d{i}", open_time_s=2.0, held_open_s=10.0) for i in range(n_doors)]
        self.drivers = [SimulatedDoor(c.id, self.clock) for c in self.cfgs]
        self.states: list[tuple[str, DoorState, str]] = []
        self.tailgates: list[OpeningSession] = []
        self.ctl = DoorController(
            list(zip(self.cfgs, self.drivers, strict=True)),
            self.fire,
            self.clock,
            TailgatingConfig(grace_s=1.0, **tail),
            on_state=lambda d, s, r: self.states.append((d, s, r)),
            on_tailgating=self.tailgates.append,
        )

    def step(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.ctl.tick()

    def kinds(self, door: str) -> list[DoorState]:
        return [s for d, s, _ in self.states if d == door]


def test_grant_opens_and_relocks_after_open_time() -> None:
    rig = Rig()
    assert rig.ctl.grant("d0", "p1")
    assert rig.drivers[0].released and rig.ctl.is_released("d0")
    rig.step(1.5)
    assert rig.drivers[0].released
    rig.ctl.grant("d0", "p2")  # a second person extends the opening
    rig.step(1.5)
    assert rig.drivers[0].released
    rig.step(0.6)
    assert not rig.drivers[0].released
    assert rig.kinds("d0") == [DoorState.opened, DoorState.closed]
    assert not rig.drivers[1].released
    assert not rig.ctl.grant("nope", "p1")


def test_forced_and_held_open() -> None:
    rig = Rig()
    rig.drivers[0].set_contact(True)  # leaf opens while locked
    rig.step(0.1)
    assert DoorState.forced_open in rig.kinds("d0")
    rig.step(10.0)
    assert DoorState.held_open in rig.kinds("d0")
    rig.drivers[0].set_contact(False)
    rig.step(0.1)
    assert rig.kinds("d0")[-1] == DoorState.closed
    # A granted opening is not "forced".
    rig.states.clear()
    rig.ctl.grant("d1", "p1")
    rig.drivers[1].set_contact(True)
    rig.step(0.1)
    assert DoorState.forced_open not in rig.kinds("d1")


def test_fire_alarm_releases_every_door_and_blocks_relock() -> None:
    rig = Rig(n_doors=3)
    rig.fire.set(True)
    rig.step(0.05)
    assert all(d.released for d in rig.drivers)
    assert all(DoorState.fire_release in rig.kinds(c.id) for c in rig.cfgs)
    rig.ctl.lock("d0")
    rig.step(60)
    assert all(d.released for d in rig.drivers), "doors must stay released while the alarm is active"
    rig.drivers[0].set_contact(True)
    rig.step(0.1)
    assert DoorState.forced_open not in rig.kinds("d0")
    rig.fire.set(False)
    rig.step(0.05)
    assert not any(d.released for d in rig.drivers)
    assert all(DoorState.fire_restored in rig.kinds(c.id) for c in rig.cfgs)


def test_tailgating_counts_distinct_tracks_per_opening() -> None:
    rig = Rig()
    rig.ctl.grant("d0", "p1", camera_id="cam")
    for _ in range(3):
        rig.ctl.observe_track("d0", "cam", 1, 2)
        rig.ctl.observe_track("d0", "cam", 2, 2)
    rig.ctl.observe_track("d0", "cam", 3, 3)  # one frame only: below min_track_frames
    rig.ctl.offer_snapshot("d0", 2, b"\xff\xd8jpeg")
    rig.step(2.1)  # relock; session counts on during the grace time
    rig.ctl.observe_track("d0", "cam", 2, 1)
    assert rig.tailgates == []
    rig.step(1.1)
    assert len(rig.tailgates) == 1
    s = rig.tailgates[0]
    assert (s.authorised, s.counted, s.authorised_ids, s.snapshot) == (1, 2, ["p1"], b"\xff\xd8jpeg")
    # Two authorised people and two faces: no alert.
    rig.ctl.grant("d0", "p1", camera_id="cam")
    rig.ctl.grant("d0", "p2", camera_id="cam")
    for tid in (10, 11):
        rig.ctl.observe_track("d0", "cam", tid, 2)
        rig.ctl.observe_track("d0", "cam", tid, 2)
    rig.step(2.1)
    rig.step(1.1)
    assert len(rig.tailgates) == 1
    # No session, nothing counted.
    assert not rig.ctl.observe_track("d0", "cam", 99, 1)


class RelayHandler(BaseHTTPRequestHandler):
    released: ClassVar[list[bool]] = []
    contact: ClassVar[dict[str, Any]] = {"open": False}
    fail = False

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.fail:
            self.send_response(500)
            self.end_headers()
            return
        type(self).released.append(bool(body["released"]))
        self.send_response(200)
        self.end_headers()

    def do_GET(self) -> None:
        data = json.dumps(self.contact).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def relay() -> Iterator[str]:
    RelayHandler.released = []
    RelayHandler.contact = {"open": False}
    RelayHandler.fail = False
    server = ThreadingHTTPServer(("127.0.0.1", 0), RelayHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


def test_http_relay_against_a_real_server(relay: str) -> None:
    door = HttpRelayDoor(DoorConfig(id="gate", driver="http", http_url=relay))
    door.set_released(True)
    door.set_released(False)
    assert RelayHandler.released == [True, False]
    assert door.contact_open() is False
    RelayHandler.contact = {"open": True}
    assert door.contact_open() is True
    RelayHandler.contact = {"open": "yes"}
    with pytest.raises(DoorError, match="must be"):
        door.contact_open()
    RelayHandler.fail = True
    with pytest.raises(DoorError, match="HTTP 500"):
        door.set_released(True)
    door.close()


def test_http_relay_fault_is_reported_as_door_event(relay: str) -> None:
    clock = FakeClock()
    states: list[tuple[str, DoorState, str]] = []
    cfg = DoorConfig(id="gate", driver="http", http_url=relay)
    ctl = DoorController(
        [(cfg, HttpRelayDoor(cfg))],
        SimulatedFireAlarm(),
        clock,
        TailgatingConfig(),
        on_state=lambda d, s, r: states.append((d, s, r)),
        on_tailgating=lambda s: None,
    )
    RelayHandler.fail = True
    assert not ctl.grant("gate", "p1")
    assert states[-1][1] == DoorState.fault and "HTTP 500" in states[-1][2]


def test_http_relay_unreachable() -> None:
    door = HttpRelayDoor(
        DoorConfig(id="gate", driver="http", http_url="http://127.0.0.1:9", http_timeout_s=0.5)
    )
    with pytest.raises(DoorError, match="unreachable"):
        door.set_released(True)


def test_gpio_driver_without_gpio_fails_clearly() -> None:
    with pytest.raises(DoorError, match=r"gpio"):
        GpioRelayDoor(DoorConfig(id="gate", driver="gpio", gpio_relay_pin=17))
