"""A simulated compound: buildings, units, houses, households and the people who come and go.

Every simulated person has a role (the ground truth the benchmark scores against) and a
distinct LFW identity whose real photo embeddings are used for each appearance.
"""

from __future__ import annotations

import hashlib
import logging
import random
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

import numpy as np
from pydantic import Field
from sqlalchemy.orm import Session

from anju.config import StrictModel
from central.simulation.faces import FaceBank, list_identities

log = logging.getLogger(__name__)


class Role(str, Enum):
    resident = "resident"  # registered, lives here
    elderly = "elderly"  # registered, special care, lives here
    elderly_absent = "elderly_absent"  # special care, stops appearing (a safety matter, still registered)
    traveller = "traveller"  # registered, away for a few days
    mover = "mover"  # registered, moves out during the simulation
    moved_before = "moved_before"  # registered, moved out before the simulation starts
    occupant = "occupant"  # lives here, NOT registered
    visitor = "visitor"
    frequent_visitor = "frequent_visitor"  # a partner visiting some evenings, sometimes overnight
    delivery = "delivery"
    helper = "helper"  # nanny / cleaner: daily by day at one unit


REGISTERED = {Role.resident, Role.elderly, Role.elderly_absent, Role.traveller, Role.mover, Role.moved_before}
MOVED_AWAY_TRUTH = {Role.mover, Role.moved_before}


class CommunityConfig(StrictModel):
    """The shape of the simulated community."""

    seed: int = Field(7, description="random seed: the same seed gives the same community and days")
    days: int = Field(14, ge=1, le=120, description="simulated days")
    buildings: int = Field(4, ge=1, le=50)
    units_per_building: int = Field(2, ge=1, le=8)
    households_per_unit: int = Field(5, ge=1, le=40)
    rental_share: float = Field(0.35, ge=0.0, le=1.0, description="share of houses let to tenants")
    occupants: int = Field(10, ge=0, le=200, description="unregistered occupants")
    movers: int = Field(5, ge=0, le=200, description="residents who move out during the simulation")
    moved_before: int = Field(4, ge=0, le=200, description="registered residents already gone at the start")
    travellers: int = Field(4, ge=0, le=200, description="residents away for 3-6 days")
    elderly_absent: int = Field(3, ge=0, le=200, description="special-care residents who stop appearing")
    visitors: int = Field(40, ge=0, le=2000)
    frequent_visitors: int = Field(3, ge=0, le=200)
    delivery: int = Field(5, ge=0, le=200)
    helpers: int = Field(2, ge=0, le=200)
    enrol_photos: int = Field(2, ge=1, le=5, description="photos per registered person in the whitelist")
    max_photos: int = Field(
        40, ge=3, le=200, description="photos embedded per identity; appearances cycle through them"
    )


@dataclass
class SimPerson:
    key: str
    role: Role
    identity: str
    vectors: np.ndarray  # appearance embeddings (photos not used for enrolment)
    enrol: np.ndarray  # enrolment embeddings (registered persons only)
    home: tuple[int, int] | None  # (building, unit) indices
    house_index: int | None = None
    person_id: str | None = None  # registry id when registered
    household_key: int | None = None
    special_care: bool = False
    event_day: int | None = None  # move-out day, trip start, stop day
    event_len: int = 0
    companion_of: str | None = None  # occupant living with this person's household
    _cursor: int = 0
    _order: list[int] = field(default_factory=list)

    def next_vector(self, rng: random.Random) -> np.ndarray:
        """A different real photo each time, cycling through a shuffled order."""
        if not self._order or self._cursor >= len(self._order):
            self._order = list(range(self.vectors.shape[0]))
            rng.shuffle(self._order)
            self._cursor = 0
        v: np.ndarray = self.vectors[self._order[self._cursor]]
        self._cursor += 1
        return v


@dataclass
class HouseSpec:
    index: int
    building: int
    unit: int
    floor: int
    room: str
    rental: bool
    house_id: str | None = None
    household_id: str | None = None


@dataclass
class Community:
    config: CommunityConfig
    houses: list[HouseSpec]
    people: list[SimPerson]
    site_id: str = ""
    building_ids: list[str] = field(default_factory=list)
    model_id: str = ""

    def by_role(self, *roles: Role) -> list[SimPerson]:
        return [p for p in self.people if p.role in roles]


