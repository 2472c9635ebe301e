"""Whitelist compilation, versioned deltas, revocation on consent withdrawal, lease and pass expiry."""

from __future__ import annotations

from datetime import date, time, timedelta

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from anju.clock import FakeClock
from central.models.biometrics import Consent, FaceTemplate
from central.models.registry import Person
from central.models.zones import AccessRule, WhitelistVersion
from central.services.access import may_pass
from central.services.visitors import revoke_pass
from central.services.whitelist import PASS_PREFIX, DbTemplateSource, WhitelistCompiler, mark_person_changed
from contracts import WhitelistDelta, WhitelistSnapshot
from tests.central.ops_helpers import central_signer, household, person, visitor_pass

MODEL = "w600k_r50"


class RecordingSink:
    """Collects what would go to the broker, in order."""

    def __init__(self) -> None:
        self.sent: list[WhitelistSnapshot | WhitelistDelta] = []

    def publish_snapshot(self, snapshot: WhitelistSnapshot) -> None:
        self.sent.append(snapshot)

    def publish_delta(self, delta: WhitelistDelta) -> None:
        self.sent.append(delta)


def enrol(db: Session, p: Person, now, seed: int) -> Consent:  # type: ignore[no-untyped-def]
    consent = Consent(site_id=p.site_id, person_id=p.id, granted_by="self", granted_at=now)
    db.add(consent)
    db.flush()
    vec = np.random.default_rng(seed).normal(size=512).astype(np.float32)
    vec /= np.linalg.norm(vec)
    db.add(
        FaceTemplate(
            site_id=p.site_id,
            person_id=p.id,
            consent_id=consent.id,
            model_id=MODEL,
            dim=512,
            vector=vec.tobytes(),
            quality=0.9,
            photo_sha256="0" * 64,
            created_at=now,
        )
    )
    p.has_face = True
    db.commit()
    return consent


def rule(db: Session, site_id: str, subject_type: str, value: str, now, **kw) -> AccessRule:  # type: ignore[no-untyped-def]
    r = AccessRule(
        site_id=site_id, subject_type=subject_type, subject_value=value, created_at=now, updated_at=now, **kw
    )
    db.add(r)
    db.commit()
    return r


