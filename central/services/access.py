"""Access decisions that need no database: time windows, rule subjects, validity.

An access rule says that a *subject* (a person group such as ``owner`` or
``tenant``, one household, one building, or one person) may pass in some zones
or whole rings on some weekdays between two local times, optionally only
between two dates. Rules are compiled into :class:`contracts.AccessWindow`
lists per person (``central.services.whitelist``); the edge evaluates the
windows at the door. The same evaluation lives here so central can answer
"may this person enter there now?" for consoles and tests.

Times of day are local to the site (``Asia/Shanghai`` by default); validity
dates are absolute UTC instants.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timezone
from enum import Enum
from zoneinfo import ZoneInfo

from contracts import AccessWindow

DEFAULT_TZ = "Asia/Shanghai"


class SubjectType(str, Enum):
    group = "group"  # owner / tenant / family / staff / visitor
    household = "household"
    building = "building"
    person = "person"


PERSON_GROUPS = ("owner", "tenant", "family", "staff", "visitor")


@dataclass(frozen=True)
class PersonFacts:
    """What rule matching needs to know about one person."""

    person_id: str
    group: str
    household_id: str | None = None
    building_id: str | None = None


@dataclass(frozen=True)
class RuleSpec:
    """One access rule, independent of how it is stored."""

    subject_type: SubjectType
    subject_value: str
    rings: tuple[int, ...] = (1, 2, 3)
    zone_ids: tuple[str, ...] = ()
    weekdays: tuple[int, ...] = (0, 1, 2, 3, 4, 5, 6)
    start: time = time(0, 0)
    end: time = time(23, 59, 59)
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    enabled: bool = True
    extra: dict[str, str] = field(default_factory=dict)

    def matches(self, person: PersonFacts) -> bool:
        if not self.enabled:
            return False
        if self.subject_type is SubjectType.group:
            return person.group == self.subject_value
        if self.subject_type is SubjectType.household:
            return person.household_id == self.subject_value
        if self.subject_type is SubjectType.building:
            return person.building_id == self.subject_value
        return person.person_id == self.subject_value

    def in_force(self, now: datetime) -> bool:
        """Whether today's date lies within the rule's validity (if any)."""
        if self.valid_from is not None and now < _aware(self.valid_from):
            return False
        return not (self.valid_until is not None and now >= _aware(self.valid_until))

    def to_window(self) -> AccessWindow:
        return AccessWindow(
            zone_ids=list(self.zone_ids),
            rings=sorted(set(self.rings)),
            weekdays=sorted(set(self.weekdays)),
            start=self.start,
            end=self.end,
        )


def _aware(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything stored is UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def windows_for(person: PersonFacts, rules: list[RuleSpec], now: datetime) -> list[AccessWindow]:
    """The access windows of ``person`` from every matching rule in force at ``now``.

    Identical windows from overlapping rules are kept once.
    """
    out: list[AccessWindow] = []
    for rule in rules:
        if rule.matches(person) and rule.in_force(now):
            window = rule.to_window()
            if window not in out:
                out.append(window)
    return out


def time_in_window(start: time, end: time, moment: time) -> bool:
    """``start <= moment <= end``; a window whose end is before its start runs overnight."""
    if start <= end:
        return start <= moment <= end
    return moment >= start or moment <= end


def window_allows(
    window: AccessWindow, *, when: datetime, ring: int | None, zone_id: str | None, tz: str = DEFAULT_TZ
) -> bool:
    """Whether ``window`` lets someone through at ``when`` (UTC) at a door in ``zone_id`` on ``ring``."""
    local = _aware(when).astimezone(ZoneInfo(tz))
    weekday = local.weekday()
    moment = local.time().replace(tzinfo=None)
    if window.start > window.end and moment <= window.end:
        # The small hours of an overnight window belong to the previous day's window.
        weekday = (weekday - 1) % 7
    if weekday not in window.weekdays:
        return False
    if not time_in_window(window.start, window.end, moment):
        return False
    if window.zone_ids:
        return zone_id is not None and zone_id in window.zone_ids
    return ring is not None and ring in window.rings


def may_pass(
    windows: list[AccessWindow],
    *,
    when: datetime,
    ring: int | None,
    zone_id: str | None,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    tz: str = DEFAULT_TZ,
) -> bool:
    """The whole decision for one person: validity period and any window."""
    if valid_from is not None and when < _aware(valid_from):
        return False
    if valid_until is not None and when >= _aware(valid_until):
        return False
    return any(window_allows(w, when=when, ring=ring, zone_id=zone_id, tz=tz) for w in windows)
