"""In a real browser, as admin: users and roles, alert rules with parameters, the audit log with filters."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def result(browser: Any) -> dict[str, Any]:
    out: dict[str, Any] = browser("admin").finish(timeout=180)
    return out


def test_admin_creates_a_guard_who_can_sign_in(result: dict[str, Any], console_server: Any) -> None:
    import httpx

    assert any("guard_night" in row and "门岗保安" in row for row in result["users"])
    res = httpx.post(
        f"{console_server.base_url}/api/v1/auth/login",
        json={"username": "guard_night", "password": "night shift password"},
    )
    assert res.status_code == 200 and res.json()["user"]["role"] == "guard"
    assert res.json()["user"]["site_ids"] == [console_server.site_id]
    assert result["fieldErrors"], "field-level errors from the API are shown in the form"


def test_admin_adds_and_edits_an_alert_rule(result: dict[str, Any], api: Any, console_server: Any) -> None:
    rules = api("admin")("GET", "/alert-rules", params={"site_id": console_server.site_id})
    rule = next(r for r in rules if r["name"] == "一圈陌生人聚集")
    assert rule["type"] == "stranger" and rule["severity"] == "high"
    assert rule["params"]["count"] == 3 and rule["params"]["ring"] == 1


def test_admin_reads_and_verifies_the_audit_log(result: dict[str, Any]) -> None:
    assert result["auditAll"] >= 1
    assert result["auditFiltered"] and all("create" in a for a in result["auditFiltered"])
    assert "✓" in result["chain"]
    assert result["sites"] >= 1
    assert "数据保留" in result["retention"] and "通行记录" in result["retention"]


def test_admin_changes_a_role_and_switches_an_account_off(
    result: dict[str, Any], console_server: Any
) -> None:
    import httpx

    assert result["editHasUsername"] is False  # the edit form changes role/sites/state/password only
    assert "社区民警" in result["editedRow"]
    res = httpx.post(
        f"{console_server.base_url}/api/v1/auth/login",
        json={"username": "grid_worker_1", "password": console_server.users["grid_worker"][1]},
    )
    assert res.status_code in (401, 403), res.text  # switched off
