"""Retention: each record type is kept for its own period; the newest whitelist version survives."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from anju.clock import FakeClock
from central.db import make_session_factory
from central.ingest import Ingestor
from central.models.alerts import Alert
from central.models.events import EventRecord
from central.models.zones import WhitelistVersion
from central.services.retention import RetentionSettings, run_retention
from contracts import HeartbeatEvent
from tests.central.ops_helpers import common, pass_event, plate, stranger


def test_periods_per_record_type(engine: Engine, db: Session, clock: FakeClock, make_site) -> None:
    site = make_site()
    t0 = clock.now()
    ing = Ingestor(make_session_factory(engine), clock)
    ing.on_events(
        [
            pass_event(site, t0, "p1"),
            stranger(site, t0),
            plate(site, t0, "京A12345"),
            HeartbeatEvent(**common(site, t0)),
            pass_event(site, t0 + timedelta(days=50), "p1"),
        ]
    )
    for i, when in enumerate((t0, t0 + timedelta(days=1))):
        db.add(
            WhitelistVersion(
                site_id=site.id,
                version=i + 1,
                type="snapshot",
                payload="{}",
                issued_at=when,
                published_at=when,
            )
        )
    db.add(
        Alert(
            site_id=site.id,
            type="stranger",
            severity="low",
            status="resolved",
            title_zh="x",
            title_en="x",
            dedup_key="k",
            first_at=t0,
            last_at=t0,
        )
    )
    db.commit()
    settings = RetentionSettings(
        pass_days=60,
        stranger_days=30,
        vehicle_days=90,
        other_event_days=10,
        alert_days=40,
        whitelist_version_days=5,
    )

    def kinds() -> list[str]:
        db.expire_all()
        return sorted(db.scalars(select(EventRecord.kind)).all())

    done = run_retention(db, settings, t0 + timedelta(days=20))
    assert done["other_events"] == 1 and kinds() == ["pass", "pass", "stranger", "vehicle_plate"]
    run_retention(db, settings, t0 + timedelta(days=45))
    assert kinds() == ["pass", "pass", "vehicle_plate"]
    assert db.scalar(select(func.count(Alert.id))) == 0
    assert db.scalars(select(WhitelistVersion.version)).all() == [2]  # the newest stays
    run_retention(db, settings, t0 + timedelta(days=95))
    assert kinds() == ["pass"]
    run_retention(db, settings, t0 + timedelta(days=111))
    assert kinds() == []


def test_periods_come_from_central_settings(
    monkeypatch: pytest.MonkeyPatch, engine: Engine, clock: FakeClock, tmp_path: Path
) -> None:
    """ANJU_RETENTION__* configures the periods the app's ops worker purges with."""
    from central.app import create_app
    from central.ingest import ops_runtime
    from central.settings import CentralSettings
    from tests.central.conftest import SECRET

    monkeypatch.setenv("ANJU_RETENTION__PASS_DAYS", "30")
    monkeypatch.setenv("ANJU_RETENTION__STRANGER_DAYS", "7")
    settings = CentralSettings(environment="test", secret_key=SECRET, data_dir=tmp_path)
    assert settings.retention.pass_days == 30 and settings.retention.stranger_days == 7
    app = create_app(settings, clock=clock, engine=engine)
    assert ops_runtime(app).worker.retention == settings.retention
    monkeypatch.setenv("ANJU_RETENTION__PASS_DAYS", "0")
    with pytest.raises(ValueError):
        CentralSettings(environment="test", secret_key=SECRET, data_dir=tmp_path)
