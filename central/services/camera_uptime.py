"""Camera uptime: the status history ingest keeps, and online time per camera per hour or day.

:func:`record_camera_status` stores each ``camera_status`` event (the edge publishes one per state
change) in :class:`~central.models.camera_history.CameraStatusChange`, skipping event ids already
kept, so replays and late arrivals are harmless. :func:`uptime` turns the history into per-bucket
figures: a camera's status holds from one report to the next; ``known_s`` is the time with a known
status in the bucket, ``online_s`` the part of it spent ``online``, and ``uptime`` their ratio
(``None`` where nothing is known). Time after ``now`` is not counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from central.errors import FieldError, ValidationFailed
from central.models.camera_history import CameraStatusChange
from contracts import CameraStatusEvent, Event

BUCKETS = {"hour": timedelta(hours=1), "day": timedelta(days=1)}
MAX_BUCKETS = 1500  # e.g. 62 days by hour, four years by day


def record_camera_status(session: Session, events: list[Event]) -> int:
    """Keep the camera status events of a batch (flushed, not committed); returns rows added."""
    found = [e for e in events if isinstance(e, CameraStatusEvent)]
    if not found:
        return 0
    ids = [str(e.event_id) for e in found]
    known = set(
        session.scalars(select(CameraStatusChange.event_id).where(CameraStatusChange.event_id.in_(ids)))
    )
    added = 0
    for event in found:
        eid = str(event.event_id)
        if eid in known:
            continue
        known.add(eid)
        session.add(
            CameraStatusChange(
                event_id=eid,
                site_id=event.site_id,
                camera_id=event.camera_id,
                node_id=event.node_id,
                status=event.status,
                at=event.captured_at,
            )
        )
        added += 1
    session.flush()
    return added


class _Row(NamedTuple):
    camera_id: str
    node_id: str
    status: str
    at: datetime
    id: int


@dataclass
class Bucket:
    start: datetime
    online_s: float = 0.0
    known_s: float = 0.0

    @property
    def uptime(self) -> float | None:
        return round(self.online_s / self.known_s, 4) if self.known_s > 0 else None


@dataclass
class CameraUptime:
    camera_id: str
    node_id: str
    status: str  # the last status reported before ``until`` (or ``unknown``)
    changes: int  # status reports inside the window
    buckets: list[Bucket] = field(default_factory=list)

    @property
    def online_s(self) -> float:
        return sum(b.online_s for b in self.buckets)

    @property
    def known_s(self) -> float:
        return sum(b.known_s for b in self.buckets)

    @property
    def uptime(self) -> float | None:
        known = self.known_s
        return round(self.online_s / known, 4) if known > 0 else None


@dataclass
class UptimeReport:
    site_id: str
    bucket: str
    since: datetime
    until: datetime
    cameras: list[CameraUptime]
    overall: list[Bucket]

    @property
    def uptime(self) -> float | None:
        known = sum(b.known_s for b in self.overall)
        return round(sum(b.online_s for b in self.overall) / known, 4) if known > 0 else None


def _check(since: datetime, until: datetime, bucket: str) -> timedelta:
    problems = []
    if bucket not in BUCKETS:
        problems.append(FieldError("bucket", "hour 或 day / hour or day"))
    if since.tzinfo is None or until.tzinfo is None:
        problems.append(FieldError("since", "时间必须带时区 / timezone required"))
    elif until <= since:
        problems.append(FieldError("until", "结束时间必须晚于开始时间 / must be after since"))
    elif bucket in BUCKETS and (until - since) / BUCKETS[bucket] > MAX_BUCKETS:
        problems.append(FieldError("until", f"最多 {MAX_BUCKETS} 个时间段 / at most {MAX_BUCKETS} buckets"))
    if problems:
        raise ValidationFailed("统计时间段无效", "invalid uptime window", problems)
    return BUCKETS[bucket]


def uptime(
    session: Session,
    site_id: str,
    since: datetime,
    until: datetime,
    *,
    bucket: str,
    now: datetime,
    camera_ids: list[str] | None = None,
) -> UptimeReport:
    """Uptime per camera and for the whole site in buckets of ``bucket`` starting at ``since``."""
    step = _check(since, until, bucket)
    starts = []
    at = since
    while at < until:
        starts.append(at)
        at += step
    scope = [CameraStatusChange.site_id == site_id]
    if camera_ids:
        scope.append(CameraStatusChange.camera_id.in_(camera_ids))
    # the status each camera had when the window opened: its last report before ``since``
    last_before = (
        select(CameraStatusChange.camera_id, func.max(CameraStatusChange.at).label("at"))
        .where(*scope, CameraStatusChange.at < since)
        .group_by(CameraStatusChange.camera_id)
        .subquery()
    )
    # plain rows, not ORM objects: a month of history for a site is tens of thousands of rows
    cols = (
        CameraStatusChange.camera_id,
        CameraStatusChange.node_id,
        CameraStatusChange.status,
        CameraStatusChange.at,
        CameraStatusChange.id,
    )
    opening = session.execute(
        select(*cols)
        .join(
            last_before,
            (CameraStatusChange.camera_id == last_before.c.camera_id)
            & (CameraStatusChange.at == last_before.c.at),
        )
        .where(*scope)
    ).all()
    inside = session.execute(
        select(*cols)
        .where(*scope, CameraStatusChange.at >= since, CameraStatusChange.at < until)
        .order_by(CameraStatusChange.at, CameraStatusChange.id)
    ).all()
    timeline: dict[str, list[_Row]] = {}
    for row in sorted(opening, key=lambda r: (r.at, r.id)):
        timeline[row.camera_id] = [_Row(*row)]  # ties at the same instant: the later report wins
    changes: dict[str, int] = {}
    for row in inside:
        timeline.setdefault(row.camera_id, []).append(_Row(*row))
        changes[row.camera_id] = changes.get(row.camera_id, 0) + 1
    end = min(until, max(now, since))
    overall = [Bucket(s) for s in starts]
    cameras = []
    for camera_id in sorted(timeline):
        rows = timeline[camera_id]
        cam = CameraUptime(
            camera_id=camera_id,
            node_id=rows[-1].node_id,
            status=rows[-1].status,
            changes=changes.get(camera_id, 0),
            buckets=[Bucket(s) for s in starts],
        )
        for i, seg in enumerate(rows):
            seg_start = max(seg.at, since)
            seg_end = min(rows[i + 1].at if i + 1 < len(rows) else end, end)
            if seg_end <= seg_start:
                continue
            first = int((seg_start - since) / step)
            for k in range(first, len(starts)):
                b_start = starts[k]
                b_end = min(b_start + step, until)
                if b_start >= seg_end:
                    break
                secs = (min(seg_end, b_end) - max(seg_start, b_start)).total_seconds()
                if secs <= 0:
                    continue
                cam.buckets[k].known_s += secs
                overall[k].known_s += secs
                if seg.status == "online":
                    cam.buckets[k].online_s += secs
                    overall[k].online_s += secs
        cameras.append(cam)
    return UptimeReport(site_id, bucket, since, until, cameras, overall)
