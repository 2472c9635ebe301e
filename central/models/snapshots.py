"""Alert snapshots: the JPEG an edge attached to an event, kept as evidence for guards.

Edges attach a snapshot only where the site's privacy policy names the event kind
(tailgating, watchlist hit, liveness failure, stranger). One row per event, keyed by
the event id, so an alert reaches its pictures through ``Alert.event_ids``. The site id
is a plain string like ``event_records.site_id``: ingest must not fail on an unknown site.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from central.db import Base, UTCDateTime


class EventSnapshot(Base):
    __tablename__ = "event_snapshots"
    __table_args__ = (Index("ix_event_snapshots_captured_at", "captured_at"),)

    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    site_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    captured_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    content_type: Mapped[str] = mapped_column(String(32), nullable=False, default="image/jpeg")
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    data: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
