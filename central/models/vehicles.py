"""Vehicles bound to households, and 布控车辆 (watch-listed plates).

Plate sightings themselves are :class:`central.models.events.EventRecord` rows
of kind ``vehicle_plate`` (searchable by plate).
"""

from __future__ import annotations

from sqlalchemy import Boolean, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from central.db import Base, IdMixin, TimestampMixin


class Vehicle(IdMixin, TimestampMixin, Base):
    __tablename__ = "vehicles"
    __table_args__ = (UniqueConstraint("site_id", "plate"),)

    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    plate: Mapped[str] = mapped_column(String(16), nullable=False)
    household_id: Mapped[str | None] = mapped_column(
        ForeignKey("households.id", ondelete="SET NULL"), nullable=True, index=True
    )
    owner_person_id: Mapped[str | None] = mapped_column(
        ForeignKey("persons.id", ondelete="SET NULL"), nullable=True
    )
    color: Mapped[str] = mapped_column(String(16), nullable=False, default="")
    description: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    watchlisted: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    watch_reason: Mapped[str] = mapped_column(String(256), nullable=False, default="")
