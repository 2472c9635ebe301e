"""The simulated community: determinism, routines, and the whole loop on the direct and the real
gateway path (real LFW embeddings, real Mosquitto, real edge outboxes and central consumer)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from central.simulation.faces import FaceBank
from central.simulation.routines import day_appearances, present
from central.simulation.runner import START
from central.simulation.session import run_community
from central.simulation.world import REGISTERED, CommunityConfig, Role, build_community

SHARED = Path(__file__).resolve().parents[3].parent / "shared"
LFW = SHARED / "testdata" / "lfw"

SMALL = CommunityConfig(
    seed=11,
    days=10,
    buildings=2,
    units_per_building=1,
    households_per_unit=4,
    occupants=2,
    movers=1,
    moved_before=1,
    travellers=1,
    elderly_absent=1,
    visitors=8,
    frequent_visitors=1,
    delivery=1,
    helpers=1,
    max_photos=10,
)


@pytest.fixture(scope="session")
def face_dir(request: pytest.FixtureRequest) -> Path:
    """Embeddings are slow to compute: kept in pytest's cache folder between runs (never in the repo)."""
    return Path(request.config.cache.mkdir("anju-simulation-faces"))


def test_community_is_deterministic_with_distinct_identities(face_dir: Path) -> None:
    a = build_community(SMALL, FaceBank(LFW, face_dir / "simulation"))
    b = build_community(SMALL, FaceBank(LFW, face_dir / "simulation"))
    assert [(p.key, p.identity) for p in a.people] == [(p.key, p.identity) for p in b.people]
    assert len({p.identity for p in a.people}) == len(a.people)
    for p in a.people:
        assert p.vectors.shape[0] >= 2 and p.vectors.shape[1] == 512
        assert (p.enrol.shape[0] > 0) == (p.role in REGISTERED)
    roles = {r: len(a.by_role(r)) for r in Role}
    assert roles[Role.occupant] == 2 and roles[Role.mover] == 1 and roles[Role.visitor] == 8


def test_routines_respect_absences(face_dir: Path) -> None:
    import random
    from datetime import timedelta

    c = build_community(SMALL, FaceBank(LFW, face_dir / "simulation"))
    rng = random.Random(1)
    seen: dict[str, set[int]] = {}
    for d in range(SMALL.days):
        for a in day_appearances(c, d, START + timedelta(days=d), rng):
            seen.setdefault(a.person_key, set()).add(d)
    for p in c.people:
        days = seen.get(p.key, set())
        assert all(present(p, d) for d in days), p.key
        if p.role == Role.moved_before:
            assert not days
        if p.role == Role.mover:
            assert p.event_day is not None and max(days, default=-1) < p.event_day
    delivery = c.by_role(Role.delivery)[0]
    assert len(seen[delivery.key]) >= SMALL.days - 3


@pytest.mark.slow
def test_direct_and_gateway_paths_give_the_same_findings(face_dir: Path) -> None:
    direct: dict[str, Any] = run_community(
        days=SMALL.days,
        seed=SMALL.seed,
        lfw_dir=LFW,
        data_dir=face_dir,
        transport="direct",
        community_config=SMALL,
    )
    gateway: dict[str, Any] = run_community(
        days=SMALL.days,
        seed=SMALL.seed,
        lfw_dir=LFW,
        data_dir=face_dir,
        transport="gateway",
        community_config=SMALL,
    )
    for kind in ("occupant", "moved_away"):
        assert direct[kind] == gateway[kind]
        assert direct[kind]["recall"] >= 0.9 and direct[kind]["precision"] >= 0.8, direct
    assert direct["clusters"] == gateway["clusters"]
    assert direct["clusters"]["purity"] >= 0.95
    assert gateway["events"]["stranger"] > 0 and gateway["events"]["pass"] > 0
