"""Alert rules: thresholds, scopes, periods, de-duplication, escalation, ack, absence on a FakeClock."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from anju.clock import FakeClock
from central.db import make_session_factory
from central.errors import Conflict, ValidationFailed
from central.ingest import Ingestor
from central.models.alerts import Alert, AlertRule
from central.services.alerts import AlertEngine, acknowledge, validate_rule
from central.services.notify import AlertMessage
from central.services.vehicles import add_vehicle
from contracts import DoorState
from tests.central.ops_helpers import door, household, pass_event, person, plate, stranger, watch_hit


class Collect:
    def __init__(self) -> None:
        self.messages: list[AlertMessage] = []

    def publish(self, messages: list[AlertMessage]) -> None:
        self.messages.extend(messages)


def add_rule(db: Session, site_id: str, rtype: str, now, **kw: Any) -> AlertRule:  # type: ignore[no-untyped-def]
    params = kw.pop("params", {})
    validate_rule(rtype, params, kw.get("periods", []))
    r = AlertRule(
        site_id=site_id, name=rtype, type=rtype, params=params, created_at=now, updated_at=now, **kw
    )
    db.add(r)
    db.commit()
    return r


def alerts(db: Session) -> list[Alert]:
    db.expire_all()
    return list(db.scalars(select(Alert).order_by(Alert.first_at)))


def test_rule_validation_names_fields() -> None:
    with pytest.raises(ValidationFailed) as err:
        validate_rule("stranger", {"count": 0, "bogus": 1}, [{"start": "25:00"}])
    fields = {f.field for f in err.value.fields}
    assert {"params.count", "params.bogus", "periods.0.start"} <= fields
    with pytest.raises(ValidationFailed):
        validate_rule("nope", {}, [])


def test_stranger_threshold_dedup_and_scope(engine: Engine, db: Session, clock: FakeClock, make_site) -> None:
    site = make_site()
    now = clock.now()
    add_rule(db, site.id, "stranger", now, params={"ring": 2, "count": 3, "window_s": 600}, severity="high")
    sink = Collect()
    ing = Ingestor(make_session_factory(engine), clock, sink)
    ing.on_events(
        [stranger(site, now + timedelta(seconds=i), ring=1) for i in range(5)]
    )  # ring 1: out of scope
    ing.on_events([stranger(site, now, ring=2), stranger(site, now + timedelta(minutes=1), ring=2)])
    assert alerts(db) == []
    ing.on_events(
        [stranger(site, now + timedelta(minutes=20), ring=2)]
    )  # the first two are outside the window
    assert alerts(db) == []
    ing.on_events(
        [
            stranger(site, now + timedelta(minutes=21), ring=2),
            stranger(site, now + timedelta(minutes=22), ring=2),
        ]
    )
    (alert,) = alerts(db)
    assert alert.type == "stranger" and alert.severity == "high" and alert.ring == 2
    assert "陌生人" in alert.title_zh and "Stranger" in alert.title_en
    assert [m.notice for m in sink.messages] == ["alert.created"]
    ing.on_events([stranger(site, now + timedelta(minutes=23), ring=2)])  # de-duplicated onto the open alert
    (alert,) = alerts(db)
    assert alert.count == 2 and sink.messages[-1].notice == "alert.updated"


def test_periods_watchlist_door_vehicle(engine: Engine, db: Session, clock: FakeClock, make_site) -> None:
    site = make_site()
    now = clock.now()  # 08:00 UTC = 16:00 Asia/Shanghai
    night = {"name": "special", "start": "22:00", "end": "06:00", "severity": "critical"}
    day = {"name": "normal", "start": "06:00", "end": "22:00", "active": False}
    add_rule(db, site.id, "door", now, periods=[night, day])
    add_rule(db, site.id, "watchlist", now, params={"categories": ["wanted"]}, severity="high")
    add_rule(db, site.id, "vehicle_watch", now, severity="high")
    add_vehicle(db, site_id=site.id, plate="浙A-88888", now=now, watchlisted=True, watch_reason="盗抢")
    add_vehicle(db, site_id=site.id, plate="浙A12345", now=now)
    ing = Ingestor(make_session_factory(engine), clock)
    ing.on_events([door(site, now, DoorState.forced_open)])  # day: muted
    ing.on_events([watch_hit(site, now, "w1", category="drug")])  # out of library scope
    ing.on_events([plate(site, now, "浙A12345")])  # registered, not watch-listed
    assert alerts(db) == []
    ing.on_events([door(site, now + timedelta(hours=7), DoorState.forced_open)])  # 23:00 local
    ing.on_events([watch_hit(site, now, "w2", category="wanted")])
    ing.on_events([plate(site, now, "浙A 88888")])
    got = {a.type: a for a in alerts(db)}
    assert set(got) == {"door", "watchlist", "vehicle_watch"}
    assert got["door"].severity == "critical" and "强行" in got["door"].title_zh
    assert "浙A88888" in got["vehicle_watch"].title_zh


def test_special_person_leaving_ring1(engine: Engine, db: Session, clock: FakeClock, make_site) -> None:
    site = make_site()
    now = clock.now()
    hh = household(db, site, now)
    grandpa = person(db, site, now, "刘爷爷", household_id=hh.id, dementia=True)
    other = person(db, site, now, "刘小明", household_id=hh.id)
    add_rule(db, site.id, "special_leaving", now, severity="critical")
    ing = Ingestor(make_session_factory(engine), clock)
    ing.on_events([pass_event(site, now, grandpa.id, ring=1, direction="in")])
    ing.on_events([pass_event(site, now, grandpa.id, ring=2, direction="out")])
    ing.on_events([pass_event(site, now, other.id, ring=1, direction="out")])
    assert alerts(db) == []
    ing.on_events([pass_event(site, now + timedelta(minutes=5), grandpa.id, ring=1, direction="out")])
    (alert,) = alerts(db)
    assert alert.type == "special_leaving" and alert.person_id == grandpa.id and alert.severity == "critical"
    assert "走失" in alert.title_zh and "刘**" in alert.title_zh and "爷爷" not in alert.title_zh


def test_absence_escalation_and_ack(engine: Engine, db: Session, clock: FakeClock, make_site) -> None:
    site = make_site()
    now = clock.now()
    hh = household(db, site, now)
    alone = person(db, site, now, "孤老甲", household_id=hh.id, elderly_alone=True)
    seen = person(db, site, now, "孤老乙", household_id=hh.id, elderly_alone=True)
    person(db, site, now, "年轻人", household_id=hh.id)
    add_rule(
        db,
        site.id,
        "absence",
        now,
        params={"group": "elderly_alone", "days": 2},
        severity="medium",
        escalate_after_s=3600,
    )
    factory = make_session_factory(engine)
    ing = Ingestor(factory, clock)
    engine_ = AlertEngine(clock)

    def tick() -> list[AlertMessage]:
        with factory() as s:
            out = engine_.run_periodic(s, [site.id])
            s.commit()
        return out

    assert tick() == []
    clock.advance(timedelta(days=1, hours=12))
    ing.on_events([pass_event(site, clock.now(), seen.id, ring=3, direction="out")])
    assert tick() == []
    clock.advance(timedelta(hours=12))  # 2 days since 孤老甲 was registered and never seen
    (msg,) = tick()
    assert msg.notice == "alert.created" and msg.person_id == alone.id and msg.type == "absence"
    assert "长时间未出现" in msg.title_zh and "2" in msg.title_zh
    assert tick() == []  # one alert per absence episode
    clock.advance(timedelta(minutes=59))
    assert tick() == []
    clock.advance(timedelta(minutes=2))
    (esc,) = tick()
    assert esc.notice == "alert.escalated" and esc.severity == "high" and esc.escalation_level == 1
    with factory() as s:
        alert = s.get(Alert, esc.id)
        assert alert is not None
        ack = acknowledge(s, alert, "guard-1", "已电话联系，老人在女儿家", clock.now())
        s.commit()
        with pytest.raises(Conflict):
            acknowledge(s, alert, "guard-2", "again", clock.now())
    assert ack.status == "acknowledged" and ack.ack_note.startswith("已电话")
    clock.advance(timedelta(hours=5))
    assert tick() == []  # acknowledged alerts do not escalate
    # 孤老乙 was seen 1.5 days in: alert 2 days after that sighting
    clock.set(now + timedelta(days=3, hours=12, minutes=1))
    (msg2,) = tick()
    assert msg2.person_id == seen.id
    # 孤老甲 comes home, then stays in for 2 more days: a new episode, a new alert
    ing.on_events([pass_event(site, clock.now(), alone.id, ring=1, direction="in")])
    assert tick() == []
    clock.advance(timedelta(days=2, seconds=1))
    assert [m.person_id for m in tick() if m.notice == "alert.created"] == [alone.id]


def test_tailgating_and_liveness_thresholds(engine: Engine, db: Session, clock: FakeClock, make_site) -> None:
    from contracts import LivenessFailureEvent, TailgatingEvent
    from tests.central.ops_helpers import common

    site = make_site()
    now = clock.now()
    add_rule(db, site.id, "tailgating", now, params={"min_extra": 2}, camera_codes=["door-a"])
    add_rule(db, site.id, "liveness", now, params={"count": 2, "window_s": 60})
    ing = Ingestor(make_session_factory(engine), clock)

    def tail(door: str, counted: int) -> TailgatingEvent:
        return TailgatingEvent(
            **common(site, now), camera_id="cam-a", door_id=door, authorised=1, counted=counted
        )

    def spoof(at_s: int) -> LivenessFailureEvent:
        return LivenessFailureEvent(
            **common(site, now + timedelta(seconds=at_s)), camera_id="cam-l", score=0.1, threshold=0.5
        )

    ing.on_events([tail("door-a", 2), tail("door-b", 5)])  # one extra only; door-b out of camera scope
    ing.on_events([spoof(0), spoof(120)])  # two failures, but not within 60 s
    assert alerts(db) == []
    ing.on_events([tail("door-a", 3), spoof(150)])
    assert sorted(a.type for a in alerts(db)) == ["liveness", "tailgating"]
