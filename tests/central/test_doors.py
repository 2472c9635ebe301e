"""Remote door open: roles, site scoping, the required reason, the audit record, 503 without a broker,
and the edge's door event (with ``command_id``) marking the command executed."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from anju.clock import FakeClock
from central.ingest import Ingestor
from central.models.audit import AuditRecord
from central.models.doors import DoorCommandRecord
from central.models.registry import Site
from central.models.zones import Device, Zone
from central.services import audit
from contracts import DoorState, DoorStateEvent

API = "/api/v1"


def make_device(
    db: Session, site: Site, clock: FakeClock, type_: str = "door", enabled: bool = True
) -> Device:
    now = clock.now()
    zone = Zone(
        site_id=site.id, code=f"z{uuid.uuid4().hex[:6]}", name="东门", ring=1, created_at=now, updated_at=now
    )
    db.add(zone)
    db.flush()
    device = Device(
        site_id=site.id,
        zone_id=zone.id,
        code=f"door-{uuid.uuid4().hex[:6]}",
        type=type_,
        name="东门闸机",
        node_id="node-1",
        enabled=enabled,
        created_at=now,
        updated_at=now,
    )
    db.add(device)
    db.commit()
    return device


def door_event(rec: DoorCommandRecord, clock: FakeClock, **over: Any) -> DoorStateEvent:
    fields: dict[str, Any] = {
        "event_id": uuid.uuid4(),
        "site_id": rec.site_id,
        "node_id": rec.node_id,
        "seq": 1,
        "captured_at": clock.now(),
        "door_id": rec.door_code,
        "state": DoorState.opened,
        "reason": "remote open",
        "command_id": uuid.UUID(rec.id),
    }
    fields.update(over)
    return DoorStateEvent(**fields)


def test_roles_and_site_scope(client: TestClient, db: Session, clock: FakeClock, make_site, login) -> None:
    site, other = make_site(), make_site()
    door = make_device(db, site, clock)
    foreign = make_device(db, other, clock)
    body = {"reason": "快递员送货"}
    for role in ("police", "grid_worker"):
        _, h = login(role, [site.id])
        r = client.post(f"{API}/doors/{door.id}/open", json=body, headers=h)
        assert r.status_code == 403, (role, r.text)
        assert client.get(f"{API}/doors/commands", headers=h).status_code == 403
    _, guard = login("guard", [site.id])
    r = client.post(f"{API}/doors/{foreign.id}/open", json=body, headers=guard)
    assert r.status_code == 403 and r.json()["code"] == "forbidden"
    assert client.get(f"{API}/doors/commands", params={"site_id": other.id}, headers=guard).status_code == 403
    assert client.post(f"{API}/doors/{uuid.uuid4()}/open", json=body, headers=guard).status_code == 404
    # nothing was recorded for the refused attempts
    assert db.scalars(select(DoorCommandRecord)).all() == []


def test_reason_required_and_only_enabled_doors(
    client: TestClient, db: Session, clock: FakeClock, make_site, login
) -> None:
    site = make_site()
    door = make_device(db, site, clock)
    camera = make_device(db, site, clock, type_="camera")
    disabled = make_device(db, site, clock, enabled=False)
    _, guard = login("guard", [site.id])
    for body in ({}, {"reason": ""}, {"reason": "   "}, {"reason": "x" * 257}):
        r = client.post(f"{API}/doors/{door.id}/open", json=body, headers=guard)
        assert r.status_code == 422, body
        assert any(f["field"] == "reason" for f in r.json()["fields"]), r.json()
    for device in (camera, disabled):
        r = client.post(f"{API}/doors/{device.id}/open", json={"reason": "巡逻"}, headers=guard)
        assert r.status_code == 422 and r.json()["fields"][0]["field"] == "device_id"
    assert db.scalars(select(DoorCommandRecord)).all() == []


def test_without_broker_503_audited_and_listed(
    client: TestClient, db: Session, clock: FakeClock, make_site, login
) -> None:
    site, other = make_site(), make_site()
    door = make_device(db, site, clock)
    make_device(db, other, clock)
    user, guard = login("guard", [site.id])
    r = client.post(f"{API}/doors/{door.id}/open", json={"reason": "住户忘带门卡"}, headers=guard)
    assert r.status_code == 503, r.text
    err = r.json()
    assert (
        err["code"] == "door_link_unavailable"
        and "网关" in err["message"]
        and "could not be sent" in err["message_en"]
    )

    rec = db.scalars(select(DoorCommandRecord)).one()
    assert rec.status == "failed" and rec.error and rec.site_id == site.id and rec.door_code == door.code
    assert rec.requested_by == user.username and rec.reason == "住户忘带门卡"
    assert (rec.expires_at - rec.issued_at).total_seconds() == 30 and rec.issued_at == clock.now()
    trail = db.scalars(select(AuditRecord).where(AuditRecord.action == "door.open")).all()
    assert len(trail) == 1
    assert (
        trail[0].actor_id == user.id and trail[0].reason == "住户忘带门卡" and trail[0].object_id == door.id
    )
    assert trail[0].site_id == site.id and rec.id in trail[0].detail
    assert audit.verify(db).ok

    listed = client.get(f"{API}/doors/commands", params={"site_id": site.id}, headers=guard).json()
    assert [c["id"] for c in listed] == [rec.id] and listed[0]["status"] == "failed"
    assert [c["id"] for c in client.get(f"{API}/doors/commands", headers=guard).json()] == [rec.id]
    _, other_guard = login("guard", [other.id])
    assert client.get(f"{API}/doors/commands", headers=other_guard).json() == []
    _, pm = login("property_manager", [site.id])
    assert client.post(f"{API}/doors/{door.id}/open", json={"reason": "维修"}, headers=pm).status_code == 503


def test_door_event_with_command_id_marks_executed(
    client: TestClient, db: Session, clock: FakeClock, make_site, login, app: Any
) -> None:
    site, other = make_site(), make_site()
    door = make_device(db, site, clock)
    _, guard = login("guard", [site.id])
    assert (
        client.post(f"{API}/doors/{door.id}/open", json={"reason": "访客"}, headers=guard).status_code == 503
    )
    rec = db.scalars(select(DoorCommandRecord)).one()
    ingestor = Ingestor(app.state.session_factory, clock)
    # another site's node naming this command, or another door, confirms nothing
    ingestor.on_events(
        [door_event(rec, clock, site_id=other.id), door_event(rec, clock, door_id="elsewhere")]
    )
    db.expire_all()
    assert db.get(DoorCommandRecord, rec.id).status == "failed"  # type: ignore[union-attr]
    clock.advance(2)
    ingestor.on_events([door_event(rec, clock)])
    db.expire_all()
    done = db.get(DoorCommandRecord, rec.id)
    assert done is not None and done.status == "executed" and done.door_state == "opened"
    assert done.executed_at == clock.now() and done.error == ""
    listed = client.get(f"{API}/doors/commands", params={"site_id": site.id}, headers=guard).json()
    assert listed[0]["status"] == "executed"


def test_sent_but_unconfirmed_command_lists_as_expired(
    client: TestClient, db: Session, clock: FakeClock, make_site, login
) -> None:
    site = make_site()
    door = make_device(db, site, clock)
    user, guard = login("guard", [site.id])
    now = clock.now()
    rec = DoorCommandRecord(
        site_id=site.id,
        device_id=door.id,
        door_code=door.code,
        node_id=door.node_id,
        user_id=user.id,
        requested_by=user.username,
        reason="访客",
        issued_at=now,
        expires_at=now + timedelta(seconds=30),
        status="sent",
        created_at=now,
        updated_at=now,
    )
    db.add(rec)
    db.commit()
    listed = client.get(f"{API}/doors/commands", params={"site_id": site.id}, headers=guard).json()
    assert listed[0]["status"] == "sent"
    clock.advance(31)
    listed = client.get(f"{API}/doors/commands", params={"site_id": site.id}, headers=guard).json()
    assert listed[0]["status"] == "expired"
