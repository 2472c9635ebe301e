"""Scoring: which anonymous clusters look like people living here unregistered, and which
registered residents look like they have moved away.

Both scorers are pure functions of typed observations so that they can be tested and
explained: each returns the score and the named features that produced it (the review
queue shows them as evidence).

Unregistered occupant (实有人口 not in the registry). A person who lives in a building is
seen on many days, at night (coming in in the evening, leaving in the morning), mostly at
the ring-3 doors of one building/unit, often together with the registered residents of a
household there, and in a unit with a rental house. Delivery staff are seen on many days
too, but by day and across many buildings; a nanny is seen daily at one unit but never
overnight; a visitor is seen on a few days only.

Moved away. A registered resident who is usually seen on a share ``r`` of days has
probability about ``(1 − r) ** g`` of being unseen for ``g`` days while still living here;
the score is one minus that. Special-care residents (elderly living alone, dementia) are
scored only after a much longer absence: a short absence of theirs is the *safety* alert's
business (长时间不出现), never a registry change.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from central.reconciliation.config import MovedAwayScoring, OccupantScoring

BUILDING_RING = 3  # ring 3: building / unit doors (ring 1 perimeter, 2 internal roads, 4 house doors)
COOCCURRENCE_WINDOW = timedelta(minutes=2)
MORNING_END_HOUR = 10


@dataclass(frozen=True)
class Sighting:
    """One stranger track assigned to a cluster."""

    at: datetime
    camera_id: str
    ring: int | None
    direction: str  # "in", "out" or "unknown"
    building_id: str | None = None
    unit: str | None = None


@dataclass(frozen=True)
class ResidentPass:
    """A registered resident passing a building door (for co-occurrence)."""

    at: datetime
    camera_id: str
    household_id: str | None
    building_id: str | None
    unit: str | None
    person_id: str = ""


@dataclass(frozen=True)
class OccupantScore:
    score: float
    days_seen: int
    night_days: int
    dominant_building_id: str | None
    dominant_unit: str | None
    concentration: float
    buildings_seen: int
    cooccurrence_days: int
    linked_household_id: str | None
    rental_linked: bool
    first_seen: datetime | None
    last_seen: datetime | None
    features: dict[str, float] = field(default_factory=dict)


def _local(at: datetime, offset_h: int) -> datetime:
    return at + timedelta(hours=offset_h)


def score_occupant(
    sightings: list[Sighting],
    now: datetime,
    cfg: OccupantScoring,
    resident_passes: list[ResidentPass] | None = None,
    rental_units: set[tuple[str, str]] | None = None,
    reported_units: set[tuple[str, str]] | None = None,
) -> OccupantScore:
    """Score one cluster's sightings (those older than the window are ignored)."""
    start = now - timedelta(days=cfg.window_days)
    recent = sorted((s for s in sightings if start <= s.at <= now), key=lambda s: s.at)
    if not recent:
        return OccupantScore(0.0, 0, 0, None, None, 0.0, 0, 0, None, False, None, None)
    off = cfg.utc_offset_hours
    days: dict[date, list[Sighting]] = {}
    for s in recent:
        days.setdefault(_local(s.at, off).date(), []).append(s)
    days_seen = len(days)

    # Overnight evidence per local day: leaving in the morning, or coming in at night with
    # no later leaving that night.
    night_days = 0
    for items in days.values():
        morning_out = any(
            s.direction == "out" and _local(s.at, off).hour < MORNING_END_HOUR and _local(s.at, off).hour >= 4
            for s in items
        )
        late = [s for s in items if _local(s.at, off).hour >= cfg.night_start_hour]
        evening_in = bool(late) and late[-1].direction == "in"
        if morning_out or evening_in:
            night_days += 1

    ring3 = [s for s in recent if s.ring == BUILDING_RING and s.building_id is not None]
    places = Counter((s.building_id, s.unit) for s in ring3)
    buildings = {s.building_id for s in ring3}
    dominant: tuple[str | None, str | None] = (None, None)
    concentration = 0.0
    if places:
        (b, u), n = places.most_common(1)[0]
        dominant = (b, u)
        concentration = n / len(ring3)

    # Co-occurrence: the cluster passes a door within two minutes of a registered resident
    # of a household in its unit; counted per day, the household most often seen wins.
    cooc_days: dict[str, set[date]] = {}
    if resident_passes and dominant[0] is not None:
        by_camera: dict[str, list[ResidentPass]] = {}
        for p in resident_passes:
            if p.household_id and p.building_id == dominant[0] and p.unit == dominant[1]:
                by_camera.setdefault(p.camera_id, []).append(p)
        for s in ring3:
            for p in by_camera.get(s.camera_id, ()):
                if abs(p.at - s.at) <= COOCCURRENCE_WINDOW and p.household_id:
                    cooc_days.setdefault(p.household_id, set()).add(_local(s.at, off).date())
    linked_household = max(cooc_days, key=lambda h: len(cooc_days[h])) if cooc_days else None
    cooc = len(cooc_days[linked_household]) if linked_household else 0
    rental = bool(
        rental_units and dominant[0] is not None and (dominant[0], dominant[1] or "") in rental_units
    )

    # Evidence combines multiplicatively on the two things a resident must show (many days,
    # one place) and weights overnight presence heavily; the rest nudges.
    f_days = min(1.0, max(0.0, (days_seen - 1) / max(1.0, cfg.min_days_seen * 1.5 - 1)))
    f_night = night_days / days_seen
    f_conc = concentration if len(buildings) <= 2 else concentration * 0.5
    f_cooc = min(1.0, cooc / max(1, days_seen) * 2)
    core = f_days * f_conc * (0.2 + 0.8 * f_night)
    # A grid worker's QR visit that reported more occupants than are registered in that unit.
    reported = bool(
        reported_units and dominant[0] is not None and (dominant[0], dominant[1] or "") in reported_units
    )
    score = core * (0.85 + 0.1 * f_cooc + 0.05 * (1.0 if rental else 0.0) + 0.1 * (1.0 if reported else 0.0))
    if days_seen < cfg.min_days_seen:
        score = min(score, cfg.candidate_threshold * 0.99)
    return OccupantScore(
        score=round(min(1.0, score), 4),
        days_seen=days_seen,
        night_days=night_days,
        dominant_building_id=dominant[0],
        dominant_unit=dominant[1],
        concentration=round(concentration, 4),
        buildings_seen=len(buildings),
        cooccurrence_days=cooc,
        linked_household_id=linked_household,
        rental_linked=rental,
        first_seen=recent[0].at,
        last_seen=recent[-1].at,
        features={
            "qr_visit_reported_more": 1.0 if reported else 0.0,
            "days": f_days,
            "night": f_night,
            "concentration": f_conc,
            "cooccurrence": f_cooc,
        },
    )


