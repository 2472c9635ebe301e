"""Event records, presence and device status, built from the gateway's raw events.

:class:`EventRecord` is the searchable, denormalised index of every event a site
produced (in/out records are the ``pass`` rows with a direction); a person's
trajectory is their records in time order. :class:`PersonPresence` keeps the
last sighting per person (for 长时间不出现); :class:`DeviceStatus` the last known
state of each node, camera and door. Integer keys keep the big table compact.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Float, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from central.db import Base, UTCDateTime

BigId = BigInteger().with_variant(Integer(), "sqlite")


class EventRecord(Base):
    __tablename__ = "event_records"
    __table_args__ = (
        Index("ix_event_records_site_time", "site_id", "captured_at", "id"),
        Index("ix_event_records_person", "site_id", "person_id", "captured_at", "id"),
        Index("ix_event_records_camera", "site_id", "camera_id", "captured_at", "id"),
        Index("ix_event_records_zone", "site_id", "zone_id", "captured_at", "id"),
        Index("ix_event_records_kind", "site_id", "kind", "captured_at", "id"),
        Index("ix_event_records_ring", "site_id", "ring", "captured_at", "id"),
        Index("ix_event_records_plate", "site_id", "plate", "captured_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(String(36), nullable=False, unique=True)
    site_id: Mapped[str] = mapped_column(String(64), nullable=False)
    node_id: Mapped[str] = mapped_column(String(64), nullable=False)
    kind: Mapped[str] = mapped_column(String(24), nullable=False)
    severity: Mapped[str] = mapped_column(String(12), nullable=False, default="info")
    captured_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    camera_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    door_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    zone_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    ring: Mapped[int | None] = mapped_column(Integer, nullable=True)
    direction: Mapped[str | None] = mapped_column(String(8), nullable=True)
    person_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    person_kind: Mapped[str | None] = mapped_column(String(16), nullable=True)
    plate: Mapped[str | None] = mapped_column(String(16), nullable=True)
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    detail: Mapped[dict[str, object]] = mapped_column(JSON, nullable=False, default=dict)


class PersonPresence(Base):
    """Last sighting of a person on a site (any camera), and whether they were last seen going in."""

    __tablename__ = "person_presence"

    site_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    last_camera_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    last_zone_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    last_ring: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_direction: Mapped[str | None] = mapped_column(String(8), nullable=True)


class DeviceStatus(Base):
    """Last known state of a node, camera or door."""

    __tablename__ = "device_status"
    __table_args__ = (UniqueConstraint("site_id", "device_type", "device_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    device_type: Mapped[str] = mapped_column(String(8), nullable=False)  # node | camera | door
    device_code: Mapped[str] = mapped_column(String(64), nullable=False)
    node_id: Mapped[str] = mapped_column(String(64), nullable=False)
    status: Mapped[str] = mapped_column(String(24), nullable=False)
    detail: Mapped[dict[str, object]] = mapped_column(JSON, nullable=False, default=dict)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
