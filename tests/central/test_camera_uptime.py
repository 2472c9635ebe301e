"""Camera uptime: camera_status events through ingest become a history; uptime per hour/day via the API."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from anju.clock import FakeClock
from central.db import make_session_factory
from central.ingest import Ingestor
from central.models.camera_history import CameraStatusChange
from contracts import CameraStatusEvent
from tests.central.ops_helpers import common

API = "/api/v1/camera-uptime"


def _status(site: Any, at: Any, camera: str, status: str) -> CameraStatusEvent:
    return CameraStatusEvent(**common(site, at), camera_id=camera, status=status)


def test_uptime_per_hour_and_day_from_ingested_events(
    client: TestClient, engine: Engine, db: Session, clock: FakeClock, login, make_site
) -> None:
    site = make_site()
    t8 = clock.now()  # 08:00 UTC
    ing = Ingestor(make_session_factory(engine), clock)
    a_online = _status(site, t8, "cam-a", "online")
    a_offline = _status(site, t8 + timedelta(minutes=30), "cam-a", "offline")
    a_back = _status(site, t8 + timedelta(minutes=75), "cam-a", "online")
    ing.on_events([a_online, _status(site, t8 - timedelta(hours=1), "cam-b", "online")])
    ing.on_events([a_back])  # arrives before the earlier offline report
    ing.on_events([a_offline, _status(site, t8 + timedelta(minutes=60), "cam-b", "stalled")])
    ing.on_events([a_online, a_back])  # a replay changes nothing
    assert db.scalar(select(func.count(CameraStatusChange.id))) == 5
    clock.advance(timedelta(hours=2))  # now 10:00: later time is not counted
    _, police = login("police", [site.id])
    r = client.get(
        API,
        headers=police,
        params={
            "site_id": site.id,
            "since": t8.isoformat(),
            "until": (t8 + timedelta(hours=3)).isoformat(),
            "bucket": "hour",
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    cams = {c["camera_id"]: c for c in body["cameras"]}
    assert [b["uptime"] for b in cams["cam-a"]["buckets"]] == [0.5, 0.75, None]
    assert [b["uptime"] for b in cams["cam-b"]["buckets"]] == [1.0, 0.0, None]
    assert cams["cam-a"]["status"] == "online" and cams["cam-b"]["status"] == "stalled"
    assert cams["cam-a"]["changes"] == 3 and cams["cam-b"]["changes"] == 1
    assert [b["uptime"] for b in body["overall"]] == [0.75, 0.375, None]
    assert body["overall"][0]["known_s"] == 7200.0 and body["uptime"] == pytest.approx(0.5625)

    day0 = t8.replace(hour=0)
    r = client.get(
        API,
        headers=police,
        params={
            "site_id": site.id,
            "since": day0.isoformat(),
            "until": (day0 + timedelta(days=2)).isoformat(),
            "bucket": "day",
            "camera_id": "cam-a",
        },
    )
    (cam,) = r.json()["cameras"]
    assert cam["buckets"][0]["online_s"] == 4500.0 and cam["buckets"][0]["known_s"] == 7200.0
    assert cam["uptime"] == 0.625 and cam["buckets"][1]["uptime"] is None


def test_window_checks_and_roles(client: TestClient, clock: FakeClock, login, make_site) -> None:
    site, other = make_site(), make_site()
    now = clock.now()
    _, guard = login("guard", [site.id])
    base = {"site_id": site.id, "since": now.isoformat()}
    r = client.get(API, headers=guard, params={**base, "until": (now - timedelta(hours=1)).isoformat()})
    assert r.status_code == 422 and r.json()["fields"][0]["field"] == "until"
    r = client.get(API, headers=guard, params={**base, "until": (now + timedelta(days=100)).isoformat()})
    assert r.status_code == 422  # too many hourly buckets
    r = client.get(API, headers=guard, params={**base, "until": (now + timedelta(hours=2)).isoformat()})
    assert r.status_code == 200 and r.json()["cameras"] == [] and r.json()["uptime"] is None
    _, foreign = login("guard", [other.id])
    r = client.get(API, headers=foreign, params={**base, "until": (now + timedelta(hours=2)).isoformat()})
    assert r.status_code == 403
