"""The list of issued visitor passes, each with its visitor, host household, visits and a status.

A pass's list status is derived, in this order: ``revoked`` (withdrawn by staff), ``expired``
(past ``valid_until``, whether or not the expiry job has marked it yet), ``used`` (a gate has
recorded at least one visit with it), else ``issued``. The guard's 今日访客 is this list for the
passes valid today together with today's arrivals (visit records).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import ColumnElement, and_, exists, func, not_, or_, select
from sqlalchemy.orm import Session

from central.models.registry import Household
from central.models.visitors import Visit, Visitor, VisitorPass

PassState = Literal["issued", "used", "expired", "revoked"]
STATES: tuple[str, ...] = ("issued", "used", "expired", "revoked")
MAX_LIMIT = 500


@dataclass
class PassRow:
    id: str
    site_id: str
    kind: str
    state: str
    status: str  # the stored status (active/expired/revoked)
    visitor_id: str | None
    visitor_name: str
    phone: str
    plate: str | None
    purpose: str
    host_household_id: str | None
    host_household_name: str
    valid_from: datetime
    valid_until: datetime
    rings: list[int]
    created_at: datetime
    revoked_reason: str
    visits: int
    last_entered_at: datetime | None
    last_left_at: datetime | None
    inside: bool  # the latest visit has no exit yet


def _state_filter(state: str, now: datetime) -> ColumnElement[bool]:
    has_visit = exists().where(Visit.pass_id == VisitorPass.id)
    live = and_(VisitorPass.status == "active", VisitorPass.valid_until > now)
    if state == "revoked":
        return VisitorPass.status == "revoked"
    if state == "expired":
        return and_(
            VisitorPass.status != "revoked",
            or_(VisitorPass.status == "expired", VisitorPass.valid_until <= now),
        )
    if state == "used":
        return and_(live, has_visit)
    return and_(live, not_(has_visit))


def _state_of(vpass: VisitorPass, visits: int, now: datetime) -> str:
    if vpass.status == "revoked":
        return "revoked"
    if vpass.status == "expired" or vpass.valid_until <= now:
        return "expired"
    return "used" if visits else "issued"


def list_passes(
    session: Session,
    site_ids: list[str] | None,
    *,
    now: datetime,
    since: datetime | None = None,
    until: datetime | None = None,
    states: list[str] | None = None,
    host_household_id: str | None = None,
    limit: int = 200,
) -> list[PassRow]:
    """Visitor passes (newest validity first) whose validity overlaps ``[since, until)``.

    ``site_ids`` None means every site (admin). ``states`` filters on the derived status.
    """
    stmt = select(VisitorPass, Visitor, Household).where(VisitorPass.kind == "visitor")
    stmt = stmt.outerjoin(Visitor, Visitor.id == VisitorPass.visitor_id)
    stmt = stmt.outerjoin(Household, Household.id == VisitorPass.host_household_id)
    if site_ids is not None:
        stmt = stmt.where(VisitorPass.site_id.in_(site_ids))
    if since is not None:
        stmt = stmt.where(VisitorPass.valid_until > since)
    if until is not None:
        stmt = stmt.where(VisitorPass.valid_from < until)
    if host_household_id:
        stmt = stmt.where(VisitorPass.host_household_id == host_household_id)
    if states:
        stmt = stmt.where(or_(*[_state_filter(s, now) for s in states]))
    stmt = stmt.order_by(VisitorPass.valid_from.desc(), VisitorPass.id).limit(max(1, min(MAX_LIMIT, limit)))
    found = session.execute(stmt).all()
    ids = [p.id for p, _, _ in found]
    counts: dict[str, int] = {}
    latest: dict[str, Visit] = {}
    if ids:
        counts = dict(
            session.execute(
                select(Visit.pass_id, func.count(Visit.id))
                .where(Visit.pass_id.in_(ids))
                .group_by(Visit.pass_id)
            ).all()  # type: ignore[arg-type]
        )
        for visit in session.scalars(
            select(Visit).where(Visit.pass_id.in_(ids)).order_by(Visit.entered_at, Visit.id)
        ):
            latest[visit.pass_id] = visit  # the last one wins
    rows = []
    for vpass, visitor, household in found:
        n = int(counts.get(vpass.id, 0))
        last = latest.get(vpass.id)
        rows.append(
            PassRow(
                id=vpass.id,
                site_id=vpass.site_id,
                kind=vpass.kind,
                state=_state_of(vpass, n, now),
                status=vpass.status,
                visitor_id=vpass.visitor_id,
                visitor_name=visitor.name if visitor else "",
                phone=visitor.phone if visitor else "",
                plate=visitor.plate if visitor else None,
                purpose=visitor.purpose if visitor else "",
                host_household_id=vpass.host_household_id,
                host_household_name=household.name if household else "",
                valid_from=vpass.valid_from,
                valid_until=vpass.valid_until,
                rings=list(vpass.rings),
                created_at=vpass.created_at,
                revoked_reason=vpass.revoked_reason,
                visits=n,
                last_entered_at=last.entered_at if last else None,
                last_left_at=last.left_at if last else None,
                inside=last is not None and last.left_at is None,
            )
        )
    return rows
