"""Grid-worker visits (扫码入户): rental houses are visited every period, proven by scanning the
house's QR code; open tasks past their due time are overdue and reminded once a day.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from central.reconciliation.config import GridWorkConfig
from central.reconciliation.models import GridTask, HouseVisit
from central.services.audit import Actor, record

log = logging.getLogger(__name__)

REMIND_EVERY = timedelta(days=1)


@dataclass(frozen=True)
class ScheduleResult:
    opened: int
    rental_houses: int


def schedule_rental_visits(
    session: Session, cfg: GridWorkConfig, site_id: str, now: datetime
) -> ScheduleResult:
    """Open a ``rental_visit`` task for each rental house not visited within the period (and none open)."""
    from central.models.registry import House
    from central.models.zones import Zone

    last_visit = dict(
        session.execute(
            select(HouseVisit.house_id, func.max(HouseVisit.at))
            .where(HouseVisit.site_id == site_id)
            .group_by(HouseVisit.house_id)
        ).all()
    )
    open_for = set(
        session.scalars(
            select(GridTask.house_id).where(
                GridTask.site_id == site_id, GridTask.status == "open", GridTask.kind == "rental_visit"
            )
        )
    )
    # The grid worker responsible for a building's zone gets its houses' tasks.
    worker_of = {
        b: u
        for b, u in session.execute(
            select(Zone.building_id, Zone.grid_worker_user_id).where(
                Zone.site_id == site_id, Zone.grid_worker_user_id.is_not(None)
            )
        ).all()
    }
    houses = session.scalars(select(House).where(House.site_id == site_id, House.usage == "rental")).all()
    opened = 0
    period = timedelta(days=cfg.rental_visit_period_days)
    for h in houses:
        last = last_visit.get(h.id)
        if h.id in open_for or (last is not None and now - last < period):
            continue
        session.add(
            GridTask(
                site_id=site_id,
                house_id=h.id,
                kind="rental_visit",
                status="open",
                assignee_user_id=worker_of.get(h.building_id),
                due_at=now + timedelta(days=cfg.task_due_days),
                created_at=now,
                updated_at=now,
            )
        )
        opened += 1
    session.flush()
    return ScheduleResult(opened=opened, rental_houses=len(houses))


def record_visit(
    session: Session,
    site_id: str,
    house_id: str,
    actor: Actor,
    now: datetime,
    *,
    occupants_reported: int | None = None,
    note: str = "",
) -> HouseVisit:
    """A scanned house QR: store the visit, close the house's open tasks, audit it."""
    visit = HouseVisit(
        site_id=site_id,
        house_id=house_id,
        at=now,
        user_id=actor.user_id,
        occupants_reported=occupants_reported,
        note=note,
    )
    session.add(visit)
    closed = []
    for task in session.scalars(
        select(GridTask).where(
            GridTask.site_id == site_id, GridTask.house_id == house_id, GridTask.status == "open"
        )
    ):
        task.status, task.done_at, task.done_by, task.updated_at = "done", now, actor.username, now
        task.result = note
        closed.append(task.id)
    session.flush()
    record(
        session,
        actor=actor,
        action="visit",
        object_type="house",
        object_id=house_id,
        site_id=site_id,
        reason=note,
        detail={"occupants_reported": occupants_reported, "tasks_closed": closed},
        now=now,
    )
    return visit


def overdue(session: Session, site_id: str, now: datetime) -> list[GridTask]:
    """Open tasks past their due time, oldest first."""
    return list(
        session.scalars(
            select(GridTask)
            .where(GridTask.site_id == site_id, GridTask.status == "open", GridTask.due_at < now)
            .order_by(GridTask.due_at)
        )
    )


def due_reminders(session: Session, site_id: str, now: datetime) -> list[GridTask]:
    """Overdue tasks not reminded in the last day; marks them reminded (the caller notifies)."""
    out = []
    for task in overdue(session, site_id, now):
        if task.reminded_at is None or now - task.reminded_at >= REMIND_EVERY:
            task.reminded_at = now
            out.append(task)
    if out:
        log.info("site %s: %d overdue grid-worker tasks to remind", site_id, len(out))
    session.flush()
    return out
