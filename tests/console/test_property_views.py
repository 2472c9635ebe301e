"""In a real browser, as property staff: enrol a person with consent and a photo (real face models),
issue and show a visitor QR pass, import a spreadsheet with row errors, place devices on the site plan."""

from __future__ import annotations

import time
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SHARED = Path(__file__).resolve().parents[3] / "shared"
PHOTO = SHARED / "testdata" / "examples" / "obama.jpg"
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def id_number(birth: str, seq: str, region: str = "330106") -> str:
    """A valid 18-digit citizen ID (GB 11643 check digit)."""
    body = f"{region}{birth}{seq}"
    check = "10X98765432"[sum(int(d) * w for d, w in zip(body, _WEIGHTS, strict=True)) % 11]
    return body + check


@pytest.fixture(scope="module")
def seeded(console_server: Any, api: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    admin = api("admin")
    site = console_server.site_id
    building = admin(
        "POST", "/buildings", json={"site_id": site, "number": "3", "name": "3号楼", "floors": 18}
    )
    house = admin(
        "POST",
        "/houses",
        json={"building_id": building["id"], "unit": "1", "floor": 5, "room": "502", "usage": "rental"},
    )
    household = admin(
        "POST", "/households", json={"house_id": house["id"], "name": "王家", "phone": "13900000000"}
    )
    person = admin(
        "POST",
        "/persons",
        json={
            "site_id": site,
            "name": "王小明",
            "id_number": id_number("19850312", "123"),
            "kind": "tenant",
            "household_id": household["id"],
        },
    )
    zone = admin(
        "POST",
        "/zones",
        json={"site_id": site, "code": "gate-north", "name": "北门", "ring": 1, "kind": "gate"},
    )
    for code, kind in (("cam-north-in", "camera"), ("door-north", "door")):
        admin(
            "POST",
            "/devices",
            json={"zone_id": zone["id"], "code": code, "type": kind, "node_id": "gate-north"},
        )

    tmp = tmp_path_factory.mktemp("property")
    # Bulk enrolment: one person with consent (enrols), one without (reported, not enrolled).
    consenting = id_number("19660606", "331")
    refusing = id_number("19770707", "442")
    for name, idn in (("李同意", consenting), ("吴未同意", refusing)):
        p = admin("POST", "/persons", json={"site_id": site, "name": name, "id_number": idn, "kind": "owner"})
        if idn == consenting:
            admin("POST", f"/persons/{p['id']}/consent", json={"granted_by": "self", "method": "paper"})
    train = SHARED / "testdata" / "examples" / "knn_examples" / "train"
    with zipfile.ZipFile(tmp / "bulk.zip", "w") as z:
        z.write(train / "biden" / "biden.jpg", f"{consenting}.jpg")
        z.write(sorted((train / "kit_harington").iterdir())[0], f"{refusing}.jpg")
    blank = np.full((480, 640, 3), 180, np.uint8)  # a photo with no face in it
    cv2.imwrite(str(tmp / "no-face.jpg"), blank)
    plan = np.full((600, 1000, 3), 235, np.uint8)
    for x, y in ((120, 100), (420, 100), (720, 100), (120, 350), (420, 350)):
        cv2.rectangle(plan, (x, y), (x + 200, y + 150), (180, 160, 140), -1)
    cv2.line(plan, (0, 300), (1000, 300), (255, 255, 255), 30)
    cv2.imwrite(str(tmp / "plan.png"), plan)
    header = "姓名,身份证号,人员类型,楼栋,单元,户号\n"
    good = (
        f"赵一,{id_number('19700101', '211')},owner,3,1,502\n"
        f"钱二,{id_number('19750505', '222')},family,3,1,502\n"
    )
    bad = good + "孙三,110101199003071234,owner,3,1,502\n"  # wrong check digit
    (tmp / "bad.csv").write_text(header + bad, encoding="utf-8")
    (tmp / "good.csv").write_text(header + good, encoding="utf-8")
    return {
        "PERSON_ID": person["id"],
        "PERSON_NAME": "王小明",
        "PHOTO_GOOD": str(PHOTO),
        "PHOTO_BAD": str(tmp / "no-face.jpg"),
        "BULK_ZIP": str(tmp / "bulk.zip"),
        "CSV_BAD": str(tmp / "bad.csv"),
        "CSV_GOOD": str(tmp / "good.csv"),
        "PLAN_IMAGE": str(tmp / "plan.png"),
    }


@pytest.fixture(scope="module")
def traffic(console_server: Any, gateway_rig: Any, api: Any, seeded: dict[str, str]) -> int:
    """A week of gate traffic and one tailgating alert, through the real gateway, for the dashboard."""
    from contracts.messages import CameraStatusEvent, Direction, PassEvent, PersonKind, TailgatingEvent

    admin = api("admin")
    admin(
        "POST",
        "/alert-rules",
        json={"site_id": console_server.site_id, "name": "尾随", "type": "tailgating", "severity": "high"},
    )
    edge = gateway_rig.edge
    now = datetime.now(timezone.utc)
    events: list[Any] = [edge.events.make(CameraStatusEvent, camera_id="cam-north-in", status="online")]
    for k in range(60):
        at = now - timedelta(minutes=37 * k)
        events.append(
            edge.events.make(
                PassEvent,
                captured_at=at,
                camera_id="cam-north-in",
                door_id="door-north",
                zone_id="gate-north",
                ring=1 if k % 3 else 3,
                direction=Direction.inbound if k % 2 else Direction.outbound,
                person_id=f"resident-{k % 9}",
                person_kind=PersonKind.owner,
            )
        )
    events.append(
        edge.events.make(
            TailgatingEvent, camera_id="cam-north-in", door_id="door-north", authorised=1, counted=2, ring=1
        )
    )
    for ev in events:
        edge.publish(ev)
    pm = api("property_manager")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if (
            len(
                pm(
                    "GET", "/events", params={"site_id": console_server.site_id, "kind": "pass", "limit": 500}
                )["items"]
            )
            >= 60
        ):
            return len(events)
        time.sleep(0.2)
    raise AssertionError("gate traffic did not arrive")


@pytest.fixture(scope="module")
def result(browser: Any, seeded: dict[str, str], traffic: int) -> dict[str, Any]:
    out: dict[str, Any] = browser("property", **seeded).finish(timeout=300)
    return out


def test_enrol_person_with_consent_and_photo(
    result: dict[str, Any], api: Any, seeded: dict[str, str]
) -> None:
    assert result["uploadBeforeConsent"] is False, "no photo upload before consent is recorded"
    assert "已取得同意" in result["consentText"]
    assert result["badOk"] == "0" and "照片未通过" in result["badText"]
    assert "采集成功" in result["goodText"] and "质量分" in result["goodText"]
    consents = api("property_manager")("GET", f"/persons/{seeded['PERSON_ID']}/consents")
    assert [c["document_ref"] for c in consents] == ["TY-2026-0042"]


def test_withdraw_consent_replaces_the_face_with_a_pin(
    result: dict[str, Any], api: Any, seeded: dict[str, str]
) -> None:
    assert "已删除 1 个人脸模板" in result["withdrawText"] and "PIN" in result["withdrawText"]
    person = api("property_manager")("GET", f"/persons/{seeded['PERSON_ID']}")
    assert person["has_face"] is False
    consents = api("property_manager")("GET", f"/persons/{seeded['PERSON_ID']}/consents")
    assert consents[0]["withdrawn_at"] is not None and consents[0]["withdrawn_reason"] == "本人要求撤回"


def test_issue_visitor_pass(result: dict[str, Any], api: Any) -> None:
    assert result["qrSize"] > 100 and result["canPrint"]
    assert "李访客" in result["passText"]
    issued = api("property_manager")("GET", f"/visitor-passes/{result['passId']}")
    assert issued["status"] in ("active", "valid", "issued")


def test_import_shows_row_errors_then_imports(result: dict[str, Any]) -> None:
    rows = result["importErrors"]
    assert rows and rows[0][0] == "4" and rows[0][1] == "id_number", rows
    assert result["progress"] == "100"
    assert "新增 2" in result["importOk"]
    assert result["personsRows"] >= 3
    assert result["houseQr"] > 50, "the rental house QR renders"


def test_site_plan_markers_and_dashboard(result: dict[str, Any]) -> None:
    assert sorted(m[0] for m in result["markers"]) == ["camera:cam-north-in", "door:door-north"]
    # in/out per hour and per day, present by ring and by zone, alerts by type and time to
    # acknowledge, visits per day, camera uptime (24 h by hour)
    assert result["charts"] == 8


def test_vehicle_watch_and_access_rule(result: dict[str, Any], api: Any, console_server: Any) -> None:
    pm = api("property_manager")
    cars = pm("GET", "/vehicles", params={"site_id": console_server.site_id, "plate": "浙A12345"})
    assert len(cars) == 1 and cars[0]["watchlisted"] is True and cars[0]["watch_reason"] == "被盗车辆协查"
    rules = pm("GET", "/access-rules", params={"site_id": console_server.site_id})
    rule = next(r for r in rules if r["name"] == "租户工作日通行")
    assert (
        rule["subject_value"] == "tenant" and rule["rings"] == [1, 3] and rule["weekdays"] == [0, 1, 2, 3, 4]
    )
    assert rule["start"].startswith("06:00") and rule["end"].startswith("23:00")
    assert "周一" in result["ruleRow"]


def test_bulk_enrolment_shows_progress_and_per_file_results(result: dict[str, Any]) -> None:
    assert result["bulkProgress"] == "100"
    assert "成功 1，失败 1" in result["bulkText"]
    assert "同意" in result["bulkText"], "the refused file says consent is missing"
