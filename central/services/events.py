"""Event records: building them from gateway events, presence, device status, search.

``record_events`` turns newly inserted gateway events into :class:`EventRecord`
rows (the searchable index, in/out records and trajectories), keeps the last
sighting per person and the last state per node/camera/door. ``search`` pages
through records newest first with a keyset cursor so page 1,000 costs what
page 1 costs.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, insert, literal, select, tuple_, update
from sqlalchemy.orm import Session

from central.db import UTCDateTime
from central.errors import ValidationFailed
from central.models.events import DeviceStatus, EventRecord, PersonPresence
from contracts import (
    CameraStatusEvent,
    DoorStateEvent,
    Event,
    HeartbeatEvent,
    LivenessFailureEvent,
    OutboxOverflowEvent,
    PassEvent,
    StrangerEvent,
    TailgatingEvent,
    VehiclePlateEvent,
    WatchlistHitEvent,
)

MAX_PAGE = 500


def _detail(event: Event) -> dict[str, object]:
    if isinstance(event, PassEvent):
        return {"credential": event.credential.value, "pass_id": event.pass_id, "track_id": event.track_id}
    if isinstance(event, StrangerEvent):
        return {
            "track_id": event.track_id,
            "quality": event.quality,
            "has_snapshot": event.snapshot is not None,
        }
    if isinstance(event, WatchlistHitEvent):
        return {"category": event.category, "has_snapshot": event.snapshot is not None}
    if isinstance(event, TailgatingEvent):
        return {"authorised": event.authorised, "counted": event.counted, "person_ids": event.person_ids}
    if isinstance(event, LivenessFailureEvent):
        return {"threshold": event.threshold, "claimed_person_id": event.claimed_person_id}
    if isinstance(event, DoorStateEvent):
        return {"state": event.state.value, "reason": event.reason}
    if isinstance(event, CameraStatusEvent):
        return {"status": event.status, "fps": event.fps, "detail": event.detail}
    if isinstance(event, HeartbeatEvent):
        return {
            "online": event.online,
            "whitelist_version": event.whitelist_version,
            "outbox_depth": event.outbox_depth,
            "cameras_online": event.cameras_online,
            "cameras_total": event.cameras_total,
        }
    if isinstance(event, VehiclePlateEvent):
        return {"confidence": event.confidence, "plate_color": event.plate_color}
    if isinstance(event, OutboxOverflowEvent):
        return {"dropped": event.dropped}
    return {}


@dataclass(slots=True)
class RecordData:
    """One ``event_records`` row as plain data: what ingest inserts and the alert rules read.

    (Building ORM objects cost more than the database on this path.)
    """

    event_id: str
    site_id: str
    node_id: str
    kind: str
    severity: str
    captured_at: datetime
    received_at: datetime
    detail: dict[str, object]
    camera_id: str | None = None
    door_id: str | None = None
    zone_id: str | None = None
    ring: int | None = None
    direction: str | None = None
    person_id: str | None = None
    person_kind: str | None = None
    plate: str | None = None
    score: float | None = None


def record_of(event: Event, received_at: datetime) -> RecordData:
    """The index row of one event."""
    rec = RecordData(
        event_id=str(event.event_id),
        site_id=event.site_id,
        node_id=event.node_id,
        kind=event.kind,
        severity=event.severity.value,
        captured_at=event.captured_at,
        received_at=received_at,
        detail=_detail(event),
    )
    if isinstance(
        event, PassEvent | StrangerEvent | WatchlistHitEvent | TailgatingEvent | LivenessFailureEvent
    ):
        rec.camera_id = event.camera_id
        rec.zone_id = event.zone_id
        rec.ring = event.ring
        rec.direction = event.direction.value
    if isinstance(event, PassEvent):
        rec.person_id = event.person_id
        rec.person_kind = event.person_kind.value
        rec.door_id = event.door_id
        rec.score = event.score
    elif isinstance(event, WatchlistHitEvent):
        rec.person_id = event.person_id
        rec.person_kind = "watchlist"
        rec.score = event.score
    elif isinstance(event, StrangerEvent):
        rec.score = event.best_score
    elif isinstance(event, TailgatingEvent):
        rec.door_id = event.door_id
    elif isinstance(event, LivenessFailureEvent):
        rec.person_id = event.claimed_person_id
        rec.score = event.score
    elif isinstance(event, DoorStateEvent):
        rec.door_id = event.door_id
    elif isinstance(event, CameraStatusEvent):
        rec.camera_id = event.camera_id
    elif isinstance(event, VehiclePlateEvent):
        rec.camera_id = event.camera_id
        rec.plate = normalise_plate(event.plate)
        rec.direction = event.direction.value
    return rec


def normalise_plate(plate: str) -> str:
    """Plates compare without spaces, dots or dashes and in upper case (京A·12345 → 京A12345)."""
    return "".join(ch for ch in plate.upper() if ch not in " ·.-_")


_ROW_FIELDS = (
    "event_id",
    "site_id",
    "node_id",
    "kind",
    "severity",
    "captured_at",
    "received_at",
    "camera_id",
    "door_id",
    "zone_id",
    "ring",
    "direction",
    "person_id",
    "person_kind",
    "plate",
    "score",
    "detail",
)


def _row(rec: RecordData) -> dict[str, object]:
    return {name: getattr(rec, name) for name in _ROW_FIELDS}


def record_events(session: Session, events: list[Event], received_at: datetime) -> list[RecordData]:
    """Insert the index rows of ``events`` (skipping ids already recorded) and update presence/status.

    Returns the inserted rows as :class:`RecordData`.
    """
    if not events:
        return []
    ids = [str(e.event_id) for e in events]
    known: set[str] = set()
    for start in range(0, len(ids), 900):
        chunk = ids[start : start + 900]
        known.update(session.scalars(select(EventRecord.event_id).where(EventRecord.event_id.in_(chunk))))
    fresh: list[tuple[Event, RecordData]] = []
    for event in events:
        eid = str(event.event_id)
        if eid in known:
            continue
        known.add(eid)
        fresh.append((event, record_of(event, received_at)))
    if fresh:
        # Core bulk insert: the ORM unit of work costs more than the database on this hot path.
        session.execute(insert(EventRecord), [_row(rec) for _, rec in fresh])
    _update_presence(session, [e for e, _ in fresh])
    _update_status(session, [e for e, _ in fresh], received_at)
    session.flush()
    return [rec for _, rec in fresh]


def _update_presence(session: Session, events: list[Event]) -> None:
    latest: dict[tuple[str, str], PassEvent] = {}
    for event in events:
        if isinstance(event, PassEvent):
            key = (event.site_id, event.person_id)
            if key not in latest or latest[key].captured_at < event.captured_at:
                latest[key] = event
    if not latest:
        return
    by_site: dict[str, list[str]] = {}
    for site_id, person_id in latest:
        by_site.setdefault(site_id, []).append(person_id)
    existing: dict[tuple[str, str], datetime] = {}
    for site_id, persons in by_site.items():
        for start in range(0, len(persons), 900):
            rows = session.execute(
                select(PersonPresence.site_id, PersonPresence.person_id, PersonPresence.last_seen_at).where(
                    PersonPresence.site_id == site_id,
                    PersonPresence.person_id.in_(persons[start : start + 900]),
                )
            )
            existing.update({(r[0], r[1]): r[2] for r in rows})
    inserts: list[dict[str, object]] = []
    updates: list[dict[str, object]] = []
    for key, event in latest.items():
        row: dict[str, object] = {
            "site_id": key[0],
            "person_id": key[1],
            "last_seen_at": event.captured_at,
            "last_camera_id": event.camera_id,
            "last_zone_id": event.zone_id,
            "last_ring": event.ring,
            "last_direction": event.direction.value,
        }
        seen = existing.get(key)
        if seen is None:
            inserts.append(row)
        elif seen < event.captured_at:  # an older event arriving late never moves presence back
            updates.append(row)
    # bulk statements: one INSERT and one UPDATE-by-primary-key per batch
    if inserts:
        session.execute(insert(PersonPresence), inserts)
    if updates:
        session.execute(update(PersonPresence), updates)


def _status_of(event: Event) -> tuple[str, str, str] | None:
    if isinstance(event, HeartbeatEvent):
        return ("node", event.node_id, "online" if event.online else "offline")
    if isinstance(event, CameraStatusEvent):
        return ("camera", event.camera_id, event.status)
    if isinstance(event, DoorStateEvent):
        return ("door", event.door_id, event.state.value)
    return None


def _update_status(session: Session, events: list[Event], received_at: datetime) -> None:
    for event in sorted(events, key=lambda e: e.captured_at):
        found = _status_of(event)
        if found is None:
            continue
        device_type, code, status = found
        row = session.scalars(
            select(DeviceStatus).where(
                DeviceStatus.site_id == event.site_id,
                DeviceStatus.device_type == device_type,
                DeviceStatus.device_code == code,
            )
        ).first()
        if row is None:
            row = DeviceStatus(
                site_id=event.site_id,
                device_type=device_type,
                device_code=code,
                node_id=event.node_id,
                status=status,
                detail=_detail(event),
                changed_at=event.captured_at,
                last_seen_at=event.captured_at,
            )
            session.add(row)
            session.flush()
            continue
        if row.last_seen_at > event.captured_at:
            continue
        if row.status != status:
            row.changed_at = event.captured_at
        row.status = status
        row.detail = _detail(event)
        row.node_id = event.node_id
        row.last_seen_at = event.captured_at


# ---------------------------------------------------------------- search


@dataclass(frozen=True)
class EventQuery:
    site_ids: list[str]
    person_id: str | None = None
    camera_id: str | None = None
    zone_id: str | None = None
    kinds: tuple[str, ...] = ()
    ring: int | None = None
    direction: str | None = None
    plate: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 50
    cursor: str | None = None


@dataclass(frozen=True)
class EventPage:
    items: list[EventRecord]
    next_cursor: str | None


def encode_cursor(rec: EventRecord) -> str:
    return base64.urlsafe_b64encode(f"{rec.captured_at.isoformat()}|{rec.id}".encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
        stamp, rid = text.rsplit("|", 1)
        when = datetime.fromisoformat(stamp)
        if when.tzinfo is None:
            raise ValueError("naive")
        return when, int(rid)
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise ValidationFailed("分页游标无效", "invalid page cursor") from exc


def build_query(q: EventQuery) -> Select[EventRecord]:
    stmt = select(EventRecord).where(EventRecord.site_id.in_(q.site_ids))
    if q.person_id:
        stmt = stmt.where(EventRecord.person_id == q.person_id)
    if q.camera_id:
        stmt = stmt.where(EventRecord.camera_id == q.camera_id)
    if q.zone_id:
        stmt = stmt.where(EventRecord.zone_id == q.zone_id)
    if q.kinds:
        stmt = stmt.where(EventRecord.kind.in_(q.kinds))
    if q.ring is not None:
        stmt = stmt.where(EventRecord.ring == q.ring)
    if q.direction:
        stmt = stmt.where(EventRecord.direction == q.direction)
    if q.plate:
        stmt = stmt.where(EventRecord.plate == normalise_plate(q.plate))
    if q.since is not None:
        stmt = stmt.where(EventRecord.captured_at >= q.since)
    if q.until is not None:
        stmt = stmt.where(EventRecord.captured_at < q.until)
    if q.cursor:
        when, rid = decode_cursor(q.cursor)
        # a row-value comparison lets both databases walk the (…, captured_at, id) index backwards
        stmt = stmt.where(
            tuple_(EventRecord.captured_at, EventRecord.id) < tuple_(literal(when, UTCDateTime()), rid)
        )
    return stmt.order_by(EventRecord.captured_at.desc(), EventRecord.id.desc())


def search(session: Session, q: EventQuery) -> EventPage:
    """One page of records matching ``q``, newest first."""
    if not q.site_ids:
        return EventPage([], None)
    if q.since and q.until and q.until <= q.since:
        raise ValidationFailed("结束时间必须晚于开始时间", "until must be after since")
    limit = max(1, min(MAX_PAGE, q.limit))
    rows = list(session.scalars(build_query(q).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return EventPage(rows, encode_cursor(rows[-1]) if more and rows else None)


def trajectory(
    session: Session, site_ids: list[str], person_id: str, since: datetime, until: datetime, limit: int = 1000
) -> list[EventRecord]:
    """A person's sightings across cameras and rings in time order (oldest first)."""
    stmt = (
        select(EventRecord)
        .where(
            EventRecord.site_id.in_(site_ids),
            EventRecord.person_id == person_id,
            EventRecord.captured_at >= since,
            EventRecord.captured_at < until,
        )
        .order_by(EventRecord.captured_at, EventRecord.id)
        .limit(max(1, min(10_000, limit)))
    )
    return list(session.scalars(stmt))


def device_statuses(session: Session, site_id: str) -> list[DeviceStatus]:
    return list(
        session.scalars(
            select(DeviceStatus)
            .where(DeviceStatus.site_id == site_id)
            .order_by(DeviceStatus.device_type, DeviceStatus.device_code)
        )
    )
