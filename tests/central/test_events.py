"""Event records: ingest hook, presence, device status, search and trajectories (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from anju.clock import FakeClock
from central.db import make_session_factory
from central.errors import ValidationFailed
from central.ingest import Ingestor
from central.models.events import DeviceStatus, EventRecord, PersonPresence
from central.services.events import EventQuery, device_statuses, search, trajectory
from contracts import CameraStatusEvent, DoorState, HeartbeatEvent
from tests.central.ops_helpers import common, door, pass_event, plate, stranger


def test_ingest_records_presence_and_status(engine: Engine, db: Session, clock: FakeClock, make_site) -> None:
    site = make_site()
    ing = Ingestor(make_session_factory(engine), clock)
    t0 = clock.now()
    events = [
        pass_event(site, t0, "p1", ring=1, direction="in"),
        pass_event(site, t0 + timedelta(minutes=2), "p1", ring=3, direction="in", camera_id="cam-b3"),
        stranger(site, t0 + timedelta(minutes=3)),
        HeartbeatEvent(**common(site, t0), whitelist_version=4),
        CameraStatusEvent(**common(site, t0), camera_id="cam-r1", status="online"),
        CameraStatusEvent(**common(site, t0 + timedelta(seconds=5)), camera_id="cam-r1", status="offline"),
        door(site, t0, DoorState.opened),
        plate(site, t0, "京A·12345"),
    ]
    ing.on_events(events)
    ing.on_events(events[:2])  # a redelivered batch is not recorded twice
    assert db.scalar(select(func.count(EventRecord.id))) == len(events)
    presence = db.get(PersonPresence, (site.id, "p1"))
    assert presence is not None and presence.last_camera_id == "cam-b3" and presence.last_ring == 3
    # an older event arriving late never moves presence back
    ing.on_events([pass_event(site, t0 - timedelta(hours=1), "p1", ring=1, direction="out")])
    db.expire_all()
    assert db.get(PersonPresence, (site.id, "p1")).last_ring == 3  # type: ignore[union-attr]
    statuses = {(s.device_type, s.device_code): s.status for s in device_statuses(db, site.id)}
    assert statuses == {
        ("node", "node-1"): "online",
        ("camera", "cam-r1"): "offline",
        ("door", "door-1"): "opened",
    }
    cam = db.scalars(select(DeviceStatus).where(DeviceStatus.device_code == "cam-r1")).one()
    assert cam.changed_at == t0 + timedelta(seconds=5)
    rec = db.scalars(select(EventRecord).where(EventRecord.kind == "vehicle_plate")).one()
    assert rec.plate == "京A12345"


def test_search_filters_and_pagination(engine: Engine, db: Session, clock: FakeClock, make_site) -> None:
    site, other = make_site(), make_site()
    ing = Ingestor(make_session_factory(engine), clock)
    t0 = clock.now()
    batch = [
        pass_event(site, t0 + timedelta(minutes=i), f"p{i % 3}", ring=1 + (i // 3) % 3) for i in range(30)
    ]
    batch += [stranger(site, t0 + timedelta(minutes=i, seconds=30)) for i in range(5)]
    batch += [pass_event(other, t0, "p0")]
    ing.on_events(batch)

    page = search(db, EventQuery(site_ids=[site.id], person_id="p0", limit=4))
    assert len(page.items) == 4 and page.next_cursor
    seen = [r.event_id for r in page.items]
    while page.next_cursor:
        page = search(db, EventQuery(site_ids=[site.id], person_id="p0", limit=4, cursor=page.next_cursor))
        seen += [r.event_id for r in page.items]
    assert len(seen) == len(set(seen)) == 10  # p0 on site only, every record once
    times = [r.captured_at for r in search(db, EventQuery(site_ids=[site.id], limit=500)).items]
    assert times == sorted(times, reverse=True)

    assert len(search(db, EventQuery(site_ids=[site.id], kinds=("stranger",))).items) == 5
    assert len(search(db, EventQuery(site_ids=[site.id], zone_id="zone-r2", kinds=("pass",))).items) == 9
    assert len(search(db, EventQuery(site_ids=[site.id], camera_id="cam-r3")).items) == 9
    window = search(
        db,
        EventQuery(
            site_ids=[site.id],
            since=t0 + timedelta(minutes=10),
            until=t0 + timedelta(minutes=20),
            kinds=("pass",),
        ),
    )
    assert len(window.items) == 10
    with pytest.raises(ValidationFailed):
        search(db, EventQuery(site_ids=[site.id], cursor="not-a-cursor"))
    with pytest.raises(ValidationFailed):
        search(db, EventQuery(site_ids=[site.id], since=t0, until=t0))

    path = trajectory(db, [site.id], "p1", t0, t0 + timedelta(hours=1))
    assert [r.ring for r in path] == [1, 2, 3, 1, 2, 3, 1, 2, 3, 1]
    assert [r.captured_at for r in path] == sorted(r.captured_at for r in path)


def test_catch_up_from_the_gateway_store(engine: Engine, db: Session, clock: FakeClock, make_site) -> None:
    from gateway.store import Accepted, SqlEventStore

    site = make_site()
    store = SqlEventStore(engine)
    store.create_tables()
    t0 = clock.now()
    events = [pass_event(site, t0 + timedelta(seconds=i), f"p{i}") for i in range(25)]
    # stored by the gateway, but the hook call never happened (central crashed in between)
    store.store([Accepted(event=e, payload=e.model_dump_json()) for e in events], [], t0)
    ing = Ingestor(make_session_factory(engine), clock)
    ing.on_events(events[:5])  # some were recorded before the crash
    assert ing.catch_up(engine, t0 - timedelta(minutes=1), batch=10) == 20
    assert db.scalar(select(func.count(EventRecord.id))) == 25
    assert ing.catch_up(engine, t0 - timedelta(minutes=1)) == 0  # idempotent


def test_failed_batch_is_retried_by_the_worker(tmp_path, clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    """The database refuses a write (another writer holds the lock): the batch waits and is retried."""
    import sqlite3

    from sqlalchemy import create_engine

    from central.db import create_all
    from central.ingest import OpsWorker
    from central.models.registry import Site

    path = tmp_path / "locked.db"
    eng = create_engine(f"sqlite:///{path}", connect_args={"timeout": 0.1})
    create_all(eng)
    factory = make_session_factory(eng)
    with factory() as s:
        site = Site(name="锁", code="LOCK", created_at=clock.now(), updated_at=clock.now())
        s.add(site)
        s.commit()
    ing = Ingestor(factory, clock)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    events = [pass_event(site, clock.now() + timedelta(seconds=i), "p1") for i in range(3)]
    ing.on_events(events)
    assert ing.pending_retries == 1
    worker = OpsWorker(factory, clock, ingestor=ing)
    try:
        assert ing.retry_failed() == 0  # still locked: the batch stays queued
        assert ing.pending_retries == 1
        blocker.execute("ROLLBACK")
        worker.tick()
        assert ing.pending_retries == 0
        with factory() as s:
            assert s.scalar(select(func.count(EventRecord.id))) == 3
    finally:
        worker.stop()
        blocker.close()
        eng.dispose()
