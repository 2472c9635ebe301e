"""Admin retention settings: bounded by the configuration, per site or global, audited, used by the worker."""

from __future__ import annotations

import json
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from anju.clock import FakeClock
from central.db import make_session_factory
from central.ingest import Ingestor, OpsWorker
from central.models.audit import AuditRecord
from central.models.events import EventRecord
from central.services.retention import RetentionSettings
from tests.central.ops_helpers import pass_event

API = "/api/v1/retention"


def _days(body: dict, field: str) -> tuple[int, str]:  # type: ignore[type-arg]
    p = next(p for p in body["periods"] if p["field"] == field)
    return p["days"], p["source"]


def test_admin_reads_and_changes_global_and_site_periods(
    client: TestClient, db: Session, login, make_site
) -> None:
    site = make_site()
    _, admin = login("admin")
    got = client.get(API, headers=admin).json()
    assert got["site_id"] is None and _days(got, "pass_days") == (180, "config")
    pass_days = next(p for p in got["periods"] if p["field"] == "pass_days")
    assert pass_days["label_zh"] == "通行记录" and pass_days["label_en"] and pass_days["max"] == 180
    assert pass_days["min"] == 1 and "batch" not in {p["field"] for p in got["periods"]}

    r = client.put(API, headers=admin, json={"periods": {"pass_days": 60, "alert_days": 200}})
    assert r.status_code == 200 and _days(r.json(), "pass_days") == (60, "global")
    r = client.put(
        API, headers=admin, json={"site_id": site.id, "periods": {"pass_days": 30}, "reason": "整改"}
    )
    assert r.status_code == 200
    assert _days(r.json(), "pass_days") == (30, "site") and _days(r.json(), "alert_days") == (200, "global")
    site_view = client.get(API, headers=admin, params={"site_id": site.id}).json()
    assert _days(site_view, "pass_days") == (30, "site") and _days(site_view, "stranger_days") == (
        90,
        "config",
    )
    assert _days(client.get(API, headers=admin).json(), "pass_days") == (60, "global")
    # null: the site inherits the global value again
    r = client.put(API, headers=admin, json={"site_id": site.id, "periods": {"pass_days": None}})
    assert _days(r.json(), "pass_days") == (60, "global")

    audits = db.scalars(
        select(AuditRecord).where(AuditRecord.action == "retention.update").order_by(AuditRecord.seq)
    ).all()
    assert [a.object_id for a in audits] == ["*", site.id, site.id]
    first = json.loads(audits[0].detail)["changes"]
    assert first["pass_days"]["old"] == 180 and first["pass_days"]["new"] == 60
    assert first["alert_days"] == {"old": 365, "new": 200, "old_source": "config", "new_source": "global"}
    second = json.loads(audits[1].detail)["changes"]
    assert second == {"pass_days": {"old": 60, "new": 30, "old_source": "global", "new_source": "site"}}
    assert audits[1].reason == "整改" and audits[1].site_id == site.id
    third = json.loads(audits[2].detail)["changes"]
    assert third["pass_days"]["old"] == 30 and third["pass_days"]["new"] == 60
    # an unchanged value writes no audit record
    client.put(API, headers=admin, json={"periods": {"pass_days": 60}})
    assert len(db.scalars(select(AuditRecord).where(AuditRecord.action == "retention.update")).all()) == 3


def test_values_are_bounded_and_named(client: TestClient, login, make_site) -> None:
    site = make_site()
    _, admin = login("admin")
    for body, field in (
        ({"periods": {"pass_days": 0}}, "pass_days"),
        ({"periods": {"pass_days": 181}}, "pass_days"),  # above the configured ceiling
        ({"periods": {"no_such_days": 5}}, "no_such_days"),
        ({"site_id": site.id, "periods": {"delivery_days": 5}}, "delivery_days"),  # global only
    ):
        r = client.put(API, headers=admin, json=body)
        assert r.status_code == 422, body
        assert [f["field"] for f in r.json()["fields"]] == [field]
    r = client.put(API, headers=admin, json={"periods": {"pass_days": "many"}})
    assert r.status_code == 422
    assert client.put(API, headers=admin, json={"site_id": "nope", "periods": {}}).status_code == 404
    assert _days(client.get(API, headers=admin).json(), "pass_days") == (180, "config")


def test_admin_only(client: TestClient, login, make_site) -> None:
    site = make_site()
    for role in ("property_manager", "guard", "police", "grid_worker"):
        _, headers = login(role, [site.id])
        assert client.get(API, headers=headers, params={"site_id": site.id}).status_code == 403
        r = client.put(API, headers=headers, json={"site_id": site.id, "periods": {"pass_days": 1}})
        assert r.status_code == 403
    assert client.get(API).status_code == 401


def test_worker_purges_with_stored_periods_per_site(
    client: TestClient, engine: Engine, db: Session, clock: FakeClock, login, make_site
) -> None:
    """Site A keeps pass records 10 days (set in the console), site B the configured 180."""
    site_a, site_b = make_site(), make_site()
    _, admin = login("admin")
    t0 = clock.now()
    factory = make_session_factory(engine)
    Ingestor(factory, clock).on_events([pass_event(site_a, t0, "pa"), pass_event(site_b, t0, "pb")])
    assert (
        client.put(API, headers=admin, json={"site_id": site_a.id, "periods": {"pass_days": 10}}).status_code
        == 200
    )
    clock.advance(timedelta(days=20))
    OpsWorker(factory, clock, retention=RetentionSettings()).tick()
    db.expire_all()
    assert db.scalars(select(EventRecord.site_id)).all() == [site_b.id]
    # a global value applies to every site without its own
    _, admin = login("admin")  # the first token has expired meanwhile
    assert client.put(API, headers=admin, json={"periods": {"pass_days": 15}}).status_code == 200
    clock.advance(timedelta(days=1))
    OpsWorker(factory, clock, retention=RetentionSettings()).tick()
    db.expire_all()
    assert db.scalars(select(EventRecord.site_id)).all() == []


def test_stored_values_above_a_lowered_configuration_are_capped(
    client: TestClient, engine: Engine, db: Session, clock: FakeClock, login, make_site
) -> None:
    from central.services.retention_admin import effective_settings

    site = make_site()
    _, admin = login("admin")
    client.put(API, headers=admin, json={"site_id": site.id, "periods": {"pass_days": 150}})
    glob, per_site = effective_settings(db, RetentionSettings(pass_days=100))
    assert glob.pass_days == 100 and per_site[site.id].pass_days == 100
