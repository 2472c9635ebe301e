"""GET /visitor-passes: issued passes with visits and a derived status, filtered, role-checked."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from anju.clock import FakeClock
from central.db import make_session_factory
from central.ingest import Ingestor
from contracts import PersonKind
from contracts.messages import Credential
from tests.central.ops_helpers import household, pass_event

API = "/api/v1/visitor-passes"


def _issue(
    client: TestClient, headers: dict[str, str], site_id: str, hh: str, name: str, start, hours: float
):  # type: ignore[no-untyped-def]
    r = client.post(
        "/api/v1/visitors",
        headers=headers,
        json={
            "site_id": site_id,
            "host_household_id": hh,
            "name": name,
            "phone": "13800000000",
            "valid_from": start.isoformat(),
            "valid_until": (start + timedelta(hours=hours)).isoformat(),
        },
    )
    assert r.status_code == 201, r.text
    return r.json()


def test_list_with_status_window_and_household_filters(
    client: TestClient, engine: Engine, db: Session, clock: FakeClock, login, make_site
) -> None:
    site = make_site()
    now = clock.now()
    hh1, hh2 = household(db, site, now, number="1"), household(db, site, now, number="2")
    _, pm = login("property_manager", [site.id])
    used = _issue(client, pm, site.id, hh1.id, "来访甲", now - timedelta(hours=1), 8)
    issued = _issue(client, pm, site.id, hh2.id, "来访乙", now, 8)
    revoked = _issue(client, pm, site.id, hh1.id, "来访丙", now, 8)
    expired = _issue(client, pm, site.id, hh1.id, "来访丁", now - timedelta(days=2), 2)
    tomorrow = _issue(client, pm, site.id, hh1.id, "来访戊", now + timedelta(days=1), 4)
    assert (
        client.post(f"{API}/{revoked['id']}/revoke", headers=pm, json={"reason": "住户取消"}).status_code
        == 200
    )
    qr = {"credential": Credential.qr, "pass_id": used["id"], "person_kind": PersonKind.visitor}
    # the arrival comes through the ingest path, as from a gate
    Ingestor(make_session_factory(engine), clock).on_events(
        [pass_event(site, now + timedelta(minutes=5), f"pass:{used['id']}", direction="in", **qr)]
    )

    rows = client.get(API, headers=pm, params={"site_id": site.id}).json()
    by_id = {r["id"]: r for r in rows}
    assert by_id[used["id"]]["state"] == "used" and by_id[used["id"]]["visits"] == 1
    assert by_id[used["id"]]["inside"] is True and by_id[used["id"]]["last_entered_at"].startswith(
        "2026-03-01T08:05"
    )
    assert by_id[issued["id"]]["state"] == "issued" and by_id[issued["id"]]["visits"] == 0
    assert by_id[revoked["id"]]["state"] == "revoked" and by_id[revoked["id"]]["revoked_reason"] == "住户取消"
    assert by_id[expired["id"]]["state"] == "expired"  # not yet marked by the expiry job, still shown so
    assert (
        by_id[used["id"]]["visitor_name"] == "来访甲" and by_id[issued["id"]]["host_household_id"] == hh2.id
    )

    def ids(**params) -> set[str]:  # type: ignore[no-untyped-def]
        r = client.get(API, headers=pm, params={"site_id": site.id, **params})
        assert r.status_code == 200, r.text
        return {x["id"] for x in r.json()}

    day0 = now.replace(hour=0)
    today = {"since": day0.isoformat(), "until": (day0 + timedelta(days=1)).isoformat()}
    assert ids(**today) == {used["id"], issued["id"], revoked["id"]}
    assert ids(status="used") == {used["id"]}
    assert ids(status=["issued", "revoked"]) == {issued["id"], revoked["id"], tomorrow["id"]}
    assert ids(status="expired") == {expired["id"]}
    assert ids(host_household_id=hh2.id) == {issued["id"]}
    assert client.get(API, headers=pm, params={"site_id": site.id, "status": "lost"}).status_code == 422


def test_roles_and_sites(client: TestClient, db: Session, clock: FakeClock, login, make_site) -> None:
    site, other = make_site(), make_site()
    hh = household(db, site, clock.now())
    _, pm = login("property_manager", [site.id])
    _issue(client, pm, site.id, hh.id, "来访", clock.now(), 2)
    _, guard = login("guard", [site.id])
    assert len(client.get(API, headers=guard, params={"site_id": site.id}).json()) == 1
    for role in ("police", "grid_worker"):
        _, h = login(role, [site.id])
        assert client.get(API, headers=h, params={"site_id": site.id}).status_code == 403
    _, foreign = login("guard", [other.id])
    assert client.get(API, headers=foreign, params={"site_id": site.id}).status_code == 403
