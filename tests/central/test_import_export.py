"""Import (all-or-nothing, row-level errors) and export of houses, residents and units."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook, load_workbook

from tests.central.test_persons import make_id

API = "/api/v1"


def xlsx(rows: list[list[Any]]) -> bytes:
    wb = Workbook()
    ws = wb.active
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def csv_bytes(rows: list[list[Any]], encoding: str = "utf-8-sig") -> bytes:
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    return buf.getvalue().encode(encoding)


@pytest.fixture
def world(client: TestClient, login: Any) -> dict[str, Any]:
    _, admin_h = login("admin")
    site = client.post(f"{API}/sites", json={"name": "阳光小区", "code": "yg"}, headers=admin_h).json()
    _, pm_h = login("property_manager", [site["id"]])
    return {"admin": admin_h, "pm": pm_h, "site": site}


def _import(client: TestClient, w: dict[str, Any], entity: str, name: str, data: bytes) -> Any:
    return client.post(
        f"{API}/import/{entity}",
        params={"site_id": w["site"]["id"]},
        files={"file": (name, data)},
        headers=w["pm"],
    )


HOUSES = [
    ["楼栋", "单元", "楼层", "户号", "用途", "面积", "房主"],
    ["1", "1", 1, "101", "自住", 89.5, "张三"],
    ["1", "1", 1, "102", "出租", 60, "李四"],
    ["2", "1", 3, "301", "空置", "", ""],
]


def test_houses_then_residents_then_export(client: TestClient, world: dict[str, Any]) -> None:
    r = _import(client, world, "houses", "houses.xlsx", xlsx(HOUSES))
    assert r.status_code == 201, r.text
    assert r.json() == {"entity": "houses", "created": 3, "rows": 3}
    idn1, idn2 = make_id("19600101", "111"), make_id("20200101", "122")
    people = [
        ["姓名", "身份证号", "电话", "类型", "楼栋", "单元", "户号", "独居老人", "备注"],
        ["张三", idn1, "13800000000", "业主", "1", "1", "101", "是", '=HYPERLINK("http://x")'],
        ["张小宝", idn2, "", "家属", "1", "1", "101", "否", ""],
    ]
    r = _import(client, world, "persons", "people.csv", csv_bytes(people, "gb18030"))
    assert r.status_code == 201, r.text
    found = client.get(f"{API}/persons", params={"site_id": world["site"]["id"]}, headers=world["pm"]).json()
    assert found["total"] == 2
    assert len({p["household_id"] for p in found["items"]}) == 1
    assert {p["name"]: p["minor"] for p in found["items"]} == {"张三": False, "张小宝": True}
    # export as xlsx: masked for the property manager, formula neutralised
    r = client.get(f"{API}/export/persons", params={"site_id": world["site"]["id"]}, headers=world["pm"])
    assert r.status_code == 200 and "attachment" in r.headers["content-disposition"]
    ws = load_workbook(io.BytesIO(r.content)).active
    rows = [[c.value for c in row] for row in ws.iter_rows()]
    assert rows[0][:2] == ["姓名", "身份证号"]
    zhang = next(r for r in rows if r[0] == "张三")
    assert zhang[1] == idn1[:6] + "********" + idn1[-4:]
    assert zhang[6:9] == ["1", "1", "101"] and zhang[11].startswith("'=")
    # police get the full number; CSV with BOM
    r = client.get(
        f"{API}/export/persons",
        params={"site_id": world["site"]["id"], "format": "csv"},
        headers=world["admin"],
    )
    assert r.content.startswith(b"\xef\xbb\xbf") and idn1 in r.content.decode("utf-8-sig")
    recs = client.get(f"{API}/audit", params={"site_id": world["site"]["id"]}, headers=world["admin"]).json()
    assert {"import", "export"} <= {x["action"] for x in recs}
    r = client.get(
        f"{API}/export/houses", params={"site_id": world["site"]["id"], "format": "csv"}, headers=world["pm"]
    )
    assert r.content.decode("utf-8-sig").count("\n") == 4


def test_bad_rows_reported_and_nothing_written(client: TestClient, world: dict[str, Any]) -> None:
    assert _import(client, world, "houses", "h.xlsx", xlsx(HOUSES)).status_code == 201
    good = make_id("19700101", "111")
    rows = [
        ["姓名", "身份证号", "楼栋", "单元", "户号", "出生日期", "独居老人"],
        ["好人", good, "1", "1", "101", "", ""],
        ["坏号", "110105194912310021", "", "", "", "", ""],
        ["<script>alert(1)</script>", "", "", "", "", "", ""],
        ["重复", good, "", "", "", "", ""],
        ["没房", "", "9", "9", "999", "", ""],
        ["未来", "", "", "", "", "2999-01-01", ""],
        ["布尔", "", "", "", "", "", "maybe"],
    ]
    r = _import(client, world, "persons", "p.xlsx", xlsx(rows))
    assert r.status_code == 422, r.text
    fields = {f["field"] for f in r.json()["fields"]}
    assert {
        "rows.3.id_number",
        "rows.4.name",
        "rows.5.id_number",
        "rows.6.room",
        "rows.7.birth_date",
        "rows.8.elderly_alone",
    } <= fields
    assert "rows.2.name" not in fields
    assert client.get(f"{API}/persons", headers=world["pm"]).json()["total"] == 0  # all or nothing


def test_duplicate_import_refused(client: TestClient, world: dict[str, Any]) -> None:
    assert _import(client, world, "houses", "h.xlsx", xlsx(HOUSES)).status_code == 201
    r = _import(client, world, "houses", "h.xlsx", xlsx(HOUSES))
    assert r.status_code == 422
    assert {f["field"] for f in r.json()["fields"]} == {"rows.2.room", "rows.3.room", "rows.4.room"}
    page = client.get(f"{API}/houses", params={"site_id": world["site"]["id"]}, headers=world["pm"]).json()
    assert page["total"] == 3
    orgs = [
        ["名称", "类型", "统一社会信用代码"],
        ["好邻居超市", "商铺", "91330106MA2B3C4D5E"],
        ["好邻居超市", "商铺", ""],
    ]
    r = _import(client, world, "organisations", "o.csv", csv_bytes(orgs))
    assert r.status_code == 422 and r.json()["fields"][0]["field"] == "rows.3.name"
    r = _import(client, world, "organisations", "o.csv", csv_bytes(orgs[:2]))
    assert r.status_code == 201
    r = _import(client, world, "organisations", "o.csv", csv_bytes(orgs[:2]))
    assert r.status_code == 422


@pytest.mark.parametrize(
    "name,data",
    [
        ("x.xlsx", b"PK\x03\x04 this is not a workbook"),
        ("x.csv", b"\x00\x01\x02binary"),
        ("x.csv", b""),
        ("x.pdf", b"%PDF-1.4"),
    ],
)
def test_corrupt_files(client: TestClient, world: dict[str, Any], name: str, data: bytes) -> None:
    r = _import(client, world, "houses", name, data)
    assert r.status_code == 422, r.text
    assert r.json()["fields"]


def test_import_size_limit(client: TestClient, world: dict[str, Any]) -> None:
    big = b"a,b\n" + b"x" * (21 * 1024 * 1024)
    r = _import(client, world, "persons", "big.csv", big)
    assert r.status_code == 413
