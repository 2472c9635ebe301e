"""Overdue grid-worker visits reach the alert notifier: one alert per overdue visit on the live feed
(WebSocket), daily reminders on that alert, acknowledged like any alert, resolved by the visit."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from anju.clock import FakeClock
from central.ingest import ops_runtime
from central.keys import app_signer
from central.models.alerts import Alert, Webhook, WebhookDelivery
from central.models.registry import House
from central.models.users import User
from central.models.zones import Zone
from central.reconciliation.models import GridTask
from central.reconciliation.runtime import ReconciliationWorker, app_service
from central.security import issue_token
from central.services.house_qr import house_token
from central.services.notify import AlertMessage
from central.settings import CentralSettings
from tests.central.reconciliation.helpers import make_compound

API = "/api/v1"
DAY = timedelta(days=1)


def nothing_pushed(ws: Any, app: FastAPI, site_id: str, clock: FakeClock) -> None:
    """Assert the feed holds no notice: a marker published now must be the next thing received
    (the hub hands notices to a subscriber in order), so no wait and no timing is involved."""
    now = clock.now()
    marker = AlertMessage(
        notice="alert.updated",
        id=f"marker-{uuid.uuid4().hex}",
        site_id=site_id,
        rule_id=None,
        type="test_marker",
        severity="info",
        status="open",
        title_zh="",
        title_en="",
        person_id=None,
        camera_id=None,
        zone_id=None,
        ring=None,
        count=0,
        event_ids=[],
        first_at=now,
        last_at=now,
        escalation_level=0,
        acknowledged_by=None,
        ack_note="",
        sent_at=now,
    )
    ops_runtime(app).hub.publish([marker])
    assert ws.receive_json()["id"] == marker.id


def bearer(settings: CentralSettings, clock: FakeClock, user: User) -> dict[str, str]:
    """Headers with a token valid at the fake clock's "now" (tokens live hours, the test days)."""
    token = issue_token(settings.secret_key, user.id, user.token_version, clock.now(), 3600)
    return {"Authorization": f"Bearer {token}"}


