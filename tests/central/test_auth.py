"""Login, tokens, roles and the site scope."""

from __future__ import annotations

from fastapi.testclient import TestClient

from anju.clock import FakeClock
from central.security import decode_token, hash_password, issue_token, verify_password
from tests.central.conftest import PASSWORD, SECRET


def test_password_hash_roundtrip() -> None:
    h = hash_password("密码 with emoji 🔐")
    assert h.startswith("scrypt$")
    assert verify_password("密码 with emoji 🔐", h)
    assert not verify_password("wrong", h)
    assert not verify_password("x", "garbage")


def test_token_tamper_and_expiry(clock: FakeClock) -> None:
    tok = issue_token(SECRET, "u1", 0, clock.now(), 60)
    assert decode_token(SECRET, tok, clock.now()).user_id == "u1"
    body, mac = tok.split(".")
    import pytest

    from central.errors import AuthenticationFailed

    with pytest.raises(AuthenticationFailed):
        decode_token(SECRET, body + "x." + mac, clock.now())
    with pytest.raises(AuthenticationFailed):
        decode_token("another-secret", tok, clock.now())
    clock.advance(61)
    with pytest.raises(AuthenticationFailed):
        decode_token(SECRET, tok, clock.now())


def test_login_me_and_expiry(client: TestClient, make_site, login, clock: FakeClock) -> None:  # type: ignore[no-untyped-def]
    site = make_site()
    user, _ = login("guard", [site.id])
    r = client.post("/api/v1/auth/login", json={"username": user.username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "bearer"
    assert body["user"] == {
        "id": user.id,
        "username": user.username,
        "role": "guard",
        "site_ids": [site.id],
        "display_name": user.username,
        "active": True,
    }
    headers = {"Authorization": f"Bearer {body['access_token']}"}
    me = client.get("/api/v1/auth/me", headers=headers)
    assert me.status_code == 200 and me.json()["id"] == user.id
    clock.advance(8 * 3600 + 1)
    r = client.get("/api/v1/auth/me", headers=headers)
    assert r.status_code == 401
    assert r.json()["code"] == "unauthenticated"


def test_wrong_password_and_missing_token(client: TestClient, login) -> None:  # type: ignore[no-untyped-def]
    user, _ = login("admin")
    r = client.post("/api/v1/auth/login", json={"username": user.username, "password": "nope-nope"})
    assert r.status_code == 401
    assert r.json()["message"] == "用户名或密码错误"
    assert client.get("/api/v1/auth/me").status_code == 401
    assert client.get("/api/v1/auth/me", headers={"Authorization": "Bearer abc.def"}).status_code == 401


def test_admin_only_user_admin(client: TestClient, make_site, login) -> None:  # type: ignore[no-untyped-def]
    site = make_site()
    _, admin_h = login("admin")
    _, pm_h = login("property_manager", [site.id])
    new = {"username": "guard01", "password": "long-enough-pw", "role": "guard", "site_ids": [site.id]}
    assert client.post("/api/v1/users", json=new, headers=pm_h).status_code == 403
    r = client.post("/api/v1/users", json=new, headers=admin_h)
    assert r.status_code == 201, r.text
    assert client.post("/api/v1/users", json=new, headers=admin_h).status_code == 409
    bad = {"username": "x", "password": "short", "role": "king", "site_ids": ["nope"]}
    r = client.post("/api/v1/users", json=bad, headers=admin_h)
    assert r.status_code == 422
    fields = {f["field"] for f in r.json()["fields"]}
    assert {"username", "password", "role", "site_ids.0"} <= fields


def test_health_metrics_docs(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    client.get("/healthz")
    m = client.get("/metrics")
    assert m.status_code == 200 and "anju_http_requests_total" in m.text
    assert client.get("/docs").status_code == 200
    assert "/api/v1/auth/login" in client.get("/openapi.json").json()["paths"]


def test_disable_and_password_change_revoke_tokens(client: TestClient, make_site, login) -> None:  # type: ignore[no-untyped-def]
    site = make_site()
    _, admin_h = login("admin")
    user, h = login("guard", [site.id])
    assert client.get("/api/v1/auth/me", headers=h).status_code == 200
    r = client.patch(f"/api/v1/users/{user.id}", json={"role": "police"}, headers=admin_h)
    assert r.status_code == 200 and r.json()["role"] == "police"
    assert client.get("/api/v1/auth/me", headers=h).status_code == 401  # role changed → old token dead
    tok = client.post("/api/v1/auth/login", json={"username": user.username, "password": PASSWORD}).json()
    h = {"Authorization": f"Bearer {tok['access_token']}"}
    r = client.post(
        "/api/v1/auth/password",
        json={"old_password": "wrong-one", "new_password": "another-long-pw"},
        headers=h,
    )
    assert r.status_code == 422 and r.json()["fields"][0]["field"] == "old_password"
    r = client.post(
        "/api/v1/auth/password", json={"old_password": PASSWORD, "new_password": "another-long-pw"}, headers=h
    )
    assert r.status_code == 204
    assert client.get("/api/v1/auth/me", headers=h).status_code == 401
    login_new = {"username": user.username, "password": "another-long-pw"}
    assert client.post("/api/v1/auth/login", json=login_new).status_code == 200
    assert (
        client.patch(f"/api/v1/users/{user.id}", json={"active": False}, headers=admin_h).status_code == 200
    )
    assert client.post("/api/v1/auth/login", json=login_new).status_code == 401
    r = client.patch(f"/api/v1/users/{user.id}", json={"site_ids": []}, headers=admin_h)
    assert r.status_code == 422 and r.json()["fields"][0]["field"] == "site_ids"
