"""Hostile strings in every text field: a clear 4xx naming the field, or stored and returned
verbatim; never a 5xx, never anything half-written."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from central.db import Base
from tests.central.test_authz_matrix import _sample_for, _seed_registry

API = "/api/v1"
HOSTILE = [
    "Robert'); DROP TABLE persons;--",
    '" OR 1=1 --',
    "<script>alert('x')</script>",
    "<img src=x onerror=alert(1)>",
    "x" * 10_000,
    "安居小区🏠🔥" * 40,
    "张三\u202e\u2066",
    "nul\x00byte",
    "../../etc/passwd",
    "%s%s%n{0}${jndi:ldap://x}",
    "",
    "   ",
]


WATCHED = {"sites", "buildings", "houses", "households", "organisations", "persons", "users", "user_sites"}


def _row_counts(db: Session) -> dict[str, int]:
    db.expire_all()
    return {
        t.name: db.scalar(select(func.count()).select_from(t)) or 0
        for t in Base.metadata.sorted_tables
        if t.name in WATCHED
    }


@pytest.fixture
def ctx(client: TestClient, db: Session, clock: Any, make_site: Any, login: Any) -> dict[str, Any]:
    site = make_site("甲小区")
    ids = _seed_registry(db, site, clock)
    _, admin_h = login("admin")
    return {"ids": ids, "h": admin_h}


def _bases(ids: dict[str, str]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (
            "post",
            "/sites",
            {"name": "小区", "code": "c1", "street": "街道", "community": "社区", "address": "1号"},
        ),
        ("post", "/buildings", {"site_id": ids["site_id"], "number": "77", "name": "楼"}),
        (
            "post",
            "/houses",
            {"building_id": ids["building_id"], "floor": 1, "room": "188", "unit": "2", "owner_name": "某"},
        ),
        ("post", "/households", {"house_id": ids["house_id"], "name": "户", "phone": "13800000000"}),
        (
            "post",
            "/organisations",
            {"site_id": ids["site_id"], "name": "店", "contact_name": "某", "contact_phone": "123456"},
        ),
        (
            "post",
            "/persons",
            {"site_id": ids["site_id"], "name": "某人", "phone": "13800000000", "notes": "备注"},
        ),
        ("patch", f"/persons/{ids['person_id']}", {"name": "某人", "notes": "备注"}),
        (
            "post",
            "/users",
            {"username": "user01", "password": "long-password", "role": "admin", "display_name": "x"},
        ),
    ]


def test_hostile_strings_in_every_registry_text_field(
    client: TestClient, db: Session, ctx: dict[str, Any]
) -> None:
    checked = 0
    for method, path, base in _bases(ctx["ids"]):
        for field, value in base.items():
            if not isinstance(value, str) or field.endswith("_id"):
                continue
            for i, bad in enumerate(HOSTILE):
                before = _row_counts(db)
                body = dict(base, **{field: bad})
                if field == "code":
                    body[field] = bad
                elif "code" in body:
                    body["code"] = f"c{checked}"
                if field == "username":
                    body[field] = bad
                elif "username" in body:
                    body["username"] = f"user{checked:04d}"
                if path == "/buildings" and field != "number":
                    body["number"] = f"b{checked}"
                if path == "/houses" and field != "room":
                    body["room"] = f"r{checked}"
                if path == "/organisations" and field != "name":
                    body["name"] = f"店{checked}"
                r = client.request(method.upper(), API + path, json=body, headers=ctx["h"])
                checked += 1
                where = f"{method} {path} {field}=#{i}"
                assert r.status_code < 500, where
                if r.status_code < 300:
                    returned = r.json().get(field)
                    if field == "display_name" and not bad.strip():
                        assert returned == body["username"], where  # empty display name → the username
                    elif field != "password":
                        assert returned == bad.strip(), (where, returned)
                else:
                    err = r.json()
                    assert r.status_code in (409, 422), (where, r.status_code)
                    assert err["message"] and err["fields"], where
                    assert any(field in f["field"] for f in err["fields"]), (where, err["fields"])
                    assert _row_counts(db) == before, where
    assert checked > 250


@pytest.mark.slow
def test_no_5xx_anywhere_with_hostile_bodies(client: TestClient, db: Session, ctx: dict[str, Any]) -> None:
    """Every JSON endpoint (registry and the others'), every string field, as admin."""
    spec = client.app.openapi()  # type: ignore[attr-defined]
    defs = spec.get("components", {}).get("schemas", {})
    ids = dict(ctx["ids"])
    failures = []
    for path, ops in spec["paths"].items():
        if not path.startswith(API):
            continue
        for method, op in ops.items():
            content = op.get("requestBody", {}).get("content", {})
            if "application/json" not in content:
                continue
            url = path
            for prm in op.get("parameters", []):
                if prm["in"] == "path":
                    url = url.replace("{" + prm["name"] + "}", str(ids.get(prm["name"], "x")))
            base = _sample_for(content["application/json"]["schema"], defs, ids)
            if not isinstance(base, dict):
                continue
            for field, value in base.items():
                if not isinstance(value, str) or field.endswith("_id"):
                    continue
                for bad in (HOSTILE[0], HOSTILE[2], HOSTILE[4], HOSTILE[7]):
                    r = client.request(method.upper(), url, json=dict(base, **{field: bad}), headers=ctx["h"])
                    if r.status_code >= 500:
                        failures.append(f"{method.upper()} {path} {field}={bad[:20]!r} -> {r.status_code}")
    assert not failures, "\n".join(failures)