SELF_LINK_WINDOW = timedelta(minutes=6)
SAME_CAMERA_WINDOW = timedelta(seconds=90)


def registered_self_link(
    sightings: list[Sighting], passes: list[ResidentPass]
) -> tuple[str | None, float, int]:
    """The registered person a cluster most likely *is*, from trips: the cluster is seen at one
    camera while that person is matched at another camera minutes apart (the unit door failed,
    the gate matched), and never at the same camera at the same moment (which is walking
    together: co-occurrence, the opposite evidence). Returns (person, share of sightings, count).
    """
    if not sightings or not passes:
        return None, 0.0, 0
    ordered = sorted(passes, key=lambda p: p.at)
    times = [p.at for p in ordered]
    counts: dict[str, int] = {}
    from bisect import bisect_left, bisect_right

    for s in sightings:
        lo, hi = bisect_left(times, s.at - SELF_LINK_WINDOW), bisect_right(times, s.at + SELF_LINK_WINDOW)
        near = ordered[lo:hi]
        together = {
            p.person_id for p in near if p.camera_id == s.camera_id and abs(p.at - s.at) <= SAME_CAMERA_WINDOW
        }
        for pid in {p.person_id for p in near if p.camera_id != s.camera_id and p.person_id} - together:
            counts[pid] = counts.get(pid, 0) + 1
    if not counts:
        return None, 0.0, 0
    best = max(counts, key=lambda k: counts[k])
    return best, counts[best] / len(sightings), counts[best]


@dataclass(frozen=True)
class PresenceHistory:
    """What central knows of one registered resident's presence."""

    person_id: str
    days_seen: int  # distinct days with a pass inside the observed period
    observed_since: datetime  # start of the observed period (monitoring start or registration)
    last_seen: datetime | None
    special_care: bool


@dataclass(frozen=True)
class MovedAwayScore:
    score: float
    absent_days: float
    usual_days_ratio: float
    eligible: bool


def score_moved_away(h: PresenceHistory, now: datetime, cfg: MovedAwayScoring) -> MovedAwayScore:
    """Score a registered resident's absence."""
    since = h.last_seen or h.observed_since
    absent = max(0.0, (now - since).total_seconds() / 86400.0)
    # Days observed before the absence started: what the usual rate is learnt from.
    observed_before = max(
        0.0, ((h.last_seen or h.observed_since) - h.observed_since).total_seconds() / 86400.0
    )
    prior_weight = 7.0
    ratio = (h.days_seen + cfg.prior_days_seen_ratio * prior_weight) / (observed_before + 1.0 + prior_weight)
    ratio = min(0.98, max(0.02, ratio))
    min_days = cfg.special_care_min_absent_days if h.special_care else cfg.min_absent_days
    eligible = absent >= min_days
    score = 1.0 - (1.0 - ratio) ** absent
    if not eligible:
        score = min(score, cfg.candidate_threshold * 0.99)
    return MovedAwayScore(
        score=round(score, 4),
        absent_days=round(absent, 2),
        usual_days_ratio=round(ratio, 3),
        eligible=eligible,
    )
