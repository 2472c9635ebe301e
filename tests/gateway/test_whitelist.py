"""Whitelists and door commands: signed by central, verified at the edge, caught up on reconnect."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from anju.clock import FakeClock, SystemClock
from contracts.messages import PersonKind
from contracts.whitelist import DoorCommand, WhitelistDelta, WhitelistPerson, WhitelistSnapshot
from gateway.central_link import WhitelistPublisher
from gateway.config import CentralLinkConfig
from gateway.edge_link import EdgeLink
from gateway.outbox import Outbox
from gateway.signing import CENTRAL_SIGNER_ID, Signer, generate_private_key

SITE = "site-1"


class FakeIndex:
    """What an edge does with whitelist messages: apply atomically, report the version."""

    def __init__(self, link: EdgeLink, version: int = 0, persons: set[str] | None = None) -> None:
        self.link = link
        self.version = version
        self.persons = set(persons or ())
        self.cond = threading.Condition()
        self.received: list[Any] = []
        link.on_whitelist(self.apply)

    def apply(self, msg: WhitelistSnapshot | WhitelistDelta) -> None:
        with self.cond:
            self.received.append(msg)
            if isinstance(msg, WhitelistSnapshot):
                self.persons = {p.person_id for p in msg.persons}
            elif msg.base_version == self.version:
                self.persons = (self.persons | {p.person_id for p in msg.upserts}) - set(msg.removals)
            else:
                return  # not at base: the retained snapshot follows
            self.version = msg.version
            self.cond.notify_all()
        self.link.report_whitelist_version(msg.version)

    def wait_version(self, version: int, timeout: float = 30) -> bool:
        with self.cond:
            return self.cond.wait_for(lambda: self.version >= version, timeout)


def _person(pid: str) -> WhitelistPerson:
    return WhitelistPerson(person_id=pid, kind=PersonKind.tenant)


def _snapshot(version: int, pids: list[str]) -> WhitelistSnapshot:
    return WhitelistSnapshot(
        site_id=SITE,
        version=version,
        issued_at=SystemClock().now(),
        model_id="m",
        persons=[_person(p) for p in pids],
    )


@pytest.fixture
def publisher(broker: Any, keys: Any) -> Any:
    cfg = CentralLinkConfig(signing_key=keys.dir / "central.sign.pem", site_id=SITE)
    cfg.broker.port = broker.port
    pub = WhitelistPublisher(cfg, keys.central)
    pub.start()
    yield pub
    pub.stop()


def test_revocation_published_while_node_is_offline_is_applied_on_reconnect(
    broker: Any, make_edge: Any, make_consumer: Any, sqlite_store: Any, publisher: Any
) -> None:
    consumer, _ = make_consumer(broker.port, sqlite_store)
    requests: list[Any] = []
    cond = threading.Condition()

    def on_request(r: Any) -> None:
        with cond:
            requests.append(r)
            cond.notify_all()

    consumer.on_whitelist_request = on_request

    link = make_edge(broker.port)
    index = FakeIndex(link)
    publisher.publish_snapshot(_snapshot(1, ["p-1", "p-2"]))
    assert index.wait_version(1)
    assert index.persons == {"p-1", "p-2"}
    link.stop()  # the node goes offline

    delta = WhitelistDelta(
        site_id=SITE,
        base_version=1,
        version=2,
        issued_at=SystemClock().now(),
        removals=["p-2"],
        reason="moved_out",
    )
    publisher.publish_update(delta, _snapshot(2, ["p-1"]))

    again = make_edge(broker.port, start=False)  # the node restarts with its list at version 1
    index2 = FakeIndex(again, version=1, persons={"p-1", "p-2"})
    again.report_whitelist_version(1)
    again.start()
    assert index2.wait_version(2)
    assert index2.persons == {"p-1"}
    with cond:  # on reconnect the node also asked central for anything newer than what it runs
        assert cond.wait_for(lambda: any(r.node_id == "gate-a" and r.have_version == 1 for r in requests), 30)


def test_every_connected_node_applies_a_live_delta_and_central_hears_its_version(
    broker: Any, make_edge: Any, publisher: Any, make_consumer: Any, sqlite_store: Any
) -> None:
    consumer, _ = make_consumer(broker.port, sqlite_store)
    running: dict[str, int] = {}
    reports = threading.Condition()

    def on_version(report: Any) -> None:
        with reports:
            running[report.node_id] = report.version
            reports.notify_all()

    consumer.on_whitelist_version = on_version
    nodes = ("gate-a", "gate-b", "gate-c")
    indexes = [FakeIndex(make_edge(broker.port, node_id=node)) for node in nodes]
    publisher.publish_snapshot(_snapshot(1, ["p-1", "p-2"]))
    assert all(index.wait_version(1) for index in indexes)
    delta = WhitelistDelta(
        site_id=SITE, base_version=1, version=2, issued_at=SystemClock().now(), removals=["p-1"]
    )
    publisher.publish_update(delta, _snapshot(2, ["p-2"]))
    for index in indexes:
        assert index.wait_version(2)
        assert index.persons == {"p-2"}
        assert isinstance(index.received[1], WhitelistDelta)  # applied from the delta, not the full list
    with reports:  # each node reported (signed, over the broker) the version it now runs
        assert reports.wait_for(lambda: all(running.get(node) == 2 for node in nodes), 30)


def test_whitelist_not_signed_by_central_is_refused(broker: Any, make_edge: Any, keys: Any) -> None:
    link = make_edge(broker.port)
    index = FakeIndex(link)
    cfg = CentralLinkConfig(signing_key=keys.dir / "central.sign.pem", site_id=SITE)
    cfg.broker.port = broker.port
    impostor = WhitelistPublisher(cfg, Signer(CENTRAL_SIGNER_ID, generate_private_key()))
    impostor.start()
    try:
        impostor.publish_snapshot(_snapshot(5, ["intruder"]))
        other_site = _snapshot(6, ["x"]).model_copy(update={"site_id": "site-2"})
        genuine = WhitelistPublisher(cfg, keys.central)
        genuine.start()
        try:
            genuine._publish("anju/v1/site-1/whitelist/all/snapshot", other_site, True, 10)
            genuine.publish_snapshot(_snapshot(7, ["p-1"]))
        finally:
            genuine.stop()
    finally:
        impostor.stop()
    assert index.wait_version(7)
    assert [m.version for m in index.received] == [7]
    assert link.stats["rejected_in"] >= 2


def test_door_commands_verified_once_and_unexpired(broker: Any, make_edge: Any, publisher: Any) -> None:
    link = make_edge(broker.port)
    got: list[DoorCommand] = []
    cond = threading.Condition()

    def on_cmd(cmd: DoorCommand) -> None:
        with cond:
            got.append(cmd)
            cond.notify_all()

    link.on_door_command(on_cmd)
    now = SystemClock().now()

    def cmd(**over: Any) -> DoorCommand:
        fields: dict[str, Any] = dict(
            command_id=uuid.uuid4(),
            site_id=SITE,
            node_id="gate-a",
            door_id="d-1",
            requested_by="guard-7",
            issued_at=now,
            expires_at=now + timedelta(seconds=60),
        )
        fields.update(over)
        return DoorCommand(**fields)

    first = cmd()
    publisher.send_door_command(first)
    publisher.send_door_command(first)  # replayed
    publisher.send_door_command(cmd(expires_at=now - timedelta(seconds=1)))
    publisher.send_door_command(cmd(node_id="gate-b"))  # not for this node (it never even arrives)
    last = cmd(action="lock")
    publisher.send_door_command(last)
    with cond:
        assert cond.wait_for(lambda: any(c.command_id == last.command_id for c in got), 30)
    assert [c.command_id for c in got] == [first.command_id, last.command_id]
    assert link.stats["rejected_in"] == 2


def test_list_goes_stale_while_offline_and_is_confirmed_on_reconnect(
    broker: Any, keys: Any, tmp_path: Path, publisher: Any
) -> None:
    from gateway.config import BrokerConfig, EdgeLinkConfig

    publisher.publish_snapshot(_snapshot(4, ["p-1"]))
    broker.stop()
    clock = FakeClock()
    signer = keys.node("gate-a")
    cfg = EdgeLinkConfig(
        site_id=SITE,
        node_id="gate-a",
        broker=BrokerConfig(port=broker.port, reconnect_max_s=1),
        signing_key=keys.dir / "unused.pem",
        central_public_keys=[keys.central_pub],
        max_whitelist_age_s=60,
    )
    link = EdgeLink(cfg, Outbox(tmp_path / "o.db", 1 << 20, clock), signer, clock)
    stale = threading.Event()
    link.on_whitelist_stale(lambda age: stale.set())
    index = FakeIndex(link, version=4, persons={"p-1"})
    link.report_whitelist_version(4)
    link.start()
    try:
        clock.advance(30)
        assert not link.whitelist_stale()
        clock.advance(31)
        assert link.whitelist_stale()
        assert stale.wait(30)
        broker.start()  # the retained v4 snapshot confirms the list
        deadline = 300
        while link.whitelist_stale() and deadline:
            threading.Event().wait(0.1)
            deadline -= 1
        assert not link.whitelist_stale()
        assert link.whitelist_age_s() == 0.0
        assert index.received == []  # same version: confirmation only, nothing re-applied
    finally:
        link.stop()


def test_node_takes_its_zones_lists_only(broker: Any, make_edge: Any, publisher: Any) -> None:
    link = make_edge(broker.port, zones=["tower-1"])
    got: list[tuple[str, int]] = []
    cond = threading.Condition()

    def on_whitelist(msg: Any) -> None:
        with cond:
            got.append((msg.type, msg.version))
            cond.notify_all()

    link.on_whitelist(on_whitelist)
    publisher.publish_snapshot(_snapshot(11, ["p-9"]), zone_id="tower-2")
    publisher.publish_snapshot(_snapshot(12, ["p-1"]), zone_id="tower-1")
    with cond:
        assert cond.wait_for(lambda: ("snapshot", 12) in got, 30)
    assert got == [("snapshot", 12)]


def test_snapshot_policy_is_enforced_before_the_outbox(broker: Any, make_edge: Any) -> None:
    import base64

    from contracts.messages import Snapshot, StrangerEvent, WatchlistHitEvent

    link = make_edge(broker.port, start=False, allowed_snapshot_kinds=["watchlist_hit"])
    jpeg = Snapshot(data_b64=base64.b64encode(b"\xff\xd8\xff\xe0 fake jpeg").decode())
    stranger = link.events.make(
        StrangerEvent, camera_id="cam-1", track_id=1, best_score=0.1, quality=0.9, snapshot=jpeg
    )
    with pytest.raises(ValueError, match="snapshot"):
        link.publish(stranger)
    hit = link.events.make(WatchlistHitEvent, camera_id="cam-1", person_id="w-1", score=0.8, snapshot=jpeg)
    link.publish(hit)
    assert link.outbox.depth() == 1
