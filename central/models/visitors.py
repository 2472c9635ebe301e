"""Visitors, their signed QR passes and visit records.

A pass is registered against a host household with a validity window; residents
who opted out of face recognition get a ``resident`` pass instead. The token in
the QR is signed with the site's Ed25519 key (``contracts.passes``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from central.db import Base, IdMixin, TimestampMixin, UTCDateTime

PASS_STATUSES = ("active", "expired", "revoked")


class Visitor(IdMixin, TimestampMixin, Base):
    __tablename__ = "visitors"

    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    host_household_id: Mapped[str] = mapped_column(
        ForeignKey("households.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(String(64), nullable=False)
    phone: Mapped[str] = mapped_column(String(32), nullable=False, default="")
    plate: Mapped[str | None] = mapped_column(String(16), nullable=True)
    purpose: Mapped[str] = mapped_column(String(256), nullable=False, default="")


class VisitorPass(TimestampMixin, Base):
    __tablename__ = "visitor_passes"
    __table_args__ = (Index("ix_visitor_passes_expiry", "status", "valid_until"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # the pass_id inside the QR
    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(12), nullable=False, default="visitor")
    visitor_id: Mapped[str | None] = mapped_column(
        ForeignKey("visitors.id", ondelete="CASCADE"), nullable=True, index=True
    )
    person_id: Mapped[str | None] = mapped_column(
        ForeignKey("persons.id", ondelete="CASCADE"), nullable=True, index=True
    )
    host_household_id: Mapped[str | None] = mapped_column(
        ForeignKey("households.id", ondelete="CASCADE"), nullable=True
    )
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    valid_until: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    rings: Mapped[list[int]] = mapped_column(JSON, nullable=False)
    zone_codes: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    status: Mapped[str] = mapped_column(String(12), nullable=False, default="active")
    token: Mapped[str] = mapped_column(Text, nullable=False)
    created_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    revoked_reason: Mapped[str] = mapped_column(String(256), nullable=False, default="")


class Visit(IdMixin, Base):
    """One visit: the first entry with a pass and the matching exit."""

    __tablename__ = "visits"

    site_id: Mapped[str] = mapped_column(String(64), nullable=False, index=True)
    pass_id: Mapped[str] = mapped_column(ForeignKey("visitor_passes.id", ondelete="CASCADE"), index=True)
    visitor_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    host_household_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    entered_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    entry_camera_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    left_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    exit_camera_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
