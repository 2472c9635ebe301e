"""Alert snapshots: store the JPEG an event carries, find an alert's newest one, purge old ones.

Ingest calls :func:`store_snapshots` in its own transaction with the records it just inserted,
so a re-delivered or caught-up event never stores its picture twice. Viewing a snapshot is
biometric data access: the router audits it.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from central.models.snapshots import EventSnapshot
from central.services.notify import AlertMessage
from contracts import Event, LivenessFailureEvent, StrangerEvent, TailgatingEvent, WatchlistHitEvent

_WITH_SNAPSHOT = (TailgatingEvent, WatchlistHitEvent, LivenessFailureEvent, StrangerEvent)


def store_snapshots(session: Session, events: list[Event], recorded: set[str]) -> int:
    """Add a row for each event in ``recorded`` (newly recorded ids) that carries a snapshot
    (flushed, not committed); returns how many."""
    rows: dict[str, EventSnapshot] = {}
    for event in events:
        event_id = str(event.event_id)
        if not isinstance(event, _WITH_SNAPSHOT) or event.snapshot is None or event_id not in recorded:
            continue
        data = event.snapshot.jpeg()
        rows[event_id] = EventSnapshot(
            event_id=event_id,
            site_id=event.site_id,
            captured_at=event.captured_at,
            content_type=event.snapshot.content_type,
            size=len(data),
            data=data,
        )
    if not rows:
        return 0
    present = set(session.scalars(select(EventSnapshot.event_id).where(EventSnapshot.event_id.in_(rows))))
    fresh = [row for key, row in rows.items() if key not in present]
    session.add_all(fresh)
    session.flush()
    return len(fresh)


def with_snapshot(session: Session, event_ids: list[str]) -> set[str]:
    """Which of these event ids have a stored snapshot."""
    if not event_ids:
        return set()
    return set(
        session.scalars(select(EventSnapshot.event_id).where(EventSnapshot.event_id.in_(set(event_ids))))
    )


def mark_snapshots(session: Session, messages: list[AlertMessage]) -> list[AlertMessage]:
    """The messages with ``has_snapshot`` set, so that a console pop-up can show the picture."""
    have = with_snapshot(session, [eid for m in messages for eid in m.event_ids])
    return [
        m.model_copy(update={"has_snapshot": True}) if have.intersection(m.event_ids) else m for m in messages
    ]


def newest_for(session: Session, event_ids: list[str]) -> EventSnapshot | None:
    """The newest stored snapshot among an alert's events, or None."""
    if not event_ids:
        return None
    return session.scalars(
        select(EventSnapshot)
        .where(EventSnapshot.event_id.in_(set(event_ids)))
        .order_by(EventSnapshot.captured_at.desc(), EventSnapshot.event_id.desc())
        .limit(1)
    ).first()


def purge_snapshots(session: Session, days: int, now: datetime, batch: int) -> int:
    """Delete snapshots captured more than ``days`` ago, in batches. Commits; returns rows deleted."""
    cutoff = now - timedelta(days=days)
    total = 0
    while True:
        chunk = list(
            session.scalars(
                select(EventSnapshot.event_id).where(EventSnapshot.captured_at < cutoff).limit(batch)
            )
        )
        if not chunk:
            return total
        session.execute(delete(EventSnapshot).where(EventSnapshot.event_id.in_(chunk)))
        session.commit()
        total += len(chunk)
