"""Vehicles bound to households, 布控 (watch-listing), search by plate, LPR plate events over HTTP."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request
from pydantic import AwareDatetime, Field

from central.deps import ClockDep, SessionDep, ensure_site_access, require_roles
from central.errors import AuthenticationFailed
from central.ingest import ops_runtime
from central.models.users import User
from central.models.vehicles import Vehicle
from central.schemas import ApiModel
from central.security import ADMIN, GUARD, POLICE, PROPERTY_MANAGER
from central.services import vehicles as vehicle_service

router = APIRouter(tags=["vehicles"])

Manager = Annotated[User, Depends(require_roles(PROPERTY_MANAGER))]
Watcher = Annotated[User, Depends(require_roles(PROPERTY_MANAGER, POLICE))]
Viewer = Annotated[User, Depends(require_roles(PROPERTY_MANAGER, GUARD, POLICE))]


class VehicleIn(ApiModel):
    site_id: str = Field(max_length=36)
    plate: str = Field(min_length=5, max_length=16)
    household_id: str | None = None
    owner_person_id: str | None = None
    color: str = Field("", max_length=16)
    description: str = Field("", max_length=128)
    watchlisted: bool = False
    watch_reason: str = Field("", max_length=256)


class VehicleOut(ApiModel):
    id: str
    site_id: str
    plate: str
    household_id: str | None
    owner_person_id: str | None
    color: str
    description: str
    watchlisted: bool
    watch_reason: str


class WatchIn(ApiModel):
    watchlisted: bool
    reason: str = Field("", max_length=256)


class LprEventIn(ApiModel):
    plate: str = Field(min_length=2, max_length=16)
    captured_at: AwareDatetime
    direction: str | None = Field(None, pattern="^(in|out|unknown)$")
    confidence: float = Field(1.0, ge=0.0, le=1.0)
    plate_color: str | None = Field(None, max_length=16)
    event_id: uuid.UUID | None = Field(None, description="the camera's own id for this read (idempotency)")


class LprAccepted(ApiModel):
    event_id: str
    plate: str


@router.post("/vehicles", response_model=VehicleOut, status_code=201)
def add_vehicle(*, body: VehicleIn, session: SessionDep, clock: ClockDep, user: Manager) -> Vehicle:
    ensure_site_access(user, body.site_id)
    return vehicle_service.add_vehicle(session, **body.model_dump(), now=clock.now())


@router.get("/vehicles", response_model=list[VehicleOut])
def find_vehicles(
    *, plate: str, session: SessionDep, user: Viewer, site_id: str | None = None
) -> list[Vehicle]:
    if site_id is not None:
        ensure_site_access(user, site_id)
        sites = [site_id]
    else:
        sites = [] if user.role == ADMIN else user.site_ids
    return vehicle_service.find_vehicle(session, sites, plate)


@router.put("/vehicles/{vehicle_id}/watch", response_model=VehicleOut)
def watch_vehicle(
    *, vehicle_id: str, body: WatchIn, session: SessionDep, clock: ClockDep, user: Watcher
) -> Vehicle:
    vehicle = vehicle_service.get_vehicle(session, vehicle_id)
    ensure_site_access(user, vehicle.site_id)
    return vehicle_service.set_watch(session, vehicle, body.watchlisted, body.reason, clock.now())


@router.post("/lpr/events", response_model=LprAccepted, status_code=202)
def lpr_event(
    *,
    body: LprEventIn,
    request: Request,
    session: SessionDep,
    authorization: Annotated[str | None, Header()] = None,
) -> LprAccepted:
    """A plate read from an LPR camera, authenticated by the camera's own device token."""
    if not authorization or not authorization.lower().startswith("bearer "):
        raise AuthenticationFailed("缺少设备凭证", "missing device token")
    device = vehicle_service.device_for_token(session, authorization[7:].strip())
    event = vehicle_service.plate_event(
        device,
        plate=body.plate,
        captured_at=body.captured_at,
        direction=body.direction,
        confidence=body.confidence,
        plate_color=body.plate_color,
        event_id=body.event_id,
    )
    session.close()
    ops_runtime(request.app).ingestor.on_events([event])
    return LprAccepted(event_id=str(event.event_id), plate=event.plate)