def test_an_overdue_visit_is_one_alert_on_the_live_feed_until_the_visit_is_done(
    client: TestClient,
    app: FastAPI,
    db: Session,
    make_site: Callable[..., Any],
    login: Callable[..., Any],
    clock: FakeClock,
    settings: CentralSettings,
) -> None:
    c = make_compound(db, make_site(), clock.now())

    def headers(user: User) -> dict[str, str]:
        return bearer(settings, clock, user)

    worker_user, _ = login("grid_worker", [c.site_id])
    police_user, police = login("police", [c.site_id])
    zone = db.scalars(select(Zone).where(Zone.site_id == c.site_id, Zone.code == "b1-u1")).one()
    zone.grid_worker_user_id = worker_user.id  # the building's grid worker gets its rental visits
    now = clock.now()
    db.add(
        Webhook(site_id=c.site_id, url="http://127.0.0.1:9/hook", secret="s", created_at=now, updated_at=now)
    )
    db.commit()

    rounds = ReconciliationWorker(
        app.state.session_factory, app_service(app), notifier=ops_runtime(app).notifier
    )
    with client.websocket_connect(f"{API}/ws/alerts?token={police['Authorization'][7:]}") as ws:
        assert ws.receive_json()["notice"] == "hello"
        assert rounds.tick()["tasks_opened"] == 1  # the rental house is due a visit within 7 days
        nothing_pushed(ws, app, c.site_id, clock)

        clock.advance(timedelta(days=7, hours=1))  # an hour past due
        assert rounds.tick()["reminders"] == 1
        created = ws.receive_json()
        assert created["notice"] == "alert.created" and created["type"] == "grid_visit_overdue"
        assert created["site_id"] == c.site_id and created["rule_id"] is None
        assert created["severity"] == "low" and created["zone_id"] == "b1-u1" and created["count"] == 1
        assert created["title_zh"] == (
            f"网格走访逾期：1栋1单元301室 出租屋走访已逾期1天（网格员：{worker_user.username}）"
        )
        assert created["title_en"].startswith("Grid visit overdue: rental-house visit at building 1 unit 1")

        # more check runs the same day: still one alert, nothing pushed
        assert rounds.tick()["reminders"] == 0
        clock.advance(timedelta(hours=12))
        assert rounds.tick()["reminders"] == 0
        nothing_pushed(ws, app, c.site_id, clock)

        # a day after the first reminder: the daily reminder lands on the same alert
        clock.advance(timedelta(hours=12))
        assert rounds.tick()["reminders"] == 1
        updated = ws.receive_json()
        assert updated["notice"] == "alert.updated" and updated["id"] == created["id"]
        assert updated["count"] == 2 and "已逾期2天" in updated["title_zh"]

        # acknowledged like other alerts; later reminders are counted on it, not pushed
        r = client.post(
            f"{API}/alerts/{created['id']}/ack", json={"note": "已通知网格员"}, headers=headers(police_user)
        )
        assert r.status_code == 200 and r.json()["status"] == "acknowledged"
        assert ws.receive_json()["notice"] == "alert.acknowledged"
        clock.advance(DAY)
        assert rounds.tick()["reminders"] == 1
        nothing_pushed(ws, app, c.site_id, clock)

        # the grid worker scans the house QR: the task is done and the alert resolved at once
        house = db.get(House, c.rental_house_id)
        assert house is not None
        r = client.post(
            f"{API}/reconciliation/visits",
            json={"token": house_token(app_signer(app), house), "occupants_reported": 2},
            headers=headers(worker_user),
        )
        assert r.status_code == 201, r.text
        resolved = ws.receive_json()
        assert resolved["notice"] == "alert.resolved" and resolved["id"] == created["id"]
        assert resolved["status"] == "resolved" and "走访完成" in resolved["ack_note"]
        assert resolved["acknowledged_by"] == police_user.id

        # no more reminders after the visit
        db.expire_all()
        task = db.scalars(select(GridTask)).one()
        reminded_at = task.reminded_at
        for _ in range(3):
            clock.advance(DAY)
            totals = rounds.tick()
            assert totals["reminders"] == 0 and totals["tasks_opened"] == 0
        nothing_pushed(ws, app, c.site_id, clock)

    db.expire_all()
    task = db.scalars(select(GridTask)).one()
    assert task.status == "done" and task.reminded_at == reminded_at
    alert = db.scalars(select(Alert)).one()  # exactly one alert for the overdue visit
    assert alert.status == "resolved" and alert.count == 3 and alert.acknowledged_by == police_user.id
    # webhooks get the alert once when raised and once when resolved, not per check run
    bodies = db.scalars(select(WebhookDelivery.body).order_by(WebhookDelivery.id)).all()
    assert [AlertMessage.model_validate_json(b).notice for b in bodies] == ["alert.created", "alert.resolved"]
    listed = client.get(f"{API}/alerts", params={"type": "grid_visit_overdue"}, headers=headers(police_user))
    assert [a["id"] for a in listed.json()] == [alert.id]


def test_schedule_endpoint_pushes_the_reminder_and_a_cancelled_task_resolves_it(
    client: TestClient,
    app: FastAPI,
    db: Session,
    make_site: Callable[..., Any],
    login: Callable[..., Any],
    clock: FakeClock,
    settings: CentralSettings,
) -> None:
    c = make_compound(db, make_site(), clock.now())
    police_user, police = login("police", [c.site_id])
    url = f"{API}/reconciliation/sites/{c.site_id}/tasks/schedule"
    assert client.post(url, headers=police).json()["opened"] == 1
    clock.advance(timedelta(days=7, minutes=1))
    police = bearer(settings, clock, police_user)
    with client.websocket_connect(f"{API}/ws/alerts?token={police['Authorization'][7:]}") as ws:
        assert ws.receive_json()["notice"] == "hello"
        assert client.post(url, headers=police).json()["reminders"] == 1
        created = ws.receive_json()
        assert created["notice"] == "alert.created" and "（网格员：未分配）" in created["title_zh"]
        assert client.post(url, headers=police).json()["reminders"] == 0
        nothing_pushed(ws, app, c.site_id, clock)
        task = db.scalars(select(GridTask)).one()
        task.status = "cancelled"
        db.commit()
        assert client.post(url, headers=police).json()["reminders"] == 0
        resolved = ws.receive_json()
        assert resolved["notice"] == "alert.resolved" and resolved["id"] == created["id"]
        assert "任务已取消" in resolved["ack_note"] and resolved["acknowledged_by"] is None
    db.expire_all()
    assert db.scalars(select(Alert)).one().status == "resolved"
