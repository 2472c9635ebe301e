"""audit log append-only triggers

Revision ID: c4e1a7d2f9b3
Revises: 92d26267ac61
Create Date: 2026-11-23 12:00:00
"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from central.models.audit import PG_FUNCTION, PG_TRIGGER, SQLITE_TRIGGER

revision: str = "c4e1a7d2f9b3"
down_revision: str | None = "92d26267ac61"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        op.execute(PG_TRIGGER)
    else:
        op.execute(SQLITE_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS anju_audit_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only")