def test_snapshot_delta_revocation_and_lease(db: Session, clock: FakeClock, make_site) -> None:
    site = make_site()
    now = clock.now()
    hh = household(db, site, now)
    rental = household(db, site, now, lease_end=date(2026, 3, 10), number="2")
    owner = person(db, site, now, "王大爷", kind="owner", household_id=hh.id, elderly_alone=True)
    tenant = person(db, site, now, "李租客", kind="tenant", household_id=rental.id)
    staff = person(db, site, now, "保洁", kind="staff")
    no_face = person(db, site, now, "赵无脸", kind="owner", household_id=hh.id)
    consent = enrol(db, owner, now, 1)
    enrol(db, tenant, now, 2)
    enrol(db, staff, now, 3)
    rule(db, site.id, "group", "owner", now)
    rule(db, site.id, "group", "tenant", now, rings=[1, 2, 3, 4])
    rule(db, site.id, "group", "staff", now, weekdays=[0, 1, 2, 3, 4], start=time(7, 0), end=time(19, 0))

    sink = RecordingSink()
    wl = WhitelistCompiler(clock, DbTemplateSource(MODEL), sink)
    snap = wl.snapshot(db, site.id)
    assert snap.version == 1 and snap.model_id == MODEL
    by_id = {p.person_id: p for p in snap.persons}
    assert set(by_id) == {owner.id, tenant.id, staff.id}  # no templates → not on the face list
    assert no_face.id not in by_id
    assert by_id[owner.id].special_care == ["elderly_alone"] and by_id[owner.id].display_name == "王**"
    assert by_id[tenant.id].valid_until is not None
    assert by_id[owner.id].templates[0].vector().shape == (512,)
    # 2026-03-02 is a Monday; 08:00 UTC = 16:00 Shanghai: staff in hours; 13:00 UTC = 21:00: out of hours
    staff_windows = by_id[staff.id].windows
    monday_day = clock.now() + timedelta(days=1)
    assert may_pass(staff_windows, when=monday_day, ring=1, zone_id=None)
    assert not may_pass(staff_windows, when=monday_day + timedelta(hours=5), ring=1, zone_id=None)
    assert not may_pass(by_id[owner.id].windows, when=monday_day, ring=4, zone_id=None)
    assert may_pass(by_id[tenant.id].windows, when=monday_day, ring=4, zone_id=None)
    assert wl.publish_pending(db) == 1 and sink.sent == [snap]

    # consent withdrawal: central-core deletes templates and marks the person in its transaction
    consent.withdrawn_at = clock.now()
    mark_person_changed(db, site.id, owner.id, "consent_withdrawn")
    db.commit()
    deltas = wl.process_changes(db)
    assert len(deltas) == 1
    delta = deltas[0]
    assert (delta.base_version, delta.version) == (1, 2)
    assert delta.removals == [owner.id] and delta.upserts == [] and delta.reason == "consent_withdrawn"
    assert wl.process_changes(db) == []  # marks are consumed once
    assert wl.publish_pending(db) == 1 and sink.sent[-1] == delta

    # a change that changes nothing publishes nothing
    mark_person_changed(db, site.id, staff.id, "noop")
    db.commit()
    assert wl.process_changes(db) == []

    # the lease ends on 2026-03-10 local: after the following local midnight the tenant is removed
    clock.set(clock.now().replace(day=10, hour=15, minute=59))  # 23:59 Shanghai on the 10th
    assert wl.expire(db) == []
    clock.advance(timedelta(minutes=2))
    expired = wl.expire(db)
    assert len(expired) == 1 and expired[0].removals == [tenant.id] and expired[0].version == 3
    snap2 = wl.latest_snapshot(db, site.id)
    assert snap2.version == 3 and [p.person_id for p in snap2.persons] == [staff.id]
    versions = db.scalars(select(WhitelistVersion.version).where(WhitelistVersion.site_id == site.id)).all()
    assert sorted(versions) == [1, 2, 3]


def test_visitor_pass_on_whitelist_until_revoked_or_expired(db: Session, clock: FakeClock, make_site) -> None:
    site = make_site()
    now = clock.now()
    hh = household(db, site, now)
    signer = central_signer()
    sink = RecordingSink()
    wl = WhitelistCompiler(clock, DbTemplateSource(MODEL), sink)
    wl.snapshot(db, site.id)
    _, p1 = visitor_pass(db, signer.sign, hh, now, timedelta(hours=4), name="访客甲")
    _, p2 = visitor_pass(db, signer.sign, hh, now, timedelta(hours=2), name="访客乙", rings=[1])
    (delta,) = wl.process_changes(db)
    assert sorted(u.person_id for u in delta.upserts) == sorted([PASS_PREFIX + p1.id, PASS_PREFIX + p2.id])
    revoke_pass(db, p1, "host cancelled", now)
    (delta,) = wl.process_changes(db)
    assert delta.removals == [PASS_PREFIX + p1.id]
    clock.advance(timedelta(hours=2))
    (delta,) = wl.expire(db)
    assert delta.removals == [PASS_PREFIX + p2.id]
    db.refresh(p2)
    assert p2.status == "expired"
    assert [type(m).__name__ for m in sink.sent] == []  # nothing published until asked
    assert wl.publish_pending(db) == 4
    assert [m.version for m in sink.sent] == [1, 2, 3, 4, 4]
    # the newest delta goes out after a snapshot at the same version (retained for late joiners)
    assert [m.type for m in sink.sent[-2:]] == ["snapshot", "delta"]
    assert sink.sent[-2].persons == []
