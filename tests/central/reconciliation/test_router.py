"""HTTP API: police review queue, roles, grid-worker QR visits and tasks, 一标三实 export/import."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from anju.clock import FakeClock
from central.models.audit import AuditRecord
from central.models.registry import Person
from central.models.zones import WhitelistChange
from central.reconciliation.models import GridTask
from central.reconciliation.router import get_service

_spec = importlib.util.spec_from_file_location("recon_helpers_r", Path(__file__).with_name("helpers.py"))
assert _spec is not None and _spec.loader is not None
helpers = importlib.util.module_from_spec(_spec)
sys.modules["recon_helpers_r"] = helpers
_spec.loader.exec_module(helpers)

API = "/api/v1/reconciliation"


def setup(db: Session, make_site: Callable[..., Any], clock: FakeClock) -> Any:
    return helpers.make_compound(db, make_site(), clock.now())


def test_queue_needs_the_police_role_and_site_access(
    client: TestClient,
    db: Session,
    make_site: Callable[..., Any],
    login: Callable[..., Any],
    clock: FakeClock,
) -> None:
    c = setup(db, make_site, clock)
    _, guard = login("guard", [c.site_id])
    _, other_police = login("police", [make_site().id])
    _, police = login("police", [c.site_id])
    assert client.get(f"{API}/sites/{c.site_id}/candidates", headers=guard).status_code == 403
    assert client.get(f"{API}/sites/{c.site_id}/candidates", headers=other_police).status_code == 403
    r = client.get(f"{API}/sites/{c.site_id}/candidates", headers=police)
    assert r.status_code == 200 and r.json() == []


def test_moved_away_review_over_http(
    client: TestClient,
    app: FastAPI,
    db: Session,
    make_site: Callable[..., Any],
    login: Callable[..., Any],
    clock: FakeClock,
) -> None:
    c = setup(db, make_site, clock)
    _, police = login("police", [c.site_id])
    svc = get_service(type("R", (), {"app": app})())  # the app's own service instance
    start = clock.now()
    svc.ingest(
        db, [helpers.passed(c.site_id, c.resident_id, start + timedelta(hours=h)) for h in (1, 25, 49)]
    )
    svc.ingest(db, [helpers.passed(c.site_id, c.elderly_id, start + timedelta(hours=h)) for h in (2, 26, 50)])
    db.commit()
    clock.advance(timedelta(days=12))
    _, police = login("police", [c.site_id])  # a fresh token: the old one expired meanwhile
    r = client.post(f"{API}/sites/{c.site_id}/rescore", headers=police)
    assert r.status_code == 200 and r.json()["moved_away_open"] == 1
    queue = client.get(
        f"{API}/sites/{c.site_id}/candidates", params={"kind": "moved_away"}, headers=police
    ).json()
    assert [q["subject_id"] for q in queue] == [c.resident_id]
    cid = queue[0]["id"]
    r = client.post(f"{API}/candidates/{cid}/confirm", json={"note": "已搬离"}, headers=police)
    assert r.status_code == 200 and r.json()["status"] == "confirmed"
    assert client.post(f"{API}/candidates/{cid}/reject", json={}, headers=police).status_code == 409
    db.expire_all()
    assert db.get(Person, c.resident_id).status == "moved_out"  # type: ignore[union-attr]
    assert db.scalars(select(WhitelistChange).where(WhitelistChange.person_id == c.resident_id)).first()
    assert db.scalars(select(AuditRecord).where(AuditRecord.action == "confirm")).one()


def test_grid_worker_visit_by_house_qr_closes_the_task_and_overdue_is_reminded(
    client: TestClient,
    app: FastAPI,
    db: Session,
    make_site: Callable[..., Any],
    login: Callable[..., Any],
    clock: FakeClock,
) -> None:
    from central.keys import app_signer
    from central.models.registry import House
    from central.services.house_qr import house_token

    c = setup(db, make_site, clock)
    _, police = login("police", [c.site_id])
    _, worker = login("grid_worker", [c.site_id])
    r = client.post(f"{API}/sites/{c.site_id}/tasks/schedule", headers=police)
    assert r.json() == {"opened": 1, "rental_houses": 1, "reminders": 0}
    # scheduling again does not duplicate the open task
    assert client.post(f"{API}/sites/{c.site_id}/tasks/schedule", headers=police).json()["opened"] == 0
    clock.advance(timedelta(days=8))
    _, police = login("police", [c.site_id])
    _, worker = login("grid_worker", [c.site_id])
    tasks = client.get(f"{API}/sites/{c.site_id}/tasks", params={"overdue_only": True}, headers=worker).json()
    assert len(tasks) == 1 and tasks[0]["overdue"] and tasks[0]["house_id"] == c.rental_house_id
    r = client.post(f"{API}/sites/{c.site_id}/tasks/schedule", headers=police)
    assert r.json()["reminders"] == 1
    assert client.post(f"{API}/sites/{c.site_id}/tasks/schedule", headers=police).json()["reminders"] == 0
    house = db.get(House, c.rental_house_id)
    assert house is not None
    token = house_token(app_signer(app), house)
    assert (
        client.post(f"{API}/visits", json={"token": token[:-4] + "AAAA"}, headers=worker).status_code == 422
    )
    r = client.post(
        f"{API}/visits", json={"token": token, "occupants_reported": 3, "note": "3人"}, headers=worker
    )
    assert r.status_code == 201, r.text
    db.expire_all()
    assert db.scalars(select(GridTask)).one().status == "done"
    assert client.get(f"{API}/sites/{c.site_id}/tasks", headers=worker).json() == []
    # visited within the period: nothing new to schedule
    assert client.post(f"{API}/sites/{c.site_id}/tasks/schedule", headers=police).json()["opened"] == 0


def test_export_and_platform_import(
    client: TestClient,
    db: Session,
    make_site: Callable[..., Any],
    login: Callable[..., Any],
    clock: FakeClock,
) -> None:
    c = setup(db, make_site, clock)
    p = db.get(Person, c.resident_id)
    assert p is not None
    p.id_number = "330106199001011234"
    db.commit()
    _, police = login("police", [c.site_id])
    doc = client.get(f"{API}/sites/{c.site_id}/export", headers=police).json()
    assert len(doc["addresses"]) == 1 and doc["houses"][0]["FWYT"] == "出租"
    person = next(x for x in doc["persons"] if x["RYBM"] == c.resident_id)
    assert person["GMSFHM"] == "330106199001011234" and person["DZBM"] == c.rental_house_id
    assert "1栋" in person["BZDZ"] and "1单元301室" in person["BZDZ"]
    r = client.get(
        f"{API}/sites/{c.site_id}/export", params={"format": "csv", "kind": "persons"}, headers=police
    )
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert {row["XM"] for row in rows} == {"张三", "李奶奶"}

    update = json.dumps(
        {
            "persons": [
                {"GMSFHM": "330106199001011234", "CZLX": "2"},
                {"GMSFHM": "330106199505052345", "CZLX": "1", "XM": "赵六", "LXDH": "13800000000"},
            ]
        },
        ensure_ascii=False,
    ).encode()
    files = {"file": ("updates.json", update, "application/json")}
    r = client.post(f"{API}/sites/{c.site_id}/import", files=files, headers=police)
    assert r.status_code == 200, r.text
    assert r.json()["moved_out"] == 1 and r.json()["created"] == 1
    again = client.post(f"{API}/sites/{c.site_id}/import", files=files, headers=police).json()
    assert again["already_imported"] is True
    db.expire_all()
    assert db.get(Person, c.resident_id).status == "moved_out"  # type: ignore[union-attr]
    new = db.scalars(select(Person).where(Person.name == "赵六")).one()
    changed = {w.person_id for w in db.scalars(select(WhitelistChange))}
    assert {c.resident_id, new.id} <= changed
    bad = {"file": ("bad.json", b'{"persons": [{"GMSFHM": "123", "CZLX": "9"}]}', "application/json")}
    r = client.post(f"{API}/sites/{c.site_id}/import", files=bad, headers=police)
    assert r.status_code == 422
