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
    events = []
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
def result(browser: Any, candidate: dict[str, str]) -> dict[str, Any]:
    out: dict[str, Any] = browser("police").finish(timeout=240)
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
    tasks = police("GET", f"/reconciliation/sites/{site}/tasks")
    assert any(
        t["house_id"] == candidate["house_id"] and t["candidate_id"] == result["candidateId"] for t in tasks
    )
    assert result["tasks"], "the visit task is listed in the console"


def test_police_exports_yibiao_sanshi(result: dict[str, Any]) -> None:
    assert result["exportName"].endswith(".csv")
    assert "周实住" in result["exportHead"]
