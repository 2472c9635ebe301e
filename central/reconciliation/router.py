"""HTTP API of 一标三实 reconciliation: the police review queue, grid-worker visits, platform exchange.

Routes are thin: roles and site access are checked here, the work is in the services.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, File, Query, Request, Response, UploadFile
from pydantic import BaseModel, Field

from central.app import SHUTDOWN_HOOKS, STARTUP_HOOKS
from central.deps import (
    ClockDep,
    ReasonDep,
    SessionDep,
    actor_of,
    ensure_site_access,
    read_upload,
    require_roles,
)
from central.errors import NotFound
from central.ingest import ops_runtime
from central.models.users import User
from central.reconciliation import export as exchange
from central.reconciliation import gridwork, reminders, review
from central.reconciliation.models import Candidate, FaceCluster, GridTask
from central.reconciliation.runtime import app_service, start_reconciliation, stop_reconciliation
from central.reconciliation.service import ReconciliationService
from central.security import GRID_WORKER, POLICE

router = APIRouter(prefix="/reconciliation", tags=["reconciliation"])

Police = Annotated[User, Depends(require_roles(POLICE))]
FieldStaff = Annotated[User, Depends(require_roles(POLICE, GRID_WORKER))]
MAX_IMPORT_BYTES = 32 * 1024 * 1024


def get_service(request: Request) -> ReconciliationService:
    """The app's reconciliation service (created on first use with the default configuration)."""
    return app_service(request.app)


# The ingest hook and the periodic worker start with the app.
if start_reconciliation not in STARTUP_HOOKS:
    STARTUP_HOOKS.append(start_reconciliation)
if stop_reconciliation not in SHUTDOWN_HOOKS:
    SHUTDOWN_HOOKS.append(stop_reconciliation)


ServiceDep = Annotated[ReconciliationService, Depends(get_service)]


class CandidateOut(BaseModel):
    id: str
    site_id: str
    kind: str
    subject_id: str
    status: str
    score: float
    evidence: dict[str, Any]
    building_id: str | None
    house_id: str | None
    household_id: str | None
    first_flagged_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    decision: str
    has_thumbnail: bool = False


def _out(c: Candidate, thumb: bool = False) -> CandidateOut:
    return CandidateOut(
        id=c.id,
        site_id=c.site_id,
        kind=c.kind,
        subject_id=c.subject_id,
        status=c.status,
        score=c.score,
        evidence=c.evidence,
        building_id=c.building_id,
        house_id=c.house_id,
        household_id=c.household_id,
        first_flagged_at=c.first_flagged_at,
        decided_at=c.decided_at,
        decided_by=c.decided_by,
        decision=c.decision,
        has_thumbnail=thumb,
    )


class PersonIn(BaseModel):
    name: str = Field(min_length=1, max_length=64)
    id_number: str | None = Field(None, min_length=15, max_length=18)
    phone: str = Field("", max_length=32)
    kind: Literal["tenant", "family", "owner"] = "tenant"


class ConfirmIn(BaseModel):
    follow_up: Literal["visit", "enrol"] = "visit"
    person: PersonIn | None = None
    house_id: str | None = Field(None, max_length=36)
    note: str = Field("", max_length=500)


class RejectIn(BaseModel):
    label: Literal["visitor", "worker", "present"] = "visitor"
    note: str = Field("", max_length=500)


class MergeIn(BaseModel):
    cluster_ids: list[str] = Field(min_length=2, max_length=50)
    note: str = Field("", max_length=500)


class VisitIn(BaseModel):
    token: str = Field(min_length=8, max_length=2000, description="the scanned house QR code")
    occupants_reported: int | None = Field(None, ge=0, le=200)
    note: str = Field("", max_length=500)


class TaskOut(BaseModel):
    id: str
    house_id: str
    kind: str
    status: str
    due_at: datetime
    overdue: bool
    assignee_user_id: str | None
    candidate_id: str | None
    done_at: datetime | None


def _task(t: GridTask, now: datetime) -> TaskOut:
    return TaskOut(
        id=t.id,
        house_id=t.house_id,
        kind=t.kind,
        status=t.status,
        due_at=t.due_at,
        overdue=t.status == "open" and t.due_at < now,
        assignee_user_id=t.assignee_user_id,
        candidate_id=t.candidate_id,
        done_at=t.done_at,
    )


