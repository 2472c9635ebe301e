"""Remote door commands: one row per audited "open door" a guard or property manager asked for.

The row's ``id`` is the ``command_id`` of the signed :class:`contracts.DoorCommand` sent to the edge;
the edge's :class:`contracts.DoorStateEvent` that carries the same ``command_id`` marks it executed.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from central.db import Base, IdMixin, TimestampMixin, UTCDateTime

# sent: on the broker; executed: the edge reported the door state; failed: never reached the broker.
# Lists also show "expired": sent, but not confirmed before expires_at (see services.doors).
COMMAND_STATUSES = ("pending", "sent", "executed", "failed")


class DoorCommandRecord(IdMixin, TimestampMixin, Base):
    """One remote door command and what became of it."""

    __tablename__ = "door_commands"

    site_id: Mapped[str] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    device_id: Mapped[str | None] = mapped_column(
        ForeignKey("devices.id", ondelete="SET NULL"), nullable=True, index=True
    )
    door_code: Mapped[str] = mapped_column(String(64), nullable=False)
    node_id: Mapped[str] = mapped_column(String(64), nullable=False)
    action: Mapped[str] = mapped_column(String(8), nullable=False, default="open")
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    requested_by: Mapped[str] = mapped_column(String(64), nullable=False)
    reason: Mapped[str] = mapped_column(String(256), nullable=False)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="pending")
    error: Mapped[str] = mapped_column(String(256), nullable=False, default="")
    executed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    door_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
