"""Zones (grids on rings), devices and access rules of a site."""

from __future__ import annotations

from datetime import datetime, time
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import Field
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from central.deps import ClockDep, SessionDep, ensure_site_access, require_roles
from central.errors import Conflict, FieldError, NotFound
from central.models.users import User
from central.models.zones import AccessRule, Device, Zone
from central.schemas import ApiModel
from central.security import GRID_WORKER, GUARD, POLICE, PROPERTY_MANAGER
from central.services.access import SubjectType
from central.services.vehicles import issue_device_token
from central.services.whitelist import mark_site_changed

router = APIRouter(tags=["zones"])

Manager = Annotated[User, Depends(require_roles(PROPERTY_MANAGER))]
Viewer = Annotated[User, Depends(require_roles(PROPERTY_MANAGER, GUARD, POLICE, GRID_WORKER))]
Code = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class ZoneIn(ApiModel):
    site_id: str = Field(max_length=36)
    code: str = Code
    name: str = Field(min_length=1, max_length=128)
    ring: int = Field(ge=1, le=4)
    kind: str = Field("other", pattern="^(gate|road|building|unit|shop|household|parking|other)$")
    building_id: str | None = None


class ZoneOut(ZoneIn):
    id: str


class DeviceIn(ApiModel):
    zone_id: str
    code: str = Code
    type: str = Field(pattern="^(camera|door|lpr)$")
    name: str = Field("", max_length=128)
    direction: str = Field("both", pattern="^(in|out|both)$")
    node_id: str = Code


class DeviceOut(DeviceIn):
    id: str
    site_id: str
    enabled: bool


class DeviceToken(ApiModel):
    device_id: str
    token: str = Field(description="shown once; the LPR camera sends it as a bearer token")


class RuleIn(ApiModel):
    site_id: str = Field(max_length=36)
    name: str = Field("", max_length=128)
    subject_type: SubjectType
    subject_value: str = Field(min_length=1, max_length=64)
    rings: list[int] = Field(default_factory=lambda: [1, 2, 3], max_length=4)
    zone_codes: list[str] = Field(default_factory=list, max_length=200)
    weekdays: list[int] = Field(default_factory=lambda: list(range(7)), max_length=7)
    start: time = time(0, 0)
    end: time = time(23, 59, 59)
    valid_from: datetime | None = None
    valid_until: datetime | None = None
    enabled: bool = True


class RuleOut(RuleIn):
    id: str


@router.post("/zones", response_model=ZoneOut, status_code=201)
def create_zone(*, body: ZoneIn, session: SessionDep, clock: ClockDep, user: Manager) -> Zone:
    ensure_site_access(user, body.site_id)
    now = clock.now()
    zone = Zone(**body.model_dump(), created_at=now, updated_at=now)
    session.add(zone)
    try:
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise Conflict("区域编码已存在", "zone code exists", [FieldError("code", "duplicate")]) from exc
    return zone


@router.get("/zones", response_model=list[ZoneOut])
def list_zones(*, site_id: str, session: SessionDep, user: Viewer) -> list[Zone]:
    ensure_site_access(user, site_id)
    return list(session.scalars(select(Zone).where(Zone.site_id == site_id).order_by(Zone.ring, Zone.code)))


@router.post("/devices", response_model=DeviceOut, status_code=201)
def create_device(*, body: DeviceIn, session: SessionDep, clock: ClockDep, user: Manager) -> Device:
    zone = session.get(Zone, body.zone_id)
    if zone is None:
        raise NotFound("区域不存在", "zone not found", [FieldError("zone_id", "unknown")])
    ensure_site_access(user, zone.site_id)
    now = clock.now()
    device = Device(**body.model_dump(), site_id=zone.site_id, created_at=now, updated_at=now)
    session.add(device)
    try:
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise Conflict("设备编码已存在", "device code exists", [FieldError("code", "duplicate")]) from exc
    return device


@router.get("/devices", response_model=list[DeviceOut])
def list_devices(*, site_id: str, session: SessionDep, user: Viewer) -> list[Device]:
    ensure_site_access(user, site_id)
    return list(session.scalars(select(Device).where(Device.site_id == site_id).order_by(Device.code)))


@router.post("/devices/{device_id}/token", response_model=DeviceToken)
def device_token(*, device_id: str, session: SessionDep, clock: ClockDep, user: Manager) -> DeviceToken:
    device = session.get(Device, device_id)
    if device is None:
        raise NotFound("设备不存在", "device not found")
    ensure_site_access(user, device.site_id)
    return DeviceToken(device_id=device.id, token=issue_device_token(session, device, clock.now()))


@router.post("/access-rules", response_model=RuleOut, status_code=201)
def create_access_rule(*, body: RuleIn, session: SessionDep, clock: ClockDep, user: Manager) -> AccessRule:
    ensure_site_access(user, body.site_id)
    now = clock.now()
    data = body.model_dump()
    data["subject_type"] = body.subject_type.value
    rule = AccessRule(**data, created_at=now, updated_at=now)
    session.add(rule)
    mark_site_changed(session, body.site_id, "access_rules")
    session.commit()
    return rule


@router.get("/access-rules", response_model=list[RuleOut])
def list_access_rules(*, site_id: str, session: SessionDep, user: Viewer) -> list[AccessRule]:
    ensure_site_access(user, site_id)
    return list(session.scalars(select(AccessRule).where(AccessRule.site_id == site_id)))


@router.delete("/access-rules/{access_rule_id}", status_code=204)
def delete_access_rule(*, access_rule_id: str, session: SessionDep, user: Manager) -> None:
    rule = session.get(AccessRule, access_rule_id)
    if rule is None:
        raise NotFound("规则不存在", "rule not found")
    ensure_site_access(user, rule.site_id)
    mark_site_changed(session, rule.site_id, "access_rules")
    session.delete(rule)
    session.commit()
