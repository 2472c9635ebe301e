"""The reconciliation service on SQLite and PostgreSQL with real LFW face embeddings."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from anju.clock import FakeClock
from central.db import make_session_factory
from central.models.audit import AuditRecord
from central.models.registry import Person
from central.models.zones import WhitelistChange
from central.reconciliation import review
from central.reconciliation.config import ReconciliationConfig
from central.reconciliation.models import Candidate, FaceCluster, GridTask, Sighting
from central.reconciliation.service import ReconciliationService
from central.services.audit import SYSTEM, Actor, verify
from central.simulation.faces import Identity

_spec = importlib.util.spec_from_file_location("recon_helpers", Path(__file__).with_name("helpers.py"))
assert _spec is not None and _spec.loader is not None
helpers = importlib.util.module_from_spec(_spec)
sys.modules["recon_helpers"] = helpers
_spec.loader.exec_module(helpers)

OFFICER = Actor(None, "officer-wang", "police")
START = datetime(2026, 3, 2, tzinfo=helpers.LOCAL)


@pytest.fixture
def world(engine: Engine, make_site: Callable[..., Any]) -> tuple[Any, ReconciliationService, FakeClock, Any]:
    clock = FakeClock(START.astimezone(timezone.utc))
    sessions = make_session_factory(engine)
    with sessions() as s:
        compound = helpers.make_compound(s, make_site(), clock.now())
    return sessions, ReconciliationService(ReconciliationConfig(), clock), clock, compound


def occupant_days(site_id: str, ident: Identity, days: int) -> list[Any]:
    """Someone living in unit b1-u1: out in the morning, in at night, a different photo each time."""
    evs = []
    vecs = list(ident.vectors)
    for d in range(days):
        evs.append(helpers.stranger(site_id, helpers.local(d, 7.6, START), vecs[(2 * d) % len(vecs)], "out"))
        evs.append(
            helpers.stranger(site_id, helpers.local(d, 19.4, START), vecs[(2 * d + 1) % len(vecs)], "in")
        )
    return evs


def run(sessions: Any, svc: ReconciliationService, events: list[Any]) -> Any:
    with sessions.begin() as s:
        return svc.ingest(s, events)


def rescore(sessions: Any, svc: ReconciliationService, site_id: str) -> Any:
    with sessions.begin() as s:
        return svc.rescore(s, site_id)


def test_unregistered_occupant_is_found_and_a_visitor_is_not(
    world: Any, lfw_faces: dict[str, Identity]
) -> None:
    sessions, svc, clock, c = world
    names = list(lfw_faces)
    occupant, visitor = lfw_faces[names[0]], lfw_faces[names[1]]
    events = occupant_days(c.site_id, occupant, 9)
    events += [
        helpers.stranger(c.site_id, helpers.local(3, 15, START), visitor.vectors[0], "in"),
        helpers.stranger(c.site_id, helpers.local(3, 17, START), visitor.vectors[1], "out"),
    ]
    res = run(sessions, svc, events)
    assert res.sightings == len(events)
    again = run(sessions, svc, events[:3])  # redelivery changes nothing
    assert again.sightings == 0 and again.skipped == 3
    clock.set(helpers.local(9, 0, START).astimezone(timezone.utc))
    out = rescore(sessions, svc, c.site_id)
    assert out.occupant_open == 1
    with sessions() as s:
        cand = s.scalars(select(Candidate).where(Candidate.kind == "occupant")).one()
        assert cand.house_id == c.rental_house_id and cand.building_id == c.building_id
        assert cand.evidence["days_seen"] == 9 and cand.evidence["night_days"] == 9
        assert cand.evidence["doors"] == ["b1-u1-in", "b1-u1-out"]
        owner = s.scalars(
            select(Sighting.cluster_id).where(Sighting.event_id == str(events[0].event_id))
        ).one()
        assert cand.subject_id == owner
        # the occupant's photos landed in (almost) one cluster
        n = len(s.scalars(select(Sighting).where(Sighting.cluster_id == owner)).all())
        assert n >= 15


def test_confirm_opens_a_visit_task_and_is_audited(world: Any, lfw_faces: dict[str, Identity]) -> None:
    sessions, svc, clock, c = world
    run(sessions, svc, occupant_days(c.site_id, lfw_faces[list(lfw_faces)[2]], 8))
    clock.set(helpers.local(8, 0, START).astimezone(timezone.utc))
    rescore(sessions, svc, c.site_id)
    with sessions.begin() as s:
        cand = review.open_candidates(s, c.site_id, "occupant")[0]
        review.confirm(s, svc, cand.id, OFFICER, follow_up="visit", note="走访核实")
    with sessions.begin() as s:
        task = s.scalars(select(GridTask)).one()
        assert task.house_id == c.rental_house_id and task.kind == "verify_occupant" and task.status == "open"
        cluster = s.get(FaceCluster, cand.subject_id)
        assert cluster is not None and cluster.status == "confirmed"
        rec = s.scalars(select(AuditRecord).where(AuditRecord.action == "confirm")).one()
        assert rec.object_id == cand.id and rec.actor_name == "officer-wang"
        assert verify(s).ok
        with pytest.raises(Exception, match="already"):
            review.confirm(s, svc, cand.id, OFFICER)
    # A confirmed cluster never comes back to the queue.
    run(sessions, svc, occupant_days(c.site_id, lfw_faces[list(lfw_faces)[2]], 2))
    assert rescore(sessions, svc, c.site_id).occupant_open == 0


def test_confirm_with_facts_registers_the_person(world: Any, lfw_faces: dict[str, Identity]) -> None:
    sessions, svc, clock, c = world
    run(sessions, svc, occupant_days(c.site_id, lfw_faces[list(lfw_faces)[3]], 8))
    clock.set(helpers.local(8, 0, START).astimezone(timezone.utc))
    rescore(sessions, svc, c.site_id)
    with sessions.begin() as s:
        cand = review.open_candidates(s, c.site_id, "occupant")[0]
        review.confirm(s, svc, cand.id, OFFICER, follow_up="enrol", person=review.NewPerson(name="王五"))
    with sessions() as s:
        p = s.scalars(select(Person).where(Person.name == "王五")).one()
        assert p.household_id == c.household_id
        assert s.get(FaceCluster, cand.subject_id).person_id == p.id  # type: ignore[union-attr]


def test_reject_marks_a_known_visitor_for_good(world: Any, lfw_faces: dict[str, Identity]) -> None:
    sessions, svc, clock, c = world
    ident = lfw_faces[list(lfw_faces)[4]]
    run(sessions, svc, occupant_days(c.site_id, ident, 8))
    clock.set(helpers.local(8, 0, START).astimezone(timezone.utc))
    rescore(sessions, svc, c.site_id)
    with sessions.begin() as s:
        cand = review.open_candidates(s, c.site_id, "occupant")[0]
        review.reject(s, svc, cand.id, OFFICER, label="worker", note="保洁")
    with sessions() as s:
        assert s.get(FaceCluster, cand.subject_id).status == "known_worker"  # type: ignore[union-attr]
    assert rescore(sessions, svc, c.site_id).occupant_open == 0


def test_police_merge_moves_sightings_and_is_audited(world: Any, lfw_faces: dict[str, Identity]) -> None:
    sessions, svc, _clock, c = world
    a, b = lfw_faces[list(lfw_faces)[5]], lfw_faces[list(lfw_faces)[6]]
    run(
        sessions,
        svc,
        [
            helpers.stranger(c.site_id, helpers.local(0, 9, START), a.vectors[0], "in"),
            helpers.stranger(c.site_id, helpers.local(0, 10, START), b.vectors[0], "in"),
        ],
    )
    with sessions() as s:
        ids = [r.id for r in s.scalars(select(FaceCluster).order_by(FaceCluster.order))]
    assert len(ids) == 2
    with sessions.begin() as s:
        keep = review.merge(s, svc, c.site_id, ids, OFFICER, note="同一人")
    assert keep == ids[0]
    with sessions() as s:
        assert {x.cluster_id for x in s.scalars(select(Sighting))} == {ids[0]}
        assert s.get(FaceCluster, ids[1]).status == "merged"  # type: ignore[union-attr]
        assert s.scalars(select(AuditRecord).where(AuditRecord.action == "merge")).one().object_id == ids[0]


def test_clusters_survive_a_restart(world: Any, lfw_faces: dict[str, Identity]) -> None:
    sessions, svc, clock, c = world
    ident = lfw_faces[list(lfw_faces)[7]]
    first = [
        helpers.stranger(c.site_id, helpers.local(0, 9 + i, START), v, "in")
        for i, v in enumerate(ident.vectors[:6])
    ]
    run(sessions, svc, first)
    fresh = ReconciliationService(ReconciliationConfig(), clock)
    later = helpers.stranger(c.site_id, helpers.local(1, 9, START), ident.vectors[8], "in")
    run(sessions, fresh, [later])
    with sessions() as s:
        got = s.scalars(select(Sighting.cluster_id).where(Sighting.event_id == str(later.event_id))).one()
        before = s.scalars(
            select(Sighting.cluster_id).where(Sighting.event_id == str(first[0].event_id))
        ).one()
    with sessions() as s:
        assert fresh.clusterer(s, c.site_id).resolve(before) == got


def test_moved_away_resident_is_queued_and_the_elderly_are_not(world: Any) -> None:
    sessions, svc, clock, c = world
    evs = []
    for d in range(5):
        evs.append(helpers.passed(c.site_id, c.resident_id, helpers.local(d, 8, START)))
        evs.append(helpers.passed(c.site_id, c.elderly_id, helpers.local(d, 9, START)))
    # After leaving, a weak match of somebody else to the resident's template is not presence.
    evs.append(helpers.passed(c.site_id, c.resident_id, helpers.local(9, 8, START), score=0.46))
    run(sessions, svc, evs)
    clock.set(helpers.local(15, 0, START).astimezone(timezone.utc))
    out = rescore(sessions, svc, c.site_id)
    assert out.moved_away_open == 1
    with sessions.begin() as s:
        cand = review.open_candidates(s, c.site_id, "moved_away")[0]
        assert cand.subject_id == c.resident_id and cand.household_id == c.household_id
        assert cand.evidence["special_care"] is False
        review.confirm(s, svc, cand.id, OFFICER, note="已搬离")
    with sessions() as s:
        p = s.get(Person, c.resident_id)
        assert p is not None and p.status == "moved_out" and p.moved_out_at == clock.now()
        # the change is queued for every edge whitelist
        assert s.scalars(select(WhitelistChange).where(WhitelistChange.person_id == c.resident_id)).first()
        assert s.scalars(select(AuditRecord).where(AuditRecord.action == "confirm")).one()


def test_rejected_moved_away_needs_a_new_absence(world: Any) -> None:
    sessions, svc, clock, c = world
    run(
        sessions,
        svc,
        [helpers.passed(c.site_id, c.resident_id, helpers.local(d, 8, START)) for d in range(3)],
    )
    clock.set(helpers.local(12, 0, START).astimezone(timezone.utc))
    rescore(sessions, svc, c.site_id)
    with sessions.begin() as s:
        cand = review.open_candidates(s, c.site_id, "moved_away")[0]
        review.reject(s, svc, cand.id, SYSTEM, label="present")
    clock.set(helpers.local(13, 0, START).astimezone(timezone.utc))
    assert rescore(sessions, svc, c.site_id).moved_away_open == 0


def test_a_registered_resident_the_gates_failed_to_match_is_not_an_occupant(
    world: Any, lfw_faces: dict[str, Identity]
) -> None:
    from central.models.biometrics import Consent, FaceTemplate

    sessions, svc, clock, c = world
    ident = lfw_faces[list(lfw_faces)[8]]
    with sessions.begin() as s:
        consent = Consent(
            site_id=c.site_id, person_id=c.resident_id, granted_by="self", granted_at=clock.now()
        )
        s.add(consent)
        s.flush()
        for k in range(2):
            s.add(
                FaceTemplate(
                    site_id=c.site_id,
                    person_id=c.resident_id,
                    consent_id=consent.id,
                    model_id="m",
                    dim=512,
                    vector=ident.vectors[k].tobytes(),
                    quality=0.9,
                    photo_sha256=f"{k:064d}",
                    created_at=clock.now(),
                )
            )
    later = Identity(ident.name, ident.vectors[2:], ident.photos[2:])
    run(sessions, svc, occupant_days(c.site_id, later, 9))
    clock.set(helpers.local(9, 0, START).astimezone(timezone.utc))
    assert rescore(sessions, svc, c.site_id).occupant_open == 0
    # the same pattern from a face nobody enrolled is queued
    run(sessions, svc, occupant_days(c.site_id, lfw_faces[list(lfw_faces)[9]], 9))
    assert rescore(sessions, svc, c.site_id).occupant_open == 1


def _snapshot(name: str, photo: str) -> Any:
    import cv2

    from contracts.messages import Snapshot

    img = cv2.imread(str(Path(__file__).resolve().parents[3].parent / "shared/testdata/lfw" / name / photo))
    assert img is not None
    ok, buf = cv2.imencode(".jpg", img[60:190, 60:190])
    assert ok
    return Snapshot.from_jpeg(buf.tobytes())


@pytest.mark.parametrize("keep", [True, False])
def test_at_most_one_best_thumbnail_per_cluster_and_only_when_allowed(
    engine: Engine, make_site: Callable[..., Any], lfw_faces: dict[str, Identity], keep: bool
) -> None:
    clock = FakeClock(START.astimezone(timezone.utc))
    sessions = make_session_factory(engine)
    with sessions() as s:
        c = helpers.make_compound(s, make_site(), clock.now())
    svc = ReconciliationService(ReconciliationConfig(keep_thumbnails=keep), clock)
    ident = lfw_faces[list(lfw_faces)[1]]
    evs = []
    for i, quality in enumerate((0.6, 0.9, 0.7)):
        ev = helpers.stranger(c.site_id, helpers.local(0, 9 + i, START), ident.vectors[i], "in")
        evs.append(
            ev.model_copy(update={"quality": quality, "snapshot": _snapshot(ident.name, ident.photos[i])})
        )
    run(sessions, svc, evs)
    with sessions() as s:
        rows = s.scalars(select(FaceCluster)).all()
        assert len(rows) == 1
        if keep:
            assert rows[0].thumbnail == evs[1].snapshot.jpeg() and rows[0].thumbnail_quality == 0.9
        else:
            assert rows[0].thumbnail is None


def test_a_split_reassigns_each_sighting_to_its_person(
    engine: Engine, make_site: Callable[..., Any], lfw_faces: dict[str, Identity]
) -> None:
    from central.reconciliation.config import ClusteringConfig

    clock = FakeClock(START.astimezone(timezone.utc))
    sessions = make_session_factory(engine)
    with sessions() as s:
        c = helpers.make_compound(s, make_site(), clock.now())
    # Linkage so loose that two people land in one cluster: the split must undo it.
    loose = ClusteringConfig(
        link_threshold=-1.0, centroid_threshold=-1.0, merge_threshold=1.0, split_threshold=0.3
    )
    svc = ReconciliationService(ReconciliationConfig(clustering=loose), clock)
    a, b = (lfw_faces[n] for n in list(lfw_faces)[:2])
    evs, owner = [], {}
    for i in range(12):
        who = a if i % 2 == 0 else b
        ev = helpers.stranger(c.site_id, helpers.local(0, 8 + i * 0.5, START), who.vectors[i // 2], "in")
        evs.append(ev)
        owner[str(ev.event_id)] = who.name
    res = run(sessions, svc, evs)
    assert res.splits >= 1
    with sessions() as s:
        rows = s.scalars(select(Sighting)).all()
        by_cluster: dict[str, set[str]] = {}
        for r in rows:
            by_cluster.setdefault(r.cluster_id, set()).add(owner[r.event_id])
        assert len(by_cluster) >= 2
        assert all(len(names) == 1 for names in by_cluster.values()), by_cluster
        for cid in by_cluster:
            row = s.get(FaceCluster, cid)
            assert row is not None and row.count == sum(1 for r in rows if r.cluster_id == cid)
