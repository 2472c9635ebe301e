"""Alerts that no rule raises: reminders of scheduled checks elsewhere in central.

A check (e.g. overdue grid-worker visits, ``central.reconciliation.reminders``) hands
:func:`remind` one :class:`Reminder` per reason it found. Each reason has a key and gets
exactly one alert, however many check runs see it: the first reminder creates it
(``alert.created``), later ones count on it. When the reason is gone the check calls
:func:`close_reminders`, which resolves the alert. These alerts have ``rule_id`` None, are
never escalated (escalation belongs to rules), and are acknowledged and resolved through
``/alerts/{id}/ack|resolve`` like every other alert. Both functions return the notices; the
caller commits, then hands them to the notifier (live feed, MQTT); webhook deliveries are
rows in the same transaction, as for rule alerts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from central.models.alerts import Alert
from central.services.alerts import finish_notices
from central.services.notify import AlertMessage, NoticeKind
from contracts import Severity

# pg_advisory_xact_lock key serialising reminder rounds ("ANJU-REM" as a 64-bit int)
_PG_LOCK_KEY = 0x414E4A552D52454D


def _serialise_rounds(session: Session) -> None:
    """Two centrals may run the same round at once (scale-out): whoever comes second waits here
    for the first to commit, then finds its alert by key instead of creating a second one."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
    elif dialect == "sqlite":
        # A no-op write takes SQLite's write lock now (waiting out the busy timeout) so the
        # look-up below cannot interleave with another process's round.
        session.execute(text("DELETE FROM alerts WHERE 0"))


class ReminderType(str, Enum):
    """The ``type`` of alerts raised by scheduled checks (not one of the rule types)."""

    grid_visit_overdue = "grid_visit_overdue"  # 网格员走访逾期


@dataclass(frozen=True)
class Reminder:
    """One reason to remind someone, e.g. one overdue visit task; ``key`` names the reason
    (site-scoped) and every reminder with the same key lands on the same alert."""

    site_id: str
    type: ReminderType
    key: str
    severity: Severity
    title_zh: str
    title_en: str
    zone_id: str | None = None


def remind(session: Session, reminders: Iterable[Reminder], now: datetime) -> list[AlertMessage]:
    """One alert per key: created by the first reminder, then ``count`` + 1 and a fresh title on
    each later one. Only an alert still open is pushed again (``alert.updated``): once someone has
    acknowledged it the reminders are counted silently, and a resolved one is left alone."""
    notices: list[tuple[Alert, NoticeKind]] = []
    items = list(reminders)
    if items:
        _serialise_rounds(session)
    for item in items:
        alert = session.scalars(
            select(Alert)
            .where(Alert.site_id == item.site_id, Alert.dedup_key == item.key)
            .order_by(Alert.first_at.desc())
        ).first()
        if alert is None:
            alert = Alert(
                site_id=item.site_id,
                rule_id=None,
                type=item.type.value,
                severity=item.severity.value,
                status="open",
                title_zh=item.title_zh[:256],
                title_en=item.title_en[:256],
                dedup_key=item.key,
                zone_id=item.zone_id,
                count=1,
                event_ids=[],
                first_at=now,
                last_at=now,
            )
            session.add(alert)
            notices.append((alert, "alert.created"))
        elif alert.status != "resolved":
            alert.count += 1
            alert.last_at = now
            alert.title_zh, alert.title_en = item.title_zh[:256], item.title_en[:256]
            if alert.status == "open":
                notices.append((alert, "alert.updated"))
    return finish_notices(session, notices, now)


def open_reminder_keys(session: Session, site_id: str, type_: ReminderType) -> list[str]:
    """Keys of this site's unresolved reminder alerts of one type (a check sweeps them)."""
    return list(
        session.scalars(
            select(Alert.dedup_key).where(
                Alert.site_id == site_id, Alert.type == type_.value, Alert.status != "resolved"
            )
        )
    )


def close_reminders(
    session: Session, site_id: str, keys: Iterable[str], note: str, now: datetime
) -> list[AlertMessage]:
    """Resolve the unresolved alerts of these keys because their reason is gone (by the system:
    ``acknowledged_by`` stays whoever acknowledged it, or None)."""
    notices: list[tuple[Alert, NoticeKind]] = []
    wanted = sorted(set(keys))
    for start in range(0, len(wanted), 900):  # bound the IN list (SQLite's parameter limit)
        for alert in session.scalars(
            select(Alert).where(
                Alert.site_id == site_id,
                Alert.dedup_key.in_(wanted[start : start + 900]),
                Alert.status != "resolved",
            )
        ):
            alert.status = "resolved"
            alert.resolved_at = now
            alert.ack_note = (alert.ack_note + "\n" + note).strip()[:4000]
            notices.append((alert, "alert.resolved"))
    return finish_notices(session, notices, now)