# Photos each role needs (appearances per day × days, roughly); identities are chosen from
# the LFW people with the most photos for the roles that appear most.
PHOTO_NEEDS = {
    Role.occupant: 40,
    Role.delivery: 30,
    Role.helper: 20,
    Role.frequent_visitor: 12,
    Role.resident: 8,
    Role.elderly: 8,
    Role.elderly_absent: 8,
    Role.traveller: 8,
    Role.mover: 8,
    Role.moved_before: 4,
    Role.visitor: 4,
}


def build_community(cfg: CommunityConfig, bank: FaceBank) -> Community:
    """Draw the community (deterministic for a seed) and load the faces of everyone in it."""
    rng = random.Random(cfg.seed)
    houses: list[HouseSpec] = []
    for b in range(cfg.buildings):
        for u in range(cfg.units_per_building):
            for h in range(cfg.households_per_unit):
                floor = h // 2 + 1
                houses.append(
                    HouseSpec(
                        index=len(houses),
                        building=b,
                        unit=u,
                        floor=floor,
                        room=f"{floor}0{h % 2 + 1}",
                        rental=rng.random() < cfg.rental_share,
                    )
                )
    roles: list[tuple[Role, int | None]] = []  # (role, house index or None)
    # Each household: 1-3 registered members, one of them possibly special care.
    for house in houses:
        n = rng.choice([1, 2, 2, 3])
        for _ in range(n):
            roles.append((Role.resident, house.index))
    regs = [i for i, (r, _) in enumerate(roles) if r == Role.resident]
    rng.shuffle(regs)
    special = [
        (Role.mover, cfg.movers),
        (Role.moved_before, cfg.moved_before),
        (Role.traveller, cfg.travellers),
        (Role.elderly_absent, cfg.elderly_absent),
        (Role.elderly, max(2, cfg.elderly_absent)),
    ]
    cursor = 0
    for role, count in special:
        for i in regs[cursor : cursor + count]:
            roles[i] = (role, roles[i][1])
        cursor += count
    occupant_houses = [h.index for h in houses if h.rental] or [h.index for h in houses]
    for _ in range(cfg.occupants):
        roles.append((Role.occupant, rng.choice(occupant_houses)))
    for _ in range(cfg.frequent_visitors):
        roles.append((Role.frequent_visitor, rng.randrange(len(houses))))
    for _ in range(cfg.helpers):
        roles.append((Role.helper, rng.randrange(len(houses))))
    for _ in range(cfg.delivery):
        roles.append((Role.delivery, None))
    for _ in range(cfg.visitors):
        roles.append((Role.visitor, rng.randrange(len(houses))))

    # Distinct LFW identities: the roles needing most photos get the most-photographed people.
    order = sorted(range(len(roles)), key=lambda i: -PHOTO_NEEDS[roles[i][0]])
    pool = list_identities(bank.lfw_dir, 3)
    names_by_rank = [n for n, _ in pool]
    needed = {}
    chosen: dict[int, str] = {}
    rank = 0
    for i in order:
        role = roles[i][0]
        need = min(PHOTO_NEEDS[role], cfg.max_photos) + (cfg.enrol_photos if role in REGISTERED else 0)
        # skip identities that do not have enough photos for this role, keep going down the list
        while rank < len(pool) and pool[rank][1] < min(need, 4):
            rank += 1
        if rank >= len(pool):
            raise ValueError("not enough LFW identities for this community size")
        chosen[i] = names_by_rank[rank]
        needed[names_by_rank[rank]] = need
        rank += 1
    faces = bank.load(list(needed), max(needed.values()))
    people: list[SimPerson] = []
    for i, (role, house_index) in enumerate(roles):
        name = chosen[i]
        ident = faces.get(name)
        if ident is None or ident.vectors.shape[0] < 2:
            log.warning("identity %s has too few usable faces; person skipped", name)
            continue
        vecs = ident.vectors[: needed[name]]
        if role in REGISTERED:
            k = min(cfg.enrol_photos, vecs.shape[0] - 1)
            enrol, appear = vecs[:k], vecs[k:]
        else:
            enrol, appear = vecs[:0], vecs
        home = (houses[house_index].building, houses[house_index].unit) if house_index is not None else None
        p = SimPerson(
            key=f"{role.value}-{i:04d}",
            role=role,
            identity=name,
            vectors=appear,
            enrol=enrol,
            home=home,
            house_index=house_index,
            household_key=house_index if role in REGISTERED else None,
            special_care=role in (Role.elderly, Role.elderly_absent),
        )
        if role == Role.mover:
            p.event_day = rng.randint(1, max(1, min(5, cfg.days - 8)))
        elif role == Role.traveller:
            p.event_day, p.event_len = rng.randint(2, max(2, cfg.days - 7)), rng.randint(3, 6)
        elif role == Role.elderly_absent:
            p.event_day = rng.randint(3, max(3, cfg.days - 4))
        people.append(p)
    for p in people:
        if p.role == Role.occupant:
            mates = [q for q in people if q.household_key == p.house_index and q.role in REGISTERED]
            p.companion_of = rng.choice(mates).key if mates else None
    bank_model = bank.model_id or "faceplugin"
    return Community(config=cfg, houses=houses, people=people, model_id=bank_model)


