"""Remote door open (audited) and the list of recent door commands with their status."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import Field

from central.deps import ClockDep, SessionDep, actor_of, ensure_site_access, require_roles
from central.models.doors import DoorCommandRecord
from central.models.users import User
from central.schemas import ApiModel
from central.security import ADMIN, GUARD, PROPERTY_MANAGER
from central.services import doors as door_service

router = APIRouter(prefix="/doors", tags=["doors"])

Operator = Annotated[User, Depends(require_roles(GUARD, PROPERTY_MANAGER))]


class OpenDoorIn(ApiModel):
    reason: str = Field(min_length=1, max_length=door_service.MAX_REASON, description="why (audited)")


class DoorCommandOut(ApiModel):
    id: str
    site_id: str
    device_id: str | None
    door_code: str
    node_id: str
    action: str
    requested_by: str
    reason: str
    issued_at: datetime
    expires_at: datetime
    status: str
    error: str
    executed_at: datetime | None
    door_state: str | None


def _sender(request: Request) -> door_service.DoorCommandSender | None:
    link: Any = request.app.state.services.extras.get("gateway_link")
    return getattr(link, "publisher", None) if link is not None else None


@router.post("/{device_id}/open", response_model=DoorCommandOut, status_code=202)
def open_door(
    *,
    device_id: str,
    body: OpenDoorIn,
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    user: Operator,
) -> DoorCommandRecord:
    """Send a signed "open" command to the door's edge node; 202 once the broker has it,
    503 when there is no link to the edge (the attempt is still audited and listed)."""
    device = door_service.door_device(session, device_id)
    ensure_site_access(user, device.site_id)
    return door_service.open_door(
        session,
        device=device,
        actor=actor_of(user),
        reason=body.reason,
        sender=_sender(request),
        now=clock.now(),
    )


@router.get("/commands", response_model=list[DoorCommandOut])
def list_commands(
    *,
    session: SessionDep,
    clock: ClockDep,
    user: Operator,
    site_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[DoorCommandOut]:
    """Recent commands, newest first; ``status`` is pending/sent/executed/failed or expired
    (sent but never confirmed by the door before it expired)."""
    if site_id is not None:
        ensure_site_access(user, site_id)
        site_ids: list[str] | None = [site_id]
    else:
        site_ids = None if user.role == ADMIN else list(user.site_ids)
    now = clock.now()
    out = []
    for rec in door_service.list_commands(session, site_ids=site_ids, limit=limit):
        item = DoorCommandOut.model_validate(rec)
        item.status = door_service.effective_status(rec, now)
        out.append(item)
    return out
