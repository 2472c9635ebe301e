"""Visitor registration, signed QR passes (JSON and PNG), revocation, visit records."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import Field

from central.deps import ClockDep, SessionDep, ensure_site_access, require_roles
from central.keys import app_signer
from central.models.users import User
from central.models.visitors import Visit, VisitorPass
from central.schemas import ApiModel
from central.security import GRID_WORKER, GUARD, POLICE, PROPERTY_MANAGER
from central.services import visitor_passes
from central.services import visitors as visitor_service

router = APIRouter(tags=["visitors"])

Desk = Annotated[User, Depends(require_roles(PROPERTY_MANAGER, GUARD))]
Viewer = Annotated[User, Depends(require_roles(PROPERTY_MANAGER, GUARD, POLICE, GRID_WORKER))]


class VisitorIn(ApiModel):
    site_id: str = Field(max_length=36)
    host_household_id: str = Field(max_length=36)
    name: str = Field(min_length=1, max_length=64)
    phone: str = Field("", max_length=32)
    plate: str | None = Field(None, max_length=16)
    purpose: str = Field("", max_length=256)
    valid_from: datetime
    valid_until: datetime
    rings: list[int] = Field(default_factory=lambda: [1, 2, 3], max_length=4)
    zone_codes: list[str] = Field(default_factory=list, max_length=32)


class PassOut(ApiModel):
    id: str
    site_id: str
    kind: str
    visitor_id: str | None
    host_household_id: str | None
    valid_from: datetime
    valid_until: datetime
    rings: list[int]
    zone_codes: list[str]
    status: str
    token: str


class RevokeIn(ApiModel):
    reason: str = Field("", max_length=256)


class VisitOut(ApiModel):
    id: str
    pass_id: str
    visitor_id: str | None
    host_household_id: str | None
    entered_at: datetime
    entry_camera_id: str | None
    left_at: datetime | None
    exit_camera_id: str | None


@router.post("/visitors", response_model=PassOut, status_code=201)
def register_visitor(
    *, body: VisitorIn, request: Request, session: SessionDep, clock: ClockDep, user: Desk
) -> VisitorPass:
    ensure_site_access(user, body.site_id)
    _, vpass = visitor_service.issue_visitor_pass(
        session,
        app_signer(request.app).sign,
        site_id=body.site_id,
        host_household_id=body.host_household_id,
        name=body.name,
        phone=body.phone,
        plate=body.plate,
        purpose=body.purpose,
        valid_from=body.valid_from,
        valid_until=body.valid_until,
        rings=body.rings,
        zone_codes=body.zone_codes,
        now=clock.now(),
        created_by=user.id,
    )
    return vpass


def _pass(session: SessionDep, pass_id: str, user: User) -> VisitorPass:
    vpass = visitor_service.get_pass(session, pass_id)
    ensure_site_access(user, vpass.site_id)
    return vpass


class PassListOut(ApiModel):
    id: str
    site_id: str
    kind: str
    state: str = Field(description="issued, used, expired or revoked")
    status: str
    visitor_id: str | None
    visitor_name: str
    phone: str
    plate: str | None
    purpose: str
    host_household_id: str | None
    host_household_name: str
    valid_from: datetime
    valid_until: datetime
    rings: list[int]
    created_at: datetime
    revoked_reason: str
    visits: int
    last_entered_at: datetime | None
    last_left_at: datetime | None
    inside: bool


@router.get("/visitor-passes", response_model=list[PassListOut])
def list_passes(
    *,
    site_id: str,
    since: datetime | None = None,
    until: datetime | None = None,
    status: Annotated[
        list[Literal["issued", "used", "expired", "revoked"]] | None, Query(max_length=4)
    ] = None,
    host_household_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
    session: SessionDep,
    clock: ClockDep,
    user: Desk,
) -> list[PassListOut]:
    """Issued visitor passes whose validity overlaps ``[since, until)``, with visits and a status."""
    ensure_site_access(user, site_id)
    rows = visitor_passes.list_passes(
        session,
        [site_id],
        now=clock.now(),
        since=since,
        until=until,
        states=list(status or []),
        host_household_id=host_household_id,
        limit=limit,
    )
    return [PassListOut.model_validate(r, from_attributes=True) for r in rows]


@router.get("/visitor-passes/{pass_id}", response_model=PassOut)
def get_pass(*, pass_id: str, session: SessionDep, user: Desk) -> VisitorPass:
    return _pass(session, pass_id, user)


@router.get("/visitor-passes/{pass_id}/qr.png", response_class=Response)
def pass_qr(*, pass_id: str, session: SessionDep, user: Desk) -> Response:
    vpass = _pass(session, pass_id, user)
    return Response(visitor_service.pass_png(vpass.token), media_type="image/png")


@router.post("/visitor-passes/{pass_id}/revoke", response_model=PassOut)
def revoke(*, pass_id: str, body: RevokeIn, session: SessionDep, clock: ClockDep, user: Desk) -> VisitorPass:
    return visitor_service.revoke_pass(session, _pass(session, pass_id, user), body.reason, clock.now())


@router.get("/visits", response_model=list[VisitOut])
def visits(
    *, site_id: str, since: datetime, until: datetime, session: SessionDep, user: Viewer
) -> list[Visit]:
    ensure_site_access(user, site_id)
    return visitor_service.list_visits(session, [site_id], since, until)