@router.get("/sites/{site_id}/candidates", response_model=list[CandidateOut])
def list_candidates(
    *,
    site_id: str,
    session: SessionDep,
    user: Police,
    kind: Annotated[Literal["occupant", "moved_away"] | None, Query()] = None,
    status: Annotated[Literal["open", "confirmed", "rejected", "merged", "withdrawn"], Query()] = "open",
) -> list[CandidateOut]:
    """The review queue (highest confidence first)."""
    ensure_site_access(user, site_id)
    from sqlalchemy import select

    q = select(Candidate).where(Candidate.site_id == site_id, Candidate.status == status)
    if kind is not None:
        q = q.where(Candidate.kind == kind)
    cands = list(session.scalars(q.order_by(Candidate.score.desc()).limit(500)))
    thumbs = set(
        session.scalars(
            select(FaceCluster.id).where(
                FaceCluster.id.in_([c.subject_id for c in cands]), FaceCluster.thumbnail.is_not(None)
            )
        )
    )
    return [_out(c, c.subject_id in thumbs) for c in cands]


@router.get("/candidates/{candidate_id}/thumbnail")
def thumbnail(
    *, candidate_id: str, session: SessionDep, user: Police, clock: ClockDep, reason: ReasonDep
) -> Response:
    """The cluster's one best face image, where the site policy kept it (viewing is audited)."""
    cand = session.get(Candidate, candidate_id)
    if cand is None:
        raise NotFound("候选记录不存在", "candidate not found")
    ensure_site_access(user, cand.site_id)
    cluster = session.get(FaceCluster, cand.subject_id)
    if cluster is None or cluster.thumbnail is None:
        raise NotFound("没有保存的照片", "no thumbnail kept for this candidate")
    from central.services.audit import record

    record(
        session,
        actor=actor_of(user),
        action="view",
        object_type="reconciliation_thumbnail",
        object_id=cand.id,
        site_id=cand.site_id,
        reason=reason,
        now=clock.now(),
    )
    session.commit()
    return Response(cluster.thumbnail, media_type="image/jpeg")


@router.post("/sites/{site_id}/rescore")
def rescore(*, site_id: str, session: SessionDep, user: Police, svc: ServiceDep) -> dict[str, int]:
    ensure_site_access(user, site_id)
    res = svc.rescore(session, site_id)
    session.commit()
    return {
        "opened": res.opened,
        "updated": res.updated,
        "occupant_open": res.occupant_open,
        "moved_away_open": res.moved_away_open,
    }


@router.post("/candidates/{candidate_id}/confirm", response_model=CandidateOut)
def confirm(
    *, candidate_id: str, body: ConfirmIn, session: SessionDep, user: Police, svc: ServiceDep
) -> CandidateOut:
    person = review.NewPerson(**body.person.model_dump()) if body.person else None
    cand = review.confirm(
        session,
        svc,
        candidate_id,
        actor_of(user),
        follow_up=body.follow_up,
        person=person,
        house_id=body.house_id,
        note=body.note,
        site_ids=_sites(user),
    )
    session.commit()
    return _out(cand)


@router.post("/candidates/{candidate_id}/reject", response_model=CandidateOut)
def reject(
    *, candidate_id: str, body: RejectIn, session: SessionDep, user: Police, svc: ServiceDep
) -> CandidateOut:
    cand = review.reject(
        session, svc, candidate_id, actor_of(user), label=body.label, note=body.note, site_ids=_sites(user)
    )
    session.commit()
    return _out(cand)


@router.post("/sites/{site_id}/merge")
def merge(
    *, site_id: str, body: MergeIn, session: SessionDep, user: Police, svc: ServiceDep
) -> dict[str, str]:
    ensure_site_access(user, site_id)
    try:
        keep = review.merge(session, svc, site_id, body.cluster_ids, actor_of(user), note=body.note)
        session.commit()
    except Exception:
        session.rollback()
        svc.forget(site_id)
        raise
    return {"cluster_id": keep}


