"""``/api/v1/console/siteplan``: who may read and change the site plan, and what is refused."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from central.app import create_app
from central.db import create_all, make_engine, make_session_factory
from central.models.registry import Site
from central.security import issue_token
from central.services.users import create_user
from central.settings import CentralSettings

SECRET = "siteplan-test-secret-0123456789abcdef-xyz"
API = "/api/v1/console/siteplan"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("siteplan")
    settings = CentralSettings(
        environment="test", secret_key=SECRET, data_dir=tmp / "data", database_url=f"sqlite:///{tmp / 'a.db'}"
    )
    engine = make_engine(settings.effective_database_url)
    create_all(engine)
    now = datetime.now(timezone.utc)
    headers: dict[str, dict[str, str]] = {}
    with make_session_factory(engine)() as db:
        sites = []
        for code in ("A", "B"):
            site = Site(name=f"小区{code}", code=code, division_code="330106", created_at=now, updated_at=now)
            db.add(site)
            db.commit()
            sites.append(site.id)
        for role in ("property_manager", "guard", "police"):
            user = create_user(
                db,
                username=f"{role}_x",
                password="correct horse battery",
                role=role,
                site_ids=[sites[0]],
                now=now,
            )
            token = issue_token(SECRET, user.id, user.token_version, now, settings.token_ttl_s)
            headers[role] = {"Authorization": f"Bearer {token}"}
    app = create_app(settings, engine=engine)
    with TestClient(app) as client:
        yield {"client": client, "h": headers, "site": sites[0], "other": sites[1], "data": settings.data_dir}
    engine.dispose()


def _png() -> bytes:
    ok, buf = cv2.imencode(".png", np.full((60, 100, 3), 200, np.uint8))
    assert ok
    return bytes(buf)


def test_empty_plan_then_upload_and_markers(world: dict[str, Any]) -> None:
    c, h, site = world["client"], world["h"], world["site"]
    empty = c.get(API, headers=h["guard"]).json()
    assert empty == {"site_id": site, "image": False, "content_type": None, "markers": {}}
    assert c.get(f"{API}/image", headers=h["guard"]).status_code == 404
    res = c.put(
        f"{API}/image", files={"image": ("p.png", _png(), "image/png")}, headers=h["property_manager"]
    )
    assert res.status_code == 200 and res.json()["image"] is True
    img = c.get(f"{API}/image", headers=h["police"])
    assert img.status_code == 200 and img.headers["content-type"] == "image/png" and img.content == _png()
    body = {"markers": {"camera:cam-1": {"x": 10.5, "y": 20}, "door:door-1": {"x": 0, "y": 100}}}
    assert c.put(f"{API}/markers", json=body, headers=h["property_manager"]).status_code == 200
    assert c.get(API, headers=h["guard"]).json()["markers"]["camera:cam-1"] == {"x": 10.5, "y": 20.0}
    assert (world["data"] / "console" / "siteplans" / site / "markers.json").is_file()


def test_guard_and_police_cannot_change_it(world: dict[str, Any]) -> None:
    c, h = world["client"], world["h"]
    for role in ("guard", "police"):
        assert (
            c.put(
                f"{API}/image", files={"image": ("p.png", _png(), "image/png")}, headers=h[role]
            ).status_code
            == 403
        )
        assert c.put(f"{API}/markers", json={"markers": {}}, headers=h[role]).status_code == 403
    assert c.get(API).status_code == 401


def test_other_sites_are_refused(world: dict[str, Any]) -> None:
    c, h, other = world["client"], world["h"], world["other"]
    assert c.get(API, params={"site_id": other}, headers=h["guard"]).status_code == 403
    res = c.put(
        f"{API}/markers", params={"site_id": other}, json={"markers": {}}, headers=h["property_manager"]
    )
    assert res.status_code == 403


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"markers": {"camera:c": {"x": 101, "y": 5}}}, "x"),
        ({"markers": {"sensor:1": {"x": 1, "y": 1}}}, "markers"),
        ({"markers": {"camera:../../etc": {"x": 1, "y": 1}}}, "markers"),
    ],
)
def test_bad_markers_refused_with_field(world: dict[str, Any], body: dict[str, Any], field: str) -> None:
    res = world["client"].put(f"{API}/markers", json=body, headers=world["h"]["property_manager"])
    assert res.status_code == 422
    assert any(field in f["field"] for f in res.json()["fields"])


def test_bad_images_refused(world: dict[str, Any], tmp_path: Path) -> None:
    c, h = world["client"], world["h"]["property_manager"]
    res = c.put(f"{API}/image", files={"image": ("x.gif", b"GIF89a....", "image/gif")}, headers=h)
    assert res.status_code == 415 and res.json()["fields"][0]["field"] == "image"
    huge = b"\x89PNG\r\n\x1a\n" + b"\0" * (10 * 1024 * 1024 + 10)
    assert c.put(f"{API}/image", files={"image": ("h.png", huge, "image/png")}, headers=h).status_code == 413
    bad_site = c.put(f"{API}/markers", params={"site_id": "../x"}, json={"markers": {}}, headers=h)
    assert bad_site.status_code in (403, 422)
