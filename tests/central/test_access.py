"""Access windows: rule matching, overnight windows, site time zone, validity, zones vs rings."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

from central.services.access import PersonFacts, RuleSpec, SubjectType, may_pass, window_allows, windows_for
from contracts import AccessWindow

UTC = timezone.utc
# 2026-03-02 is a Monday. Asia/Shanghai is UTC+8.
MON_0900_LOCAL = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


def test_rules_match_by_group_household_building_person() -> None:
    p = PersonFacts("p1", "tenant", household_id="h1", building_id="b1")
    rules = [
        RuleSpec(SubjectType.group, "tenant", rings=(1, 2)),
        RuleSpec(SubjectType.household, "h1", rings=(4,)),
        RuleSpec(SubjectType.building, "b1", zone_ids=("b1-door",)),
        RuleSpec(SubjectType.person, "p2", rings=(3,)),
        RuleSpec(SubjectType.group, "owner", rings=(3,)),
        RuleSpec(SubjectType.group, "tenant", rings=(1, 2), enabled=False),
    ]
    windows = windows_for(p, rules, MON_0900_LOCAL)
    assert [w.rings for w in windows] == [[1, 2], [4], [1, 2, 3]]
    assert windows[2].zone_ids == ["b1-door"]
    # a rule out of its validity period does not count
    expired = RuleSpec(
        SubjectType.group, "tenant", rings=(3,), valid_until=MON_0900_LOCAL - timedelta(days=1)
    )
    future = RuleSpec(SubjectType.group, "tenant", rings=(3,), valid_from=MON_0900_LOCAL + timedelta(days=1))
    assert windows_for(p, [expired, future], MON_0900_LOCAL) == []


def test_window_weekdays_times_and_zones() -> None:
    staff = AccessWindow(rings=[1, 2], weekdays=[0, 1, 2, 3, 4], start=time(7, 0), end=time(19, 0))
    assert window_allows(staff, when=MON_0900_LOCAL, ring=1, zone_id=None)
    assert not window_allows(staff, when=MON_0900_LOCAL, ring=3, zone_id=None)
    assert not window_allows(staff, when=MON_0900_LOCAL + timedelta(hours=11), ring=1, zone_id=None)  # 20:00
    assert not window_allows(staff, when=MON_0900_LOCAL + timedelta(days=5), ring=1, zone_id=None)  # Saturday
    # the same instant is 01:00 Monday UTC: a site in UTC sees it outside hours
    assert not window_allows(staff, when=MON_0900_LOCAL, ring=1, zone_id=None, tz="UTC")
    door_only = AccessWindow(zone_ids=["b3-u1"], rings=[3])
    assert window_allows(door_only, when=MON_0900_LOCAL, ring=3, zone_id="b3-u1")
    assert not window_allows(door_only, when=MON_0900_LOCAL, ring=3, zone_id="b4-u1")


def test_overnight_window_belongs_to_its_start_day() -> None:
    # night shift Friday 22:00 → Saturday 06:00 only
    night = AccessWindow(rings=[1], weekdays=[4], start=time(22, 0), end=time(6, 0))
    fri_2300 = datetime(2026, 3, 6, 15, 0, tzinfo=UTC)
    sat_0300 = datetime(2026, 3, 6, 19, 0, tzinfo=UTC)
    sat_2300 = datetime(2026, 3, 7, 15, 0, tzinfo=UTC)
    fri_0300 = datetime(2026, 3, 5, 19, 0, tzinfo=UTC)
    assert window_allows(night, when=fri_2300, ring=1, zone_id=None)
    assert window_allows(night, when=sat_0300, ring=1, zone_id=None)
    assert not window_allows(night, when=sat_2300, ring=1, zone_id=None)
    assert not window_allows(night, when=fri_0300, ring=1, zone_id=None)  # belongs to Thursday's night


def test_validity_period_ends_access() -> None:
    always = [AccessWindow(rings=[1, 2, 3])]
    lease_end = MON_0900_LOCAL + timedelta(hours=1)
    assert may_pass(always, when=MON_0900_LOCAL, ring=1, zone_id=None, valid_until=lease_end)
    assert not may_pass(always, when=lease_end, ring=1, zone_id=None, valid_until=lease_end)
    assert not may_pass(always, when=MON_0900_LOCAL, ring=1, zone_id=None, valid_from=lease_end)
    assert not may_pass([], when=MON_0900_LOCAL, ring=1, zone_id=None)
