"""Camera uptime per hour or day from the camera status history (``GET /camera-uptime``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query

from central.deps import ClockDep, SessionDep, ensure_site_access, require_roles
from central.models.users import User
from central.schemas import ApiModel
from central.security import GRID_WORKER, GUARD, POLICE, PROPERTY_MANAGER
from central.services import camera_uptime as service

router = APIRouter(tags=["cameras"])

# the same roles that read device status
Viewer = Annotated[User, Depends(require_roles(PROPERTY_MANAGER, GUARD, POLICE, GRID_WORKER))]


class BucketOut(ApiModel):
    start: datetime
    online_s: float
    known_s: float
    uptime: float | None


class CameraOut(ApiModel):
    camera_id: str
    node_id: str
    status: str
    changes: int
    online_s: float
    known_s: float
    uptime: float | None
    buckets: list[BucketOut]


class UptimeOut(ApiModel):
    site_id: str
    bucket: str
    since: datetime
    until: datetime
    uptime: float | None
    overall: list[BucketOut]
    cameras: list[CameraOut]


def _bucket(b: service.Bucket) -> BucketOut:
    return BucketOut(
        start=b.start, online_s=round(b.online_s, 1), known_s=round(b.known_s, 1), uptime=b.uptime
    )


@router.get("/camera-uptime", response_model=UptimeOut)
def camera_uptime(
    *,
    site_id: str,
    since: datetime,
    until: datetime,
    bucket: Literal["hour", "day"] = "hour",
    camera_id: Annotated[list[str] | None, Query(max_length=64)] = None,
    session: SessionDep,
    clock: ClockDep,
    user: Viewer,
) -> UptimeOut:
    ensure_site_access(user, site_id)
    report = service.uptime(
        session, site_id, since, until, bucket=bucket, now=clock.now(), camera_ids=camera_id or None
    )
    return UptimeOut(
        site_id=report.site_id,
        bucket=report.bucket,
        since=report.since,
        until=report.until,
        uptime=report.uptime,
        overall=[_bucket(b) for b in report.overall],
        cameras=[
            CameraOut(
                camera_id=c.camera_id,
                node_id=c.node_id,
                status=c.status,
                changes=c.changes,
                online_s=round(c.online_s, 1),
                known_s=round(c.known_s, 1),
                uptime=c.uptime,
                buckets=[_bucket(b) for b in c.buckets],
            )
            for c in report.cameras
        ],
    )
