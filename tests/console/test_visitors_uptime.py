"""In a real browser: the visitor pass list (property staff reprint and revoke; the guard's 今日访客
with arrivals) and camera uptime charts, fed by real events an edge node publishes through the broker."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from contracts import PersonKind
from contracts.messages import CameraStatusEvent, Credential, Direction, PassEvent

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _wait(predicate: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


@pytest.fixture(scope="module")
def seeded(console_server: Any, gateway_rig: Any, api: Any) -> dict[str, Any]:
    admin = api("admin")
    pm = api("property_manager")
    site = console_server.site_id
    building = admin(
        "POST", "/buildings", json={"site_id": site, "number": "7", "name": "7号楼", "floors": 6}
    )
    house = admin(
        "POST", "/houses", json={"building_id": building["id"], "unit": "2", "floor": 3, "room": "301"}
    )
    household = admin(
        "POST", "/households", json={"house_id": house["id"], "name": "赵家", "phone": "13700000000"}
    )
    zone = admin(
        "POST",
        "/zones",
        json={"site_id": site, "code": "gate-north", "name": "北门", "ring": 1, "kind": "gate"},
    )
    for code, name in (("cam-north-in", "北门入口摄像机"), ("cam-east", "东门摄像机")):
        admin(
            "POST",
            "/devices",
            json={
                "zone_id": zone["id"],
                "code": code,
                "type": "camera",
                "name": name,
                "direction": "in",
                "node_id": gateway_rig.node_id,
            },
        )
    now = datetime.now(timezone.utc)

    def issue(name: str) -> dict[str, Any]:
        body = {
            "site_id": site,
            "host_household_id": household["id"],
            "name": name,
            "phone": "13600000000",
            "valid_from": (now - timedelta(minutes=30)).isoformat(),
            "valid_until": (now + timedelta(hours=6)).isoformat(),
        }
        out: dict[str, Any] = pm("POST", "/visitors", json=body)
        return out

    used, spare = issue("钱来访"), issue("孙来访")
    edge = gateway_rig.edge
    # Camera status history, published by the edge node through the broker: cam-north-in was
    # online 3 h ago, offline 2 h ago, back 1.5 h ago; cam-east online for 5 h.
    for minutes, camera, status in (
        (300, "cam-east", "online"),
        (180, "cam-north-in", "online"),
        (120, "cam-north-in", "offline"),
        (90, "cam-north-in", "online"),
    ):
        edge.publish(
            edge.events.make(
                CameraStatusEvent,
                captured_at=now - timedelta(minutes=minutes),
                camera_id=camera,
                status=status,
            )
        )
    # The visitor arrives: the gate reads the QR pass.
    edge.publish(
        edge.events.make(
            PassEvent,
            camera_id="cam-north-in",
            zone_id="gate-north",
            ring=1,
            direction=Direction.inbound,
            person_id=f"pass:{used['id']}",
            person_kind=PersonKind.visitor,
            credential=Credential.qr,
            pass_id=used["id"],
        )
    )
    guard = api("guard")
    day0 = now - timedelta(days=1)
    _wait(
        lambda: guard(
            "GET",
            "/visits",
            params={
                "site_id": site,
                "since": day0.isoformat(),
                "until": (now + timedelta(days=1)).isoformat(),
            },
        )
    )
    report = _wait(
        lambda: (
            r
            if len(
                (
                    r := guard(
                        "GET",
                        "/camera-uptime",
                        params={
                            "site_id": site,
                            "since": (now - timedelta(hours=6)).isoformat(),
                            "until": (now + timedelta(hours=1)).isoformat(),
                        },
                    )
                )["cameras"]
            )
            == 2
            and sum(c["changes"] for c in r["cameras"]) == 4
            else None
        )
    )
    return {"used": used["id"], "spare": spare["id"], "report": report}


@pytest.fixture(scope="module")
def result(browser: Any, seeded: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = browser(
        "visitors_uptime", USED_PASS=seeded["used"], SPARE_PASS=seeded["spare"]
    ).finish(timeout=240)
    return out


def test_pass_list_shows_status_and_arrival(result: dict[str, Any]) -> None:
    assert result["usedState"] == "已使用" and "尚未离开" in result["usedRow"]
    assert result["spareState"] == "已签发"
    assert any("已到访" in s and "1" in s for s in result["stats"])


def test_property_staff_reprint_and_revoke(result: dict[str, Any], seeded: dict[str, Any], api: Any) -> None:
    assert result["reprintPass"] == seeded["used"] and result["printButton"] is True
    assert result["spareAfter"] == "已作废" and result["revokeButtonGone"] is True
    assert result["revokedOnly"] == [seeded["spare"]]
    spare = api("property_manager")("GET", f"/visitor-passes/{seeded['spare']}")
    assert spare["status"] == "revoked"


def test_camera_uptime_from_published_status_events(result: dict[str, Any], seeded: dict[str, Any]) -> None:
    cams = {c["camera_id"]: c for c in seeded["report"]["cameras"]}
    # 3 h known, 2.5 h online (the exact figure moves with the clock by a fraction of a percent)
    assert 0.82 < cams["cam-north-in"]["uptime"] < 0.85 and cams["cam-east"]["uptime"] == 1.0
    north = float(result["dashUptime"]["cam-north-in"].rstrip("%"))
    assert 82.0 < north < 85.0 and result["dashUptime"]["cam-east"] == "100%"
    assert result["dashBars"] >= 4  # hourly bars with a known status
    assert 82.0 < float(result["cameraDialog"].rstrip("%")) < 85.0
    assert result["camerasOverall"].endswith("%")


def test_guard_sees_todays_visitors_with_status(result: dict[str, Any]) -> None:
    assert "钱来访" in result["guardWall"] and "已使用" in result["guardWall"]
    assert "孙来访" in result["guardWall"] and "已作废" in result["guardWall"]
    assert any("钱来访" in row for row in result["guardRows"]) and result["guardVisits"] == 1


@pytest.fixture(scope="module")
def tour(browser: Any, result: dict[str, Any]) -> dict[str, Any]:
    """The role tour on this seeded site (passes, visits, cameras with history): tour-<role>-<route>.png."""
    import json

    from tests.console.test_role_tour import routes_by_role

    out: dict[str, Any] = browser(
        "role_tour", ALL_ROUTES=json.dumps(sorted(routes_by_role())), TOUR_PREFIX="tour"
    ).finish(timeout=400)
    return out


def test_role_tour_on_the_seeded_site(tour: dict[str, Any]) -> None:
    from tests.console.test_role_tour import check_tour

    check_tour(tour)
    # the buttons match the API: grid workers add and edit houses but may not delete them
    assert {"new-item", "edit"} <= set(tour["buttons"]["grid_worker:houses"])
    assert "delete" not in tour["buttons"]["grid_worker:houses"]
    assert "delete" in tour["buttons"]["property_manager:houses"]
    assert "revoke" in tour["buttons"]["guard:visitors"] and "uptime" in tour["buttons"]["admin:cameras"]