def _sites(user: User) -> set[str] | None:
    from central.deps import visible_site_ids

    ids = visible_site_ids(user)
    return None if ids is None else set(ids)


@router.get("/sites/{site_id}/tasks", response_model=list[TaskOut])
def tasks(
    *,
    site_id: str,
    session: SessionDep,
    user: FieldStaff,
    clock: ClockDep,
    overdue_only: Annotated[bool, Query()] = False,
) -> list[TaskOut]:
    """Open grid-worker tasks (a grid worker sees those assigned to them or to nobody)."""
    ensure_site_access(user, site_id)
    from sqlalchemy import select

    now = clock.now()
    q = select(GridTask).where(GridTask.site_id == site_id, GridTask.status == "open")
    if user.role == GRID_WORKER:
        q = q.where((GridTask.assignee_user_id == user.id) | GridTask.assignee_user_id.is_(None))
    rows = [t for t in session.scalars(q.order_by(GridTask.due_at)) if not overdue_only or t.due_at < now]
    return [_task(t, now) for t in rows]


@router.post("/sites/{site_id}/tasks/schedule")
def schedule(
    *, site_id: str, request: Request, session: SessionDep, user: Police, svc: ServiceDep
) -> dict[str, int]:
    """Open due rental visits now and push overdue-visit reminders (what each worker round does)."""
    ensure_site_access(user, site_id)
    res = gridwork.schedule_rental_visits(session, svc.config.gridwork, site_id, svc.clock.now())
    overdue = reminders.push_overdue(session, site_id, svc.clock.now())
    session.commit()
    ops_runtime(request.app).notifier.publish(overdue.messages)
    return {"opened": res.opened, "rental_houses": res.rental_houses, "reminders": overdue.reminded}


@router.post("/visits", status_code=201)
def visit(
    *, body: VisitIn, request: Request, session: SessionDep, user: FieldStaff, clock: ClockDep
) -> dict[str, str]:
    """A grid worker scanned a rental house's QR code on a visit (扫码入户)."""
    from central.keys import app_signer
    from central.services.house_qr import resolve

    house = resolve(session, app_signer(request.app), body.token)
    ensure_site_access(user, house.site_id)
    v = gridwork.record_visit(
        session,
        house.site_id,
        house.id,
        actor_of(user),
        clock.now(),
        occupants_reported=body.occupants_reported,
        note=body.note,
    )
    closed = reminders.close_finished(session, house.site_id, clock.now())  # the overdue alert, if any
    session.commit()
    ops_runtime(request.app).notifier.publish(closed)
    return {"visit_id": v.id, "house_id": house.id}


@router.get("/sites/{site_id}/export")
def export(
    *,
    site_id: str,
    session: SessionDep,
    user: Police,
    clock: ClockDep,
    reason: ReasonDep,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
    kind: Annotated[Literal["addresses", "houses", "persons", "units"], Query()] = "persons",
) -> Response:
    """一标三实 records for the police platform (JSON: all kinds; CSV: one kind)."""
    ensure_site_access(user, site_id)
    bundle = exchange.export_site(session, site_id, actor_of(user), clock.now(), reason)
    session.commit()
    if format == "json":
        return Response(bundle.to_json(), media_type="application/json")
    return Response(
        ("\ufeff" + bundle.to_csv(kind)).encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{kind}.csv"'},
    )


@router.post("/sites/{site_id}/import")
async def import_updates(
    *,
    site_id: str,
    file: Annotated[UploadFile, File()],
    session: SessionDep,
    user: Police,
    clock: ClockDep,
    format: Annotated[Literal["json", "csv"], Query()] = "json",
) -> dict[str, Any]:
    """The police platform's person updates; every change reaches the edge whitelists."""
    ensure_site_access(user, site_id)
    data = await read_upload(file, MAX_IMPORT_BYTES)
    res = exchange.import_updates(session, site_id, data, format, actor_of(user), clock.now())
    session.commit()
    return {
        "rows": res.rows,
        "created": res.created,
        "updated": res.updated,
        "moved_out": res.moved_out,
        "unchanged": res.unchanged,
        "already_imported": res.already_imported,
    }
