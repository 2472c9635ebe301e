"""Zones and devices: site → rings → grids (网格) → cameras and doors.

A site's control rings are 1 (community gates), 2 (inner compound gates and
roads), 3 (building/unit doors and shops) and 4 (household level, the rental
QR). Each :class:`Zone` is one grid (网格) on one ring; cameras, doors and LPR
cameras (:class:`Device`) sit in a zone, face a direction and belong to an edge
node. :class:`AccessRule` rows say which person group, household, building or
person may pass in which zones/rings when; they are compiled into whitelists.
"""

from __future__ import annotations

from datetime import datetime, time

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Time, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from central.db import Base, IdMixin, TimestampMixin, UTCDateTime

RINGS = (1, 2, 3, 4)
ZONE_KINDS = ("gate", "road", "building", "unit", "shop", "household", "parking", "other")
DEVICE_TYPES = ("camera", "door", "lpr")
DEVICE_DIRECTIONS = ("in", "out", "both")


class Zone(IdMixin, TimestampMixin, Base):
    """One grid (网格) on one ring. ``code`` is what events carry as ``zone_id``."""

    __tablename__ = "zones"
    __table_args__ = (UniqueConstraint("site_id", "code"),)

    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(64), nullable=False)
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    ring: Mapped[int] = mapped_column(Integer, nullable=False)
    kind: Mapped[str] = mapped_column(String(16), nullable=False, default="other")
    building_id: Mapped[str | None] = mapped_column(
        ForeignKey("buildings.id", ondelete="SET NULL"), nullable=True
    )
    grid_worker_user_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )


class Device(IdMixin, TimestampMixin, Base):
    """A camera, door or LPR camera. ``code`` is the id edge events carry (camera_id/door_id)."""

    __tablename__ = "devices"
    __table_args__ = (UniqueConstraint("site_id", "code"),)

    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    zone_id: Mapped[str] = mapped_column(ForeignKey("zones.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(64), nullable=False)
    type: Mapped[str] = mapped_column(String(8), nullable=False)
    name: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    direction: Mapped[str] = mapped_column(String(8), nullable=False, default="both")
    node_id: Mapped[str] = mapped_column(String(64), nullable=False)
    # sha256 hex of the device token (LPR cameras posting plate events over HTTP)
    token_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True, unique=True)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)


class AccessRule(IdMixin, TimestampMixin, Base):
    """Who (group/household/building/person) may pass where (zones or rings) and when."""

    __tablename__ = "access_rules"

    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    subject_type: Mapped[str] = mapped_column(String(16), nullable=False)
    subject_value: Mapped[str] = mapped_column(String(64), nullable=False)
    rings: Mapped[list[int]] = mapped_column(JSON, nullable=False, default=lambda: [1, 2, 3])
    zone_codes: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    weekdays: Mapped[list[int]] = mapped_column(JSON, nullable=False, default=lambda: list(range(7)))
    start: Mapped[time] = mapped_column(Time, nullable=False, default=time(0, 0))
    end: Mapped[time] = mapped_column(Time, nullable=False, default=time(23, 59, 59))
    valid_from: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)


class WhitelistVersion(Base):
    """One published whitelist version of a site: a snapshot or a delta (JSON as sent)."""

    __tablename__ = "whitelist_versions"
    __table_args__ = (UniqueConstraint("site_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    type: Mapped[str] = mapped_column(String(8), nullable=False)  # snapshot | delta
    reason: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    payload: Mapped[str] = mapped_column(String, nullable=False)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class WhitelistEntry(Base):
    """The compiled whitelist person as last published (digest) to compute deltas."""

    __tablename__ = "whitelist_entries"

    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    digest: Mapped[str] = mapped_column(String(64), nullable=False)
    payload: Mapped[str] = mapped_column(String, nullable=False)
    valid_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)


class WhitelistChange(Base):
    """A person (or pass) whose whitelist entry must be recompiled: written in the caller's
    transaction (consent withdrawn, enrolment, move-out), consumed by the whitelist worker."""

    __tablename__ = "whitelist_changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    person_id: Mapped[str] = mapped_column(String(64), nullable=False)
    reason: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True, index=True)
