"""Reading and verifying the audit log (admin and police)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select

from central.deps import SessionDep, require_roles
from central.models.audit import AuditRecord
from central.models.users import User
from central.schemas import ApiModel
from central.security import ADMIN, POLICE
from central.services import audit

router = APIRouter(prefix="/audit", tags=["audit"])


class AuditOut(ApiModel):
    seq: int
    at: datetime
    actor_id: str | None
    actor_name: str
    actor_role: str
    action: str
    object_type: str
    object_id: str
    site_id: str | None
    reason: str
    detail: str
    hash: str


class VerifyOut(ApiModel):
    ok: bool
    checked: int
    first_seq: int | None
    last_seq: int | None
    broken_at: int | None
    problem: str
    last_hash: str | None
    anchor_ok: bool | None = None


@router.get("", response_model=list[AuditOut])
def list_audit(
    *,
    session: SessionDep,
    user: Annotated[User, Depends(require_roles(POLICE))],
    object_id: Annotated[str | None, Query(max_length=64)] = None,
    actor_id: Annotated[str | None, Query(max_length=36)] = None,
    site_id: Annotated[str | None, Query(max_length=36)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before_seq: Annotated[int | None, Query(ge=1)] = None,
) -> list[AuditOut]:
    """Newest first. Police see only records of their sites."""
    q = select(AuditRecord).order_by(AuditRecord.seq.desc()).limit(limit)
    if user.role != ADMIN:
        q = q.where(AuditRecord.site_id.in_(user.site_ids))
    if site_id is not None:
        q = q.where(AuditRecord.site_id == site_id)
    if object_id is not None:
        q = q.where(AuditRecord.object_id == object_id)
    if actor_id is not None:
        q = q.where(AuditRecord.actor_id == actor_id)
    if before_seq is not None:
        q = q.where(AuditRecord.seq < before_seq)
    return [AuditOut.model_validate(r) for r in session.scalars(q)]


@router.get("/verify", response_model=VerifyOut)
def verify_audit(
    *,
    session: SessionDep,
    _admin: Annotated[User, Depends(require_roles(ADMIN))],
    anchor_seq: Annotated[int | None, Query(ge=1)] = None,
    anchor_hash: Annotated[str | None, Query(pattern="^[0-9a-f]{64}$")] = None,
) -> VerifyOut:
    """Walk the hash chain; with ``anchor_seq``/``anchor_hash`` (a ``last_seq``/``last_hash`` noted
    earlier) also detect a chain cut back or rewritten since then."""
    r = audit.verify(session)
    anchor_ok = None
    if anchor_seq is not None and anchor_hash is not None:
        anchor_ok = audit.check_anchor(session, anchor_seq, anchor_hash)
    return VerifyOut(
        last_hash=r.last_hash,
        anchor_ok=anchor_ok,
        ok=r.ok,
        checked=r.checked,
        first_seq=r.first_seq,
        last_seq=r.last_seq,
        broken_at=r.broken_at,
        problem=r.problem,
    )
