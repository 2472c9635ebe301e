"""Vehicles: registration, 布控 (watch-listing), LPR device tokens and plate events.

LPR cameras post plate reads over HTTP with their own device token
(``Authorization: Bearer <token>``; only its SHA-256 is stored) or publish
``contracts.VehiclePlateEvent`` over MQTT through the gateway. Both paths end in
:meth:`central.ingest.Ingestor.on_events`, so watch-listed plates raise alerts
the same way.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from central.errors import AuthenticationFailed, Conflict, FieldError, NotFound, ValidationFailed
from central.models.registry import Household
from central.models.vehicles import Vehicle
from central.models.zones import Device
from central.services.events import normalise_plate
from contracts import Direction, VehiclePlateEvent

PLATE_CHARS_MIN = 5


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue_device_token(session: Session, device: Device, now: datetime) -> str:
    """A new secret for an LPR camera (shown once); replaces any earlier one. Commits."""
    token = "lpr_" + secrets.token_urlsafe(32)
    device.token_sha256 = token_digest(token)
    device.updated_at = now
    session.commit()
    return token


def device_for_token(session: Session, token: str) -> Device:
    device = session.scalars(select(Device).where(Device.token_sha256 == token_digest(token))).first()
    if device is None or not device.enabled or device.type not in ("lpr", "camera"):
        raise AuthenticationFailed("设备凭证无效", "invalid device token")
    return device


def plate_event(
    device: Device,
    *,
    plate: str,
    captured_at: datetime,
    direction: str | None,
    confidence: float,
    plate_color: str | None,
    event_id: uuid.UUID | None,
) -> VehiclePlateEvent:
    """The contract event for an HTTP plate read. Without an id, one is derived from the read
    itself so that a camera retrying the same POST is counted once."""
    norm = normalise_plate(plate)
    if len(norm) < PLATE_CHARS_MIN:
        raise ValidationFailed("车牌号无效", "invalid plate", [FieldError("plate", "too short")])
    if event_id is None:
        event_id = uuid.uuid5(
            uuid.NAMESPACE_URL, f"anju-lpr:{device.site_id}:{device.code}:{norm}:{captured_at.isoformat()}"
        )
    dirn = (
        Direction(direction)
        if direction
        else (Direction(device.direction) if device.direction in ("in", "out") else Direction.unknown)
    )
    return VehiclePlateEvent(
        event_id=event_id,
        site_id=device.site_id,
        node_id=device.node_id,
        seq=0,
        captured_at=captured_at,
        camera_id=device.code,
        plate=norm,
        direction=dirn,
        confidence=confidence,
        plate_color=plate_color,
    )


def add_vehicle(
    session: Session,
    *,
    site_id: str,
    plate: str,
    now: datetime,
    household_id: str | None = None,
    owner_person_id: str | None = None,
    color: str = "",
    description: str = "",
    watchlisted: bool = False,
    watch_reason: str = "",
) -> Vehicle:
    norm = normalise_plate(plate)
    if len(norm) < PLATE_CHARS_MIN or len(norm) > 10:
        raise ValidationFailed("车牌号无效", "invalid plate", [FieldError("plate", "5-10 characters")])
    if household_id is not None:
        household = session.get(Household, household_id)
        if household is None or household.site_id != site_id:
            raise NotFound("住户不存在", "household not found", [FieldError("household_id", "unknown")])
    vehicle = Vehicle(
        site_id=site_id,
        plate=norm,
        household_id=household_id,
        owner_person_id=owner_person_id,
        color=color,
        description=description,
        watchlisted=watchlisted,
        watch_reason=watch_reason,
        created_at=now,
        updated_at=now,
    )
    session.add(vehicle)
    try:
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise Conflict(
            "该车牌已登记", f"plate {norm} already registered", [FieldError("plate", "duplicate")]
        ) from exc
    return vehicle


def find_vehicle(session: Session, site_ids: list[str], plate: str) -> list[Vehicle]:
    return list(
        session.scalars(
            select(Vehicle).where(Vehicle.site_id.in_(site_ids), Vehicle.plate == normalise_plate(plate))
        )
    )


def get_vehicle(session: Session, vehicle_id: str) -> Vehicle:
    vehicle = session.get(Vehicle, vehicle_id)
    if vehicle is None:
        raise NotFound("车辆不存在", "vehicle not found")
    return vehicle


def set_watch(session: Session, vehicle: Vehicle, watchlisted: bool, reason: str, now: datetime) -> Vehicle:
    vehicle.watchlisted = watchlisted
    vehicle.watch_reason = reason[:256] if watchlisted else ""
    vehicle.updated_at = now
    session.commit()
    return vehicle