def zone_code(building: int, unit: int) -> str:
    return f"b{building + 1}-u{unit + 1}"


def populate_registry(session: Session, community: Community, now: datetime) -> None:
    """Write the site, buildings, houses, households, zones, cameras and registered persons."""
    from central.models.biometrics import Consent, FaceTemplate
    from central.models.registry import Building, House, Household, Person, Site
    from central.models.zones import Device, Zone

    cfg = community.config
    stamp = {"created_at": now, "updated_at": now}
    site = Site(name="模拟小区 Simulated Compound", code=f"sim-{cfg.seed}", **stamp)
    session.add(site)
    session.flush()
    community.site_id = site.id
    gate = Zone(site_id=site.id, code="gate", name="小区大门 Main gate", ring=1, kind="gate", **stamp)
    session.add(gate)
    session.flush()
    for code, direction in (("gate-in", "in"), ("gate-out", "out")):
        session.add(
            Device(
                site_id=site.id,
                zone_id=gate.id,
                code=code,
                type="camera",
                direction=direction,
                node_id="node-gate",
                **stamp,
            )
        )
    for b in range(cfg.buildings):
        building = Building(
            site_id=site.id,
            number=str(b + 1),
            name=f"{b + 1}号楼",
            units=cfg.units_per_building,
            floors=max(1, cfg.households_per_unit // 2 + 1),
            **stamp,
        )
        session.add(building)
        session.flush()
        community.building_ids.append(building.id)
        for u in range(cfg.units_per_building):
            zone = Zone(
                site_id=site.id,
                code=zone_code(b, u),
                name=f"{b + 1}号楼{u + 1}单元",
                ring=3,
                kind="unit",
                building_id=building.id,
                **stamp,
            )
            session.add(zone)
            session.flush()
            for direction in ("in", "out"):
                session.add(
                    Device(
                        site_id=site.id,
                        zone_id=zone.id,
                        code=f"{zone.code}-{direction}",
                        type="camera",
                        direction=direction,
                        node_id=f"node-b{b + 1}",
                        **stamp,
                    )
                )
    for h in community.houses:
        house = House(
            site_id=site.id,
            building_id=community.building_ids[h.building],
            unit=str(h.unit + 1),
            floor=h.floor,
            room=h.room,
            usage="rental" if h.rental else "owner_occupied",
            **stamp,
        )
        session.add(house)
        session.flush()
        h.house_id = house.id
        hh = Household(
            site_id=site.id, house_id=house.id, name=f"{h.building + 1}-{h.unit + 1}-{h.room}", **stamp
        )
        session.add(hh)
        session.flush()
        h.household_id = hh.id
    for p in community.people:
        if p.role not in REGISTERED or p.house_index is None:
            continue
        h = community.houses[p.house_index]
        person = Person(
            site_id=site.id,
            household_id=h.household_id,
            name=p.identity.replace("_", " ")[:64],
            kind="tenant" if h.rental else "owner",
            elderly_alone=p.special_care,
            has_face=True,
            **stamp,
        )
        session.add(person)
        session.flush()
        p.person_id = person.id
        # Enrolled in central as in life: a consent, and one template per enrolment photo.
        consent = Consent(site_id=site.id, person_id=person.id, granted_by="self", granted_at=now)
        session.add(consent)
        session.flush()
        for k, vec in enumerate(p.enrol):
            session.add(
                FaceTemplate(
                    site_id=site.id,
                    person_id=person.id,
                    consent_id=consent.id,
                    model_id=community.model_id[:64],
                    dim=int(vec.shape[0]),
                    vector=np.ascontiguousarray(vec, dtype=np.float32).tobytes(),
                    quality=0.9,
                    photo_sha256=hashlib.sha256(f"{p.identity}/{k}".encode()).hexdigest(),
                    created_at=now,
                )
            )
    session.flush()
