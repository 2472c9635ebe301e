"""Reminder alerts when two centrals run the same round at once: still one alert per key."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from anju.clock import FakeClock
from central.db import make_session_factory
from central.models.alerts import Alert
from central.services.alerts_reminders import Reminder, ReminderType, remind
from contracts import Severity


def _reminder(site_id: str) -> Reminder:
    return Reminder(
        site_id=site_id,
        type=ReminderType.grid_visit_overdue,
        key="grid-task:42",
        severity=Severity.low,
        title_zh="网格走访逾期：1栋1单元301室",
        title_en="Grid visit overdue: 1-1-301",
    )


def test_concurrent_rounds_make_one_alert_per_key(
    engine: Engine, db: Session, make_site: Callable[..., Any], clock: FakeClock
) -> None:
    site = make_site()
    factory = make_session_factory(engine)
    first = factory()
    try:
        # Central A has created the alert but not committed yet when central B's round starts.
        created = remind(first, [_reminder(site.id)], clock.now())
        assert [m.notice for m in created] == ["alert.created"]
        second_done = threading.Event()
        second_kinds: list[str] = []
        errors: list[BaseException] = []

        def other_central() -> None:
            try:
                with factory() as second:
                    second_kinds.extend(m.notice for m in remind(second, [_reminder(site.id)], clock.now()))
                    second.commit()
            except BaseException as exc:  # surfaced below
                errors.append(exc)
            finally:
                second_done.set()

        thread = threading.Thread(target=other_central)
        thread.start()
        # B must wait for A: without the round lock it would not see A's uncommitted alert and
        # would create a second one right away.
        assert not second_done.wait(1.0)
        first.commit()
        thread.join(30)
        assert not thread.is_alive() and not errors, errors
    finally:
        first.close()
    alerts = db.scalars(select(Alert).where(Alert.site_id == site.id)).all()
    assert len(alerts) == 1
    assert alerts[0].count == 2 and alerts[0].dedup_key == "grid-task:42"
    assert second_kinds == ["alert.updated"]
