"""Police review of candidates: confirm, reject, merge. Every decision goes to the audit chain.

* confirm an occupant → either register the person (name given: a Person linked to the
  household of the linked house, a household created when the house has none) and start the
  consent/enrolment flow, or open a grid-worker visit task (扫码入户) to collect the facts;
  the cluster is marked ``confirmed`` so it stops appearing;
* confirm moved-away → the person is marked ``moved_out`` and the change flows to every
  edge whitelist through ``central.services.whitelist.mark_person_changed``;
* reject an occupant → the cluster is marked a known visitor/worker and never queued again;
  reject moved-away → the person stays; only a new absence after being seen again re-queues;
* merge → clusters (and their open candidates) fold into the oldest one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import select
from sqlalchemy.orm import Session

from central.errors import Conflict, NotFound, ValidationFailed
from central.reconciliation.models import Candidate, FaceCluster, GridTask
from central.reconciliation.service import ReconciliationService
from central.reconciliation.store import write_cluster
from central.services.audit import Actor, record

log = logging.getLogger(__name__)

OBJECT = "reconciliation_candidate"


@dataclass(frozen=True)
class NewPerson:
    """Facts of a confirmed occupant when the officer already knows them."""

    name: str
    id_number: str | None = None
    phone: str = ""
    kind: Literal["tenant", "family", "owner"] = "tenant"


def _candidate(session: Session, candidate_id: str, site_ids: set[str] | None) -> Candidate:
    cand = session.get(Candidate, candidate_id)
    if cand is None or (site_ids is not None and cand.site_id not in site_ids):
        raise NotFound("候选记录不存在", f"candidate {candidate_id} not found")
    if cand.status != "open":
        raise Conflict(
            f"候选记录已处理（{cand.status}）", f"candidate {candidate_id} is already {cand.status}"
        )
    return cand


def _close(cand: Candidate, status: str, decision: str, actor: Actor, note: str, now: datetime) -> None:
    cand.status, cand.decision, cand.note = status, decision, note
    cand.decided_at, cand.decided_by, cand.updated_at = now, actor.username, now


def confirm(
    session: Session,
    svc: ReconciliationService,
    candidate_id: str,
    actor: Actor,
    *,
    follow_up: Literal["visit", "enrol"] = "visit",
    person: NewPerson | None = None,
    house_id: str | None = None,
    note: str = "",
    site_ids: set[str] | None = None,
) -> Candidate:
    """Confirm a candidate (see the module doc for what each kind does)."""
    now = svc.clock.now()
    cand = _candidate(session, candidate_id, site_ids)
    detail: dict[str, object] = {"kind": cand.kind, "subject_id": cand.subject_id, "score": cand.score}
    if cand.kind == "moved_away":
        from central.models.registry import Person

        p = session.get(Person, cand.subject_id)
        if p is None:
            raise NotFound("人员不存在", f"person {cand.subject_id} not found")
        p.status, p.moved_out_at, p.updated_at = "moved_out", now, now
        _notify_whitelist(session, cand.site_id, p.id, "moved_out")
        _close(cand, "confirmed", "moved_out", actor, note, now)
        detail["person_id"] = p.id
    else:
        house = house_id or cand.house_id
        cluster = session.get(FaceCluster, cand.subject_id)
        if cluster is None:
            raise NotFound("聚类不存在", f"cluster {cand.subject_id} not found")
        if follow_up == "enrol" and person is None:
            raise ValidationFailed("登记需要姓名", "registering a person needs at least a name")
        if person is not None:
            pid = _register(session, cand.site_id, house, person, now)
            cluster.person_id = pid
            detail["person_id"] = pid
        if follow_up == "visit" or person is None:
            if house is None:
                raise ValidationFailed("需要指定房屋以派发走访任务", "a house is needed for the visit task")
            task = open_task(session, svc, cand.site_id, house, "verify_occupant", candidate_id=cand.id)
            detail["task_id"] = task.id
        cluster.status, cluster.updated_at = "confirmed", now
        _close(cand, "confirmed", follow_up, actor, note, now)
        detail["house_id"] = house
    record(
        session,
        actor=actor,
        action="confirm",
        object_type=OBJECT,
        object_id=cand.id,
        site_id=cand.site_id,
        reason=note,
        detail=detail,
        now=now,
    )
    return cand


def _register(session: Session, site_id: str, house_id: str | None, person: NewPerson, now: datetime) -> str:
    from central.models.registry import Household, Person

    household_id = None
    if house_id is not None:
        hh = session.scalars(select(Household).where(Household.house_id == house_id)).first()
        if hh is None:
            hh = Household(
                site_id=site_id, house_id=house_id, name=person.name, created_at=now, updated_at=now
            )
            session.add(hh)
            session.flush()
        household_id = hh.id
    p = Person(
        site_id=site_id,
        household_id=household_id,
        name=person.name,
        id_number=person.id_number,
        phone=person.phone,
        kind=person.kind,
        notes="一标三实核查登记 registered from reconciliation",
        created_at=now,
        updated_at=now,
    )
    session.add(p)
    session.flush()
    # The consent/enrolment flow starts from the person record: consent is collected and the
    # face enrolled by the enrolment service when the person (or grid worker) completes it.
    return p.id


def _notify_whitelist(session: Session, site_id: str, person_id: str, reason: str) -> None:
    from central.services import whitelist

    whitelist.mark_person_changed(session, site_id, person_id, reason)


def reject(
    session: Session,
    svc: ReconciliationService,
    candidate_id: str,
    actor: Actor,
    *,
    label: Literal["visitor", "worker", "present"] = "visitor",
    note: str = "",
    site_ids: set[str] | None = None,
) -> Candidate:
    """Reject a candidate so that it stops appearing."""
    now = svc.clock.now()
    cand = _candidate(session, candidate_id, site_ids)
    if cand.kind == "occupant":
        if label == "present":
            raise ValidationFailed("无效标记", "label 'present' is for moved-away candidates")
        cluster = session.get(FaceCluster, cand.subject_id)
        if cluster is not None:
            cluster.status, cluster.updated_at = f"known_{label}", now
    _close(cand, "rejected", label, actor, note, now)
    record(
        session,
        actor=actor,
        action="reject",
        object_type=OBJECT,
        object_id=cand.id,
        site_id=cand.site_id,
        reason=note,
        detail={"kind": cand.kind, "subject_id": cand.subject_id, "label": label},
        now=now,
    )
    return cand


def merge(
    session: Session,
    svc: ReconciliationService,
    site_id: str,
    cluster_ids: list[str],
    actor: Actor,
    *,
    note: str = "",
) -> str:
    """Merge clusters into the oldest one; returns the surviving cluster id."""
    if len(set(cluster_ids)) < 2:
        raise ValidationFailed("至少需要两个聚类", "merging needs at least two clusters")
    now = svc.clock.now()
    rows = [session.get(FaceCluster, cid) for cid in cluster_ids]
    if any(r is None or r.site_id != site_id or r.status == "merged" for r in rows):
        raise NotFound("聚类不存在或已合并", "a cluster is unknown, of another site, or already merged")
    live = [r for r in rows if r is not None]
    live.sort(key=lambda r: r.order)
    keep = live[0]
    clusterer = svc.clusterer(session, site_id)
    for other in live[1:]:
        clusterer.merge(keep.id, other.id)
        svc._record_merge(session, keep.id, other.id, now)
    write_cluster(keep, clusterer.clusters[keep.id])
    keep.updated_at = now
    record(
        session,
        actor=actor,
        action="merge",
        object_type="reconciliation_cluster",
        object_id=keep.id,
        site_id=site_id,
        reason=note,
        detail={"merged": [r.id for r in live[1:]]},
        now=now,
    )
    return keep.id


def open_task(
    session: Session,
    svc: ReconciliationService,
    site_id: str,
    house_id: str,
    kind: str,
    *,
    candidate_id: str | None = None,
    assignee_user_id: str | None = None,
) -> GridTask:
    """Open a grid-worker visit task, due after the configured number of days."""
    now = svc.clock.now()
    task = GridTask(
        site_id=site_id,
        house_id=house_id,
        kind=kind,
        status="open",
        candidate_id=candidate_id,
        assignee_user_id=assignee_user_id,
        due_at=now + timedelta(days=svc.config.gridwork.task_due_days),
        created_at=now,
        updated_at=now,
    )
    session.add(task)
    session.flush()
    return task


def open_candidates(session: Session, site_id: str, kind: str | None = None) -> list[Candidate]:
    q = select(Candidate).where(Candidate.site_id == site_id, Candidate.status == "open")
    if kind is not None:
        q = q.where(Candidate.kind == kind)
    return list(session.scalars(q.order_by(Candidate.score.desc(), Candidate.first_flagged_at)))
