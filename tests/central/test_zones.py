"""Zones, devices and access rules over the API; a rule change recompiles the site's whitelist."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from anju.clock import FakeClock
from central.models.zones import WhitelistVersion
from central.services.whitelist import DbTemplateSource, WhitelistCompiler


def test_zone_device_rule_api(client: TestClient, db: Session, clock: FakeClock, make_site, login) -> None:
    site, other = make_site(), make_site()
    _, pm = login("property_manager", [site.id])
    _, guard = login("guard", [site.id])
    _, outsider = login("property_manager", [other.id])
    hostile = "<script>alert(1)</script>'; DROP TABLE zones;--🏠"
    z = client.post(
        "/api/v1/zones",
        json={"site_id": site.id, "code": "b3", "name": hostile, "ring": 3, "kind": "building"},
        headers=pm,
    )
    assert z.status_code == 201 and z.json()["name"] == hostile
    assert (
        client.post(
            "/api/v1/zones", json={"site_id": site.id, "code": "b3", "name": "dup", "ring": 3}, headers=pm
        ).status_code
        == 409
    )
    bad = client.post(
        "/api/v1/zones", json={"site_id": site.id, "code": "b 3/..", "name": "x", "ring": 5}, headers=pm
    )
    assert bad.status_code == 422
    assert {f["field"].split(".")[-1] for f in bad.json()["fields"]} >= {"code", "ring"}
    assert (
        client.post(
            "/api/v1/zones", json={"site_id": site.id, "code": "g", "name": "x", "ring": 1}, headers=guard
        ).status_code
        == 403
    )
    assert (
        client.post(
            "/api/v1/zones", json={"site_id": site.id, "code": "g", "name": "x", "ring": 1}, headers=outsider
        ).status_code
        == 403
    )
    d = client.post(
        "/api/v1/devices",
        json={
            "zone_id": z.json()["id"],
            "code": "b3-cam",
            "type": "camera",
            "direction": "in",
            "node_id": "node-3",
        },
        headers=pm,
    )
    assert d.status_code == 201 and d.json()["site_id"] == site.id
    assert (
        client.post(
            "/api/v1/devices",
            json={"zone_id": z.json()["id"], "code": "x", "type": "camera", "node_id": "n"},
            headers=outsider,
        ).status_code
        == 403
    )
    assert [x["code"] for x in client.get(f"/api/v1/devices?site_id={site.id}", headers=guard).json()] == [
        "b3-cam"
    ]
    assert client.get(f"/api/v1/zones?site_id={site.id}", headers=outsider).status_code == 403

    r = client.post(
        "/api/v1/access-rules",
        json={
            "site_id": site.id,
            "subject_type": "group",
            "subject_value": "staff",
            "weekdays": [0, 1, 2, 3, 4],
            "start": "07:00:00",
            "end": "19:00:00",
            "rings": [1, 2],
        },
        headers=pm,
    )
    assert r.status_code == 201, r.text
    # the rule change is queued; the whitelist worker turns it into a new snapshot
    wl = WhitelistCompiler(clock, DbTemplateSource("m"))
    assert wl.process_changes(db) == []
    versions = db.query(WhitelistVersion).filter(WhitelistVersion.site_id == site.id).all()
    assert [(v.version, v.type, v.reason) for v in versions] == [(1, "snapshot", "access_rules")]
    rid = r.json()["id"]
    assert client.delete(f"/api/v1/access-rules/{rid}", headers=outsider).status_code == 403
    assert client.delete(f"/api/v1/access-rules/{rid}", headers=pm).status_code == 204
    assert client.get(f"/api/v1/access-rules?site_id={site.id}", headers=guard).json() == []


def test_bad_input_is_a_clear_4xx(client: TestClient, make_site, login) -> None:
    site = make_site()
    _, pm = login("property_manager", [site.id])
    r = client.post(
        "/api/v1/alert-rules",
        json={
            "site_id": site.id,
            "name": "x",
            "type": "absence",
            "params": {"days": -1, "group": "elderly_alone"},
        },
        headers=pm,
    )
    assert r.status_code == 422 and r.json()["fields"][0]["field"] == "params.days"
    r = client.post(
        "/api/v1/alert-rules", json={"site_id": site.id, "name": "x" * 500, "type": "door"}, headers=pm
    )
    assert r.status_code == 422
    r = client.get(f"/api/v1/events?site_id={site.id}&cursor=%27%3B%20DROP", headers=pm)
    assert r.status_code == 422 and r.json()["message_en"] == "invalid page cursor"
    r = client.get(f"/api/v1/events?site_id={site.id}&ring=9", headers=pm)
    assert r.status_code == 422
    r = client.post("/api/v1/vehicles", json={"site_id": site.id, "plate": "<img src=x>😀"}, headers=pm)
    assert r.status_code == 422 and r.json()["fields"][0]["field"] == "plate"
    r = client.post("/api/v1/webhooks", json={"site_id": site.id, "url": "javascript:alert(1)"}, headers=pm)
    assert r.status_code == 422
    ok = client.post(
        "/api/v1/webhooks", json={"site_id": site.id, "url": "https://example.invalid/hook"}, headers=pm
    )
    assert ok.status_code == 201 and len(ok.json()["secret"]) == 64
    assert "secret" not in client.get(f"/api/v1/webhooks?site_id={site.id}", headers=pm).json()[0]
