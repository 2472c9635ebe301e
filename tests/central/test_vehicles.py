"""Vehicles: registration, plate normalisation, search, watch-listing, plate events over the MQTT path."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from anju.clock import FakeClock
from central.db import make_session_factory
from central.errors import AuthenticationFailed, Conflict, NotFound, ValidationFailed
from central.ingest import Ingestor
from central.models.alerts import Alert, AlertRule
from central.models.zones import Device, Zone
from central.services.events import EventQuery, normalise_plate, search
from central.services.vehicles import (
    add_vehicle,
    device_for_token,
    find_vehicle,
    issue_device_token,
    plate_event,
    set_watch,
)
from tests.central.ops_helpers import household, plate


def test_plate_normalisation() -> None:
    assert normalise_plate("京a·12345") == "京A12345"
    assert normalise_plate("粤B D-1234.5") == "粤BD12345"


def test_register_search_watch(engine: Engine, db: Session, clock: FakeClock, make_site) -> None:
    site, other = make_site(), make_site()
    now = clock.now()
    hh = household(db, site, now)
    car = add_vehicle(db, site_id=site.id, plate="沪C 1234X", now=now, household_id=hh.id, color="白")
    with pytest.raises(Conflict):
        add_vehicle(db, site_id=site.id, plate="沪C1234X", now=now)
    with pytest.raises(ValidationFailed):
        add_vehicle(db, site_id=site.id, plate="沪", now=now)
    with pytest.raises(NotFound):
        add_vehicle(
            db, site_id=other.id, plate="沪C99999", now=now, household_id=hh.id
        )  # another site's household
    assert [v.id for v in find_vehicle(db, [site.id], "沪c-1234x")] == [car.id]
    assert find_vehicle(db, [other.id], "沪C1234X") == []

    db.add(
        AlertRule(
            site_id=site.id,
            name="布控",
            type="vehicle_watch",
            severity="high",
            created_at=now,
            updated_at=now,
        )
    )
    db.commit()
    ing = Ingestor(make_session_factory(engine), clock)
    ing.on_events([plate(site, now, "沪C1234X")])  # over MQTT: a contract VehiclePlateEvent
    assert db.scalars(select(Alert)).all() == []
    set_watch(db, car, True, "涉案车辆", now)
    ing.on_events([plate(site, now + timedelta(minutes=1), "沪C·1234X")])
    (alert,) = db.scalars(select(Alert)).all()
    assert alert.type == "vehicle_watch" and "沪C1234X" in alert.title_zh
    hits = search(db, EventQuery(site_ids=[site.id], plate="沪c1234x"))
    assert len(hits.items) == 2


def test_device_tokens(db: Session, clock: FakeClock, make_site) -> None:
    site = make_site()
    now = clock.now()
    zone = Zone(site_id=site.id, code="gate-e", name="东门", ring=1, created_at=now, updated_at=now)
    db.add(zone)
    db.flush()
    dev = Device(
        site_id=site.id,
        zone_id=zone.id,
        code="lpr-e",
        type="lpr",
        direction="out",
        node_id="n1",
        created_at=now,
        updated_at=now,
    )
    db.add(dev)
    db.commit()
    token = issue_device_token(db, dev, now)
    assert dev.token_sha256 and token not in dev.token_sha256
    assert device_for_token(db, token).id == dev.id
    with pytest.raises(AuthenticationFailed):
        device_for_token(db, token + "x")
    event = plate_event(
        dev,
        plate="苏E 12345",
        captured_at=now,
        direction=None,
        confidence=0.9,
        plate_color="blue",
        event_id=None,
    )
    again = plate_event(
        dev,
        plate="苏E12345",
        captured_at=now,
        direction=None,
        confidence=0.9,
        plate_color="blue",
        event_id=None,
    )
    assert event.event_id == again.event_id and event.direction.value == "out" and event.plate == "苏E12345"
    new_token = issue_device_token(db, dev, now)
    with pytest.raises(AuthenticationFailed):
        device_for_token(db, token)  # the old token stops working
    dev.enabled = False
    db.commit()
    with pytest.raises(AuthenticationFailed):
        device_for_token(db, new_token)
