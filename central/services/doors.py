"""Remote door open: audited, signed, sent to the door's edge node, confirmed by its door event.

:func:`open_door` checks the device is an enabled door, writes the audit record and a
:class:`~central.models.doors.DoorCommandRecord` (committed before anything leaves central, so no
door opens without its audit trail), then hands a :class:`contracts.DoorCommand` to the
:class:`DoorCommandSender` (the gateway link's ``WhitelistPublisher.send_door_command``, which signs
it with central's key). Without a broker the command is marked failed and
:class:`DoorLinkUnavailable` (HTTP 503) says so. :func:`mark_executed` is called by the ingest path
with the edge's :class:`contracts.DoorStateEvent` records that carry a ``command_id``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from central.errors import CentralError, FieldError, NotFound, ValidationFailed
from central.models.doors import DoorCommandRecord
from central.models.zones import Device
from central.services import audit
from central.services.audit import Actor
from contracts import DoorStateEvent, Event
from contracts.whitelist import DoorCommand

log = logging.getLogger(__name__)

COMMAND_TTL = timedelta(seconds=30)
MAX_REASON = 256


class DoorLinkUnavailable(CentralError):
    """No MQTT link to the edge nodes (disabled, or the broker is unreachable)."""

    status_code = 503
    code = "door_link_unavailable"


class DoorCommandSender(Protocol):
    """What sends a door command to its node (``gateway.publisher.WhitelistPublisher``)."""

    def send_door_command(self, command: DoorCommand, timeout: float = 10.0) -> None: ...


def open_door(
    session: Session,
    *,
    device: Device,
    actor: Actor,
    reason: str,
    sender: DoorCommandSender | None,
    now: datetime,
    ttl: timedelta = COMMAND_TTL,
    send_timeout: float = 5.0,
) -> DoorCommandRecord:
    """Audit, record and send one "open" command for the door ``device``.

    The caller has checked the actor's role and site access to ``device`` (see :func:`door_device`).
    Returns the command record (status ``sent``); raises
    :class:`DoorLinkUnavailable` after marking it ``failed`` when it could not be sent.
    """
    reason = reason.strip()
    if not reason:
        raise ValidationFailed("请填写开门理由", "a reason is required", [FieldError("reason", "required")])
    if len(reason) > MAX_REASON:
        raise ValidationFailed(
            "开门理由过长", "reason too long", [FieldError("reason", f"at most {MAX_REASON} characters")]
        )
    check_door(device)
    command_id = uuid.uuid4()
    rec = DoorCommandRecord(
        id=str(command_id),
        site_id=device.site_id,
        device_id=device.id,
        door_code=device.code,
        node_id=device.node_id,
        action="open",
        user_id=actor.user_id,
        requested_by=actor.username[:64],
        reason=reason,
        issued_at=now,
        expires_at=now + ttl,
        status="pending",
        created_at=now,
        updated_at=now,
    )
    session.add(rec)
    audit.record(
        session,
        actor=actor,
        action="door.open",
        object_type="door",
        object_id=device.id,
        site_id=device.site_id,
        reason=reason,
        detail={"command_id": rec.id, "door_code": device.code, "node_id": device.node_id},
        now=now,
    )
    session.commit()
    command = DoorCommand(
        command_id=command_id,
        site_id=device.site_id,
        node_id=device.node_id,
        door_id=device.code,
        action="open",
        requested_by=rec.requested_by,
        reason=reason,
        issued_at=now,
        expires_at=rec.expires_at,
    )
    error = ""
    if sender is None:
        error = "MQTT link to the edge nodes is not enabled"
    else:
        try:
            sender.send_door_command(command, timeout=send_timeout)
        except Exception as exc:  # any failure to hand it to the broker: the guard must know
            log.warning("door command %s to %s/%s failed: %s", rec.id, rec.node_id, rec.door_code, exc)
            error = f"broker did not accept the command: {exc}"[:256]
    rec.updated_at = now
    if error:
        # paho may still deliver a queued QoS 1 message if the broker returns before expires_at;
        # the door's event would then mark this row executed, so the list stays truthful.
        rec.status, rec.error = "failed", error
        session.commit()
        raise DoorLinkUnavailable(
            "门禁网关未连接，开门指令未能送达（已记录）",
            f"the door command could not be sent (recorded): {error}",
        )
    rec.status = "sent"
    session.commit()
    log.info("door command %s sent to %s/%s by %s", rec.id, rec.node_id, rec.door_code, actor.username)
    return rec


def door_device(session: Session, device_id: str) -> Device:
    """The device ``device_id`` (:class:`NotFound` when missing); check site access on it next."""
    device = session.get(Device, device_id)
    if device is None:
        raise NotFound("门禁设备不存在", "door not found")
    return device


def check_door(device: Device) -> None:
    """Raise :class:`ValidationFailed` unless ``device`` is an enabled door."""
    if device.type != "door":
        raise ValidationFailed(
            "该设备不是门禁", "this device is not a door", [FieldError("device_id", "not a door")]
        )
    if not device.enabled:
        raise ValidationFailed("该门禁已停用", "this door is disabled", [FieldError("device_id", "disabled")])


def list_commands(
    session: Session, *, site_ids: Sequence[str] | None, limit: int = 50
) -> list[DoorCommandRecord]:
    """The most recent commands, newest first; ``site_ids`` None means every site (admin)."""
    query = select(DoorCommandRecord).order_by(DoorCommandRecord.issued_at.desc()).limit(limit)
    if site_ids is not None:
        query = query.where(DoorCommandRecord.site_id.in_(list(site_ids)))
    return list(session.scalars(query))


def effective_status(rec: DoorCommandRecord, now: datetime) -> str:
    """``expired`` for a sent command the door never confirmed before it expired (the edge ignores
    late commands, or it was offline); otherwise the stored status."""
    if rec.status == "sent" and now > rec.expires_at:
        return "expired"
    return rec.status


def mark_executed(session: Session, events: Sequence[Event], now: datetime) -> int:
    """Mark the commands whose door events (with ``command_id``) arrived as executed (not committed).

    A command is matched on id, site and door so that a node cannot confirm another site's command.
    Returns how many commands changed.
    """
    changed = 0
    for event in events:
        if not isinstance(event, DoorStateEvent) or event.command_id is None:
            continue
        rec = session.get(DoorCommandRecord, str(event.command_id))
        if rec is None or rec.site_id != event.site_id or rec.door_code != event.door_id:
            log.warning("door event %s names unknown command %s", event.event_id, event.command_id)
            continue
        if rec.status == "executed":
            continue
        rec.status = "executed"
        rec.executed_at = event.captured_at
        rec.door_state = event.state.value
        rec.error = ""
        rec.updated_at = now
        changed += 1
    return changed
