"""Overdue grid-worker visits (网格员走访逾期) pushed as alerts.

:func:`push_overdue` runs in each reconciliation round (and on ``POST …/tasks/schedule``):
the overdue open tasks due a reminder (:func:`central.reconciliation.gridwork.due_reminders`,
at most once a day per task) become reminders of type ``grid_visit_overdue``, one alert per
task (key ``grid_visit:<task id>``): the first reminder creates it, later daily ones count on
it. :func:`close_finished` resolves the alerts of tasks that are no longer open (visited by
scanning the house QR, or cancelled); it runs after a visit is recorded and in every round.
The caller commits, then hands the returned notices to the app's notifier (live feed, MQTT);
webhook deliveries are written in the same transaction.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from central.models.registry import Building, House
from central.models.users import User
from central.models.zones import Zone
from central.reconciliation import gridwork
from central.reconciliation.models import GridTask
from central.services.alerts_reminders import (
    Reminder,
    ReminderType,
    close_reminders,
    open_reminder_keys,
    remind,
)
from central.services.notify import AlertMessage
from contracts import Severity

log = logging.getLogger(__name__)

KEY_PREFIX = "grid_visit:"
# Low: a late visit is work for the grid worker and the police, not a guard pop-up (high/critical).
SEVERITY = Severity.low
KIND_TEXT = {
    "rental_visit": ("出租屋走访", "rental-house visit"),
    "verify_occupant": ("核实新住户", "check on a new occupant"),
    "verify_moved": ("核实是否搬离", "check whether a resident moved away"),
}
CLOSED_NOTE = {
    "done": "网格员已扫码入户，走访完成，提醒自动关闭 / Visit done (house QR scanned); reminder closed",
    "cancelled": "走访任务已取消，提醒自动关闭 / Visit task cancelled; reminder closed",
    None: "走访任务已不存在，提醒自动关闭 / Visit task removed; reminder closed",
}


def task_key(task_id: str) -> str:
    return f"{KEY_PREFIX}{task_id}"


def reminder_of(session: Session, task: GridTask, now: datetime) -> Reminder:
    """The reminder of one overdue task: house, what to do, days late and who (zh-CN first)."""
    house = session.get(House, task.house_id)
    building = session.get(Building, house.building_id) if house is not None else None
    b = building.number if building is not None else "?"
    where_zh = f"{b}栋{house.unit}单元{house.room}室" if house is not None else task.house_id
    where_en = f"building {b} unit {house.unit} room {house.room}" if house is not None else task.house_id
    worker = session.get(User, task.assignee_user_id) if task.assignee_user_id else None
    who = (worker.display_name or worker.username) if worker is not None else ""
    days = max(1, math.ceil((now - task.due_at).total_seconds() / 86400))  # days late, started ones count
    what_zh, what_en = KIND_TEXT.get(task.kind, (task.kind, task.kind))
    zone = None
    if house is not None:
        zones = session.scalars(
            select(Zone).where(Zone.site_id == task.site_id, Zone.building_id == house.building_id)
        ).all()
        # the grid worker's own zone of that building, else any zone of it, for the site plan
        mine = [z for z in zones if z.grid_worker_user_id and z.grid_worker_user_id == task.assignee_user_id]
        zone = min((z.code for z in (mine or zones)), default=None)
    return Reminder(
        site_id=task.site_id,
        type=ReminderType.grid_visit_overdue,
        key=task_key(task.id),
        severity=SEVERITY,
        title_zh=f"网格走访逾期：{where_zh} {what_zh}已逾期{days}天（网格员：{who or '未分配'}）",
        title_en=f"Grid visit overdue: {what_en} at {where_en}, {days} day(s) late "
        f"(grid worker: {who or 'unassigned'})",
        zone_id=zone,
    )


@dataclass(frozen=True)
class OverdueResult:
    reminded: int  # overdue tasks reminded in this round (at most once a day each)
    messages: list[AlertMessage]  # to publish after commit


def push_overdue(session: Session, site_id: str, now: datetime) -> OverdueResult:
    """Remind the overdue tasks due a reminder and close the alerts of finished tasks."""
    due = gridwork.due_reminders(session, site_id, now)
    messages = remind(session, [reminder_of(session, t, now) for t in due], now)
    return OverdueResult(len(due), messages + close_finished(session, site_id, now))


def close_finished(session: Session, site_id: str, now: datetime) -> list[AlertMessage]:
    """Resolve the unresolved grid-visit alerts whose task is no longer open."""
    keys = open_reminder_keys(session, site_id, ReminderType.grid_visit_overdue)
    by_task = {k[len(KEY_PREFIX) :]: k for k in keys if k.startswith(KEY_PREFIX)}
    if not by_task:
        return []
    rows = session.execute(select(GridTask.id, GridTask.status).where(GridTask.id.in_(sorted(by_task))))
    status: dict[str, str | None] = {tid: st for tid, st in rows}
    messages: list[AlertMessage] = []
    for reason in ("done", "cancelled", None):
        gone = [k for tid, k in by_task.items() if status.get(tid) == reason]
        if gone:
            messages += close_reminders(session, site_id, gone, CLOSED_NOTE[reason], now)
    if messages:
        log.info("site %s: %d grid-visit reminders closed", site_id, len(messages))
    return messages
