"""Tables of 一标三实 reconciliation.

Biometric data kept here is bounded: a cluster keeps at most ``max_exemplars`` vectors and
one best thumbnail (only when the site policy allows); a sighting keeps its embedding so a
split can reassign it exactly, and sightings are purged after ``sighting_retention_days``.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, Float, ForeignKey, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from central.db import Base, IdMixin, TimestampMixin, UTCDateTime


class FaceCluster(IdMixin, TimestampMixin, Base):
    """One anonymous identity built from stranger tracks."""

    __tablename__ = "recon_clusters"

    site_id: Mapped[str] = mapped_column(String(64), index=True)
    label: Mapped[str] = mapped_column(
        String(16), nullable=False, default=""
    )  # short display id, e.g. "C0042"
    order: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # active | merged | known_visitor | known_worker | confirmed
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="active", index=True)
    merged_into: Mapped[str | None] = mapped_column(String(36), nullable=True)
    dim: Mapped[int] = mapped_column(Integer, nullable=False)
    count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    exemplars: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    vector_sum: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    thumbnail: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    thumbnail_quality: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    person_id: Mapped[str | None] = mapped_column(String(36), nullable=True)  # after a confirm


class Sighting(IdMixin, Base):
    """One stranger track assigned to a cluster."""

    __tablename__ = "recon_sightings"
    __table_args__ = (UniqueConstraint("event_id"),)

    site_id: Mapped[str] = mapped_column(String(64), index=True)
    cluster_id: Mapped[str] = mapped_column(
        ForeignKey("recon_clusters.id", ondelete="CASCADE"), index=True, nullable=False
    )
    event_id: Mapped[str] = mapped_column(String(36), nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, index=True)
    node_id: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    camera_id: Mapped[str] = mapped_column(String(64), nullable=False)
    zone_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    ring: Mapped[int | None] = mapped_column(Integer, nullable=True)
    direction: Mapped[str] = mapped_column(String(8), nullable=False, default="unknown")
    building_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    unit: Mapped[str | None] = mapped_column(String(64), nullable=True)
    quality: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    embedding: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


class ResidentPresence(Base):
    """Per person and local day: whether and when a registered resident was seen."""

    __tablename__ = "recon_presence"

    site_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    person_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    passes: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # Best face-match score of the day (1.0 for QR/PIN/remote passes): a day seen only through
    # weak matches may be someone else matched to this person, so absence scoring ignores it.
    best_score: Mapped[float] = mapped_column(Float, nullable=False, default=1.0)


class ResidentDoorPass(IdMixin, Base):
    """A registered resident's pass at a building door, kept for co-occurrence (purged with sightings)."""

    __tablename__ = "recon_resident_passes"

    site_id: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, index=True)
    camera_id: Mapped[str] = mapped_column(String(64), nullable=False)
    person_id: Mapped[str] = mapped_column(String(64), nullable=False)
    household_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    building_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    unit: Mapped[str | None] = mapped_column(String(64), nullable=True)


class MonitoringState(Base):
    """Per site: when reconciliation started to see its events (absence is measured from here)."""

    __tablename__ = "recon_monitoring"

    site_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    since: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    last_event_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class Candidate(IdMixin, TimestampMixin, Base):
    """An item of the police review queue."""

    __tablename__ = "recon_candidates"

    site_id: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)  # occupant | moved_away
    subject_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)  # cluster or person id
    # open | confirmed | rejected | merged | withdrawn
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="open", index=True)
    score: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    building_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    house_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    household_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    first_flagged_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    decided_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    decision: Mapped[str] = mapped_column(String(32), nullable=False, default="")
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")


class GridTask(IdMixin, TimestampMixin, Base):
    """A grid-worker visit (扫码入户) to a house, closed by scanning the house's QR."""

    __tablename__ = "recon_grid_tasks"

    site_id: Mapped[str] = mapped_column(String(64), index=True)
    house_id: Mapped[str] = mapped_column(String(36), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(
        String(24), nullable=False
    )  # rental_visit | verify_occupant | verify_moved
    status: Mapped[str] = mapped_column(
        String(12), nullable=False, default="open", index=True
    )  # open|done|cancelled
    candidate_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    assignee_user_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    done_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    result: Mapped[str] = mapped_column(Text, nullable=False, default="")


class HouseVisit(IdMixin, Base):
    """A scan of a house's QR on a visit: the proof a grid worker was there."""

    __tablename__ = "recon_house_visits"

    site_id: Mapped[str] = mapped_column(String(64), index=True)
    house_id: Mapped[str] = mapped_column(String(36), nullable=False, index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    user_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    occupants_reported: Mapped[int | None] = mapped_column(Integer, nullable=True)
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")


class PlatformImport(IdMixin, Base):
    """One import of the police platform's 一标三实 updates (idempotent by content digest)."""

    __tablename__ = "recon_platform_imports"
    __table_args__ = (UniqueConstraint("site_id", "digest"),)

    site_id: Mapped[str] = mapped_column(String(64), index=True)
    digest: Mapped[str] = mapped_column(String(64), nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    rows: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
