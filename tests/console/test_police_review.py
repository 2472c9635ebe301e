"""In a real browser, as community police: confirm a reconciliation candidate found from real face
embeddings (LFW, the recognition pipeline), see the visit task, search a trajectory, export 一标三实."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

LFW = Path(__file__).resolve().parents[3] / "shared" / "testdata" / "lfw"


@pytest.fixture(scope="module")
def candidate(console_server: Any, api: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """An unregistered occupant: one real face seen at night at building 3's unit door for ten days."""
    from central.reconciliation.config import ReconciliationConfig
    from central.reconciliation.service import ReconciliationService, encode_embedding
    from central.simulation.faces import FaceBank, list_identities
    from contracts.messages import Direction, StrangerEvent

    admin = api("admin")
    site = console_server.site_id
    building = admin("POST", "/buildings", json={"site_id": site, "number": "3", "name": "3号楼"})
    house = admin(
        "POST",
        "/houses",
        json={"building_id": building["id"], "unit": "1", "floor": 2, "room": "201", "usage": "rental"},
    )
    zone = admin(
        "POST",
        "/zones",
        json={
            "site_id": site,
            "code": "b3-u1",
            "name": "3号楼1单元",
            "ring": 3,
            "kind": "unit",
            "building_id": building["id"],
        },
    )
    admin(
        "POST",
        "/devices",
        json={"zone_id": zone["id"], "code": "cam-b3-u1", "type": "camera", "node_id": "unit-b3"},
    )

    name = list_identities(LFW, 12)[0][0]
    face = FaceBank(LFW, tmp_path_factory.mktemp("faces")).load([name], 12)[name]
    now = datetime.now(timezone.utc)
    events: list[Any] = []
    for day in range(1, 11):
        # 21:30 and 07:10 Beijing time: home at night.
        for hour, minute in ((13, 30), (23, 10)):
            at = (now - timedelta(days=day)).replace(hour=hour, minute=minute, second=0, microsecond=0)
            vec = face.vectors[(day * 2 + hour) % len(face.vectors)]
            events.append(
                StrangerEvent(
                    event_id=uuid.uuid4(),
                    site_id=site,
                    node_id="unit-b3",
                    seq=len(events),
                    captured_at=at,
                    camera_id="cam-b3-u1",
                    zone_id="b3-u1",
                    ring=3,
                    direction=Direction.inbound,
                    track_id=len(events),
                    best_score=0.1,
                    quality=0.9,
                    embedding_b64=encode_embedding(vec),
                )
            )
    app = console_server.app
    svc = app.state.services.extras.get("reconciliation")
    if svc is None:
        svc = ReconciliationService(ReconciliationConfig(), app.state.clock)
        app.state.services.extras["reconciliation"] = svc
    with console_server.session() as session:
        svc.ingest(session, events)
        session.commit()
    res = api("police")("POST", f"/reconciliation/sites/{site}/rescore")
    assert res["occupant_open"] >= 1, res
    return {"house_id": house["id"]}


