"""Append-only, hash-chained audit log of views, exports and changes of personal/biometric data."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DDL, BigInteger, Integer, String, Text, event
from sqlalchemy.orm import Mapped, mapped_column

from central.db import Base, UTCDateTime


class AuditRecord(Base):
    """One audited act. ``hash = sha256(prev_hash || canonical JSON of the other fields)``.

    ``seq`` is a dense, unique sequence; the chain is verified in ``seq`` order. Rows are never
    updated; retention purges whole prefixes and leaves a ``purge`` record that anchors the chain.
    """

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False, index=True)
    actor_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    actor_name: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    actor_role: Mapped[str] = mapped_column(String(32), nullable=False, default="")
    action: Mapped[str] = mapped_column(String(32), nullable=False)  # view/export/create/update/delete/…
    object_type: Mapped[str] = mapped_column(String(48), nullable=False)
    object_id: Mapped[str] = mapped_column(String(64), nullable=False, default="")
    site_id: Mapped[str | None] = mapped_column(String(36), nullable=True, index=True)
    reason: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    detail: Mapped[str] = mapped_column(Text, nullable=False, default="{}")  # canonical JSON
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)


# Append-only at the database level: updates are refused on both dialects; on PostgreSQL deletes
# too, unless the retention purge sets ``anju.audit_purge`` for its transaction.
PG_FUNCTION = """
CREATE OR REPLACE FUNCTION anju_audit_append_only() RETURNS trigger AS $$
BEGIN
  IF TG_OP = 'DELETE' AND current_setting('anju.audit_purge', true) = 'on' THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'audit_log is append-only';
END
$$ LANGUAGE plpgsql
"""
PG_TRIGGER = (
    "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
    "FOR EACH ROW EXECUTE FUNCTION anju_audit_append_only()"
)
SQLITE_TRIGGER = (
    "CREATE TRIGGER audit_log_append_only BEFORE UPDATE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END"
)


def _ddl(statement: str) -> DDL:
    return DDL(statement)  # type: ignore[no-untyped-call]


event.listen(AuditRecord.__table__, "after_create", _ddl(PG_FUNCTION).execute_if(dialect="postgresql"))
event.listen(AuditRecord.__table__, "after_create", _ddl(PG_TRIGGER).execute_if(dialect="postgresql"))
event.listen(AuditRecord.__table__, "after_create", _ddl(SQLITE_TRIGGER).execute_if(dialect="sqlite"))
