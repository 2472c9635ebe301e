"""Camera status history: every status a camera reported (or was given when its node went away).

The edge publishes ``camera_status`` events on each state change; ingest keeps them here (one row
per event, de-duplicated by event id) so uptime per hour/day can be computed for any window,
independently of how long the raw event records are kept (``retention.camera_status_days``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from central.db import Base, UTCDateTime


class CameraStatusChange(Base):
    __tablename__ = "camera_status_history"
    __table_args__ = (Index("ix_camera_status_history_camera", "site_id", "camera_id", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(40), nullable=False, unique=True)
    site_id: Mapped[str] = mapped_column(String(64), nullable=False)
    camera_id: Mapped[str] = mapped_column(String(64), nullable=False)
    node_id: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)  # online|offline|reconnecting|stalled
    at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
