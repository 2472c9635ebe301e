"""Alert snapshots: ingest stores the JPEG an event carries, the alert's snapshot endpoint returns
the exact bytes (site-scoped, audited), alerts say ``has_snapshot``, retention purges old pictures."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import cv2
import numpy as np
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from anju.clock import FakeClock
from central.db import make_session_factory
from central.ingest import Ingestor
from central.models.alerts import Alert, AlertRule
from central.models.audit import AuditRecord
from central.models.snapshots import EventSnapshot
from central.services.notify import AlertMessage
from central.services.retention import run_retention
from central.settings import RetentionSettings
from contracts import Snapshot
from tests.central.ops_helpers import stranger, watch_hit

API = "/api/v1"


class Collect:
    def __init__(self) -> None:
        self.messages: list[AlertMessage] = []

    def publish(self, messages: list[AlertMessage]) -> None:
        self.messages.extend(messages)


def jpeg() -> bytes:
    img = np.zeros((48, 64, 3), np.uint8)
    cv2.rectangle(img, (10, 8), (50, 40), (40, 180, 220), -1)
    ok, buf = cv2.imencode(".jpg", img)
    assert ok
    return bytes(buf.tobytes())


def add_rule(db: Session, site_id: str, rtype: str, clock: FakeClock, **params: Any) -> None:
    now = clock.now()
    db.add(
        AlertRule(
            site_id=site_id,
            name=rtype,
            type=rtype,
            severity="high",
            params=params,
            created_at=now,
            updated_at=now,
        )
    )
    db.commit()


def only_alert(db: Session) -> Alert:
    db.expire_all()
    rows = list(db.scalars(select(Alert)))
    assert len(rows) == 1
    return rows[0]


def test_snapshot_stored_served_scoped_audited_and_purged(
    engine: Engine, db: Session, clock: FakeClock, make_site: Any, login: Any, client: TestClient
) -> None:
    site, other = make_site(), make_site()
    add_rule(db, site.id, "watchlist", clock)
    sink = Collect()
    ing = Ingestor(make_session_factory(engine), clock, sink)
    data = jpeg()
    event = watch_hit(site, clock.now(), "p-1").model_copy(update={"snapshot": Snapshot.from_jpeg(data)})
    ing.on_events([event])
    ing.on_events([event])  # delivered twice: stored once
    alert = only_alert(db)
    assert alert.event_ids == [str(event.event_id)]
    assert db.scalar(select(func.count()).select_from(EventSnapshot)) == 1
    assert sink.messages and sink.messages[0].has_snapshot

    _, guard = login("guard", [site.id])
    res = client.get(f"{API}/alerts/{alert.id}", headers=guard)
    assert res.status_code == 200 and res.json()["has_snapshot"] is True
    listed = client.get(f"{API}/alerts", params={"site_id": site.id}, headers=guard).json()
    assert [a["has_snapshot"] for a in listed] == [True]

    res = client.get(
        f"{API}/alerts/{alert.id}/snapshot",
        headers={**guard, "X-Anju-Reason": "%E5%91%8A%E8%AD%A6%E6%A0%B8%E5%AE%9E"},
    )
    assert res.status_code == 200
    assert res.headers["content-type"] == "image/jpeg"
    assert res.content == data
    assert "no-store" in res.headers["cache-control"]
    db.expire_all()
    rec = db.scalars(select(AuditRecord).where(AuditRecord.object_type == "alert_snapshot")).one()
    assert rec.object_id == str(event.event_id) and rec.site_id == site.id and rec.reason == "告警核实"
    assert rec.action == "view"

    # another site's guard, and a role that does not respond to alerts, get nothing
    _, stranger_guard = login("guard", [other.id])
    assert client.get(f"{API}/alerts/{alert.id}/snapshot", headers=stranger_guard).status_code in (403, 404)
    assert client.get(f"{API}/alerts/no-such-alert/snapshot", headers=guard).status_code == 404
    assert (
        db.scalar(
            select(func.count()).select_from(AuditRecord).where(AuditRecord.object_type == "alert_snapshot")
        )
        == 1
    )

    # retention: older than snapshot_days → gone; the alert stays and says so
    clock.advance(timedelta(days=31))
    done = run_retention(
        db, RetentionSettings(snapshot_days=30, stranger_days=90, other_event_days=90), clock.now()
    )
    assert done["snapshots"] == 1
    assert db.scalar(select(func.count()).select_from(EventSnapshot)) == 0
    _, guard = login("guard", [site.id])  # the first token has expired by now
    assert client.get(f"{API}/alerts/{alert.id}/snapshot", headers=guard).status_code == 404
    assert client.get(f"{API}/alerts/{alert.id}", headers=guard).json()["has_snapshot"] is False


def test_alert_without_snapshot_is_404(
    engine: Engine, db: Session, clock: FakeClock, make_site: Any, login: Any, client: TestClient
) -> None:
    site = make_site()
    add_rule(db, site.id, "stranger", clock, count=1, window_s=600)
    ing = Ingestor(make_session_factory(engine), clock, Collect())
    ing.on_events([stranger(site, clock.now())])
    alert = only_alert(db)
    _, police = login("police", [site.id])
    assert client.get(f"{API}/alerts/{alert.id}", headers=police).json()["has_snapshot"] is False
    res = client.get(f"{API}/alerts/{alert.id}/snapshot", headers=police)
    assert res.status_code == 404
    assert res.json()["code"]
    assert db.scalar(select(func.count()).select_from(EventSnapshot)) == 0
    recent = clock.now() + timedelta(days=1)
    assert run_retention(db, RetentionSettings(), recent)["snapshots"] == 0
