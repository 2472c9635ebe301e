"""Alert rules, alerts, webhooks and their delivery log.

A rule's ``params`` are validated by the pydantic model of its ``type``
(``central.services.alert_rules``). An :class:`Alert` collects every event that
hit the same de-duplication key while it was open; it escalates when nobody
acknowledges it in time and keeps who acknowledged it and why.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from central.db import Base, IdMixin, TimestampMixin, UTCDateTime

ALERT_STATUSES = ("open", "acknowledged", "resolved")


class AlertRule(IdMixin, TimestampMixin, Base):
    __tablename__ = "alert_rules"

    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    type: Mapped[str] = mapped_column(String(24), nullable=False)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    severity: Mapped[str] = mapped_column(String(12), nullable=False, default="medium")
    params: Mapped[dict[str, object]] = mapped_column(JSON, nullable=False, default=dict)
    camera_codes: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    periods: Mapped[list[dict[str, object]]] = mapped_column(JSON, nullable=False, default=list)
    dedup_s: Mapped[int] = mapped_column(Integer, nullable=False, default=300)
    escalate_after_s: Mapped[int | None] = mapped_column(Integer, nullable=True)


class Alert(IdMixin, Base):
    __tablename__ = "alerts"
    __table_args__ = (
        Index("ix_alerts_site_status", "site_id", "status", "last_at"),
        Index("ix_alerts_dedup", "site_id", "dedup_key", "status"),
    )

    site_id: Mapped[str] = mapped_column(String(64), nullable=False)
    rule_id: Mapped[str | None] = mapped_column(
        ForeignKey("alert_rules.id", ondelete="SET NULL"), nullable=True, index=True
    )
    type: Mapped[str] = mapped_column(String(24), nullable=False)
    severity: Mapped[str] = mapped_column(String(12), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="open")
    title_zh: Mapped[str] = mapped_column(String(256), nullable=False)
    title_en: Mapped[str] = mapped_column(String(256), nullable=False)
    dedup_key: Mapped[str] = mapped_column(String(200), nullable=False)
    person_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    camera_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    zone_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    ring: Mapped[int | None] = mapped_column(Integer, nullable=True)
    count: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    event_ids: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    first_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    last_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    escalation_level: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    acknowledged_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    ack_note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Webhook(IdMixin, TimestampMixin, Base):
    """A third party receiving alerts as signed JSON POSTs."""

    __tablename__ = "webhooks"

    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(128), nullable=False, default="")
    url: Mapped[str] = mapped_column(String(512), nullable=False)
    secret: Mapped[str] = mapped_column(String(128), nullable=False)
    min_severity: Mapped[str] = mapped_column(String(12), nullable=False, default="info")
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)


class WebhookDelivery(Base):
    """One alert to one webhook: attempts, last outcome, next retry."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (Index("ix_webhook_deliveries_due", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    webhook_id: Mapped[str] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"), index=True)
    alert_id: Mapped[str] = mapped_column(String(36), nullable=False, index=True)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    state: Mapped[str] = mapped_column(String(12), nullable=False, default="pending")  # delivered, failed
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str] = mapped_column(String(512), nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
