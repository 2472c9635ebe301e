"""Event records: search (paginated), a person's trajectory, device status."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from central.deps import ClockDep, ReasonDep, SessionDep, actor_of, ensure_site_access, require_roles
from central.models.users import User
from central.schemas import ApiModel
from central.security import ADMIN, GRID_WORKER, GUARD, POLICE, PROPERTY_MANAGER
from central.services import audit
from central.services import events as event_service

router = APIRouter(tags=["events"])

Viewer = Annotated[User, Depends(require_roles(PROPERTY_MANAGER, GUARD, POLICE, GRID_WORKER))]


class RecordOut(ApiModel):
    event_id: str
    site_id: str
    node_id: str
    kind: str
    severity: str
    captured_at: datetime
    camera_id: str | None
    door_id: str | None
    zone_id: str | None
    ring: int | None
    direction: str | None
    person_id: str | None
    person_kind: str | None
    plate: str | None
    score: float | None
    detail: dict[str, object]


class RecordPage(ApiModel):
    items: list[RecordOut]
    next_cursor: str | None


class StatusOut(ApiModel):
    device_type: str
    device_code: str
    node_id: str
    status: str
    changed_at: datetime
    last_seen_at: datetime
    detail: dict[str, object]


def _sites(user: User, site_id: str | None) -> list[str]:
    if site_id is not None:
        ensure_site_access(user, site_id)
        return [site_id]
    return [] if user.role == ADMIN else user.site_ids


@router.get("/events", response_model=RecordPage)
def search_events(
    *,
    session: SessionDep,
    clock: ClockDep,
    user: Viewer,
    reason: ReasonDep,
    site_id: str | None = Query(None, description="required for admin"),
    person_id: str | None = Query(None, max_length=64),
    camera_id: str | None = Query(None, max_length=64),
    zone_id: str | None = Query(None, max_length=64),
    kind: list[str] = Query(default_factory=list),
    ring: int | None = Query(None, ge=1, le=4),
    direction: str | None = Query(None, pattern="^(in|out|unknown)$"),
    plate: str | None = Query(None, max_length=16),
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = Query(50, ge=1, le=500),
    cursor: str | None = Query(None, max_length=200),
) -> RecordPage:
    q = event_service.EventQuery(
        site_ids=_sites(user, site_id),
        person_id=person_id,
        camera_id=camera_id,
        zone_id=zone_id,
        kinds=tuple(kind),
        ring=ring,
        direction=direction,
        plate=plate,
        since=since,
        until=until,
        limit=limit,
        cursor=cursor,
    )
    page = event_service.search(session, q)
    if person_id or plate:
        # looking up one person's or one car's movements is a view of personal data
        audit.record(
            session,
            actor=actor_of(user),
            action="view",
            object_type="event_records",
            object_id=person_id or plate or "",
            site_id=site_id,
            reason=reason,
            detail={"count": len(page.items)},
            now=clock.now(),
        )
        session.commit()
    return RecordPage(items=[RecordOut.model_validate(r) for r in page.items], next_cursor=page.next_cursor)


@router.get("/device-status", response_model=list[StatusOut])
def device_status(*, site_id: str, session: SessionDep, user: Viewer) -> list[StatusOut]:
    ensure_site_access(user, site_id)
    return [StatusOut.model_validate(s) for s in event_service.device_statuses(session, site_id)]


@router.get("/events/trajectory", response_model=list[RecordOut])
def person_trajectory(
    *,
    site_id: str,
    person_id: str = Query(max_length=64),
    since: datetime,
    until: datetime,
    session: SessionDep,
    clock: ClockDep,
    user: Viewer,
    reason: ReasonDep,
) -> list[RecordOut]:
    """A person's sightings across cameras and rings, oldest first."""
    ensure_site_access(user, site_id)
    rows = event_service.trajectory(session, [site_id], person_id, since, until)
    audit.record(
        session,
        actor=actor_of(user),
        action="view",
        object_type="trajectory",
        object_id=person_id,
        site_id=site_id,
        reason=reason,
        detail={"count": len(rows)},
        now=clock.now(),
    )
    session.commit()
    return [RecordOut.model_validate(r) for r in rows]
