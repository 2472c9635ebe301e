"""Persons: GB 11643 validation, derived fields, masking by role, watchlist rights, audit of views."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient

from central.idcard import IdNumberError, check_digit, mask_id_number, parse_id_number

API = "/api/v1"


def make_id(birth: str, seq: str = "123", region: str = "330106") -> str:
    first17 = region + birth + seq
    return first17 + check_digit(first17)


def test_id_number_rules() -> None:
    assert parse_id_number("11010519491231002X").birth_date == date(1949, 12, 31)
    assert parse_id_number("11010519491231002x").number.endswith("X")
    for bad, why in [
        ("110105194912310021", "check digit"),
        ("11010519491331002X", "birth date"),
        ("99010519491231002X", "region"),
        ("1101051949123100", "18"),
        ("11010518801231002X", "range"),
    ]:
        with pytest.raises(IdNumberError, match=why):
            parse_id_number(bad if why != "range" else make_id("18801231"))
    assert mask_id_number("11010519491231002X") == "110105********002X"


@pytest.fixture
def world(client: TestClient, login: Any) -> dict[str, Any]:
    _, admin_h = login("admin")
    site = client.post(f"{API}/sites", json={"name": "阳光小区", "code": "yg"}, headers=admin_h).json()
    return {"admin": admin_h, "site": site}


def test_create_derives_birth_sex_minor(client: TestClient, login: Any, world: dict[str, Any]) -> None:
    _, pm_h = login("property_manager", [world["site"]["id"]])
    idn = make_id("20150601", "124")  # 10 years old on 2026-03-01, 4th digit even → female
    r = client.post(
        f"{API}/persons",
        json={"site_id": world["site"]["id"], "name": "李小红", "id_number": idn, "kind": "family"},
        headers=pm_h,
    )
    assert r.status_code == 201, r.text
    p = r.json()
    assert p["birth_date"] == "2015-06-01" and p["gender"] == "female" and p["minor"] is True
    assert p["id_number"] == mask_id_number(idn) and p["id_number_masked"] is True
    # duplicate ID in the same site
    r = client.post(
        f"{API}/persons",
        json={"site_id": world["site"]["id"], "name": "别人", "id_number": idn},
        headers=pm_h,
    )
    assert r.status_code == 409 and r.json()["fields"][0]["field"] == "id_number"
    # inconsistent birth date / gender
    r = client.post(
        f"{API}/persons",
        json={
            "site_id": world["site"]["id"],
            "name": "王五",
            "id_number": make_id("19800101", "135"),
            "birth_date": "1980-01-02",
            "gender": "female",
        },
        headers=pm_h,
    )
    assert r.status_code == 422
    assert {f["field"] for f in r.json()["fields"]} == {"birth_date", "gender"}


@pytest.mark.parametrize(
    "field,value",
    [
        ("id_number", "110105194912310021"),
        ("id_number", "<script>"),
        ("name", "Robert'); DROP TABLE persons;--"),
        ("name", "<img src=x onerror=alert(1)>"),
        ("name", "张三😀"),
        ("name", "张" * 65),
        ("name", ""),
        ("phone", "call me maybe"),
        ("birth_date", "2999-01-01"),
        ("birth_date", "1000-01-01"),
        ("kind", "king"),
        ("watchlist_category", "anything"),
        ("notes", "x" * 2001),
        ("notes", "bell\x07"),
    ],
)
def test_bad_person_input(client: TestClient, world: dict[str, Any], field: str, value: str) -> None:
    body = {"site_id": world["site"]["id"], "name": "赵六", field: value}
    r = client.post(f"{API}/persons", json=body, headers=world["admin"])
    assert r.status_code == 422, r.text
    assert r.json()["fields"] and r.json()["fields"][0]["field"].startswith(field)
    assert client.get(f"{API}/persons", headers=world["admin"]).json()["total"] == 0


def test_future_birth_date_by_clock(client: TestClient, world: dict[str, Any]) -> None:
    r = client.post(
        f"{API}/persons",
        json={"site_id": world["site"]["id"], "name": "未来", "birth_date": "2026-06-01"},
        headers=world["admin"],
    )
    assert r.status_code == 422 and r.json()["fields"][0]["field"] == "birth_date"


def test_masking_and_watchlist_by_role(client: TestClient, login: Any, world: dict[str, Any]) -> None:
    sid = world["site"]["id"]
    idn = make_id("19500101", "111")
    _, police_h = login("police", [sid])
    _, pm_h = login("property_manager", [sid])
    _, guard_h = login("guard", [sid])
    r = client.post(
        f"{API}/persons",
        json={"site_id": sid, "name": "钱七", "watchlist_category": "key_person"},
        headers=pm_h,
    )
    assert r.status_code == 403
    r = client.post(
        f"{API}/persons",
        json={
            "site_id": sid,
            "name": "钱七",
            "id_number": idn,
            "phone": "13812345678",
            "watchlist_category": "key_person",
            "notes": "走访记录",
            "elderly_alone": True,
        },
        headers=police_h,
    )
    assert r.status_code == 201, r.text
    pid = r.json()["id"]
    full = client.get(f"{API}/persons/{pid}", headers=police_h).json()
    assert full["id_number"] == idn and full["watchlist_category"] == "key_person"
    pm = client.get(f"{API}/persons/{pid}", headers=pm_h).json()
    assert pm["id_number"] == mask_id_number(idn) and pm["watchlist_category"] is None
    assert pm["phone"] == "13812345678" and pm["notes"] == "走访记录"
    g = client.get(f"{API}/persons/{pid}", headers=guard_h).json()
    assert g["phone"] == "138****5678" and g["notes"] == "" and g["birth_date"] is None
    assert client.patch(f"{API}/persons/{pid}", json={"name": "x"}, headers=guard_h).status_code == 403
    assert client.get(f"{API}/persons", params={"watchlisted": True}, headers=pm_h).status_code == 403
    assert client.get(f"{API}/persons", params={"watchlisted": True}, headers=police_h).json()["total"] == 1
    assert client.get(f"{API}/persons", params={"special_care": True}, headers=pm_h).json()["total"] == 1


def test_views_are_audited_with_reason(client: TestClient, login: Any, world: dict[str, Any]) -> None:
    sid = world["site"]["id"]
    user, pm_h = login("property_manager", [sid])
    pid = client.post(f"{API}/persons", json={"site_id": sid, "name": "孙八"}, headers=pm_h).json()["id"]
    from urllib.parse import quote

    client.get(f"{API}/persons/{pid}", headers={**pm_h, "X-Anju-Reason": quote("住户来访核实")})
    recs = client.get(f"{API}/audit", params={"object_id": pid}, headers=world["admin"]).json()
    actions = [(r["action"], r["actor_id"], r["reason"]) for r in recs]
    assert ("view", user.id, "住户来访核实") in actions
    assert any(a[0] == "create" for a in actions)
    assert client.get(f"{API}/audit/verify", headers=world["admin"]).json()["ok"] is True


def test_update_and_move_out_marks_whitelist(
    client: TestClient, login: Any, world: dict[str, Any], db: Any
) -> None:
    from sqlalchemy import select

    from central.models.zones import WhitelistChange

    sid = world["site"]["id"]
    pid = client.post(f"{API}/persons", json={"site_id": sid, "name": "周九"}, headers=world["admin"]).json()[
        "id"
    ]
    r = client.patch(f"{API}/persons/{pid}", json={"status": "moved_out"}, headers=world["admin"])
    assert r.status_code == 200 and r.json()["status"] == "moved_out"
    marks = db.scalars(select(WhitelistChange.person_id).where(WhitelistChange.site_id == sid)).all()
    assert pid in marks
    assert client.get(f"{API}/persons", headers=world["admin"]).json()["total"] == 0
    assert (
        client.get(f"{API}/persons", params={"status": "moved_out"}, headers=world["admin"]).json()["total"]
        == 1
    )


def test_household_of_another_site_refused(client: TestClient, login: Any, world: dict[str, Any]) -> None:
    other = client.post(f"{API}/sites", json={"name": "B", "code": "bb"}, headers=world["admin"]).json()
    b = client.post(
        f"{API}/buildings", json={"site_id": other["id"], "number": "1"}, headers=world["admin"]
    ).json()
    h = client.post(
        f"{API}/houses", json={"building_id": b["id"], "floor": 1, "room": "1"}, headers=world["admin"]
    ).json()
    hh = client.post(f"{API}/households", json={"house_id": h["id"]}, headers=world["admin"]).json()
    body = {"site_id": world["site"]["id"], "name": "跨区", "household_id": hh["id"]}
    r = client.post(f"{API}/persons", json=body, headers=world["admin"])
    assert r.status_code == 422 and r.json()["fields"][0]["field"] == "household_id"
    pid = client.post(
        f"{API}/persons", json={"site_id": world["site"]["id"], "name": "本区"}, headers=world["admin"]
    ).json()["id"]
    r = client.patch(f"{API}/persons/{pid}", json={"household_id": hh["id"]}, headers=world["admin"])
    assert r.status_code == 422 and r.json()["fields"][0]["field"] == "household_id"
