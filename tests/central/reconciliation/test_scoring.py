"""Occupant and moved-away scoring on hand-made patterns (the shapes the review queue must tell apart)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from central.reconciliation.config import MovedAwayScoring, OccupantScoring
from central.reconciliation.scoring import (
    PresenceHistory,
    ResidentPass,
    Sighting,
    score_moved_away,
    score_occupant,
)

LOCAL = timezone(timedelta(hours=8))
DAY0 = datetime(2026, 3, 2, tzinfo=LOCAL)
NOW = (DAY0 + timedelta(days=14)).astimezone(timezone.utc)
CFG = OccupantScoring()


def at(day: int, hour: float) -> datetime:
    return (DAY0 + timedelta(days=day, hours=hour)).astimezone(timezone.utc)


def door(day: int, hour: float, direction: str, building: str = "B1", unit: str = "b1-u1") -> Sighting:
    return Sighting(at(day, hour), f"{unit}-{direction}", 3, direction, building, unit)


def test_someone_living_in_one_unit_is_a_candidate() -> None:
    s = []
    for d in range(12):
        s += [door(d, 7.5, "out"), door(d, 19.2, "in")]
    sc = score_occupant(s, NOW, CFG, rental_units={("B1", "b1-u1")})
    assert sc.score >= CFG.candidate_threshold
    assert sc.days_seen == 12 and sc.night_days == 12
    assert sc.dominant_building_id == "B1" and sc.dominant_unit == "b1-u1" and sc.rental_linked


def test_delivery_staff_across_buildings_by_day_is_not() -> None:
    s = []
    for d in range(12):
        for i, b in enumerate(["B1", "B2", "B3", "B4"]):
            s += [door(d, 10 + i, "in", b, f"{b.lower()}-u1"), door(d, 10.1 + i, "out", b, f"{b.lower()}-u1")]
    sc = score_occupant(s, NOW, CFG)
    assert sc.score < CFG.candidate_threshold
    assert sc.buildings_seen == 4


def test_daily_helper_without_nights_is_not() -> None:
    s = []
    for d in range(12):
        s += [door(d, 8.5, "in"), door(d, 17.5, "out")]
    sc = score_occupant(s, NOW, CFG)
    assert sc.night_days == 0
    assert sc.score < CFG.candidate_threshold


def test_visitor_of_few_days_is_not_even_at_night() -> None:
    s = [door(3, 20, "in"), door(4, 8, "out"), door(9, 20.5, "in")]
    sc = score_occupant(s, NOW, CFG)
    assert sc.days_seen == 3
    assert sc.score < CFG.candidate_threshold


def test_cooccurrence_links_the_household() -> None:
    s, passes = [], []
    for d in range(8):
        s += [door(d, 7.5, "out"), door(d, 19.2, "in")]
        passes.append(ResidentPass(at(d, 7.5) + timedelta(seconds=20), "b1-u1-out", "HH1", "B1", "b1-u1"))
    sc = score_occupant(s, NOW, CFG, passes)
    assert sc.linked_household_id == "HH1" and sc.cooccurrence_days == 8


def test_old_sightings_fall_out_of_the_window() -> None:
    s = [door(d, 7.5, "out") for d in range(10)]
    sc = score_occupant(s, NOW + timedelta(days=30), CFG)
    assert sc.score == 0.0 and sc.days_seen == 0


MCFG = MovedAwayScoring()


def test_regular_resident_gone_ten_days_is_a_candidate() -> None:
    since = NOW - timedelta(days=30)
    h = PresenceHistory(
        "p1", days_seen=19, observed_since=since, last_seen=NOW - timedelta(days=10), special_care=False
    )
    sc = score_moved_away(h, NOW, MCFG)
    assert sc.eligible and sc.score >= MCFG.candidate_threshold


def test_short_trip_is_not() -> None:
    since = NOW - timedelta(days=30)
    h = PresenceHistory("p1", 25, since, NOW - timedelta(days=4), False)
    sc = score_moved_away(h, NOW, MCFG)
    assert not sc.eligible and sc.score < MCFG.candidate_threshold


def test_elderly_absence_is_the_safety_alerts_business_not_a_registry_change() -> None:
    since = NOW - timedelta(days=30)
    h = PresenceHistory("p1", 20, since, NOW - timedelta(days=12), special_care=True)
    sc = score_moved_away(h, NOW, MCFG)
    assert not sc.eligible and sc.score < MCFG.candidate_threshold
    later = score_moved_away(h, NOW + timedelta(days=25), MCFG)
    assert later.eligible and later.score >= MCFG.candidate_threshold


def test_never_seen_since_monitoring_started() -> None:
    h = PresenceHistory("p1", 0, NOW - timedelta(days=8), None, False)
    sc = score_moved_away(h, NOW, MCFG)
    assert sc.eligible and sc.score >= MCFG.candidate_threshold
    fresh = score_moved_away(PresenceHistory("p2", 0, NOW - timedelta(days=2), None, False), NOW, MCFG)
    assert not fresh.eligible


def test_rarely_seen_resident_needs_a_longer_absence() -> None:
    since = NOW - timedelta(days=60)
    h = PresenceHistory("p1", 5, since, NOW - timedelta(days=8), False)
    sc = score_moved_away(h, NOW, MCFG)
    assert sc.score < MCFG.candidate_threshold


def test_self_link_finds_the_resident_matched_elsewhere_on_the_trip() -> None:
    from central.reconciliation.scoring import registered_self_link

    s, passes = [], []
    for d in range(6):
        s.append(door(d, 7.5, "out"))  # the unit door did not match him ...
        passes.append(ResidentPass(at(d, 7.5) + timedelta(minutes=3), "gate-out", "HH1", None, None, "P1"))
        # ... while a housemate walking with the cluster is at the same door at the same moment
        passes.append(
            ResidentPass(at(d, 7.5) + timedelta(seconds=10), "b1-u1-out", "HH1", "B1", "b1-u1", "P2")
        )
        passes.append(
            ResidentPass(at(d, 7.5) + timedelta(minutes=3, seconds=5), "gate-out", "HH1", None, None, "P2")
        )
    person, share, n = registered_self_link(s, passes)
    assert person == "P1" and share == 1.0 and n == 6
    assert registered_self_link(s, [p for p in passes if p.person_id == "P2"])[0] is None


def test_a_qr_visit_reporting_more_occupants_strengthens_the_case() -> None:
    s = []
    for d in range(5):
        s += [door(d, 7.5, "out"), door(d, 19.2, "in") if d % 2 else door(d, 15, "in")]
    plain = score_occupant(s, NOW, CFG)
    reported = score_occupant(s, NOW, CFG, reported_units={("B1", "b1-u1")})
    assert reported.score > plain.score
    assert reported.features["qr_visit_reported_more"] == 1.0
