"""Whitelist compilation and distribution per site.

Persons (active, with face templates from the enrolment service, within their
lease) and valid QR passes are combined with the site's access rules into
:class:`contracts.WhitelistPerson` entries. The last published state of each
entry is kept (``WhitelistEntry``) so that a change becomes a small
:class:`contracts.WhitelistDelta`; every snapshot and delta is persisted as a
numbered ``WhitelistVersion`` before it is handed to the publisher, so a crash
between the two only delays publication, it never loses a revocation.

Other services call :func:`mark_person_changed` inside their own transaction
(consent withdrawn, enrolment, move-out); the :class:`WhitelistCompiler` worker
turns those marks into deltas within a second. Expiry of leases and passes is
found by :meth:`WhitelistCompiler.expire` on the injected clock.

Visitor and resident QR passes appear as entries whose ``person_id`` is
``pass:<pass_id>`` with no templates: the edge accepts a signed pass only while
its entry is on the list, which is how a pass is revoked before it expires.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta, timezone
from typing import Protocol
from zoneinfo import ZoneInfo

import numpy as np
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from anju.clock import Clock, utc_now
from central.models.registry import House, Household, Person, Site
from central.models.visitors import VisitorPass
from central.models.zones import AccessRule, WhitelistChange, WhitelistEntry, WhitelistVersion
from central.services.access import PersonFacts, RuleSpec, SubjectType, windows_for
from central.services.alert_rules import mask_name
from contracts import AccessWindow, PersonKind, Template, WhitelistDelta, WhitelistPerson, WhitelistSnapshot

log = logging.getLogger(__name__)

PASS_PREFIX = "pass:"
ALL = "*"  # a mark meaning "recompile the whole site" (access rules changed)
# Set after any transaction that marked a change commits, so the worker wakes at once.
CHANGES_PENDING = threading.Event()


class TemplateSource(Protocol):
    """Where face templates come from (the enrolment service)."""

    def model_id(self, session: Session, site_id: str) -> str: ...

    def templates(
        self, session: Session, site_id: str, person_ids: Sequence[str]
    ) -> dict[str, list[Template]]:
        """Templates of each person that has consent and templates; others absent."""
        ...


class WhitelistSink(Protocol):
    """What publishes to edges (``gateway.central_link.WhitelistPublisher`` fits this)."""

    def publish_snapshot(self, snapshot: WhitelistSnapshot) -> None: ...

    def publish_delta(self, delta: WhitelistDelta) -> None: ...


class DbTemplateSource:
    """Templates from the enrolment tables: only under an active (not withdrawn) consent and
    made by ``model_id``, the model the site's edges run."""

    def __init__(self, model_id: str) -> None:
        self._model_id = model_id

    def model_id(self, session: Session, site_id: str) -> str:
        return self._model_id

    def templates(
        self, session: Session, site_id: str, person_ids: Sequence[str]
    ) -> dict[str, list[Template]]:
        from central.models.biometrics import Consent, FaceTemplate

        out: dict[str, list[Template]] = {}
        ids = list(person_ids)
        for start in range(0, len(ids), 900):
            rows = session.execute(
                select(FaceTemplate.person_id, FaceTemplate.dim, FaceTemplate.vector)
                .join(Consent, Consent.id == FaceTemplate.consent_id)
                .where(
                    FaceTemplate.site_id == site_id,
                    FaceTemplate.person_id.in_(ids[start : start + 900]),
                    FaceTemplate.model_id == self._model_id,
                    Consent.withdrawn_at.is_(None),
                )
                .order_by(FaceTemplate.person_id, FaceTemplate.created_at)
            )
            for person_id, dim, vector in rows:
                vec = np.frombuffer(vector, dtype=np.float32)
                if vec.shape[0] == dim:
                    out.setdefault(person_id, []).append(Template.from_vector(self._model_id, vec))
        return out


def _wake(_session: Session) -> None:
    CHANGES_PENDING.set()


def mark_person_changed(session: Session, site_id: str, person_id: str, reason: str) -> None:
    """Queue ``person_id`` (or ``pass:<id>``) for recompilation; part of the caller's transaction.

    Called on consent withdrawal, enrolment, move-out, household or rule changes.
    """
    # The mark's own timestamp is bookkeeping only; decisions use the worker's clock.
    session.add(
        WhitelistChange(site_id=site_id, person_id=person_id, reason=reason[:128], created_at=utc_now())
    )
    if not event.contains(session, "after_commit", _wake):
        event.listen(session, "after_commit", _wake)


