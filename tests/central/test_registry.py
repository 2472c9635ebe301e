"""Registry: sites, buildings, houses (QR), households, organisations; same-site rules; bad input."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

API = "/api/v1"
HOSTILE = [
    "'; DROP TABLE persons; --",
    "<script>alert(1)</script>",
    "张三\u202e",
    "x" * 5000,
    "\x00\x01",
]


def _setup(client: TestClient, login: Any) -> tuple[dict[str, str], dict[str, Any]]:
    _, admin_h = login("admin")
    site = client.post(
        f"{API}/sites",
        json={
            "name": "阳光小区",
            "code": "yg01",
            "division_code": "330106",
            "street": "北山街道",
            "community": "曙光社区",
        },
        headers=admin_h,
    ).json()
    return admin_h, site


def test_place_hierarchy_and_address(client: TestClient, login: Any) -> None:
    _admin_h, site = _setup(client, login)
    _, pm_h = login("property_manager", [site["id"]])
    b = client.post(
        f"{API}/buildings", json={"site_id": site["id"], "number": "3", "floors": 18}, headers=pm_h
    )
    assert b.status_code == 201, b.text
    h = client.post(
        f"{API}/houses",
        json={"building_id": b.json()["id"], "unit": "2", "floor": 5, "room": "502", "usage": "rental"},
        headers=pm_h,
    )
    assert h.status_code == 201, h.text
    house = h.json()
    assert house["site_id"] == site["id"]
    assert house["address"].endswith("北山街道 曙光社区 阳光小区 3栋2单元5层502室")
    dup = client.post(
        f"{API}/houses",
        json={"building_id": b.json()["id"], "unit": "2", "floor": 5, "room": "502"},
        headers=pm_h,
    )
    assert dup.status_code == 409 and dup.json()["fields"][0]["field"] == "room"
    too_high = client.post(
        f"{API}/houses", json={"building_id": b.json()["id"], "floor": 30, "room": "3001"}, headers=pm_h
    )
    assert too_high.status_code == 422 and too_high.json()["fields"][0]["field"] == "floor"
    hh = client.post(
        f"{API}/households",
        json={
            "house_id": house["id"],
            "name": "李家",
            "lease_start": "2026-01-01",
            "lease_end": "2025-01-01",
        },
        headers=pm_h,
    )
    assert hh.status_code == 422
    hh = client.post(f"{API}/households", json={"house_id": house["id"], "name": "李家"}, headers=pm_h)
    assert hh.status_code == 201
    page = client.get(f"{API}/houses", params={"site_id": site["id"], "usage": "rental"}, headers=pm_h).json()
    assert page["total"] == 1 and page["items"][0]["id"] == house["id"]


def test_rental_qr_sign_resolve_revoke(client: TestClient, login: Any) -> None:
    _, site = _setup(client, login)
    _, pm_h = login("property_manager", [site["id"]])
    _, gw_h = login("grid_worker", [site["id"]])
    b = client.post(f"{API}/buildings", json={"site_id": site["id"], "number": "1"}, headers=pm_h).json()
    h = client.post(
        f"{API}/houses",
        json={"building_id": b["id"], "floor": 1, "room": "101", "usage": "rental"},
        headers=pm_h,
    ).json()
    own = client.post(
        f"{API}/houses", json={"building_id": b["id"], "floor": 1, "room": "102"}, headers=pm_h
    ).json()
    assert client.get(f"{API}/houses/{own['id']}/qr", headers=pm_h).status_code == 422
    token = client.get(f"{API}/houses/{h['id']}/qr", headers=pm_h).json()["token"]
    assert token.startswith("AJH1.")
    png = client.get(f"{API}/houses/{h['id']}/qr", params={"format": "png"}, headers=pm_h)
    assert png.headers["content-type"] == "image/png" and png.content[:4] == b"\x89PNG"
    r = client.post(f"{API}/houses/qr/resolve", json={"token": token}, headers=gw_h)
    assert r.status_code == 200 and r.json()["id"] == h["id"]
    # the image decodes back to the same token (a real QR), read with OpenCV's ArUco-based QR
    # detector as the gate cameras do (the classic detector misses some long codes)
    import cv2
    import numpy as np

    img = cv2.imdecode(np.frombuffer(png.content, np.uint8), cv2.IMREAD_COLOR)
    decoded, _, _ = cv2.QRCodeDetectorAruco().detectAndDecode(img)
    assert decoded == token
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert client.post(f"{API}/houses/qr/resolve", json={"token": forged}, headers=gw_h).status_code == 422
    client.post(f"{API}/houses/{h['id']}/qr/revoke", headers=pm_h)
    assert client.post(f"{API}/houses/qr/resolve", json={"token": token}, headers=gw_h).status_code == 422


def test_cross_site_references_refused(client: TestClient, login: Any) -> None:
    admin_h, site = _setup(client, login)
    other = client.post(f"{API}/sites", json={"name": "B", "code": "b02"}, headers=admin_h).json()
    b_other = client.post(
        f"{API}/buildings", json={"site_id": other["id"], "number": "9"}, headers=admin_h
    ).json()
    h_other = client.post(
        f"{API}/houses", json={"building_id": b_other["id"], "floor": 1, "room": "1"}, headers=admin_h
    ).json()
    r = client.post(
        f"{API}/organisations",
        json={"site_id": site["id"], "name": "小卖部", "house_id": h_other["id"]},
        headers=admin_h,
    )
    assert r.status_code == 422 and r.json()["fields"][0]["field"] == "house_id"


def test_hostile_strings_in_place_fields(client: TestClient, login: Any) -> None:
    admin_h, site = _setup(client, login)
    for s in HOSTILE:
        r = client.post(f"{API}/buildings", json={"site_id": site["id"], "number": s}, headers=admin_h)
        assert r.status_code == 422, (s[:20], r.text[:200])
        assert r.json()["fields"][0]["field"] == "number"
    # free text keeps SQL/HTML verbatim (it is data), but refuses control characters and overlong values
    ok = client.post(
        f"{API}/organisations",
        json={
            "site_id": site["id"],
            "name": "<b>Bobby'); DROP TABLE sites;--</b> 🍜店",
            "contact_name": "王😀",
        },
        headers=admin_h,
    )
    assert ok.status_code == 201, ok.text
    assert ok.json()["name"] == "<b>Bobby'); DROP TABLE sites;--</b> 🍜店"
    for bad in ("x" * 129, "a\x00b"):
        r = client.post(f"{API}/organisations", json={"site_id": site["id"], "name": bad}, headers=admin_h)
        assert r.status_code == 422 and r.json()["fields"][0]["field"] == "name"
    r = client.post(
        f"{API}/organisations",
        json={"site_id": site["id"], "name": "x", "credit_code": "123"},
        headers=admin_h,
    )
    assert r.status_code == 422 and r.json()["fields"][0]["field"] == "credit_code"
    assert client.get(f"{API}/sites", headers=admin_h).status_code == 200


def test_out_of_range_dates_and_numbers(client: TestClient, login: Any) -> None:
    admin_h, site = _setup(client, login)
    b = client.post(f"{API}/buildings", json={"site_id": site["id"], "number": "1"}, headers=admin_h).json()
    h = client.post(
        f"{API}/houses", json={"building_id": b["id"], "floor": 1, "room": "1"}, headers=admin_h
    ).json()
    for field, value in [
        ("lease_start", "0001-01-01"),
        ("lease_end", "9999-12-31"),
        ("lease_start", "2026-02-30"),
    ]:
        r = client.post(f"{API}/households", json={"house_id": h["id"], field: value}, headers=admin_h)
        assert r.status_code == 422 and r.json()["fields"][0]["field"] == field
    r = client.post(
        f"{API}/houses", json={"building_id": b["id"], "floor": 10**12, "room": "2"}, headers=admin_h
    )
    assert r.status_code == 422
    r = client.get(f"{API}/houses", params={"site_id": site["id"], "limit": 10**9}, headers=admin_h)
    assert r.status_code == 422 and r.json()["fields"][0]["field"] == "limit"


def test_invalid_object_ids_are_clean_4xx(client: TestClient, login: Any) -> None:
    admin_h, _site = _setup(client, login)
    from urllib.parse import quote

    weird = ["nope", "0", "1 OR 1=1", "' OR ''='", "%00", "x" * 3000, "<script>", "张三🏠", "..%2F..%2Fetc"]
    for w in weird:
        for path in ("persons", "houses", "buildings", "households", "organisations", "sites"):
            r = client.get(f"{API}/{path}/{quote(w, safe='')}", headers=admin_h)
            assert r.status_code in (404, 422), (path, w[:20], r.status_code)
            assert r.json()["message"]