@pytest.fixture(scope="module")
def resident_walk(
    console_server: Any, api: Any, candidate: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> str:
    """A registered resident walking in through rings 1 → 2 → 3 today, and a site plan with those cameras."""
    import cv2
    import numpy as np

    from central.ingest import ops_runtime
    from contracts.messages import Direction, PassEvent, PersonKind

    admin = api("admin")
    site = console_server.site_id
    person = admin(
        "POST", "/persons", json={"site_id": site, "name": "王大爷", "kind": "owner", "elderly_alone": True}
    )
    cams = [("cam-gate-s", 1, "南门", "gate"), ("cam-road-c", 2, "中心路", "road")]
    for code, ring, name, kind in cams:
        zone = admin(
            "POST",
            "/zones",
            json={"site_id": site, "code": f"z-{code}", "name": name, "ring": ring, "kind": kind},
        )
        admin(
            "POST",
            "/devices",
            json={"zone_id": zone["id"], "code": code, "type": "camera", "node_id": "gate-s", "name": name},
        )
    plan = np.full((500, 900, 3), 236, np.uint8)
    cv2.rectangle(plan, (600, 80), (800, 260), (170, 150, 130), -1)
    cv2.line(plan, (450, 500), (450, 170), (255, 255, 255), 26)
    cv2.line(plan, (450, 170), (600, 170), (255, 255, 255), 26)
    path = tmp_path_factory.mktemp("plan") / "plan.png"
    cv2.imwrite(str(path), plan)
    admin.client.put(
        f"/console/siteplan/image?site_id={site}",
        files={"image": ("plan.png", path.read_bytes(), "image/png")},
    )
    markers = {
        "camera:cam-gate-s": {"x": 50, "y": 95},
        "camera:cam-road-c": {"x": 50, "y": 40},
        "camera:cam-b3-u1": {"x": 66, "y": 34},
    }
    admin("PUT", "/console/siteplan/markers", params={"site_id": site}, json={"markers": markers})
    now = datetime.now(timezone.utc)
    walk = [("cam-gate-s", "z-cam-gate-s", 1), ("cam-road-c", "z-cam-road-c", 2), ("cam-b3-u1", "b3-u1", 3)]
    events: list[Any] = [
        PassEvent(
            event_id=uuid.uuid4(),
            site_id=site,
            node_id="gate-s",
            seq=1000 + i,
            captured_at=now - timedelta(minutes=30 - 3 * i),
            camera_id=cam,
            zone_id=zone,
            ring=ring,
            direction=Direction.inbound,
            person_id=person["id"],
            person_kind=PersonKind.owner,
            score=0.71,
        )
        for i, (cam, zone, ring) in enumerate(walk)
    ]
    ops_runtime(console_server.app).ingestor.on_events(events)
    return str(person["id"])


@pytest.fixture(scope="module")
def result(browser: Any, api: Any, candidate: dict[str, str], resident_walk: str) -> dict[str, Any]:
    qr = api("admin")("GET", f"/houses/{candidate['house_id']}/qr")
    out: dict[str, Any] = browser("police", QR_TOKEN=qr["token"]).finish(timeout=240)
    return out


def test_police_confirms_a_candidate(
    result: dict[str, Any], api: Any, console_server: Any, candidate: dict[str, str]
) -> None:
    assert result["home"] == "#/review"
    assert "出现天数" in result["evidence"] and "cam-b3-u1" in result["evidence"]
    assert "已确认" in result["confirmedText"]
    police = api("police")
    site = console_server.site_id
    confirmed = police("GET", f"/reconciliation/sites/{site}/candidates", params={"status": "confirmed"})
    assert [c["id"] for c in confirmed] == [result["candidateId"]]
    assert confirmed[0]["decided_by"]
    people = api("property_manager")("GET", "/persons", params={"site_id": site, "q": "周实住"})
    assert people["total"] == 1
    # Confirming opened a verification visit for the linked house; the console listed it.
    assert any(result["candidateId"] in row for row in result["tasks"])
    # The QR visit recorded in the console closed the verification task (the list shows open ones).
    still_open = police("GET", f"/reconciliation/sites/{site}/tasks")
    assert not [t for t in still_open if t["candidate_id"] == result["candidateId"]]
    assert result["tasksAfter"] == []


def test_police_sees_a_trajectory_across_rings(result: dict[str, Any]) -> None:
    assert [row[1] for row in result["trajectory"]] == [
        "第一圈 · 小区出入口",
        "第二圈 · 小区内部",
        "第三圈 · 楼栋单元",
    ]
    assert result["pathDrawn"], "the walk is drawn over the site plan"


def test_police_exports_yibiao_sanshi(result: dict[str, Any]) -> None:
    assert result["exportName"].endswith(".csv")
    assert "周实住" in result["exportHead"]