def mark_site_changed(session: Session, site_id: str, reason: str) -> None:
    """Queue a full recompilation of ``site_id`` (access rules, zones); part of the caller's transaction."""
    mark_person_changed(session, site_id, ALL, reason)


def _rule_specs(session: Session, site_id: str) -> list[RuleSpec]:
    rows = session.scalars(select(AccessRule).where(AccessRule.site_id == site_id, AccessRule.enabled))
    return [
        RuleSpec(
            subject_type=SubjectType(r.subject_type),
            subject_value=r.subject_value,
            rings=tuple(r.rings),
            zone_ids=tuple(r.zone_codes),
            weekdays=tuple(r.weekdays),
            start=r.start,
            end=r.end,
            valid_from=r.valid_from,
            valid_until=r.valid_until,
        )
        for r in rows
    ]


def lease_end_instant(lease_end: date, tz: str) -> datetime:
    """A lease ending on a date ends at the following local midnight."""
    local = datetime.combine(lease_end + timedelta(days=1), time(0, 0), tzinfo=ZoneInfo(tz))
    return local.astimezone(timezone.utc)


def _digest(person: WhitelistPerson) -> str:
    return hashlib.sha256(person.model_dump_json().encode()).hexdigest()


class WhitelistCompiler:
    """Compiles, versions and publishes a site's whitelist."""

    def __init__(self, clock: Clock, source: TemplateSource, sink: WhitelistSink | None = None) -> None:
        self.clock = clock
        self.source = source
        self.sink = sink

    # ------------------------------------------------------------ compile

    def compile_persons(
        self, session: Session, site_id: str, person_ids: Sequence[str] | None = None
    ) -> dict[str, WhitelistPerson]:
        now = self.clock.now()
        site = session.get(Site, site_id)
        tz = site.timezone if site is not None else "Asia/Shanghai"
        rules = _rule_specs(session, site_id)
        stmt = (
            select(Person, Household, House.building_id)
            .outerjoin(Household, Household.id == Person.household_id)
            .outerjoin(House, House.id == Household.house_id)
            .where(Person.site_id == site_id, Person.status == "active")
        )
        if person_ids is not None:
            stmt = stmt.where(Person.id.in_(list(person_ids)))
        rows = session.execute(stmt).all()
        templates = self.source.templates(session, site_id, [p.id for p, _, _ in rows])
        out: dict[str, WhitelistPerson] = {}
        for person, household, building_id in rows:
            tpl = templates.get(person.id, [])
            if not tpl:
                continue  # no consent or no templates: this person uses a QR pass or PIN instead
            facts = PersonFacts(person.id, person.kind, person.household_id, building_id)
            windows = windows_for(facts, rules, now)
            if not windows and not person.watchlist_category:
                continue
            valid_until = None
            if person.kind == "tenant" and household is not None and household.lease_end is not None:
                valid_until = lease_end_instant(household.lease_end, tz)
                if valid_until <= now:
                    continue  # a tenant's access ends with the lease
            flags = [f for f in ("elderly_alone", "dementia", "minor") if getattr(person, f)]
            try:
                kind = PersonKind(person.kind)
            except ValueError:
                kind = PersonKind.owner
            out[person.id] = WhitelistPerson(
                person_id=person.id,
                kind=kind,
                display_name=mask_name(person.name),
                templates=tpl[:16],
                windows=windows,
                valid_until=valid_until,
                watchlist_category=person.watchlist_category,
                special_care=flags,
                household_id=person.household_id,
            )
        return out

    def compile_passes(
        self, session: Session, site_id: str, pass_ids: Sequence[str] | None = None
    ) -> dict[str, WhitelistPerson]:
        now = self.clock.now()
        stmt = select(VisitorPass).where(
            VisitorPass.site_id == site_id, VisitorPass.status == "active", VisitorPass.valid_until > now
        )
        if pass_ids is not None:
            stmt = stmt.where(VisitorPass.id.in_(list(pass_ids)))
        out: dict[str, WhitelistPerson] = {}
        for p in session.scalars(stmt):
            pid = PASS_PREFIX + p.id
            out[pid] = WhitelistPerson(
                person_id=pid,
                kind=PersonKind.visitor if p.kind == "visitor" else PersonKind.owner,
                windows=[AccessWindow(zone_ids=list(p.zone_codes), rings=list(p.rings))],
                valid_from=p.valid_from,
                valid_until=p.valid_until,
                household_id=p.host_household_id,
            )
        return out

    # ------------------------------------------------------------ versions

    def _next_version(self, session: Session, site_id: str) -> int:
        current = session.scalar(
            select(func.max(WhitelistVersion.version)).where(WhitelistVersion.site_id == site_id)
        )
        return int(current or 0) + 1

    def current_version(self, session: Session, site_id: str) -> int:
        return self._next_version(session, site_id) - 1

    def snapshot(self, session: Session, site_id: str, reason: str = "full") -> WhitelistSnapshot:
        """Compile everything, replace the stored entries, persist a new snapshot version. Commits."""
        now = self.clock.now()
        persons = {**self.compile_persons(session, site_id), **self.compile_passes(session, site_id)}
        version = self._next_version(session, site_id)
        snap = WhitelistSnapshot(
            site_id=site_id,
            version=version,
            issued_at=now,
            model_id=self.source.model_id(session, site_id),
            persons=sorted(persons.values(), key=lambda p: p.person_id),
        )
        session.query(WhitelistEntry).filter(WhitelistEntry.site_id == site_id).delete()
        for person in snap.persons:
            session.add(self._entry(site_id, person, version))
        session.add(
            WhitelistVersion(
                site_id=site_id,
                version=version,
                type="snapshot",
                reason=reason,
                payload=snap.model_dump_json(),
                issued_at=now,
            )
        )
        session.commit()
        return snap

    @staticmethod
    def _entry(site_id: str, person: WhitelistPerson, version: int) -> WhitelistEntry:
        return WhitelistEntry(
            site_id=site_id,
            person_id=person.person_id,
            digest=_digest(person),
            payload=person.model_dump_json(),
            valid_until=person.valid_until,
            version=version,
        )

    def _delta(self, session: Session, site_id: str, ids: set[str], reason: str) -> WhitelistDelta | None:
        """Recompile ``ids`` and persist a delta for whatever differs from the stored entries."""
        person_ids = [i for i in ids if not i.startswith(PASS_PREFIX)]
        pass_ids = [i[len(PASS_PREFIX) :] for i in ids if i.startswith(PASS_PREFIX)]
        fresh: dict[str, WhitelistPerson] = {}
        if person_ids:
            fresh.update(self.compile_persons(session, site_id, person_ids))
        if pass_ids:
            fresh.update(self.compile_passes(session, site_id, pass_ids))
        stored = {
            e.person_id: e
            for e in session.scalars(
                select(WhitelistEntry).where(
                    WhitelistEntry.site_id == site_id, WhitelistEntry.person_id.in_(ids)
                )
            )
        }
        upserts = [p for pid, p in fresh.items() if pid not in stored or stored[pid].digest != _digest(p)]
        removals = sorted(pid for pid in stored if pid not in fresh)
        if not upserts and not removals:
            return None
        version = self._next_version(session, site_id)
        delta = WhitelistDelta(
            site_id=site_id,
            base_version=version - 1,
            version=version,
            issued_at=self.clock.now(),
            upserts=sorted(upserts, key=lambda p: p.person_id),
            removals=removals,
            reason=reason[:128],
        )
        for pid in removals:
            session.delete(stored[pid])
        for person in upserts:
            if person.person_id in stored:
                session.delete(stored[person.person_id])
                session.flush()
            session.add(self._entry(site_id, person, version))
        session.add(
            WhitelistVersion(
                site_id=site_id,
                version=version,
                type="delta",
                reason=delta.reason,
                payload=delta.model_dump_json(),
                issued_at=delta.issued_at,
            )
        )
        session.flush()
        return delta

    def process_changes(self, session: Session, limit: int = 5000) -> list[WhitelistDelta]:
        """Turn pending :func:`mark_person_changed` marks into deltas (one per site). Commits."""
        marks = list(
            session.scalars(
                select(WhitelistChange)
                .where(WhitelistChange.processed_at.is_(None))
                .order_by(WhitelistChange.id)
                .limit(limit)
            )
        )
        by_site: dict[str, list[WhitelistChange]] = {}
        for mark in marks:
            by_site.setdefault(mark.site_id, []).append(mark)
        deltas: list[WhitelistDelta] = []
        now = self.clock.now()
        for site_id, site_marks in by_site.items():
            reasons = sorted({m.reason for m in site_marks})
            if any(m.person_id == ALL for m in site_marks):
                # access rules changed: every entry may differ, so the site gets a new snapshot
                for mark in site_marks:
                    mark.processed_at = now
                self.snapshot(session, site_id, reason=",".join(reasons))
                continue
            delta = self._delta(session, site_id, {m.person_id for m in site_marks}, ",".join(reasons))
            if delta is not None:
                deltas.append(delta)
            for mark in site_marks:
                mark.processed_at = now
        session.commit()
        return deltas

    def expire(self, session: Session) -> list[WhitelistDelta]:
        """Remove entries whose lease or pass ended (and expire the passes). Commits."""
        now = self.clock.now()
        expired_passes = list(
            session.scalars(
                select(VisitorPass).where(VisitorPass.status == "active", VisitorPass.valid_until <= now)
            )
        )
        for p in expired_passes:
            p.status = "expired"
            p.updated_at = now
        rows = session.execute(
            select(WhitelistEntry.site_id, WhitelistEntry.person_id).where(
                WhitelistEntry.valid_until.is_not(None), WhitelistEntry.valid_until <= now
            )
        ).all()
        by_site: dict[str, set[str]] = {}
        for site_id, pid in rows:
            by_site.setdefault(site_id, set()).add(pid)
        deltas = []
        for site_id, ids in by_site.items():
            delta = self._delta(session, site_id, ids, "expired")
            if delta is not None:
                deltas.append(delta)
        session.commit()
        return deltas

    def publish_pending(self, session: Session) -> int:
        """Hand unpublished versions to the sink in order; returns how many went out. Commits.

        The newest delta of a site goes out with the (retained) snapshot at the same version,
        so a node that reconnects later never starts from an older list.
        """
        if self.sink is None:
            return 0
        pending = list(
            session.scalars(
                select(WhitelistVersion)
                .where(WhitelistVersion.published_at.is_(None))
                .order_by(WhitelistVersion.site_id, WhitelistVersion.version)
            )
        )
        newest: dict[str, int] = {}
        for row in pending:
            newest[row.site_id] = row.version
        sent = 0
        for row in pending:
            try:
                if row.type == "snapshot":
                    self.sink.publish_snapshot(WhitelistSnapshot.model_validate_json(row.payload))
                else:
                    delta = WhitelistDelta.model_validate_json(row.payload)
                    if newest[row.site_id] == row.version == self.current_version(session, row.site_id):
                        snap = self.latest_snapshot(session, row.site_id)
                        update = getattr(self.sink, "publish_update", None)
                        if update is not None:
                            update(delta, snap)
                        else:
                            self.sink.publish_snapshot(snap)
                            self.sink.publish_delta(delta)
                    else:
                        self.sink.publish_delta(delta)
            except Exception:
                log.exception("publishing whitelist %s v%d failed; will retry", row.site_id, row.version)
                session.rollback()
                break
            row.published_at = self.clock.now()
            sent += 1
            session.commit()
        return sent

    def latest_snapshot(self, session: Session, site_id: str) -> WhitelistSnapshot:
        """The current full list (rebuilt from the stored entries, at the current version)."""
        version = self.current_version(session, site_id)
        if version == 0:
            return self.snapshot(session, site_id, reason="initial")
        persons = [
            WhitelistPerson.model_validate_json(e.payload)
            for e in session.scalars(
                select(WhitelistEntry)
                .where(WhitelistEntry.site_id == site_id)
                .order_by(WhitelistEntry.person_id)
            )
        ]
        return WhitelistSnapshot(
            site_id=site_id,
            version=version,
            issued_at=self.clock.now(),
            model_id=self.source.model_id(session, site_id),
            persons=persons,
        )
