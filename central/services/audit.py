"""The audit log: append records to a tamper-evident hash chain, verify it, purge past retention.

Call :func:`record` in the same session/transaction as the change it describes (so the record
exists iff the change was committed); for views and exports call it then commit.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from central.errors import ValidationFailed
from central.models.audit import AuditRecord

log = logging.getLogger(__name__)

GENESIS = "0" * 64
MAX_REASON = 500
_PG_LOCK_KEY = 0x616E6A75  # "anju": serialises appends on PostgreSQL


@dataclass(frozen=True)
class Actor:
    """Who did it; ``user_id`` None for the system (jobs, CLI)."""

    user_id: str | None
    username: str
    role: str


SYSTEM = Actor(None, "system", "system")


def _canonical(rec: AuditRecord) -> bytes:
    doc = {
        "seq": rec.seq,
        "at": rec.at.isoformat(),
        "actor_id": rec.actor_id,
        "actor_name": rec.actor_name,
        "actor_role": rec.actor_role,
        "action": rec.action,
        "object_type": rec.object_type,
        "object_id": rec.object_id,
        "site_id": rec.site_id,
        "reason": rec.reason,
        "detail": rec.detail,
    }
    return json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def compute_hash(prev_hash: str, rec: AuditRecord) -> str:
    return hashlib.sha256(prev_hash.encode("ascii") + _canonical(rec)).hexdigest()


def record(
    session: Session,
    *,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: str = "",
    site_id: str | None = None,
    reason: str = "",
    detail: dict[str, Any] | None = None,
    now: datetime,
) -> AuditRecord:
    """Append one record to the chain (flushed, not committed)."""
    if len(reason) > MAX_REASON:
        from central.errors import FieldError

        raise ValidationFailed(
            "查询理由过长", "reason too long", [FieldError("reason", f"at most {MAX_REASON} characters")]
        )
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
    elif bind.dialect.name == "sqlite":
        # A no-op write takes SQLite's write lock now (waiting out the busy timeout), so reading the
        # chain's tail and appending to it cannot interleave with another writer.
        session.execute(text("DELETE FROM audit_log WHERE 0"))
    last = session.execute(
        select(AuditRecord.seq, AuditRecord.hash).order_by(AuditRecord.seq.desc()).limit(1)
    ).first()
    seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
    rec = AuditRecord(
        seq=seq,
        at=now.replace(microsecond=(now.microsecond // 1000) * 1000),
        actor_id=actor.user_id,
        actor_name=actor.username,
        actor_role=actor.role,
        action=action,
        object_type=object_type,
        object_id=object_id,
        site_id=site_id,
        reason=reason,
        detail=json.dumps(detail or {}, sort_keys=True, ensure_ascii=False, default=str),
        prev_hash=prev,
    )
    rec.hash = compute_hash(prev, rec)
    session.add(rec)
    session.flush()
    return rec


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    checked: int
    first_seq: int | None
    last_seq: int | None
    broken_at: int | None = None
    problem: str = ""
    last_hash: str | None = None  # record it elsewhere (an anchor): a later truncation then shows


def verify(session: Session, batch: int = 5000) -> VerifyResult:
    """Walk the chain in ``seq`` order; report the first record whose link or hash does not match."""
    checked = 0
    prev: str | None = None
    expected_seq: int | None = None
    first: int | None = None
    last_seq: int | None = None
    after = 0
    while True:
        rows = session.scalars(
            select(AuditRecord).where(AuditRecord.seq > after).order_by(AuditRecord.seq).limit(batch)
        ).all()
        if not rows:
            break
        for rec in rows:
            if first is None:
                first = rec.seq
                prev = rec.prev_hash  # anchor: earlier records may have been purged by retention
                expected_seq = rec.seq
            if rec.seq != expected_seq:
                return VerifyResult(False, checked, first, last_seq, rec.seq, f"gap before seq {rec.seq}")
            if rec.prev_hash != prev:
                return VerifyResult(False, checked, first, last_seq, rec.seq, "prev_hash does not link")
            if compute_hash(rec.prev_hash, rec) != rec.hash:
                return VerifyResult(False, checked, first, last_seq, rec.seq, "content does not match hash")
            prev = rec.hash
            expected_seq = rec.seq + 1
            last_seq = rec.seq
            checked += 1
        after = rows[-1].seq
        session.expunge_all()
    return VerifyResult(True, checked, first, last_seq, last_hash=prev if checked else None)


def check_anchor(session: Session, seq: int, expected_hash: str) -> bool:
    """Whether record ``seq`` still exists with ``expected_hash`` (an anchor taken earlier by
    :func:`verify`); a chain cut back before ``seq`` or rewritten from there fails this."""
    found = session.scalar(select(AuditRecord.hash).where(AuditRecord.seq == seq))
    return found == expected_hash


def purge_expired(session: Session, *, retention_days: int, now: datetime) -> int:
    """Delete records older than ``retention_days`` (≥ 183) and append a ``purge`` anchor record."""
    if retention_days < 183:
        raise ValidationFailed("审计日志至少保留6个月", "audit retention must be at least 183 days")
    cutoff = now - timedelta(days=retention_days)
    last_old = session.scalar(select(func.max(AuditRecord.seq)).where(AuditRecord.at < cutoff))
    newest = session.scalar(select(func.max(AuditRecord.seq)))
    if last_old is None or newest is None:
        return 0
    # Keep the newest record so the chain always continues from a stored hash.
    last_old = min(last_old, newest - 1)
    if last_old < 1:
        return 0
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT set_config('anju.audit_purge', 'on', true)"))
    n = session.query(AuditRecord).filter(AuditRecord.seq <= last_old).delete(synchronize_session=False)
    record(
        session,
        actor=SYSTEM,
        action="purge",
        object_type="audit_log",
        detail={"through_seq": last_old, "deleted": n, "cutoff": cutoff.isoformat()},
        now=now,
    )
    session.commit()
    log.info("audit purge: %d records up to seq %d", n, last_old)
    return int(n)
