"""Daily routines: who passes which camera when, for one simulated day.

Times are site-local (China, UTC+8). A trip out is the unit door (out) then the main gate
(out) a minute or two later; coming home is the reverse.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from central.simulation.world import Community, Role, SimPerson, zone_code


@dataclass(frozen=True)
class Appearance:
    at_local: datetime
    person_key: str
    camera_id: str
    zone_id: str
    ring: int
    direction: str  # "in" | "out"


def _hm(rng: random.Random, start_h: float, end_h: float) -> timedelta:
    return timedelta(hours=rng.uniform(start_h, end_h))


def _leave(p: SimPerson, home: tuple[int, int], t: datetime, rng: random.Random) -> list[Appearance]:
    z = zone_code(*home)
    return [
        Appearance(t, p.key, f"{z}-out", z, 3, "out"),
        Appearance(t + timedelta(seconds=rng.uniform(60, 240)), p.key, "gate-out", "gate", 1, "out"),
    ]


def _arrive(p: SimPerson, home: tuple[int, int], t: datetime, rng: random.Random) -> list[Appearance]:
    z = zone_code(*home)
    return [
        Appearance(t, p.key, "gate-in", "gate", 1, "in"),
        Appearance(t + timedelta(seconds=rng.uniform(60, 240)), p.key, f"{z}-in", z, 3, "in"),
    ]


def _outing(
    p: SimPerson,
    home: tuple[int, int],
    day: datetime,
    rng: random.Random,
    a: float,
    b: float,
    dur: tuple[float, float],
) -> list[Appearance]:
    t = day + _hm(rng, a, b)
    back = t + timedelta(hours=rng.uniform(*dur))
    return _leave(p, home, t, rng) + _arrive(p, home, back, rng)


def _visit(
    p: SimPerson, home: tuple[int, int], t: datetime, stay_h: float, rng: random.Random
) -> list[Appearance]:
    return _arrive(p, home, t, rng) + _leave(p, home, t + timedelta(hours=stay_h), rng)


def resident_day(p: SimPerson, day: datetime, weekday: int, rng: random.Random) -> list[Appearance]:
    """A resident's (or an unregistered occupant's) usual day."""
    if p.home is None:
        return []
    if p.special_care or p.role in (Role.elderly, Role.elderly_absent):
        out: list[Appearance] = []
        if rng.random() < 0.85:
            out += _outing(p, p.home, day, rng, 8.0, 10.5, (0.7, 2.0))
        if rng.random() < 0.5:
            out += _outing(p, p.home, day, rng, 14.5, 16.0, (0.5, 1.5))
        return out
    if weekday < 5 and rng.random() < 0.93:
        return _outing(p, p.home, day, rng, 7.0, 8.8, (9.0, 12.0))
    if rng.random() < 0.65:
        return _outing(p, p.home, day, rng, 9.5, 15.0, (1.5, 5.0))
    return []


def present(p: SimPerson, day_index: int) -> bool:
    """Whether ``p`` is around on that day at all (moved out, travelling, in hospital…)."""
    start = p.event_day
    if p.role == Role.moved_before:
        return False
    if p.role in (Role.mover, Role.elderly_absent) and start is not None:
        return day_index < start
    if p.role == Role.traveller and start is not None:
        return not start <= day_index < start + p.event_len
    return True


def day_appearances(c: Community, day_index: int, day: datetime, rng: random.Random) -> list[Appearance]:
    """Everyone's appearances on day ``day_index`` (``day`` is local midnight)."""
    weekday = day.weekday()
    out: list[Appearance] = []
    by_key = {p.key: p for p in c.people}
    for p in c.people:
        r = p.role
        if not present(p, day_index):
            continue
        if r in (Role.resident, Role.elderly, Role.elderly_absent, Role.traveller, Role.mover):
            out += resident_day(p, day, weekday, rng)
        elif r == Role.occupant:
            mate = by_key.get(p.companion_of or "")
            if mate is not None and present(mate, day_index) and rng.random() < 0.35:
                # Going out together with a registered member of the household.
                mine = resident_day(mate, day, weekday, random.Random(rng.random()))
                shifted = [
                    Appearance(
                        a.at_local + timedelta(seconds=rng.uniform(2, 20)),
                        p.key,
                        a.camera_id,
                        a.zone_id,
                        a.ring,
                        a.direction,
                    )
                    for a in mine
                ]
                out += [
                    Appearance(a.at_local, mate.key, a.camera_id, a.zone_id, a.ring, a.direction)
                    for a in mine
                ]
                out += shifted
            else:
                out += resident_day(p, day, weekday, rng)
        elif r == Role.visitor:
            # A visitor comes on one to three days of the period, fixed by their key.
            prng = random.Random(f"{c.config.seed}-{p.key}")
            days = set(prng.sample(range(c.config.days), k=min(c.config.days, prng.randint(1, 3))))
            if day_index in days and p.home is not None:
                out += _visit(p, p.home, day + _hm(rng, 9.5, 19.5), rng.uniform(0.5, 3.0), rng)
        elif r == Role.frequent_visitor and p.home is not None:
            if rng.random() < 0.35:
                t = day + _hm(rng, 18.5, 20.5)
                if rng.random() < 0.25:  # stays the night, leaves the next morning
                    out += _arrive(p, p.home, t, rng)
                    out += _leave(p, p.home, day + timedelta(days=1) + _hm(rng, 7.0, 9.0), rng)
                else:
                    out += _visit(p, p.home, t, rng.uniform(2.0, 3.5), rng)
        elif r == Role.helper and p.home is not None and weekday < 6:
            out += _visit(p, p.home, day + _hm(rng, 8.3, 9.2), rng.uniform(7.5, 9.0), rng)
        elif r == Role.delivery and (weekday < 6 or rng.random() < 0.5):
            for _ in range(rng.randint(4, 9)):
                home = (rng.randrange(c.config.buildings), rng.randrange(c.config.units_per_building))
                out += _visit(p, home, day + _hm(rng, 9.5, 20.0), rng.uniform(0.05, 0.15), rng)
    out.sort(key=lambda a: a.at_local)
    return out
