"""Access rules and multi-frame evidence."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

import numpy as np
import pytest

from contracts.messages import PersonKind
from contracts.whitelist import AccessWindow, WhitelistPerson
from edge.config import DecisionConfig
from edge.decision import AccessRules, CameraContext, DecisionMaker, Observation, Outcome, TrackEvidence
from edge.tracker import FaceTracker, iou
from recognition.types import Detection

# Monday 2026-01-05 10:00 in Shanghai.
MONDAY_10 = datetime(2026, 1, 5, 2, 0, tzinfo=timezone.utc)
GATE = CameraContext(ring=1, zone_id="zone-a", direction="in")


def who(pid: str, kind: PersonKind = PersonKind.owner, **kw: object) -> WhitelistPerson:
    return WhitelistPerson(person_id=pid, kind=kind, **kw)  # type: ignore[arg-type]


def test_rules_validity_windows_and_egress() -> None:
    rules = AccessRules("Asia/Shanghai")
    assert rules.check(who("a"), GATE, MONDAY_10) == (True, "resident")
    assert rules.check(who("a"), CameraContext(4, None, "in"), MONDAY_10)[0] is False
    expired = who("b", valid_until=MONDAY_10 - timedelta(seconds=1))
    assert rules.check(expired, GATE, MONDAY_10) == (False, "expired")
    future = who("c", valid_from=MONDAY_10 + timedelta(hours=1))
    assert rules.check(future, GATE, MONDAY_10) == (False, "not_yet_valid")
    weekend_cleaner = who(
        "d", PersonKind.staff, windows=[AccessWindow(weekdays=[5, 6], start=time(8), end=time(18))]
    )
    assert rules.check(weekend_cleaner, GATE, MONDAY_10) == (False, "outside_access_window")
    assert rules.check(weekend_cleaner, GATE, MONDAY_10 + timedelta(days=5)) == (True, "window")
    assert rules.check(weekend_cleaner, CameraContext(1, "zone-a", "out"), MONDAY_10) == (True, "egress")
    zone_b_only = who("e", windows=[AccessWindow(zone_ids=["zone-b"])])
    assert rules.check(zone_b_only, GATE, MONDAY_10)[0] is False
    night = who("f", windows=[AccessWindow(start=time(22), end=time(6))])  # wraps midnight
    assert rules.check(night, GATE, MONDAY_10)[0] is False
    assert rules.check(night, GATE, MONDAY_10 + timedelta(hours=13))[0] is True  # 23:00 local
    visitor = who("v", PersonKind.visitor)
    assert rules.check(visitor, GATE, MONDAY_10) == (False, "no_access_window")
    assert rules.check(who("w", PersonKind.watchlist), GATE, MONDAY_10) == (False, "watchlist")


def decide(
    obs: list[Observation],
    persons: dict[str, WhitelistPerson],
    *,
    fresh: bool = True,
    now: float = 1.0,
    **cfg: object,
):  # type: ignore[no-untyped-def]
    ev = TrackEvidence(first_at=0.0)
    for o in obs:
        ev.add(o)
    maker = DecisionMaker(DecisionConfig(**cfg), AccessRules())  # type: ignore[arg-type]
    return maker.decide(ev, now_mono=now, now_wall=MONDAY_10, ctx=GATE, lookup=persons, whitelist_fresh=fresh)


PERSONS = {
    "a": who("a"),
    "v": who("v", PersonKind.visitor, windows=[AccessWindow()]),
    "w": who("w", PersonKind.watchlist, watchlist_category="wanted"),
}


def test_one_ordinary_match_is_not_enough() -> None:
    assert decide([Observation(0.9, "a", 0.40, True)], PERSONS) is None
    d = decide([Observation(0.8, "a", 0.40, True), Observation(0.9, "a", 0.42, True)], PERSONS)
    assert (
        d is not None and d.outcome == Outcome.open and d.person_id == "a" and d.score == pytest.approx(0.42)
    )


def test_strong_live_match_decides_alone() -> None:
    d = decide([Observation(0.9, "a", 0.62, True)], PERSONS)
    assert d is not None and d.outcome == Outcome.open
    assert decide([Observation(0.9, "a", 0.62, True)], PERSONS, strong_match_score=None) is None


def test_old_evidence_is_forgotten() -> None:
    obs = [Observation(0.0, "a", 0.40, True), Observation(5.0, "a", 0.40, True)]
    assert decide(obs, PERSONS, now=5.0) is None


def test_visitor_watchlist_liveness_stale() -> None:
    d = decide([Observation(0.8, "v", 0.4, True), Observation(0.9, "v", 0.4, True)], PERSONS)
    assert d is not None and d.outcome == Outcome.visitor and d.opens
    d = decide([Observation(0.9, "w", 0.36, None)], PERSONS)
    assert d is not None and d.outcome == Outcome.watchlist and not d.opens
    assert decide([Observation(0.9, "w", 0.36, None)], PERSONS, watchlist_threshold=0.45) is None
    d = decide([Observation(0.8, "a", 0.6, False, 0.1), Observation(0.9, "a", 0.6, False, 0.2)], PERSONS)
    assert d is not None and d.outcome == Outcome.liveness_failure and d.person_id == "a" and not d.opens
    d = decide([Observation(0.8, "a", 0.5, True), Observation(0.9, "a", 0.5, True)], PERSONS, fresh=False)
    assert d is not None and d.outcome == Outcome.denied and d.reason == "whitelist_stale"


def test_stranger_needs_time_and_several_looks() -> None:
    looks = [Observation(0.2, None, 0.1, None), Observation(0.6, None, 0.05, None)]
    assert decide(looks, PERSONS, now=0.6) is None  # not long enough
    d = decide(looks, PERSONS, now=1.1)
    assert d is not None and d.outcome == Outcome.stranger and d.score == pytest.approx(0.1)
    assert decide(looks[:1], PERSONS, now=1.1) is None  # one look only


def det(x: float, y: float, w: float = 50) -> Detection:
    return Detection((x, y, x + w, y + w), np.zeros((5, 2), np.float32), 0.9)


def test_tracker_follows_moving_faces_and_expires() -> None:
    tr = FaceTracker(iou_threshold=0.3, max_age_s=0.5, max_jump=1.0)
    m, _ = tr.update([det(0, 0), det(200, 0)], 0.0)
    ids = {t.track_id for t in m}
    m, _ = tr.update([det(10, 0), det(210, 5)], 0.1)
    assert {t.track_id for t in m} == ids
    m, _ = tr.update([det(50, 0), det(250, 5)], 0.2)  # jumped: IoU below threshold, centroid still close
    assert {t.track_id for t in m} == ids
    m, ended = tr.update([det(400, 300)], 1.0)
    assert {t.track_id for t in ended} == ids and m[0].track_id not in ids
    assert iou((0, 0, 10, 10), (5, 0, 15, 10)) == pytest.approx(1 / 3)
