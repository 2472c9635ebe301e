"""Builders shared by reconciliation tests: a small compound in the registry and edge events."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from itertools import count

import numpy as np
from sqlalchemy.orm import Session

from central.models.registry import Building, House, Household, Person, Site
from central.models.zones import Zone
from central.reconciliation.service import encode_embedding
from contracts.messages import Credential, Direction, PassEvent, PersonKind, StrangerEvent

LOCAL = timezone(timedelta(hours=8))
_seq = count(1)


@dataclass
class Compound:
    site_id: str
    building_id: str
    rental_house_id: str
    household_id: str
    resident_id: str
    elderly_id: str


def make_compound(session: Session, site: Site, now: datetime) -> Compound:
    st = {"created_at": now, "updated_at": now}
    b = Building(site_id=site.id, number="1", **st)
    session.add(b)
    session.flush()
    session.add(Zone(site_id=site.id, code="gate", name="大门", ring=1, kind="gate", **st))
    session.add(
        Zone(site_id=site.id, code="b1-u1", name="1栋1单元", ring=3, kind="unit", building_id=b.id, **st)
    )
    h = House(site_id=site.id, building_id=b.id, unit="1", floor=3, room="301", usage="rental", **st)
    session.add(h)
    session.flush()
    hh = Household(site_id=site.id, house_id=h.id, name="301", **st)
    session.add(hh)
    session.flush()
    p = Person(site_id=site.id, household_id=hh.id, name="张三", kind="tenant", has_face=True, **st)
    e = Person(site_id=site.id, household_id=hh.id, name="李奶奶", kind="family", elderly_alone=True, **st)
    session.add_all([p, e])
    session.commit()
    return Compound(site.id, b.id, h.id, hh.id, p.id, e.id)


def local(day: int, hour: float, start: datetime) -> datetime:
    return start + timedelta(days=day, hours=hour)


def stranger(
    site_id: str, at: datetime, vector: np.ndarray, direction: str, zone: str = "b1-u1"
) -> StrangerEvent:
    return StrangerEvent(
        event_id=uuid.uuid4(),
        site_id=site_id,
        node_id="node-1",
        seq=next(_seq),
        captured_at=at,
        camera_id=f"{zone}-{direction}",
        zone_id=zone,
        ring=3 if zone != "gate" else 1,
        direction=Direction(direction),
        track_id=next(_seq),
        best_score=0.1,
        quality=0.8,
        embedding_b64=encode_embedding(vector),
    )


def passed(site_id: str, person_id: str, at: datetime, score: float = 0.8, zone: str = "b1-u1") -> PassEvent:
    return PassEvent(
        event_id=uuid.uuid4(),
        site_id=site_id,
        node_id="node-1",
        seq=next(_seq),
        captured_at=at,
        camera_id=f"{zone}-in",
        zone_id=zone,
        ring=3,
        direction=Direction.inbound,
        person_id=person_id,
        person_kind=PersonKind.tenant,
        credential=Credential.face,
        score=score,
    )
