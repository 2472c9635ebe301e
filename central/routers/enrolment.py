"""Consent, face enrolment (single and bulk), face-data counter and job progress."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Query, Request, Response, UploadFile
from fastapi.concurrency import run_in_threadpool
from pydantic import Field, field_validator
from sqlalchemy.orm import Session

from central.deps import (
    ClockDep,
    ReasonDep,
    SessionDep,
    SettingsDep,
    actor_of,
    ensure_site_access,
    read_upload,
    require_roles,
)
from central.errors import NotFound
from central.keys import app_signer
from central.models.biometrics import Consent, FaceTemplate, Job
from central.models.registry import Person, Site
from central.models.users import User
from central.schemas import ApiModel
from central.security import PROPERTY_MANAGER
from central.services import audit, bulk_enrolment, consent, enrolment, jobs
from central.services.registry import get_in
from central.validation import LongText

router = APIRouter(tags=["enrolment"])
Manager = Annotated[User, Depends(require_roles(PROPERTY_MANAGER))]


class ConsentOut(ApiModel):
    id: str
    person_id: str
    granted_by: str
    guardian_name: str
    guardian_relation: str
    method: str
    document_ref: str
    granted_at: datetime
    withdrawn_at: datetime | None
    withdrawn_reason: str


class WithdrawIn(ApiModel):
    reason: LongText = Field("", max_length=500)


class WithdrawOut(ApiModel):
    templates_deleted: int
    pin: str
    qr_token: str
    pass_id: str
    valid_until: datetime


class TemplateOut(ApiModel):
    id: str
    person_id: str
    model_id: str
    quality: float
    created_at: datetime


class DuplicateOut(ApiModel):
    person_id: str
    score: float


class EnrolOut(ApiModel):
    template: TemplateOut
    warnings: list[str]
    duplicates: list[DuplicateOut]


class JobOut(ApiModel):
    id: str
    site_id: str
    kind: str
    status: str
    total: int
    done: int
    failed: int
    report: list[dict[str, Any]]  # one entry per item: file, person_id, template_id or error, duplicates
    error: str

    @field_validator("report", mode="before")
    @classmethod
    def _parse(cls, value: object) -> object:
        return json.loads(value) if isinstance(value, str) else value

    created_at: datetime
    finished_at: datetime | None


class FaceCountOut(ApiModel):
    persons_with_face: int
    site_persons_with_face: int | None
    threshold: int
    warning: bool
    message: str


def _person(session: SessionDep, user: User, person_id: str) -> Person:
    p = get_in(session, Person, person_id)
    ensure_site_access(user, p.site_id)
    return p


def _audit_view(session: Session, user: User, p: Person, what: str, reason: str, now: datetime) -> None:
    audit.record(
        session,
        actor=actor_of(user),
        action="view",
        object_type=what,
        object_id=p.id,
        site_id=p.site_id,
        reason=reason,
        now=now,
    )
    session.commit()


@router.post("/persons/{person_id}/consent", response_model=ConsentOut, status_code=201)
def grant_consent(
    *,
    person_id: str,
    body: consent.ConsentCreate,
    session: SessionDep,
    clock: ClockDep,
    user: Manager,
    reason: ReasonDep,
) -> Consent:
    p = _person(session, user, person_id)
    c = consent.grant(session, p, body, user.id, clock.now())
    audit.record(
        session,
        actor=actor_of(user),
        action="consent",
        object_type="person",
        object_id=p.id,
        site_id=p.site_id,
        reason=reason,
        detail={"granted_by": c.granted_by},
        now=clock.now(),
    )
    session.commit()
    return c


@router.get("/persons/{person_id}/consents", response_model=list[ConsentOut])
def list_consents(
    *, person_id: str, session: SessionDep, clock: ClockDep, user: Manager, reason: ReasonDep
) -> list[Consent]:
    from sqlalchemy import select

    p = _person(session, user, person_id)
    _audit_view(session, user, p, "consent", reason, clock.now())
    return list(
        session.scalars(select(Consent).where(Consent.person_id == p.id).order_by(Consent.granted_at))
    )


@router.post("/persons/{person_id}/consent/withdraw", response_model=WithdrawOut)
def withdraw_consent(
    *,
    person_id: str,
    body: WithdrawIn,
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    user: Manager,
    reason: ReasonDep,
) -> WithdrawOut:
    """Withdraw consent: templates deleted, edges told, a PIN and a QR pass issued (shown once)."""
    p = _person(session, user, person_id)
    n, creds = consent.withdraw(session, p, body.reason or reason, app_signer(request.app), clock.now())
    audit.record(
        session,
        actor=actor_of(user),
        action="withdraw",
        object_type="person",
        object_id=p.id,
        site_id=p.site_id,
        reason=body.reason or reason,
        detail={"templates_deleted": n},
        now=clock.now(),
    )
    session.commit()
    return WithdrawOut(
        templates_deleted=n,
        pin=creds.pin,
        qr_token=creds.qr_token,
        pass_id=creds.pass_id,
        valid_until=creds.valid_until,
    )


@router.post("/persons/{person_id}/faces", response_model=EnrolOut, status_code=201)
async def enrol_face(
    *,
    person_id: str,
    request: Request,
    photo: Annotated[UploadFile, File()],
    settings: SettingsDep,
    clock: ClockDep,
    user: Manager,
    reason: ReasonDep,
) -> EnrolOut:
    data = await read_upload(photo, settings.enrolment.max_upload_bytes, "photo")

    def work() -> EnrolOut:
        with request.app.state.session_factory() as session:
            p = _person(session, user, person_id)
            pipeline = enrolment.app_pipeline(request.app)
            res = enrolment.enrol_photo(
                session,
                p,
                data,
                pipeline=pipeline,
                limits=settings.enrolment,
                now=clock.now(),
                name=photo.filename or "photo",
            )
            audit.record(
                session,
                actor=actor_of(user),
                action="enrol",
                object_type="face_template",
                object_id=res.template.id,
                site_id=p.site_id,
                reason=reason,
                detail={"person_id": p.id, "duplicates": [d.person_id for d in res.duplicates]},
                now=clock.now(),
            )
            session.commit()
            warnings = [
                f"疑似与已登记人员 {d.person_id} 为同一人（相似度 {d.score:.2f}） / "
                f"possible duplicate of {d.person_id}"
                for d in res.duplicates
            ]
            return EnrolOut(
                template=TemplateOut.model_validate(res.template),
                warnings=warnings,
                duplicates=[DuplicateOut(person_id=d.person_id, score=d.score) for d in res.duplicates],
            )

    return await run_in_threadpool(work)


@router.get("/persons/{person_id}/faces", response_model=list[TemplateOut])
def list_faces(
    *, person_id: str, session: SessionDep, clock: ClockDep, user: Manager, reason: ReasonDep
) -> list[FaceTemplate]:
    from sqlalchemy import select

    p = _person(session, user, person_id)
    _audit_view(session, user, p, "face_template", reason, clock.now())
    return list(session.scalars(select(FaceTemplate).where(FaceTemplate.person_id == p.id)))


@router.delete("/persons/{person_id}/faces/{template_id}", status_code=204)
def delete_face(
    *,
    person_id: str,
    template_id: str,
    session: SessionDep,
    clock: ClockDep,
    user: Manager,
    reason: ReasonDep,
) -> Response:
    p = _person(session, user, person_id)
    tpl = session.get(FaceTemplate, template_id)
    if tpl is None or tpl.person_id != p.id:
        raise NotFound("人脸模板不存在", "template not found")
    enrolment.delete_template(session, p, tpl, clock.now())
    audit.record(
        session,
        actor=actor_of(user),
        action="delete",
        object_type="face_template",
        object_id=template_id,
        site_id=p.site_id,
        reason=reason,
        detail={"person_id": p.id},
        now=clock.now(),
    )
    session.commit()
    return Response(status_code=204)


@router.post("/enrolment/bulk", response_model=JobOut, status_code=202)
async def bulk_enrol(
    *,
    site_id: Annotated[str, Query(max_length=36)],
    request: Request,
    archive: Annotated[UploadFile, File()],
    settings: SettingsDep,
    clock: ClockDep,
    user: Manager,
    reason: ReasonDep,
) -> Job:
    """Start a bulk enrolment from a zip of photos; poll ``GET /jobs/{id}`` for progress."""
    ensure_site_access(user, site_id)
    data = await read_upload(archive, settings.enrolment.max_archive_bytes, "archive")
    items = await run_in_threadpool(bulk_enrolment.read_zip, data)
    factory = request.app.state.session_factory
    with factory() as session:
        get_in(session, Site, site_id)
        job = jobs.create_job(session, site_id, "bulk_enrolment", user.id, len(items), clock.now())
    app = request.app
    actor = actor_of(user)

    def work(session: Session, progress: jobs.Progress) -> None:
        bulk_enrolment.enrol_items(
            session,
            site_id,
            items,
            progress,
            pipeline=enrolment.app_pipeline(app),
            limits=settings.enrolment,  # type: ignore[arg-type]
            clock=clock,
            audit_actor=actor,
            reason=reason,
        )

    jobs.start_job(factory, clock, job.id, work)  # type: ignore[arg-type]
    return job


@router.get("/jobs/{job_id}", response_model=JobOut)
def get_job(*, job_id: str, session: SessionDep, user: Manager) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise NotFound("任务不存在", "job not found")
    ensure_site_access(user, job.site_id)
    return job


@router.get("/enrolment/stats", response_model=FaceCountOut)
def face_stats(
    *,
    session: SessionDep,
    settings: SettingsDep,
    user: Manager,
    site_id: Annotated[str | None, Query(max_length=36)] = None,
) -> FaceCountOut:
    """People with face data (the 100,000 filing threshold of the 2025 rules counts the whole system)."""
    if site_id is not None:
        ensure_site_access(user, site_id)
    c = enrolment.face_data_count(session, settings.enrolment, site_id)
    return FaceCountOut(**c.__dict__)
