"""Retention periods set by an administrator in the console, globally or per site.

One row per (scope, field): ``scope`` is ``*`` for every site or a site id, ``field`` one of the
period fields of :class:`central.settings.RetentionSettings` (``pass_days`` …). The configured
settings stay the defaults and the ceilings (``central.services.retention_admin``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from central.db import Base, IdMixin, UTCDateTime

GLOBAL_SCOPE = "*"


class RetentionOverride(IdMixin, Base):
    __tablename__ = "retention_overrides"
    __table_args__ = (UniqueConstraint("scope", "field"),)

    scope: Mapped[str] = mapped_column(String(64), nullable=False, index=True)  # "*" or a site id
    field: Mapped[str] = mapped_column(String(40), nullable=False)
    days: Mapped[int] = mapped_column(Integer, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    updated_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
