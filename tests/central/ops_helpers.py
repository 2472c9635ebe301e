"""Builders shared by the zones/events/alerts/visitors/vehicles/whitelist tests (real contract events)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.orm import Session

from central.models.registry import Building, House, Household, Person, Site
from central.models.visitors import Visitor, VisitorPass
from central.services.visitors import issue_visitor_pass
from contracts import (
    DoorState,
    DoorStateEvent,
    PassEvent,
    PersonKind,
    StrangerEvent,
    VehiclePlateEvent,
    WatchlistHitEvent,
)
from contracts.messages import Direction
from gateway.signing import Signer

_seq = iter(range(1, 10_000_000))


def common(site: Site, at: datetime, **kw: Any) -> dict[str, Any]:
    return {
        "event_id": uuid.uuid4(),
        "site_id": site.id,
        "node_id": "node-1",
        "seq": next(_seq),
        "captured_at": at,
        **kw,
    }


def pass_event(
    site: Site, at: datetime, person_id: str, *, ring: int = 1, direction: str = "in", **kw: Any
) -> PassEvent:
    return PassEvent(
        **common(site, at),
        camera_id=kw.pop("camera_id", f"cam-r{ring}"),
        zone_id=kw.pop("zone_id", f"zone-r{ring}"),
        ring=ring,
        direction=Direction(direction),
        person_id=person_id,
        person_kind=kw.pop("person_kind", PersonKind.owner),
        **kw,
    )


def stranger(site: Site, at: datetime, *, ring: int = 1, camera_id: str = "cam-r1") -> StrangerEvent:
    return StrangerEvent(
        **common(site, at),
        camera_id=camera_id,
        zone_id=f"zone-r{ring}",
        ring=ring,
        track_id=1,
        best_score=0.2,
        quality=0.8,
    )


def watch_hit(site: Site, at: datetime, person_id: str, category: str = "wanted") -> WatchlistHitEvent:
    return WatchlistHitEvent(
        **common(site, at), camera_id="cam-r1", ring=1, person_id=person_id, category=category, score=0.7
    )


def door(site: Site, at: datetime, state: DoorState, door_id: str = "door-1") -> DoorStateEvent:
    return DoorStateEvent(**common(site, at), door_id=door_id, state=state)


def plate(site: Site, at: datetime, text: str, camera_id: str = "lpr-1") -> VehiclePlateEvent:
    return VehiclePlateEvent(**common(site, at), camera_id=camera_id, plate=text, direction=Direction.inbound)


def household(
    db: Session, site: Site, now: datetime, *, lease_end: date | None = None, number: str = "1"
) -> Household:
    building = Building(site_id=site.id, number=number, created_at=now, updated_at=now)
    db.add(building)
    db.flush()
    house = House(
        site_id=site.id, building_id=building.id, floor=3, room="301", created_at=now, updated_at=now
    )
    db.add(house)
    db.flush()
    hh = Household(site_id=site.id, house_id=house.id, lease_end=lease_end, created_at=now, updated_at=now)
    db.add(hh)
    db.commit()
    return hh


def person(db: Session, site: Site, now: datetime, name: str = "张三", **kw: Any) -> Person:
    p = Person(site_id=site.id, name=name, created_at=now, updated_at=now, **kw)
    db.add(p)
    db.commit()
    return p


def central_signer() -> Signer:
    """A fresh Ed25519 key standing in for central's signing key (visitor passes)."""
    return Signer("central", Ed25519PrivateKey.generate())


def visitor_pass(
    db: Session,
    sign: Callable[[bytes], bytes],
    host: Household,
    now: datetime,
    valid_for: timedelta,
    *,
    name: str = "访客",
    **kw: Any,
) -> tuple[Visitor, VisitorPass]:
    """A visitor pass issued at ``now`` for a visitor of ``host`` (its site), valid from ``now`` for
    ``valid_for``; ``kw`` goes to :func:`issue_visitor_pass` (rings, zone_codes, …)."""
    return issue_visitor_pass(
        db,
        sign,
        site_id=host.site_id,
        host_household_id=host.id,
        name=name,
        valid_from=now,
        valid_until=now + valid_for,
        now=now,
        **kw,
    )


# ---------------------------------------------------------------- authz matrix factories


def _stamp(now: datetime) -> dict[str, Any]:
    return {"created_at": now, "updated_at": now}


def _alert_rule(db: Session, site: Site, clock: Any) -> str:
    from central.models.alerts import AlertRule

    r = AlertRule(site_id=site.id, name="b", type="stranger", params={}, **_stamp(clock.now()))
    db.add(r)
    db.commit()
    return r.id


def _alert(db: Session, site: Site, clock: Any) -> str:
    from central.models.alerts import Alert

    a = Alert(
        site_id=site.id,
        type="stranger",
        severity="low",
        title_zh="x",
        title_en="x",
        dedup_key="b",
        first_at=clock.now(),
        last_at=clock.now(),
    )
    db.add(a)
    db.commit()
    return a.id


def _access_rule(db: Session, site: Site, clock: Any) -> str:
    from central.models.zones import AccessRule

    r = AccessRule(site_id=site.id, subject_type="group", subject_value="owner", **_stamp(clock.now()))
    db.add(r)
    db.commit()
    return r.id


def _device(db: Session, site: Site, clock: Any) -> str:
    from central.models.zones import Device, Zone

    z = Zone(site_id=site.id, code=f"z{uuid.uuid4().hex[:6]}", name="b", ring=1, **_stamp(clock.now()))
    db.add(z)
    db.flush()
    d = Device(
        site_id=site.id,
        zone_id=z.id,
        code=f"d{uuid.uuid4().hex[:6]}",
        type="lpr",
        node_id="n",
        **_stamp(clock.now()),
    )
    db.add(d)
    db.commit()
    return d.id


def _webhook(db: Session, site: Site, clock: Any) -> str:
    from central.models.alerts import Webhook

    w = Webhook(site_id=site.id, url="http://127.0.0.1:9/x", secret="s", **_stamp(clock.now()))
    db.add(w)
    db.commit()
    return w.id


def _pass(db: Session, site: Site, clock: Any) -> str:
    from central.models.visitors import VisitorPass

    now = clock.now()
    p = VisitorPass(
        id=str(uuid.uuid4()),
        site_id=site.id,
        valid_from=now,
        valid_until=now,
        rings=[1],
        token="t",
        **_stamp(now),
    )
    db.add(p)
    db.commit()
    return p.id


def _vehicle(db: Session, site: Site, clock: Any) -> str:
    from central.models.vehicles import Vehicle

    v = Vehicle(site_id=site.id, plate=f"B{uuid.uuid4().hex[:6]}", **_stamp(clock.now()))
    db.add(v)
    db.commit()
    return v.id


OPS_FACTORIES = {
    "rule_id": _alert_rule,
    "alert_id": _alert,
    "access_rule_id": _access_rule,
    "device_id": _device,
    "webhook_id": _webhook,
    "pass_id": _pass,
    "vehicle_id": _vehicle,
}
